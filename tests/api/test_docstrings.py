"""Every public loss documents itself with a runnable Example; run them all as doctests.
The expected outputs in the docstrings are torch's numbers (e.g. the lesson's 0.6667), and
torchvision's for jaxloss.ops."""

import doctest
import importlib
import inspect

import pytest

import jaxloss.functional
import jaxloss.ops

# torch.nn.functional's names and torchvision.ops' (name -> the public module holding it)
MODULES = {
    name: module
    for module in (jaxloss.functional, jaxloss.ops)
    for name, obj in vars(module).items()
    if inspect.isfunction(obj) and not name.startswith("_")
}
LOSSES = sorted(MODULES)


@pytest.mark.parametrize("name", LOSSES)
def test_docstring_example_runs(name):
    fn = getattr(MODULES[name], name)
    doc = inspect.getdoc(fn) or ""
    assert "Example" in doc and ">>>" in doc, f"{name} has no doctest Example"
    assert "Shape" in doc and "Args" in doc, f"{name} lacks an Args or Shape section"
    module = importlib.import_module(fn.__module__)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(fn, name, module=module, globs={}) if t.examples]
    assert tests, f"{name}: no examples found"
    for t in tests:
        runner.run(t)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} doctest example(s) failed"


def test_every_function_is_also_top_level():
    import jaxloss

    for name in LOSSES:
        assert getattr(jaxloss, name) is getattr(MODULES[name], name)
