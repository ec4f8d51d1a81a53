"""Error messages name the function, what the caller passed (not what JAX converted it to)
and what would fix it: an unknown reduction, a 64-bit integer input, classes on the last
axis, a flax-layout linear weight. Each refusal is checked against live torch 2.13, which
refuses the same call."""

from __future__ import annotations

import inspect
import re
import warnings

import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import jaxloss

X = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]], np.float32)
Y = np.array([[0.3, 0.1, 0.2], [0.1, 0.1, 0.5]], np.float32)
SIGNS = np.array([[1.0, -1.0, 1.0], [-1.0, 1.0, 1.0]], np.float32)
LOG_PROBS = np.log(np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]], np.float32))
CLASSES = np.array([2, 0])


def _arguments() -> dict[str, tuple]:
    """Valid float32 arguments of every functional loss that takes ``reduction``."""
    multilabel = np.array([[2, 0, -1], [1, -1, 0]])
    ctc = (
        np.log(np.full((5, 2, 4), 0.25, np.float32)),  # (T, N, C) log-probabilities
        np.array([[1, 2], [3, 3]]),
        np.array([5, 5]),
        np.array([2, 1]),
    )
    return {
        "l1_loss": (X, Y),
        "mse_loss": (X, Y),
        "smooth_l1_loss": (X, Y),
        "huber_loss": (X, Y),
        "poisson_nll_loss": (X, Y),
        "gaussian_nll_loss": (X, Y, np.ones_like(X)),
        "cross_entropy": (X, CLASSES),
        "nll_loss": (LOG_PROBS, CLASSES),
        "binary_cross_entropy": (X, Y),
        "binary_cross_entropy_with_logits": (X, Y),
        "multilabel_soft_margin_loss": (X, Y),
        "soft_margin_loss": (X, SIGNS),
        "kl_div": (LOG_PROBS, np.exp(LOG_PROBS)),
        "hinge_embedding_loss": (X, SIGNS),
        "margin_ranking_loss": (X[0], Y[0], SIGNS[0]),
        "multi_margin_loss": (X, CLASSES),
        "multilabel_margin_loss": (X, multilabel),
        "cosine_embedding_loss": (X, Y, SIGNS[:, 0]),
        "triplet_margin_loss": (X, Y, X[::-1].copy()),
        "triplet_margin_with_distance_loss": (X, Y, X[::-1].copy()),
        "ctc_loss": ctc,
    }


ARGUMENTS = _arguments()
WITH_REDUCTION = sorted(
    name
    for name in jaxloss.functional.__all__
    if "reduction" in inspect.signature(getattr(jaxloss, name)).parameters
    and name != "linear_cross_entropy"  # its own case below: it needs a linear weight
)


def _torch(a):
    return torch.from_numpy(np.asarray(a))


def test_every_loss_with_reduction_has_arguments_here():
    assert set(WITH_REDUCTION) == set(ARGUMENTS)


@pytest.mark.parametrize("name", WITH_REDUCTION)
def test_unknown_reduction_names_the_function(name):
    args = ARGUMENTS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="avg is not valid|avg is not a valid value"):
            getattr(F, name)(*map(_torch, args), reduction="avg")  # torch refuses it too
    with pytest.raises(ValueError, match=f"^{name}: avg is not a valid value for reduction; "):
        getattr(jaxloss, name)(*args, reduction="avg")


def test_unknown_reduction_of_linear_cross_entropy_names_it():
    x, w, t = X, np.ones((4, 3), np.float32), CLASSES
    with pytest.raises(ValueError, match="avg is not a valid value for reduction"):
        F.linear_cross_entropy(_torch(x), _torch(w), _torch(t), reduction="avg")
    with pytest.raises(
        ValueError, match="^linear_cross_entropy: avg is not a valid value for reduction; "
    ):
        jaxloss.linear_cross_entropy(x, w, t, reduction="avg")


@pytest.mark.parametrize("name", WITH_REDUCTION)
def test_a_64_bit_integer_input_is_named_as_given(name):
    # numpy int64: JAX would turn it into int32 before the check (no x64 mode)
    args = (ARGUMENTS[name][0].astype(np.int64), *ARGUMENTS[name][1:])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # kl_div's 'mean' warning
            getattr(jaxloss, name)(*args)
    except TypeError as error:
        assert re.search(r"\b(input|log_probs|input1|anchor) has dtype int64\b", str(error)), error
        assert "int32" not in str(error)
    else:  # accepted, as torch accepts it (smooth_l1_loss promotes as torch does)
        getattr(F, name)(*map(_torch, args))


def test_a_float64_target_of_index_losses_is_named_as_given():
    with pytest.raises(TypeError, match=r"^cross_entropy: target has dtype float64 and shape"):
        jaxloss.cross_entropy(X, CLASSES.astype(np.float64))
    with pytest.raises(TypeError, match=r"^nll_loss: target has dtype float64 and shape"):
        jaxloss.nll_loss(LOG_PROBS, CLASSES.astype(np.float64))


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("shape", [(4, 5, 10), (2, 3, 4, 10)])
def test_classes_on_the_last_axis_get_a_moveaxis_hint(name, shape):
    # a sequence model's (N, T, C) logits with (N, T) targets: torch wants (N, C, T)
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(np.float32)
    t = rng.integers(0, shape[-1], size=shape[:-1])
    with pytest.raises((RuntimeError, ValueError)):
        getattr(F, name)(_torch(x), _torch(t))
    with pytest.raises(ValueError, match=re.escape("jnp.moveaxis(input, -1, 1)")):
        getattr(jaxloss, name)(x, t)
    # the hint is right: moved, torch and jaxloss agree
    moved = jnp.moveaxis(x, -1, 1)
    expected = getattr(F, name)(torch.movedim(_torch(x), -1, 1), _torch(t))
    np.testing.assert_allclose(getattr(jaxloss, name)(moved, t), expected.numpy(), rtol=1e-5)


def test_no_moveaxis_hint_when_the_target_does_not_suggest_it():
    x = np.zeros((4, 5, 10), np.float32)
    with pytest.raises(ValueError) as info:
        jaxloss.cross_entropy(x, np.zeros((4, 7), np.int64))
    assert "moveaxis" not in str(info.value)


def test_a_flax_layout_linear_weight_gets_a_transpose_hint():
    # flax's nnx.Linear kernel is (in_features, out_features); torch's weight (out, in)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 8)).astype(np.float32)
    kernel = rng.normal(size=(8, 100)).astype(np.float32)
    t = rng.integers(0, 100, size=4)
    with pytest.raises(RuntimeError):
        F.linear_cross_entropy(_torch(x), _torch(kernel), _torch(t))
    with pytest.raises(ValueError, match=re.escape("pass linear_weight.T")):
        jaxloss.linear_cross_entropy(x, kernel, t)
    expected = F.linear_cross_entropy(_torch(x), _torch(kernel.T.copy()), _torch(t))
    np.testing.assert_allclose(
        jaxloss.linear_cross_entropy(x, kernel.T, t), expected.numpy(), rtol=1e-5
    )
    with pytest.raises(ValueError) as info:  # not (in_features, C): no hint
        jaxloss.linear_cross_entropy(x, kernel[:7].T, t)
    assert ".T" not in str(info.value)
