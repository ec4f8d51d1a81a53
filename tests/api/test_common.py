"""Behaviour every loss shares, checked against live torch 2.13: reduction names, half precision,
immutable classes."""

import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import jaxloss

REDUCTIONS = ["none", "mean", "sum"]


NEG_INF = -np.inf


def torch_refuses(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises((RuntimeError, ValueError, IndexError, NotImplementedError, TypeError)):
            fn(*args, **kwargs)


X = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]], np.float32)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
@pytest.mark.parametrize("name", ["l1_loss", "mse_loss", "cross_entropy", "nll_loss"])
def test_half_precision_returns_half(dtype, name):
    x = jnp.array([[0.1, 0.2, 0.3], [1.0, -1.0, 0.5]], dtype)
    y = jnp.array([1, 2]) if name in ("cross_entropy", "nll_loss") else x[::-1]
    out = getattr(jaxloss, name)(x, y)
    tx = torch.tensor(np.asarray(x, np.float32)).to(
        torch.float16 if dtype == jnp.float16 else torch.bfloat16
    )
    ty = (
        torch.tensor(np.asarray(y, np.int64))
        if y.dtype.kind == "i"
        else torch.tensor(np.asarray(y, np.float32)).to(tx.dtype)
    )
    expected = getattr(F, name)(tx, ty)
    assert out.dtype == dtype
    assert float(out) == pytest.approx(float(expected), rel=1e-2)
    g = jax.grad(getattr(jaxloss, name))(x, y)
    assert g.dtype == dtype


@pytest.mark.parametrize("name", ["l1_loss", "mse_loss", "cross_entropy", "nll_loss"])
@pytest.mark.parametrize("bad", ["avg", "batchmean", "MEAN", None, 1])
def test_invalid_reduction(name, bad):
    y = np.array([0, 2]) if name in ("cross_entropy", "nll_loss") else X
    expected = f"{name}: {bad} is not a valid value for reduction; expected 'none', 'mean' or 'sum'"
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        getattr(jaxloss, name)(X, y, reduction=bad)
    if isinstance(bad, str):
        torch_refuses(getattr(F, name), torch.tensor(X), torch.tensor(y), reduction=bad)


@pytest.mark.parametrize("name", ["L1Loss", "MSELoss", "CrossEntropyLoss", "NLLLoss"])
def test_invalid_reduction_in_class_call(name):
    y = np.array([0, 2]) if name in ("CrossEntropyLoss", "NLLLoss") else X
    with pytest.raises(ValueError, match="sumall is not a valid value for reduction"):
        getattr(jaxloss, name)(reduction="sumall")(X, y)


def test_classes_are_immutable():
    loss = jaxloss.CrossEntropyLoss(label_smoothing=0.1)
    with pytest.raises(AttributeError, match="CrossEntropyLoss is immutable"):
        loss.label_smoothing = 0.2
