"""l1_loss, mse_loss, cross_entropy, nll_loss against live torch 2.13: values and
gradients, float32 and float64, eager and jit, every option. Tolerances: torch_parity.py."""

import itertools
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch_parity import check_parity

import jaxloss

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["none", "mean", "sum"]
SHAPES = [(), (7,), (4, 5), (2, 3, 4), (1, 1, 1, 3)]


@pytest.mark.parametrize("name", ["l1_loss", "mse_loss"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_pointwise(rng, name, dtype, reduction, shape, weighted):
    x = rng.normal(size=shape).astype(dtype)
    y = rng.normal(size=shape).astype(dtype)
    if x.size:
        x.flat[0] = y.flat[0]  # a kink: input == target
    kwargs = dict(reduction=reduction)
    if weighted:
        kwargs["weight"] = rng.uniform(0.1, 2.0, size=shape).astype(dtype)
    check_parity(
        getattr(jaxloss, name), getattr(F, name), (x, y), kwargs, grad_argnums=(0, 1), dtype=dtype
    )


@pytest.mark.parametrize("name", ["l1_loss", "mse_loss"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_pointwise_broadcasting_warns_then_matches(rng, name, reduction):
    x = rng.normal(size=(4, 1)).astype(np.float32)
    y = rng.normal(size=(3,)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        check_parity(
            getattr(jaxloss, name),
            getattr(F, name),
            (x, y),
            dict(reduction=reduction),
            grad_argnums=(0, 1),
        )
    with pytest.warns(
        UserWarning, match=r"target size \(3,\) that is different to the input size \(4, 1\)"
    ):
        getattr(jaxloss, name)(x, y)


@pytest.mark.parametrize("name", ["l1_loss", "mse_loss"])
@pytest.mark.parametrize(
    "size_average,reduce", list(itertools.product([None, True, False], repeat=2))[1:]
)
def test_legacy_flags(rng, name, size_average, reduce):
    x = rng.normal(size=(3, 4)).astype(np.float32)
    y = rng.normal(size=(3, 4)).astype(np.float32)
    kwargs = dict(size_average=size_average, reduce=reduce, reduction="mean")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_parity(getattr(jaxloss, name), getattr(F, name), (x, y), kwargs)
    with pytest.warns(DeprecationWarning, match="size_average and reduce args will be deprecated"):
        getattr(jaxloss, name)(x, y, **kwargs)


def _logits(rng, shape, dtype):
    return (3 * rng.normal(size=shape)).astype(dtype)


CE_SHAPES = [(5,), (6, 5), (3, 5, 4), (2, 5, 3, 2), (2, 4, 2, 1, 2)]


def _index_target(rng, shape, num_classes, ignore_index, with_ignored):
    batch = () if len(shape) == 1 else (shape[0],) + shape[2:]
    t = rng.integers(0, num_classes, size=batch)
    if with_ignored and t.size > 1:
        t.flat[1] = ignore_index
    return np.asarray(t)


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


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("size_average,reduce", [(False, None), (None, False), (True, True)])
def test_class_legacy_flags(rng, fn, size_average, reduce):
    x = _logits(rng, (4, 3), np.float32)
    t = np.array([0, 2, 1, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_parity(
            getattr(jaxloss, fn),
            getattr(F, fn),
            (x, t),
            dict(size_average=size_average, reduce=reduce),
        )


@pytest.mark.parametrize("target_dtype", [np.int8, np.uint8, np.int16, np.int32, np.int64])
def test_any_integer_target_dtype(rng, target_dtype):
    x = _logits(rng, (5, 4), np.float32)
    t = np.array([0, 3, 1, 2, 3], dtype=target_dtype)
    check_parity(jaxloss.cross_entropy, F.cross_entropy, (x, t))
