"""Bad input is refused with a message naming what was wrong. Where torch refuses the same
input, the test also checks that torch 2.13 raises, so the refusal mirrors torch."""

import re
import warnings

import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import jaxloss


def torch_refuses(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises((RuntimeError, ValueError, IndexError, NotImplementedError, TypeError)):
            fn(*args, **kwargs)


X = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]], np.float32)


@pytest.mark.parametrize("name", ["l1_loss", "mse_loss", "cross_entropy", "nll_loss"])
@pytest.mark.parametrize("bad", ["avg", "batchmean", "MEAN", None, 1])
def test_invalid_reduction(name, bad):
    y = np.array([0, 2]) if name in ("cross_entropy", "nll_loss") else X
    with pytest.raises(
        ValueError, match=f"^{re.escape(str(bad))} is not a valid value for reduction$"
    ):
        getattr(jaxloss, name)(X, y, reduction=bad)
    if isinstance(bad, str):
        torch_refuses(getattr(F, name), torch.tensor(X), torch.tensor(y), reduction=bad)


@pytest.mark.parametrize("name", ["L1Loss", "MSELoss", "CrossEntropyLoss", "NLLLoss"])
def test_invalid_reduction_in_class_call(name):
    y = np.array([0, 2]) if name in ("CrossEntropyLoss", "NLLLoss") else X
    with pytest.raises(ValueError, match="sumall is not a valid value for reduction"):
        getattr(jaxloss, name)(reduction="sumall")(X, y)


@pytest.mark.parametrize("name", ["l1_loss", "mse_loss"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_])
def test_integer_or_bool_input_refused(name, dtype):
    x = np.array([1, 2, 3]).astype(dtype)
    with pytest.raises(TypeError, match=rf"{name}: input has dtype (int|bool).*floating-point"):
        getattr(jaxloss, name)(x, x.astype(np.float32))
    torch_refuses(getattr(F, name), torch.tensor(x), torch.tensor(x))


def test_bool_target_refused():
    with pytest.raises(TypeError, match="l1_loss: target has dtype bool"):
        jaxloss.l1_loss(X, X > 0.15)
    torch_refuses(F.l1_loss, torch.tensor(X), torch.tensor(X > 0.15))


@pytest.mark.parametrize("name", ["l1_loss", "mse_loss"])
def test_non_broadcastable_shapes_named(name):
    with pytest.raises(
        ValueError,
        match=r"input has shape \(2, 3\) and target has shape \(2,\), which do not broadcast",
    ):
        getattr(jaxloss, name)(X, np.zeros(2, np.float32))
    torch_refuses(getattr(F, name), torch.tensor(X), torch.zeros(2))


@pytest.mark.parametrize("name", ["l1_loss", "mse_loss"])
def test_weight_shape_must_match_input(name):
    with pytest.raises(ValueError, match=r"weight has shape \(3,\) but \(2, 3\) is required"):
        getattr(jaxloss, name)(X, X, weight=np.ones(3, np.float32))
    torch_refuses(getattr(F, name), torch.tensor(X), torch.tensor(X), weight=torch.ones(3))


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("target", [3, -1, 7])
def test_out_of_range_target_index_error(fn, target):
    t = np.array([0, target])
    with pytest.raises(IndexError, match=f"Target {target} is out of bounds."):
        getattr(jaxloss, fn)(X, t)
    with pytest.raises(IndexError, match=f"Target {target} is out of bounds."):
        getattr(F, fn)(torch.tensor(X), torch.tensor(t))


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
def test_wrong_weight_size(fn):
    with pytest.raises(
        ValueError,
        match=r"weight has shape \(4,\) but \(3,\) is required \(one weight per class, C=3\)",
    ):
        getattr(jaxloss, fn)(X, np.array([0, 1]), weight=np.ones(4, np.float32))
    torch_refuses(getattr(F, fn), torch.tensor(X), torch.tensor([0, 1]), weight=torch.ones(4))


