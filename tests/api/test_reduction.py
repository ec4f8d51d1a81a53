"""The one reduction table (jaxloss/_reduction.py): it refuses a name it does not hold,
naming the function (torch's ``_Reduction.get_enum`` raises too), holds kl_div's
'batchmean', reduces as a float64 numpy formula does, and is the only place that branches
on a reduction's name."""

from __future__ import annotations

import pathlib
import re

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jaxloss import _reduction

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "jaxloss"
LOSSES = (
    "_regression",
    "_classification",
    "_binary",
    "_divergence",
    "_margin",
    "_embedding",
    "_ctc",
    "_linear_cross_entropy",
    "_adaptive",
    "_detection",
)
# a comparison of the reduction's name in a loss module, e.g. `reduction == "mean"`
COMPARISON = re.compile(
    r"""reduction\s*(==|!=|\bin\b|\bnot in\b)|["'](none|mean|sum|batchmean)["']\s*(==|!=)\s*reduction"""
)
# the comparisons that stay, each with why
ALLOWED = {
    # the name the caller gave, not the reduction applied: torch warns for 'mean' only
    # without the legacy flags, and divides by input.size(0) for 'batchmean' even after
    # the legacy flags replaced it (torch's kl_div does exactly this)
    "_divergence": {
        'if not legacy and reduction == "mean":',
        'if legacy and reduction == "batchmean" and batch is not None:',
    },
    # the fused path's own scale of the gradient slabs; to move onto the table's helpers
    "_linear_cross_entropy": {
        'args.y is not None and reduction != "none" and p == 1 and axis is None and not return_lse',
        'scale = 1.0 if reduction == "sum" else 1.0 / total_weight',
        'if reduction == "mean":',
    },
}

LOSS = np.array([[0.5, -1.25, 2.0], [3.0, 0.25, -0.5]], np.float32)


def test_an_unknown_name_raises_naming_the_function():
    with pytest.raises(
        ValueError,
        match=r"^my_loss: avg is not a valid value for reduction; expected 'none', 'mean', "
        r"'sum' or 'batchmean'$",
    ):
        _reduction.reduce_loss(jnp.asarray(LOSS), "avg", fn="my_loss")
    with pytest.raises(ValueError, match="^None is not a valid value for reduction"):
        _reduction.reduce_loss(jnp.asarray(LOSS), None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):  # torch refuses the name as well
        torch.nn.functional.l1_loss(torch.zeros(2), torch.zeros(2), reduction="avg")


def test_batchmean_is_in_the_table():
    assert set(_reduction.TABLE) == {"none", "mean", "sum", "batchmean"}
    assert _reduction.averages("batchmean") and _reduction.reduces("batchmean")
    assert not _reduction.reduces("none") and not _reduction.averages("sum")


def test_the_table_reduces_as_numpy_in_float64():
    loss, ref = jnp.asarray(LOSS), LOSS.astype(np.float64)
    np.testing.assert_array_equal(_reduction.reduce_loss(loss, "none"), LOSS)
    np.testing.assert_allclose(_reduction.reduce_loss(loss, "sum"), ref.sum(), rtol=1e-6)
    np.testing.assert_allclose(_reduction.reduce_loss(loss, "mean"), ref.mean(), rtol=1e-6)
    weighted = _reduction.reduce_loss(loss, "mean", total_weight=2.5)
    np.testing.assert_allclose(weighted, ref.sum() / 2.5, rtol=1e-6)
    batch = _reduction.reduce_loss(loss, "batchmean", batch_size=LOSS.shape[0])
    np.testing.assert_allclose(batch, ref.sum() / 2, rtol=1e-6)
    empty = jnp.zeros((0,), jnp.float32)
    assert float(_reduction.reduce_loss(empty, "sum")) == 0.0
    assert np.isnan(float(_reduction.reduce_loss(empty, "mean")))


def test_batchmean_matches_torch_kl_div():
    """torch's own 'batchmean' (kl_div) divides the summed loss by input.size(0)."""
    rng = np.random.default_rng(0)
    log_q = np.log(rng.dirichlet(np.ones(4), size=3)).astype(np.float32)
    p = rng.dirichlet(np.ones(4), size=3).astype(np.float32)
    want = torch.nn.functional.kl_div(
        torch.from_numpy(log_q), torch.from_numpy(p), reduction="batchmean"
    )
    terms = jnp.asarray(p * (np.log(p) - log_q))
    got = _reduction.reduce_loss(terms, "batchmean", batch_size=3)
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-5)


@pytest.mark.parametrize("module", [m for m in LOSSES if (PACKAGE / f"{m}.py").exists()])
def test_no_loss_module_branches_on_the_reduction_name(module):
    lines = (PACKAGE / f"{module}.py").read_text().splitlines()
    found = {line.strip() for line in lines if COMPARISON.search(line)}
    extra = found - ALLOWED.get(module, set())
    assert not extra, (
        f"{module} compares the reduction's name; use _reduction.reduces/averages/reduce_loss: "
        f"{sorted(extra)}"
    )


def test_the_comparison_pattern_finds_comparisons():
    """The grep itself can fail: it sees the forms it is there to forbid."""
    for line in (
        'if reduction == "mean":',
        "x if reduction != 'none' else y",
        '"sum" == reduction',
    ):
        assert COMPARISON.search(line), line
    assert not COMPARISON.search("reduction = _reduction.check_reduction(reduction, fn=fn)")
