"""jaxloss.ops (sigmoid_focal_loss and the generalized, distance and complete box IoU losses)
against torchvision 0.28.0's own code (tests/torchvision_ops.py loads its loss files): values
and gradients of both arguments, float32 and float64, eager and jit, every reduction, boxes
random, overlapping, disjoint, nested, identical, degenerate and tied; non-float boxes upcast;
empty inputs; bad input. Also torchvision's published numbers (its test/test_ops.py).
Tolerances: torch_parity.py (rtol 1e-5/atol 1e-6 f32, 1e-10/1e-12 f64) unless stated."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from torch_parity import assert_close, check_parity, precision
from torchvision_ops import LOSSES, TORCHVISION_OPS

import jaxloss
import jaxloss.ops

BOX_LOSSES = ["generalized_box_iou_loss", "distance_box_iou_loss", "complete_box_iou_loss"]
REDUCTIONS = ["none", "mean", "sum"]
DTYPES = [np.float32, np.float64]


def _both(name):
    return getattr(jaxloss.ops, name), getattr(TORCHVISION_OPS, name)


# --- the public names ----------------------------------------------------------------------
def test_ops_mirrors_torchvision_ops():
    assert sorted(jaxloss.ops.__all__) == sorted(LOSSES)
    for name in LOSSES:
        assert getattr(jaxloss, name) is getattr(jaxloss.ops, name)
        assert name in jaxloss.__all__
    assert "ops" in jaxloss.__all__


# --- torchvision's published numbers (pytorch/vision test/test_ops.py, get_boxes) ------------
BOX1 = [-1.0, -1.0, 1.0, 1.0]
BOX2 = [0.0, 0.0, 1.0, 1.0]
BOX3 = [0.0, 1.0, 1.0, 2.0]
BOX4 = [1.0, 1.0, 2.0, 2.0]
BOX1S = [BOX2, BOX2]
BOX2S = [BOX3, BOX4]
# (boxes1, boxes2, reduction) -> expected, from TestGeneralizedBoxIouLoss.test_giou_loss
PUBLISHED_GIOU = [
    (BOX1, BOX1, "none", 0.0),  # identical boxes
    (BOX1, BOX2, "none", 0.75),  # a quarter-size box inside the other: IoU 0.25
    (BOX2, BOX3, "none", 1.0),  # side by side: IoU 0, GIoU 0
    (BOX2, BOX4, "none", 1.5),  # diagonally adjacent: IoU 0, GIoU -0.5
    (BOX1S, BOX2S, "sum", 2.5),
    (BOX1S, BOX2S, "mean", 1.25),
]
# TestDistanceBoxIouLoss.test_distance_iou_loss and TestCompleteBoxIouLoss.test_ciou_loss
PUBLISHED_DIOU_CIOU = [
    (BOX1, BOX1, "none", 0.0),
    (BOX1, BOX2, "none", 0.8125),
    (BOX1, BOX3, "none", 1.1923),
    (BOX1, BOX4, "none", 1.25),
    (BOX1S, BOX2S, "mean", 1.2250),
    (BOX1S, BOX2S, "sum", 2.4500),
]
PUBLISHED = [("generalized_box_iou_loss", *case) for case in PUBLISHED_GIOU] + [
    (name, *case)
    for name in ("distance_box_iou_loss", "complete_box_iou_loss")
    for case in PUBLISHED_DIOU_CIOU
]


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float16])
@pytest.mark.parametrize("name, b1, b2, reduction, expected", PUBLISHED)
def test_torchvisions_published_values(name, b1, b2, reduction, expected, dtype):
    fn = getattr(jaxloss.ops, name)
    got = fn(jnp.asarray(b1, dtype), jnp.asarray(b2, dtype), reduction=reduction)
    assert got.dtype == jnp.float32  # torchvision upcasts half boxes to float32
    # torchvision's tolerance: torch.testing.assert_close's float32 default
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1.3e-6, atol=1e-5)


# --- box losses against torchvision's code ------------------------------------------------------
def _boxes(rng, n, lo=-2.0, hi=2.0, size=(0.1, 3.0)):
    xy = rng.uniform(lo, hi, size=(n, 2))
    wh = rng.uniform(*size, size=(n, 2))
    return np.concatenate([xy, xy + wh], axis=1)


def _pair(rng, kind, n=6):
    """(boxes1, boxes2) as float64 of one kind of geometry."""
    b1 = _boxes(rng, n)
    if kind == "random":
        b2 = _boxes(rng, n)
    elif kind == "overlapping":
        b2 = b1 + rng.uniform(-0.3, 0.3, size=b1.shape)
    elif kind == "disjoint":
        b2 = _boxes(rng, n, lo=10.0, hi=12.0)
    elif kind == "nested":
        w = b1[:, 2:] - b1[:, :2]
        b2 = np.concatenate([b1[:, :2] + 0.25 * w, b1[:, 2:] - 0.25 * w], axis=1)
    elif kind == "identical":
        b2 = b1.copy()
    elif kind == "ties":  # coordinates on a grid of halves: equal edges, touching boxes
        xy1, xy2 = rng.integers(-2, 2, size=(2, n, 2)) / 2
        wh1, wh2 = rng.integers(1, 4, size=(2, n, 2)) / 2
        b1 = np.concatenate([xy1, xy1 + wh1], axis=1)
        b2 = np.concatenate([xy2, xy2 + wh2], axis=1)
    elif kind == "degenerate":  # zero width or height (a line or a point), x2 < x1 too
        b2 = _boxes(rng, n)
        b1[0, 2] = b1[0, 0]  # zero width
        b2[1, 3] = b2[1, 1]  # zero height: CIoU divides by it
        b1[2, 2:] = b1[2, :2]  # a point
        b2[3, 2] = b2[3, 0] - 0.5  # x2 < x1
    else:
        raise KeyError(kind)
    return b1, b2


KINDS = ["random", "overlapping", "disjoint", "nested", "identical", "ties", "degenerate"]


# 'none' in both precisions checks every element's value and gradient (random cotangent);
# the reductions themselves are the shared reduce_loss, so each gets one precision
DTYPE_REDUCTIONS = [
    (np.float32, "none"),
    (np.float64, "none"),
    (np.float32, "mean"),
    (np.float64, "sum"),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype, reduction", DTYPE_REDUCTIONS)
@pytest.mark.parametrize("name", BOX_LOSSES)
def test_box_loss_matches_torchvision(rng, name, dtype, reduction, kind):
    b1, b2 = (b.astype(dtype) for b in _pair(rng, kind))
    check_parity(*_both(name), (b1, b2), {"reduction": reduction}, grad_argnums=(0, 1), dtype=dtype)


@pytest.mark.parametrize("eps", [0.0, 1e-3, 0.5])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", BOX_LOSSES)
def test_box_loss_eps_matches_torchvision(rng, name, dtype, eps):
    """eps enters GIoU's two denominators, DIoU's two, and only CIoU's alpha (its DIoU term
    keeps the default 1e-7): a large eps changes each differently."""
    b1, b2 = (b.astype(dtype) for b in _pair(rng, "overlapping"))
    check_parity(
        *_both(name), (b1, b2), {"eps": eps, "reduction": "none"}, grad_argnums=(0, 1), dtype=dtype
    )


@pytest.mark.parametrize("shapes", [((4,), (4,)), ((3, 2, 4), (3, 2, 4)), ((2, 3, 4), (3, 4))])
@pytest.mark.parametrize("name", BOX_LOSSES)
def test_box_loss_shapes_match_torchvision(rng, name, shapes):
    s1, s2 = shapes
    b1 = _boxes(rng, int(np.prod(s1[:-1]))).reshape(s1).astype(np.float32)
    b2 = _boxes(rng, int(np.prod(s2[:-1]))).reshape(s2).astype(np.float32)
    check_parity(*_both(name), (b1, b2), {"reduction": "none"}, grad_argnums=(0, 1))


@pytest.mark.parametrize("name", BOX_LOSSES)
def test_box_loss_mixed_precision_matches_torchvision(rng, name):
    b1, b2 = _pair(rng, "overlapping")
    # computed in float64 where torch rounds some float32 terms first: float32's tolerance
    check_parity(
        *_both(name),
        (b1, b2.astype(np.float32)),
        {"reduction": "none"},
        grad_argnums=(0, 1),
        dtype=np.float64,
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize("name", BOX_LOSSES)
def test_float32_boxes1_with_float64_boxes2_promote(rng, name):
    """torchvision mostly refuses this pair (its masked assignment of the float64 intersection
    into a float32 zeros_like(boxes1) raises RuntimeError unless the mask is mixed); jaxloss
    promotes, as torch does everywhere else: torchvision's result for boxes1 in float64."""
    b1, b2 = _pair(rng, "random")
    ours, theirs = _both(name)
    two = np.array([BOX2, BOX2])
    with pytest.raises(RuntimeError, match="Index put requires the source and destination"):
        theirs(torch.from_numpy(two.astype(np.float32)), torch.from_numpy(two))
    expected = theirs(torch.from_numpy(b1), torch.from_numpy(b2))
    with precision(np.float64):
        got = ours(jnp.asarray(b1.astype(np.float32)), jnp.asarray(b2))
        assert got.dtype == jnp.float64
        assert_close(got, expected, np.float32, f"{name} float32 with float64")


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_, np.float16])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", BOX_LOSSES)
def test_non_float_boxes_are_upcast_like_torchvision(rng, name, reduction, dtype):
    b1 = rng.integers(0, 4, size=(5, 2))
    b2 = rng.integers(0, 4, size=(5, 2))
    b1 = np.concatenate([b1, b1 + rng.integers(1, 3, size=(5, 2))], axis=1).astype(dtype)
    b2 = np.concatenate([b2, b2 + rng.integers(1, 3, size=(5, 2))], axis=1).astype(dtype)
    ours, theirs = _both(name)
    # torch_parity's to_torch would widen integers to int64: keep the dtype here
    expected = theirs(torch.from_numpy(b1), torch.from_numpy(b2), reduction=reduction)
    assert expected.dtype == torch.float32
    for f in (ours, jax.jit(ours, static_argnames="reduction")):
        got = f(jnp.asarray(b1), jnp.asarray(b2), reduction=reduction)
        assert got.dtype == jnp.float32
        assert_close(got, expected, np.float32, f"{name} of {np.dtype(dtype).name} boxes")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", BOX_LOSSES)
