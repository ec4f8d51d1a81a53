"""jaxloss.testing: it passes a correct port of a torch loss and fails a wrong one, with a
report naming the output or gradient, its errors, where, and both values.

The torch functions here are written with torch 2.13's own operations (the reference); the
JAX ports are written independently. Inputs come from the seeded ``rng`` fixture.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import jaxloss
from jaxloss.testing import (
    ParityReport,
    assert_close,
    assert_matches_torch,
    compare_arrays,
    parity_report,
    to_torch,
    tolerance,
)

ROOT = Path(__file__).resolve().parent.parent


# --- a focal loss (RetinaNet's, elementwise), in torch and ported to JAX ---------------------
def torch_focal(logits, targets, gamma=2.0, alpha=0.25):
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    a_t = alpha * targets + (1 - alpha) * (1 - targets)
    return (a_t * ce * (1 - p_t) ** gamma).mean()


def jax_focal(logits, targets, gamma=2.0, alpha=0.25):
    p = jax.nn.sigmoid(logits)
    ce = jaxloss.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    a_t = alpha * targets + (1 - alpha) * (1 - targets)
    return jnp.mean(a_t * ce * (1 - p_t) ** gamma)


def _focal_inputs(rng, dtype=np.float32):
    logits = rng.normal(size=(6, 5)).astype(dtype)
    targets = (rng.uniform(size=(6, 5)) < 0.3).astype(dtype)
    return logits, targets


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_correct_port_passes(rng, dtype):
    logits, targets = _focal_inputs(rng, dtype)
    assert_matches_torch(jax_focal, torch_focal, logits, targets, argnums=(0, 1), gamma=1.5)
    report = parity_report(jax_focal, torch_focal, (logits, targets), argnums=(0, 1))
    assert report.ok and isinstance(report, ParityReport)
    # value and both gradients, eager and jit
    assert [c.what for c in report.comparisons] == [
        "eager value",
        "eager gradient of args[0]",
        "eager gradient of args[1]",
        "jit value",
        "jit gradient of args[0]",
        "jit gradient of args[1]",
    ]
    assert all(c.rtol == tolerance(dtype)[0] for c in report.comparisons)


def test_a_wrong_gamma_fails_with_a_readable_report(rng):
    logits, targets = _focal_inputs(rng)

    def wrong_gamma(logits, targets):
        return jax_focal(logits, targets, gamma=1.0)  # torch's default is 2

    with pytest.raises(AssertionError) as err:
        assert_matches_torch(wrong_gamma, torch_focal, logits, targets)
    message = str(err.value)
    assert message.startswith("wrong_gamma does not match torch: 4 of 4 comparisons fail")
    expected = torch_focal(torch.from_numpy(logits), torch.from_numpy(targets)).item()
    line = next(x for x in message.splitlines() if x.strip().startswith("eager value"))
    errors = re.search(r"max abs error (\S+), max rel error (\S+); worst at index \(\)", line)
    assert errors, line
    got = float(wrong_gamma(logits, targets))
    assert float(errors.group(1)) == pytest.approx(abs(got - expected), rel=1e-5)
    assert float(errors.group(2)) == pytest.approx(abs(got - expected) / abs(expected), rel=1e-5)
    assert f"torch {expected!r}" in line
    assert "rtol=1e-05, atol=1e-06" in line
    assert "eager gradient of args[0] (6, 5) float32" in message
    assert "jit value" in message and "jit gradient of args[0]" in message


def test_a_gradient_only_bug_is_caught_where_it_is(rng):
    # the value is right; the backward pass doubles element (2, 3)'s gradient
    logits, targets = _focal_inputs(rng)
    scale = np.ones((6, 5), np.float32)
    scale[2, 3] = 2.0

    @jax.custom_vjp
    def buggy(logits, targets):
        return jax_focal(logits, targets)

    def forward(logits, targets):
        value, vjp = jax.vjp(jax_focal, logits, targets)
        return value, vjp

    def backward(vjp, ct):
        g_logits, g_targets = vjp(ct)
        return g_logits * scale, g_targets

    buggy.defvjp(forward, backward)
    report = parity_report(buggy, torch_focal, (logits, targets), argnums=0)
    assert not report.ok
    assert [c.what for c in report.failures] == [
        "eager gradient of args[0]",
        "jit gradient of args[0]",
    ]
    tl = torch.from_numpy(logits).requires_grad_()
    torch_focal(tl, torch.from_numpy(targets)).backward()
    for failure in report.failures:
        assert failure.index == (2, 3)
        # the cotangent is a seeded draw, so the gradient is scaled by it: compare the ratio
        assert failure.actual / failure.expected == pytest.approx(2.0, rel=1e-5)
        assert failure.max_rel_error == pytest.approx(1.0, rel=1e-5)
    with pytest.raises(AssertionError, match=r"gradient of args\[0\] .* at index \(2, 3\)"):
        assert_matches_torch(buggy, torch_focal, logits, targets)


def test_a_jit_only_bug_is_caught_under_jit(rng):
    logits, targets = _focal_inputs(rng)

    def traced_differently(logits, targets):
        value = jax_focal(logits, targets)
        return value * 1.01 if isinstance(value, jax.core.Tracer) else value

    report = parity_report(traced_differently, torch_focal, (logits, targets), argnums=())
    assert [c.what for c in report.comparisons] == ["eager value", "jit value"]
    assert [c.what for c in report.failures] == ["jit value"]
    assert parity_report(
        traced_differently, torch_focal, (logits, targets), argnums=(), jit=False
    ).ok


def test_shape_dtype_and_output_count_are_reported(rng):
    logits, targets = _focal_inputs(rng)

    def keeps_dims(logits, targets):
        return jaxloss.binary_cross_entropy_with_logits(logits, targets).reshape(1)

    def torch_bce(logits, targets):
        return F.binary_cross_entropy_with_logits(logits, targets)

    report = parity_report(keeps_dims, torch_bce, (logits, targets))
    assert "shape (1,) but torch's is ()" in str(report)

    def in_float16(logits, targets):
        return jaxloss.binary_cross_entropy_with_logits(logits, targets).astype(jnp.float16)

    report = parity_report(in_float16, torch_bce, (logits, targets), argnums=())
    assert "dtype float16 but torch's is float32" in str(report)

    def two(logits, targets):
        return jaxloss.binary_cross_entropy_with_logits(logits, targets), logits

    report = parity_report(two, torch_bce, (logits, targets), argnums=())
    assert "2 arrays but torch returns 1" in str(report)


def test_several_outputs_keyword_arrays_and_integer_targets(rng):
    # a torch function returning a tuple; class indices (int32 here, int64 for torch); a
    # keyword array (class weights) goes to both sides
    x = rng.normal(size=(5, 4)).astype(np.float32)
    y = rng.integers(0, 4, size=5).astype(np.int32)
    w = rng.uniform(0.5, 2.0, size=4).astype(np.float32)

    def torch_both(x, y, weight):
        return F.cross_entropy(x, y, weight=weight, reduction="none"), F.log_softmax(x, 1)

    def jax_both(x, y, weight):
        return jaxloss.cross_entropy(x, y, weight=weight, reduction="none"), jax.nn.log_softmax(x)

    assert_matches_torch(jax_both, torch_both, x, y, weight=w)
    assert to_torch(y).dtype == torch.int64


def test_compare_arrays_nan_and_tolerances():
    f64 = torch.float64
    same_nan = compare_arrays(np.array([1.0, np.nan]), torch.tensor([1.0, np.nan], dtype=f64))
    assert same_nan.ok  # nan equals nan
    one_nan = compare_arrays(np.array([1.0, np.nan, 3.0]), torch.tensor([1.0, 2.0, 3.5], dtype=f64))
    assert not one_nan.ok and one_nan.index == (1,)  # the nan, not the larger finite error
    assert np.isnan(one_nan.actual) and one_nan.expected == 2.0
    assert tolerance(np.float32) == (1e-5, 1e-6) and tolerance(np.float64) == (1e-10, 1e-12)
    assert tolerance(np.int64) == (0.0, 0.0)
    a = np.float32(1.0) + np.float32(2e-5)
    assert not compare_arrays(np.array(a), torch.tensor(1.0)).ok
    assert compare_arrays(np.array(a), torch.tensor(1.0), rtol=1e-4).ok
    with pytest.raises(AssertionError, match=r"^gx \(2,\) float32: max abs error"):
        assert_close(np.array([1.0, 2.0], np.float32), torch.tensor([1.0, 2.5]), what="gx")


def test_bfloat16_goes_to_torch_as_bfloat16(rng):
    x = jnp.asarray(rng.normal(size=(3, 4)), jnp.bfloat16)
    t = to_torch(x, requires_grad=True)
    assert t.dtype == torch.bfloat16 and t.requires_grad and t.is_leaf
    assert_matches_torch(
        lambda x: jnp.sum(x * x), lambda x: torch.sum(x * x), x, rtol=tolerance(jnp.bfloat16)[0]
    )


def test_the_core_imports_without_torch_and_testing_says_which_extra():
    code = textwrap.dedent(
        """
        import sys
        sys.modules["torch"] = None  # as if torch were not installed
        import jaxloss
        print(jaxloss.cross_entropy([[0.1, 0.2, 0.3]], [1]))
        try:
            import jaxloss.testing
        except ImportError as error:
            print(error)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert "1.1019" in out  # torch's CrossEntropyLoss on the same input prints 1.1019
    assert "jaxloss.testing needs torch; install it with: pip install 'jaxloss[testing]'" in out


