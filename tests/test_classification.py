"""cross_entropy and nll_loss (jaxloss/_classification.py) against live torch 2.13: values and
gradients, float32 and float64, eager and jit, every option, the edge cases of
../shared/TORCH_SEMANTICS.md and bad input. Tolerances: torch_parity.py."""

import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch_parity import check_parity

import jaxloss

DTYPES = [np.float32, np.float64]


REDUCTIONS = ["none", "mean", "sum"]


SHAPES = [(), (7,), (4, 5), (2, 3, 4), (1, 1, 1, 3)]


def _logits(rng, shape, dtype):
    return (3 * rng.normal(size=shape)).astype(dtype)


CE_SHAPES = [(5,), (6, 5), (3, 5, 4), (2, 5, 3, 2), (2, 4, 2, 1, 2)]


def _index_target(rng, shape, num_classes, ignore_index, with_ignored):
    batch = () if len(shape) == 1 else (shape[0],) + shape[2:]
    t = rng.integers(0, num_classes, size=batch)
    if with_ignored and t.size > 1:
        t.flat[1] = ignore_index
    return np.asarray(t)


NEG_INF = -np.inf


def torch_refuses(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises((RuntimeError, ValueError, IndexError, NotImplementedError, TypeError)):
            fn(*args, **kwargs)


X = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]], np.float32)


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", CE_SHAPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore_index", [-100, 2])
def test_class_index_targets(rng, fn, dtype, reduction, shape, weighted, ignore_index):
    c = shape[0] if len(shape) == 1 else shape[1]
    x = _logits(rng, shape, dtype)
    if fn == "nll_loss":
        x = np.asarray(torch.log_softmax(torch.from_numpy(x), dim=0 if len(shape) == 1 else 1))
    t = _index_target(rng, shape, c, ignore_index, with_ignored=True)
    kwargs = dict(reduction=reduction, ignore_index=ignore_index)
    if weighted:
        kwargs["weight"] = rng.uniform(0.2, 2.0, size=(c,)).astype(dtype)
    check_parity(getattr(jaxloss, fn), getattr(F, fn), (x, t), kwargs, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", CE_SHAPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.1, 0.7, 1.0])
def test_label_smoothing_index_targets(rng, dtype, reduction, shape, weighted, label_smoothing):
    c = shape[0] if len(shape) == 1 else shape[1]
    x = _logits(rng, shape, dtype)
    t = _index_target(rng, shape, c, -100, with_ignored=True)
    kwargs = dict(reduction=reduction, label_smoothing=label_smoothing)
    if weighted:
        kwargs["weight"] = rng.uniform(0.2, 2.0, size=(c,)).astype(dtype)
    check_parity(jaxloss.cross_entropy, F.cross_entropy, (x, t), kwargs, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", CE_SHAPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
def test_probability_targets(rng, dtype, reduction, shape, weighted, label_smoothing):
    c = shape[0] if len(shape) == 1 else shape[1]
    x = _logits(rng, shape, dtype)
    p = rng.dirichlet(np.ones(c), size=int(np.prod(shape)) // c)
    p = np.moveaxis(p.reshape((shape[0],) + shape[2:] + (c,)), -1, 1) if len(shape) > 1 else p[0]
    p = p.astype(dtype)
    kwargs = dict(reduction=reduction, label_smoothing=label_smoothing)
    if weighted:
        kwargs["weight"] = rng.uniform(0.2, 2.0, size=(c,)).astype(dtype)
    # gradients w.r.t. the logits AND the probability target
    check_parity(
        jaxloss.cross_entropy, F.cross_entropy, (x, p), kwargs, grad_argnums=(0, 1), dtype=dtype
    )


@pytest.mark.parametrize("target_dtype", [np.int8, np.uint8, np.int16, np.int32, np.int64])
def test_any_integer_target_dtype(rng, target_dtype):
    x = _logits(rng, (5, 4), np.float32)
    t = np.array([0, 3, 1, 2, 3], dtype=target_dtype)
    check_parity(jaxloss.cross_entropy, F.cross_entropy, (x, t))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "row,label,smoothing",
    [
        ([NEG_INF, 1.0, 2.0], 1, 0.0),  # non-target -inf: finite loss, zero grad there
        ([NEG_INF, 1.0, 2.0], 1, 0.1),  # ... with label smoothing: inf
        ([NEG_INF, 1.0, 2.0], 0, 0.0),  # target logit -inf: inf
        ([NEG_INF, NEG_INF, NEG_INF], 2, 0.0),  # all -inf: nan
        ([1e4, -1e4, 0.0], 1, 0.0),  # huge logits stay finite
        ([1e4, -1e4, 0.0], 0, 0.2),
    ],
)
def test_cross_entropy_infinite_and_huge_logits(reduction, row, label, smoothing):
    x = np.array([row, [0.5, -0.5, 0.25]], np.float32)
    t = np.array([label, 2])
    check_parity(
        jaxloss.cross_entropy,
        F.cross_entropy,
        (x, t),
        dict(reduction=reduction, label_smoothing=smoothing),
    )


def test_non_target_neg_inf_logit_has_finite_loss_and_zero_grad():
    x = jnp.array([[-jnp.inf, 1.0, 2.0]])
    loss, g = jax.value_and_grad(jaxloss.cross_entropy)(x, jnp.array([1]))
    expected = -torch.log_softmax(torch.tensor([[-np.inf, 1.0, 2.0]]), 1)[0, 1].item()
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    assert float(g[0, 0]) == 0.0


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_all_targets_ignored(rng, fn, reduction, weighted):
    x = rng.normal(size=(3, 4)).astype(np.float32)
    t = np.array([-100, -100, -100])
    kwargs = dict(reduction=reduction)
    if weighted:
        kwargs["weight"] = rng.uniform(0.5, 2, size=4).astype(np.float32)
    check_parity(getattr(jaxloss, fn), getattr(F, fn), (x, t), kwargs)
    if reduction == "mean":  # nan value, zero (not nan) gradients, as torch
        value, g = jax.value_and_grad(getattr(jaxloss, fn))(jnp.asarray(x), jnp.asarray(t))
        assert np.isnan(value) and np.all(np.asarray(g) == 0.0)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_all_ignored_with_label_smoothing(rng, reduction):
    x = rng.normal(size=(2, 3)).astype(np.float32)
    check_parity(
        jaxloss.cross_entropy,
        F.cross_entropy,
        (x, np.array([-100, -100])),
        dict(reduction=reduction, label_smoothing=0.3),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ignore_index_that_is_a_valid_class(rng, reduction):
    # pytorch#63004: class 1 is ignored as a target but still sits in the softmax denominator
    x = rng.normal(size=(4, 3)).astype(np.float32)
    t = np.array([1, 0, 1, 2])
    check_parity(
        jaxloss.cross_entropy,
        F.cross_entropy,
        (x, t),
        dict(reduction=reduction, ignore_index=1, label_smoothing=0.2),
    )


def test_unbatched_input_with_length_one_target(rng):
    x = rng.normal(size=(5,)).astype(np.float32)
    for reduction in REDUCTIONS:
        check_parity(
            jaxloss.cross_entropy, F.cross_entropy, (x, np.array(3)), dict(reduction=reduction)
        )
        # torch's forward accepts a (1,) target here but its backward raises "size mismatch",
        # so only the value can be compared
        check_parity(
            jaxloss.cross_entropy,
            F.cross_entropy,
            (x, np.array([3])),
            dict(reduction=reduction),
            grad_argnums=(),
        )


@pytest.mark.parametrize("weighted", [False, True])
def test_empty_cross_entropy(weighted):
    x = np.zeros((0, 3), np.float32)
    kw = dict(weight=np.ones(3, np.float32)) if weighted else {}
    for reduction in REDUCTIONS:
        check_parity(
            jaxloss.cross_entropy,
            F.cross_entropy,
            (x, np.zeros((0,), np.int64)),
            dict(reduction=reduction, **kw),
        )
        check_parity(
            jaxloss.cross_entropy,
            F.cross_entropy,
            (x, x.copy()),
            dict(reduction=reduction, **kw),
            grad_argnums=(0, 1),
        )


def test_negative_label_smoothing_acts_as_zero(rng):
    x = rng.normal(size=(4, 3)).astype(np.float32)
    t = np.array([0, 1, 2, 1])
    check_parity(jaxloss.cross_entropy, F.cross_entropy, (x, t), dict(label_smoothing=-0.5))


@pytest.mark.parametrize("target", [5, -1])
def test_out_of_range_index_is_nan_under_jit(target):
    x = jnp.zeros((2, 3))
    t = jnp.array([0, target])
    for reduction in ("mean", "sum"):
        loss = jax.jit(lambda a, b: jaxloss.cross_entropy(a, b, reduction=reduction))(x, t)
        assert np.isnan(loss)
    per = jax.jit(lambda a, b: jaxloss.nll_loss(a, b, reduction="none"))(x, t)
    assert per[0] == 0.0 and np.isnan(per[1])  # the valid row is unaffected, never wrapped
    with pytest.raises(IndexError):  # and torch refuses it
        F.cross_entropy(torch.zeros(2, 3), torch.tensor([0, target]))


def test_bool_target_refused():
    with pytest.raises(TypeError, match="l1_loss: target has dtype bool"):
        jaxloss.l1_loss(X, X > 0.15)
    torch_refuses(F.l1_loss, torch.tensor(X), torch.tensor(X > 0.15))


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