def test_empty_boxes_match_torchvision(name, reduction, dtype):
    """torchvision's 'mean' of no boxes is 0 (0.0 * sum), not nan; gradients are empty."""
    empty = np.zeros((0, 4), dtype)
    check_parity(
        *_both(name), (empty, empty), {"reduction": reduction}, grad_argnums=(0, 1), dtype=dtype
    )
    if reduction == "mean":
        with precision(dtype):
            assert float(getattr(jaxloss.ops, name)(empty, empty, reduction="mean")) == 0.0


@pytest.mark.parametrize("name", BOX_LOSSES)
def test_box_loss_with_inf_and_nan_matches_torchvision(rng, name):
    b1, b2 = _pair(rng, "random")
    b1[0, 2] = np.inf  # an infinite edge
    b2[1, 0] = np.nan  # a nan coordinate
    b1[2, 0] = -np.inf
    check_parity(
        *_both(name),
        (b1.astype(np.float64), b2.astype(np.float64)),
        {"reduction": "none"},
        grad_argnums=(0, 1),
        dtype=np.float64,
    )


@pytest.mark.parametrize("name", BOX_LOSSES)
def test_box_loss_extreme_sizes_match_torchvision(name):
    """Sides of 1e-200 and 1e200 (float64): b**2 under- or overflows, where torch's
    derivative of a / b w.r.t. b, -(a / b) / b, stays finite."""
    b = np.array([[0, 0, 1e-200, 1e-200], [0, 0, 1e200, 1e200], [0, 0, 1, 1e-200]])
    check_parity(
        *_both(name),
        (b, b[::-1].copy()),
        {"reduction": "none"},
        grad_argnums=(0, 1),
        dtype=np.float64,
    )


