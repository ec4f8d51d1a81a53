"""The one reduction table (jaxloss/_reduction.py): it refuses a name it does not hold,
naming the function (torch's ``_Reduction.get_enum`` raises too), holds kl_div's
'batchmean' and reduces as a float64 numpy formula does. That no loss module branches on
a reduction's name is tests/api/test_layering.py's."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jaxloss import _reduction

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