def test_cross_entropy_target_shape_message():
    # STYLE.md's example message, verbatim in shape
    with pytest.raises(
        ValueError,
        match=re.escape(
            "cross_entropy: target has shape (4, 3) but input (4, 10) needs (4,) for class indices "
            "or (4, 10) for class probabilities"
        ),
    ):
        jaxloss.cross_entropy(np.zeros((4, 10), np.float32), np.zeros((4, 3), np.int32))
    torch_refuses(F.cross_entropy, torch.zeros(4, 10), torch.zeros(4, 3, dtype=torch.long))


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
def test_batch_size_mismatch(fn):
    with pytest.raises(
        ValueError, match=r"target has shape \(3,\) but input \(2, 3\) needs \(2,\)"
    ):
        getattr(jaxloss, fn)(X, np.array([0, 1, 1]))
    torch_refuses(getattr(F, fn), torch.tensor(X), torch.tensor([0, 1, 1]))


def test_spatial_target_mismatch():
    x = np.zeros((2, 3, 4, 5), np.float32)
    with pytest.raises(
        ValueError, match=r"target has shape \(2, 4, 6\) but input \(2, 3, 4, 5\) needs \(2, 4, 5\)"
    ):
        jaxloss.cross_entropy(x, np.zeros((2, 4, 6), np.int32))
    torch_refuses(F.cross_entropy, torch.zeros(2, 3, 4, 5), torch.zeros(2, 4, 6, dtype=torch.long))


def test_float_index_target_refused():
    with pytest.raises(
        TypeError, match=r"target has dtype float32 and shape \(2,\); an integer dtype is required"
    ):
        jaxloss.cross_entropy(X, np.array([0.0, 1.0], np.float32))
    torch_refuses(F.cross_entropy, torch.tensor(X), torch.tensor([0.0, 1.0]))


def test_integer_probability_target_refused():
    with pytest.raises(TypeError, match=r"target \(class probabilities\) has dtype int"):
        jaxloss.cross_entropy(X, np.zeros((2, 3), np.int32))
    torch_refuses(F.cross_entropy, torch.tensor(X), torch.zeros(2, 3, dtype=torch.long))


def test_integer_logits_refused():
    with pytest.raises(TypeError, match="cross_entropy: input has dtype int32"):
        jaxloss.cross_entropy(np.zeros((2, 3), np.int32), np.array([0, 1]))
    torch_refuses(F.cross_entropy, torch.zeros(2, 3, dtype=torch.int32), torch.tensor([0, 1]))


def test_label_smoothing_above_one():
    with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0. Got: 1.5"):
        jaxloss.cross_entropy(X, np.array([0, 1]), label_smoothing=1.5)
    torch_refuses(F.cross_entropy, torch.tensor(X), torch.tensor([0, 1]), label_smoothing=1.5)


def test_ignore_index_with_probability_targets():
    p = np.full((2, 3), 1 / 3, np.float32)
    with pytest.raises(
        ValueError, match="ignore_index=1 is not supported for class-probability targets"
    ):
        jaxloss.cross_entropy(X, p, ignore_index=1)
    torch_refuses(F.cross_entropy, torch.tensor(X), torch.tensor(p), ignore_index=1)
    jaxloss.cross_entropy(X, p, ignore_index=-1)  # negative values are accepted, as in torch


def test_nll_refuses_probability_targets():
    with pytest.raises(
        TypeError,
        match=r"nll_loss: target has dtype float32 and shape \(2, 3\); an integer dtype is required \(class indices\)",
    ):
        jaxloss.nll_loss(X, X)
    torch_refuses(F.nll_loss, torch.tensor(X), torch.tensor(X))


def test_scalar_input_refused():
    with pytest.raises(ValueError, match=r"input has shape \(\) but needs \(C,\), \(N, C\)"):
        jaxloss.cross_entropy(jnp.float32(1.0), jnp.int32(0))


def test_classes_are_immutable():
    loss = jaxloss.CrossEntropyLoss(label_smoothing=0.1)
    with pytest.raises(AttributeError, match="CrossEntropyLoss is immutable"):
        loss.label_smoothing = 0.2