@pytest.mark.parametrize("name", BOX_LOSSES)
def test_no_boxes_against_one_broadcast_box(name):
    """(0, 4) boxes1 against a (4,) boxes2 with infinite corners: torch's boxes2 gradient goes
    through its 0-d coordinates (nan where a derivative is infinite), so must jaxloss's."""
    b2 = np.array([np.inf, -3.0, np.inf, -3.0], np.float32)
    check_parity(
        *_both(name), (np.zeros((0, 4), np.float32), b2), {"reduction": "none"}, grad_argnums=(0, 1)
    )


def test_ciou_alpha_has_no_gradient():
    """torchvision computes CIoU's alpha under torch.no_grad(); differentiating through it
    (as a plain transcription would) gives another gradient, so this check can fail."""
    b1, b2 = np.array([[0.0, 0.0, 2.0, 1.0]]), np.array([[0.5, 0.2, 1.5, 2.0]])
    t1, t2 = torch.tensor(b1, requires_grad=True), torch.tensor(b2)
    TORCHVISION_OPS.complete_box_iou_loss(t1, t2).sum().backward()
    expected = t1.grad.clone()
    # torchvision's formula with alpha left in the graph
    t1.grad = None
    diou, iou = TORCHVISION_OPS.diou_iou_loss(t1, t2)
    w1, h1, w2, h2 = (
        t1[:, 2] - t1[:, 0],
        t1[:, 3] - t1[:, 1],
        t2[:, 2] - t2[:, 0],
        t2[:, 3] - t2[:, 1],
    )
    v = (4 / torch.pi**2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)) ** 2
    (diou + v / (1 - iou + v + 1e-7) * v).sum().backward()
    assert not np.allclose(expected.numpy(), t1.grad.numpy(), rtol=1e-3)
    with precision(np.float64):
        got = jax.grad(lambda b: jaxloss.ops.complete_box_iou_loss(b, b2).sum())(jnp.asarray(b1))
    assert_close(got, expected, np.float64, "CIoU gradient")


