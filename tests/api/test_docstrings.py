"""Every public loss documents itself with a runnable Example; run them all as doctests.
The expected outputs in the docstrings are torch's numbers (e.g. the lesson's 0.6667)."""

import doctest
import importlib
import inspect

import pytest

import jaxloss.functional

LOSSES = sorted(
    name
    for name, obj in vars(jaxloss.functional).items()
    if inspect.isfunction(obj) and not name.startswith("_")
)


@pytest.mark.parametrize("name", LOSSES)
def test_docstring_example_runs(name):
    fn = getattr(jaxloss.functional, name)
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
        assert getattr(jaxloss, name) is getattr(jaxloss.functional, name)