def _python_blocks(path: Path) -> list[str]:
    return _python_blocks_of(path.read_text())


def test_the_porting_guide_runs():
    # docs/porting.md: a distillation loss ported from torch and tested with jaxloss.testing
    blocks = _python_blocks(ROOT / "docs" / "porting.md")
    assert len(blocks) >= 3
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "docs/porting.md", "exec"), namespace)
    assert namespace["caught"], "the guide's wrong port was not caught"


def test_the_readme_example_runs():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Porting torch code, and testing the port") :]
    exec(compile(_python_blocks_of(section)[0], "README.md", "exec"), {})


def _python_blocks_of(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_tolerance_table_has_a_reason_for_every_backend_and_dtype():
    """One table, by backend and dtype; the CPU's rows are the suite's measured baseline,
    other backends fall back to them where they do not say otherwise."""
    from jaxloss.testing import TOLERANCES, Tolerance

    assert {b for b, _ in TOLERANCES} == {"cpu", "gpu", "tpu"}
    for key, row in TOLERANCES.items():
        assert isinstance(row, Tolerance) and row.rtol > 0 and row.atol > 0, key
        assert len(row.why) > 20, key
    for dtype in ("float64", "float32", "float16", "bfloat16"):
        assert ("cpu", dtype) in TOLERANCES
        assert tolerance(dtype, "cpu") == TOLERANCES["cpu", dtype][:2]
    assert tolerance(np.float32, "tpu") == TOLERANCES["tpu", "float32"][:2]
    assert tolerance(jnp.bfloat16, "gpu") == TOLERANCES["cpu", "bfloat16"][:2]
    assert tolerance(np.float32) == tolerance(np.float32, jax.default_backend())