# --- sigmoid_focal_loss ----------------------------------------------------------------------
def _focal_inputs(rng, shape=(6, 3), soft=False):
    x = rng.normal(scale=3.0, size=shape)
    x.flat[:4] = [0.0, 30.0, -30.0, 100.0]  # saturated sigmoids: p_t exactly 0 or 1
    if soft:
        y = rng.uniform(0, 1, size=shape)
    else:
        y = rng.integers(0, 2, size=shape).astype(np.float64)
    return x, y


@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("alpha, gamma", [(0.25, 2), (-1, 2), (0.0, 0), (1.0, 1.5), (0.58, 2.0)])
@pytest.mark.parametrize("dtype, reduction", DTYPE_REDUCTIONS)
def test_focal_matches_torchvision(rng, dtype, reduction, alpha, gamma, soft):
    x, y = (a.astype(dtype) for a in _focal_inputs(rng, soft=soft))
    check_parity(
        *_both("sigmoid_focal_loss"),
        (x, y),
        {"alpha": alpha, "gamma": gamma, "reduction": reduction},
        grad_argnums=(0, 1),
        dtype=dtype,
    )


@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 4)])
def test_focal_shapes_match_torchvision(rng, shape):
    x, y = (a.astype(np.float32) for a in _focal_inputs(rng, (7,), soft=True))
    x, y = (np.resize(a, shape) for a in (x, y))
    check_parity(*_both("sigmoid_focal_loss"), (x, y), grad_argnums=(0, 1))


def test_focal_mixed_precision_matches_torchvision(rng):
    x, y = _focal_inputs(rng, soft=True)
    check_parity(
        *_both("sigmoid_focal_loss"),
        (x.astype(np.float32), y),
        {"reduction": "sum"},
        grad_argnums=(0, 1),
        dtype=np.float64,
        rtol=1e-5,  # torch computes the float32 input's log_sigmoid in float32
        atol=1e-6,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_focal_empty_matches_torchvision(reduction):
    """Unlike the box losses, an empty 'mean' is nan (torch's mean)."""
    empty = np.zeros((0,), np.float32)
    check_parity(*_both("sigmoid_focal_loss"), (empty, empty), {"reduction": reduction})


def test_focal_half_precision():
    """float16 in, float16 out (torch's CPU dtype); computed in float32 (torch rounds each
    step to float16), so compared with torch's float16 at float16's precision."""
    x = np.array([0.5, -1.0, 2.0, 0.0], np.float16)
    y = np.array([1.0, 0.0, 0.0, 1.0], np.float16)
    expected = TORCHVISION_OPS.sigmoid_focal_loss(torch.from_numpy(x), torch.from_numpy(y))
    got = jaxloss.ops.sigmoid_focal_loss(jnp.asarray(x), jnp.asarray(y))
    assert got.dtype == jnp.float16 and expected.dtype == torch.float16
    np.testing.assert_allclose(np.asarray(got, np.float32), expected.float().numpy(), rtol=2e-3)


@pytest.mark.parametrize("alpha, gamma", [(0.5, 2.0), (-1.0, 2.0), (0.25, 0.5)])
def test_focal_traced_alpha_and_gamma(rng, alpha, gamma):
    x, y = (a.astype(np.float32) for a in _focal_inputs(rng, soft=True))
    x[:4] = 0.5  # no saturated sigmoid: gamma < 1 has an infinite derivative at p_t = 1
    tx = torch.tensor(x, requires_grad=True)
    expected = TORCHVISION_OPS.sigmoid_focal_loss(
        tx, torch.tensor(y), alpha=alpha, gamma=gamma, reduction="sum"
    )
    expected.backward()
    f = jax.jit(
        jax.value_and_grad(
            lambda x, a, g: jaxloss.ops.sigmoid_focal_loss(x, y, a, g, reduction="sum")
        )
    )
    value, grad = f(jnp.asarray(x), jnp.float32(alpha), jnp.float32(gamma))
    assert_close(value, expected, np.float32, "traced alpha/gamma value")
    assert_close(grad, tx.grad, np.float32, "traced alpha/gamma gradient")


# --- bad input --------------------------------------------------------------------------------
def _torchvision_error(name, *args, **kwargs) -> Exception:
    t_args = [torch.as_tensor(np.asarray(a)) for a in args]
    with pytest.raises(Exception) as caught:
        getattr(TORCHVISION_OPS, name)(*t_args, **kwargs)
    return caught.value


@pytest.mark.parametrize("bad", ["xyz", "MEAN", "batchmean", None])
@pytest.mark.parametrize("name", LOSSES)
def test_invalid_reduction_is_torchvisions_error(name, bad):
    args = (np.zeros((2, 4), np.float32), np.zeros((2, 4), np.float32))
    expected = _torchvision_error(name, *args, reduction=bad)
    assert type(expected) is ValueError
    with pytest.raises(ValueError, match=f"^{re.escape(str(expected))}$"):
        getattr(jaxloss.ops, name)(*args, reduction=bad)


@pytest.mark.parametrize("alpha", [2.0, -0.5, 1.01, float("nan")])
def test_invalid_alpha_is_torchvisions_error(alpha):
    args = (np.zeros(3, np.float32), np.zeros(3, np.float32))
    expected = _torchvision_error("sigmoid_focal_loss", *args, alpha=alpha)
    assert type(expected) is ValueError
    with pytest.raises(ValueError, match=f"^{re.escape(str(expected))}$"):
        jaxloss.ops.sigmoid_focal_loss(*args, alpha=alpha)


@pytest.mark.parametrize(
    "x_shape, y_shape",
    [((3,), (2, 3)), ((2, 3), (3,)), ((2, 3), (2, 1))],
)
def test_focal_shape_mismatch_raises_like_torchvision(x_shape, y_shape):
    x, y = np.zeros(x_shape, np.float32), np.zeros(y_shape, np.float32)
    _torchvision_error("sigmoid_focal_loss", x, y)
    with pytest.raises(ValueError, match=r"sigmoid_focal_loss: targets has shape .* inputs"):
        jaxloss.ops.sigmoid_focal_loss(x, y)


def test_focal_integer_targets_raise_like_torchvision():
    x, y = np.zeros(3, np.float32), np.array([0, 1, 1])
    _torchvision_error("sigmoid_focal_loss", x, y)
    with pytest.raises(TypeError, match="sigmoid_focal_loss: targets has dtype int"):
        jaxloss.ops.sigmoid_focal_loss(x, y)


@pytest.mark.parametrize(
    "s1, s2, pattern",
    [
        ((2, 3), (2, 3), r"boxes1 has shape \(2, 3\) but boxes must have shape \(4,\) or \(N, 4\)"),
        ((2, 5), (2, 5), r"boxes1 has shape \(2, 5\)"),
        ((2, 4), (3, 4), r"boxes2 has shape \(3, 4\), which does not broadcast to boxes1's"),
        ((1, 4), (2, 4), r"boxes2 has shape \(2, 4\), which does not broadcast to boxes1's"),
        ((4,), (2, 4), r"boxes2 has shape \(2, 4\), which does not broadcast to boxes1's"),
    ],
)
@pytest.mark.parametrize("name", BOX_LOSSES)
def test_bad_box_shapes_raise_like_torchvision(name, s1, s2, pattern):
    b1, b2 = np.ones(s1, np.float32), np.ones(s2, np.float32)
    _torchvision_error(name, b1, b2)
    with pytest.raises(ValueError, match=f"{name}: {pattern}"):
        getattr(jaxloss.ops, name)(b1, b2)


def test_complex_boxes_are_refused():
    b = np.ones((2, 4), np.complex64)
    with pytest.raises(TypeError, match="generalized_box_iou_loss: boxes1 has dtype complex64"):
        jaxloss.ops.generalized_box_iou_loss(b, b.real)


def test_optax_focal_loss_differs_only_by_its_defaults(rng):
    """The README's table: optax.losses.sigmoid_focal_loss is torchvision's unreduced loss
    once alpha=0.25 is passed (its default, None, weights no class)."""
    import optax

    x, y = (a.astype(np.float32) for a in _focal_inputs(rng, soft=True))
    x[:4] = 0.5  # moderate logits: optax computes its own stable form
    expected = TORCHVISION_OPS.sigmoid_focal_loss(torch.from_numpy(x), torch.from_numpy(y))
    assert_close(optax.losses.sigmoid_focal_loss(x, y, alpha=0.25), expected, np.float32, "optax")
    unweighted = optax.losses.sigmoid_focal_loss(x, y)
    assert not np.allclose(np.asarray(unweighted), expected.numpy(), rtol=1e-3)


@pytest.mark.parametrize("name", LOSSES)
def test_vmap_matches_per_batch_torchvision(rng, name):
    """jax.vmap over 3 independent problems equals torchvision called on each ('mean')."""
    if name == "sigmoid_focal_loss":
        a, b = (v.astype(np.float32) for v in _focal_inputs(rng, (3, 5), soft=True))
    else:
        pairs = [_pair(rng, "overlapping", n=4) for _ in range(3)]
        a, b = (np.stack([p[i] for p in pairs]).astype(np.float32) for i in (0, 1))
    ours, theirs = _both(name)
    got = jax.jit(jax.vmap(lambda u, v: ours(u, v, reduction="mean")))(a, b)
    expected = torch.stack(
        [theirs(torch.from_numpy(u), torch.from_numpy(v), reduction="mean") for u, v in zip(a, b)]
    )
    assert_close(got, expected, np.float32, f"vmap {name}")
