"""l1_loss, mse_loss, smooth_l1_loss, huber_loss, poisson_nll_loss, gaussian_nll_loss (jaxloss/_regression.py)
against live torch 2.13: values and gradients, float32 and float64, eager and jit, every option,
edge cases and bad input. Tolerances: torch_parity.py (rtol 1e-5/atol 1e-6 f32, 1e-10/1e-12 f64)
unless stated."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch_parity import assert_close, check_parity, precision

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


# 'none' in both precisions checks every element's value and gradient (random cotangent);
# the reductions themselves are the shared reduce_loss, so each gets one precision
DTYPE_REDUCTIONS = [
    (np.float32, "none"),
    (np.float64, "none"),
    (np.float32, "mean"),
    (np.float64, "sum"),
]


def _pair(rng, shape, dtype, beta):
    """Random input/target with a kink (d == 0) and, for beta > 0, d == +-beta exactly."""
    y = np.asarray(rng.normal(size=shape), dtype)
    x = np.asarray(y + 2 * rng.normal(size=shape), dtype)
    if x.size >= 3:
        y.flat[:3] = [0.0, 0.0, 0.0]
        x.flat[:3] = [0.0, beta, -beta]  # beta values below are exact binary fractions
    return x, y


VAR_SHAPES = {
    "same": (4, 3, 5),
    "one_fewer_dim": (4, 3),
    "size_one_dim": (4, 1, 5),
}


NEG_INF = -np.inf


def torch_refuses(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises((RuntimeError, ValueError, IndexError, NotImplementedError, TypeError)):
            fn(*args, **kwargs)


X = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]], np.float32)


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


@pytest.mark.parametrize("dtype,reduction", DTYPE_REDUCTIONS)
@pytest.mark.parametrize("beta", [0.0, 0.25, 2.5])
def test_smooth_l1(rng, dtype, reduction, beta):
    x, y = _pair(rng, (4, 5), dtype, beta)
    check_parity(
        jaxloss.smooth_l1_loss,
        F.smooth_l1_loss,
        (x, y),
        dict(reduction=reduction, beta=beta),
        grad_argnums=(0, 1),
        dtype=dtype,
    )


@pytest.mark.parametrize("dtype,reduction", DTYPE_REDUCTIONS)
@pytest.mark.parametrize("delta", [0.25, 2.5])
def test_huber(rng, dtype, reduction, delta):
    x, y = _pair(rng, (4, 5), dtype, delta)
    check_parity(
        jaxloss.huber_loss,
        F.huber_loss,
        (x, y),
        dict(reduction=reduction, delta=delta),
        grad_argnums=(0, 1),
        dtype=dtype,
    )


@pytest.mark.parametrize("dtype,reduction", DTYPE_REDUCTIONS)
def test_huber_weight(rng, dtype, reduction):
    # torch 2.13: weighted 'mean' is mean(w * l), NOT sum(w * l) / sum(w) as in l1/mse
    x, y = _pair(rng, (3, 4), dtype, 1.0)
    w = rng.uniform(0.1, 2.0, size=(3, 4)).astype(dtype)
    check_parity(
        jaxloss.huber_loss,
        F.huber_loss,
        (x, y),
        dict(reduction=reduction, delta=1.0, weight=w),
        grad_argnums=(0, 1),
        dtype=dtype,
    )


@pytest.mark.parametrize(
    "name,kwargs", [("smooth_l1_loss", dict(beta=0.5)), ("huber_loss", dict(delta=0.5))]
)
def test_scalar_input(rng, name, kwargs):
    x, y = _pair(rng, (), np.float64, 0.5)
    check_parity(
        getattr(jaxloss, name),
        getattr(F, name),
        (x, y),
        kwargs,
        grad_argnums=(0, 1),
        dtype=np.float64,
    )


def test_smooth_l1_beta_zero_is_l1_with_torch_grads():
    # TORCH_SEMANTICS: beta = 0 is exactly L1, grads [0, +-1]; naive where() gives nan
    x = np.array([1.0, 2.0, 3.0], np.float32)
    y = np.array([1.0, 1.0, 5.0], np.float32)
    g = jax.grad(lambda a: jaxloss.smooth_l1_loss(a, y, beta=0.0, reduction="sum"))(x)
    xt = torch.from_numpy(x).requires_grad_()
    F.smooth_l1_loss(xt, torch.from_numpy(y), beta=0.0, reduction="sum").backward()
    np.testing.assert_array_equal(np.asarray(g), xt.grad.numpy())  # [0, 1, -1] from torch
    assert not np.isnan(np.asarray(g)).any()


def test_huber_is_delta_times_smooth_l1(rng):
    x, y = _pair(rng, (6,), np.float64, 0.5)
    with precision(np.float64):
        h = jaxloss.huber_loss(x, y, delta=0.5, reduction="none")
        s = 0.5 * jaxloss.smooth_l1_loss(x, y, beta=0.5, reduction="none")
    expected = 0.5 * F.smooth_l1_loss(
        torch.from_numpy(x), torch.from_numpy(y), beta=0.5, reduction="none"
    )
    assert_close(h, expected, np.float64, "huber vs torch 0.5 * smooth_l1")
    assert_close(s, expected, np.float64, "0.5 * smooth_l1 vs torch")


@pytest.mark.parametrize("name", ["smooth_l1_loss", "huber_loss"])
def test_broadcasting_warns_then_matches(rng, name):
    x = rng.normal(size=(4, 1)).astype(np.float32)
    y = rng.normal(size=(3,)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        check_parity(
            getattr(jaxloss, name),
            getattr(F, name),
            (x, y),
            dict(reduction="none"),
            grad_argnums=(0, 1),
        )
    with pytest.warns(
        UserWarning, match=r"target size \(3,\) that is different to the input size \(4, 1\)"
    ):
        getattr(jaxloss, name)(x, y)


@pytest.mark.parametrize("dtype,reduction", DTYPE_REDUCTIONS)
@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [False, True])
def test_poisson_nll(rng, dtype, reduction, log_input, full):
    shape = (4, 5)
    if log_input:
        x = rng.normal(size=shape).astype(dtype)
    else:
        x = rng.uniform(0.05, 4.0, size=shape).astype(dtype)
        x.flat[0] = 0.0  # log(0 + eps)
    # counts 0..6 plus non-integers: the Stirling term applies only where target > 1
    y = rng.integers(0, 7, size=shape).astype(dtype)
    y.flat[1:6] = [0.0, 1.0, 0.5, 1.0000001, 2.5]
    check_parity(
        jaxloss.poisson_nll_loss,
        F.poisson_nll_loss,
        (x, y),
        dict(log_input=log_input, full=full, reduction=reduction),
        grad_argnums=(0, 1),
        dtype=dtype,
    )


def test_poisson_nll_eps_and_broadcast(rng):
    x = rng.uniform(0.0, 2.0, size=(3, 4)).astype(np.float64)
    y = rng.integers(0, 5, size=(4,)).astype(np.float64)
    check_parity(
        jaxloss.poisson_nll_loss,
        F.poisson_nll_loss,
        (x, y),
        dict(log_input=False, eps=1e-3, full=True, reduction="none"),
        grad_argnums=(0, 1),
        dtype=np.float64,
    )


@pytest.mark.parametrize("dtype,full", [(np.float32, False), (np.float64, True)])
@pytest.mark.parametrize("var_kind", list(VAR_SHAPES) + ["float"])
def test_gaussian_nll_var_shapes(rng, dtype, var_kind, full):
    x = rng.normal(size=(4, 3, 5)).astype(dtype)
    y = rng.normal(size=(4, 3, 5)).astype(dtype)
    kwargs = dict(full=full, reduction="none")
    if var_kind == "float":
        check_parity(
            lambda a, b: jaxloss.gaussian_nll_loss(a, b, 0.7, **kwargs),
            lambda a, b: F.gaussian_nll_loss(a, b, 0.7, **kwargs),
            (x, y),
            grad_argnums=(0, 1),
            dtype=dtype,
        )
        return
    v = rng.uniform(0.1, 2.0, size=VAR_SHAPES[var_kind]).astype(dtype)
    check_parity(
        jaxloss.gaussian_nll_loss,
        F.gaussian_nll_loss,
        (x, y, v),
        kwargs,
        grad_argnums=(0, 1, 2),
        dtype=dtype,
    )


@pytest.mark.parametrize("dtype,reduction", DTYPE_REDUCTIONS)
def test_gaussian_nll_reductions_and_eps(rng, dtype, reduction):
    x = rng.normal(size=(6, 2)).astype(dtype)
    y = rng.normal(size=(6, 2)).astype(dtype)
    v = rng.uniform(0.1, 2.0, size=(6, 2)).astype(dtype)
    check_parity(
        jaxloss.gaussian_nll_loss,
        F.gaussian_nll_loss,
        (x, y, v),
        dict(reduction=reduction, eps=0.3),
        grad_argnums=(0, 1, 2),
        dtype=dtype,
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_gaussian_nll_clamped_var_gradient_passes_through(rng, dtype):
    # TORCH_SEMANTICS: var < eps is clamped under no_grad, so d/dvar is taken at eps
    # (about -5e11 here), not 0 as jnp.maximum would give
    x = np.array([1.0, -1.0, 0.5, 2.0], dtype)
    y = np.zeros(4, dtype)
    v = np.array([0.0, 1e-8, 1e-6, 1.0], dtype)
    check_parity(
        jaxloss.gaussian_nll_loss,
        F.gaussian_nll_loss,
        (x, y, v),
        dict(reduction="none"),
        grad_argnums=(0, 1, 2),
        dtype=dtype,
    )
    with precision(dtype):
        g = jax.grad(lambda var: jaxloss.gaussian_nll_loss(x, y, var, reduction="sum"))(v)
    assert float(g[0]) < -4e11


def test_gaussian_nll_target_broadcasts(rng):
    x = rng.normal(size=(2, 3)).astype(np.float32)
    y = rng.normal(size=(3,)).astype(np.float32)
    v = rng.uniform(0.5, 1.5, size=(2, 3)).astype(np.float32)
    check_parity(
        jaxloss.gaussian_nll_loss,
        F.gaussian_nll_loss,
        (x, y, v),
        dict(reduction="none"),
        grad_argnums=(0, 1, 2),
    )


def test_class_is_a_static_jit_argument(rng):
    x = rng.normal(size=(5,)).astype(np.float32)
    y = rng.normal(size=(5,)).astype(np.float32)
    f = jax.jit(lambda loss, a, b: loss(a, b), static_argnums=0)
    expected = F.huber_loss(torch.from_numpy(x), torch.from_numpy(y), delta=0.5)
    assert_close(f(jaxloss.HuberLoss(delta=0.5), x, y), expected, np.float32, "jit HuberLoss")
    with pytest.raises(AttributeError, match="immutable"):
        jaxloss.SmoothL1Loss().beta = 2.0


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_half_precision_returns_own_dtype(rng, dtype):
    x = rng.normal(size=(8,)).astype(np.float32)
    y = rng.normal(size=(8,)).astype(np.float32)
    v = rng.uniform(0.5, 2.0, size=(8,)).astype(np.float32)
    tdt = torch.float16 if dtype == jnp.float16 else torch.bfloat16
    xt, yt, vt = (torch.from_numpy(a).to(tdt) for a in (x, y, v))
    xj, yj, vj = (jnp.asarray(a, dtype) for a in (x, y, v))
    cases = [
        (jaxloss.smooth_l1_loss(xj, yj, beta=0.5), F.smooth_l1_loss(xt, yt, beta=0.5)),
        (jaxloss.huber_loss(xj, yj), F.huber_loss(xt, yt)),
        (jaxloss.poisson_nll_loss(xj, vj), F.poisson_nll_loss(xt, vt)),
        (jaxloss.gaussian_nll_loss(xj, yj, vj), F.gaussian_nll_loss(xt, yt, vt)),
    ]
    for ours, theirs in cases:
        assert ours.dtype == dtype
        # half precision: torch rounds elementwise results to half, we compute in float32
        np.testing.assert_allclose(np.float32(ours), theirs.float().item(), rtol=2e-2)


def test_vmap_matches_per_example_torch(rng):
    x = rng.normal(size=(3, 5)).astype(np.float32)
    y = rng.normal(size=(3, 5)).astype(np.float32)
    v = rng.uniform(0.5, 2.0, size=(3, 5)).astype(np.float32)
    out = jax.vmap(lambda a, b, c: jaxloss.gaussian_nll_loss(a, b, c, full=True))(x, y, v)
    expected = F.gaussian_nll_loss(
        *(torch.from_numpy(a) for a in (x, y, v)), full=True, reduction="none"
    ).mean(dim=1)
    assert_close(out, expected, np.float32, "vmap gaussian_nll_loss")


def test_hessian_smooth_l1_matches_torch(rng):
    from torch_parity import check_hessian

    x = rng.normal(size=(5,)).astype(np.float64)
    y = rng.normal(size=(5,))
    check_hessian(
        lambda a: jaxloss.smooth_l1_loss(a, jnp.asarray(y), beta=1.5),
        lambda a: F.smooth_l1_loss(a, torch.from_numpy(y), beta=1.5),
        x,
    )


def test_bad_inputs():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"smooth_l1_loss: beta=-1.0 is negative"):
        jaxloss.smooth_l1_loss(x, x, beta=-1.0)
    for delta in (0.0, -1.0):
        with pytest.raises(ValueError, match=r"huber_loss: delta=.* must be > 0"):
            jaxloss.huber_loss(x, x, delta=delta)
    with pytest.raises(
        ValueError, match=r"huber_loss: weight has shape \(3,\) but \(2, 3\) is required"
    ):
        jaxloss.huber_loss(x, x, weight=np.ones(3, np.float32))
    with pytest.raises(ValueError, match="bad is not a valid value for reduction"):
        jaxloss.huber_loss(x, x, reduction="bad")
    with pytest.raises(ValueError, match="bad is not a valid value for reduction"):
        jaxloss.poisson_nll_loss(x, x, reduction="bad")
    with pytest.raises(ValueError, match="bad is not a valid value for reduction"):
        jaxloss.gaussian_nll_loss(x, x, 1.0, reduction="bad")
    with pytest.raises(TypeError, match=r"smooth_l1_loss: input has dtype int32"):
        jaxloss.smooth_l1_loss(np.zeros(3, np.int32), np.zeros(3, np.float32))
    with pytest.raises(TypeError, match=r"poisson_nll_loss: input has dtype int32"):
        jaxloss.poisson_nll_loss(np.zeros(3, np.int32), np.zeros(3, np.float32))
    with pytest.raises(
        ValueError, match=r"poisson_nll_loss: input has shape \(2, 3\), target has shape \(2,\)"
    ):
        jaxloss.poisson_nll_loss(x, np.zeros(2, np.float32))


@pytest.mark.parametrize(
    "var,match",
    [
        (-1.0, r"var=-1.0 is negative"),
        (-np.ones((2, 3), np.float32), r"var has negative entries"),
        (np.ones((2, 2), np.float32), r"var has shape \(2, 2\) but input \(2, 3\) needs"),
        (np.ones((1, 1), np.float32), r"var has shape \(1, 1\) but input \(2, 3\) needs"),
        (np.ones((3,), np.float32), r"var has shape \(3,\) but input \(2, 3\) needs"),
        (np.ones((), np.float32), r"var has shape \(\) but input \(2, 3\) needs"),
    ],
)
def test_gaussian_nll_bad_var_like_torch(var, match):
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError):  # torch raises ValueError for each of these too
        F.gaussian_nll_loss(
            torch.from_numpy(x),
            torch.from_numpy(x),
            var if isinstance(var, float) else torch.from_numpy(var),
        )
    with pytest.raises(ValueError, match=match):
        jaxloss.gaussian_nll_loss(x, x, var)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_empty_input_like_torch(reduction):
    # TORCH_SEMANTICS: empty input, 'mean' -> nan, 'sum' -> 0
    e = np.zeros((0, 3), np.float32)
    for name, extra in [
        ("smooth_l1_loss", ()),
        ("huber_loss", ()),
        ("poisson_nll_loss", ()),
        ("gaussian_nll_loss", (np.ones((0, 3), np.float32),)),
    ]:
        ours = getattr(jaxloss, name)(e, e, *extra, reduction=reduction)
        theirs = getattr(F, name)(
            *(torch.from_numpy(a) for a in (e, e) + extra), reduction=reduction
        )
        assert_close(ours, theirs, np.float32, f"{name} empty {reduction}")


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_l1_kink_gradient_is_zero_like_torch(reduction):
    x = np.array([0.0, 1.5, -2.0, 3.0], np.float32)
    y = np.array([0.0, 1.5, -1.0, 3.0], np.float32)  # three exact ties
    check_parity(jaxloss.l1_loss, F.l1_loss, (x, y), dict(reduction=reduction), grad_argnums=(0, 1))
    # and the naive JAX gradient really is different here (so this test can fail)
    naive = jax.grad(lambda a: jnp.mean(jnp.abs(a - y)))(x)
    assert naive[0] != 0.0


@pytest.mark.parametrize("name", ["l1_loss", "mse_loss"])
def test_empty_pointwise(name):
    x = np.zeros((0, 3), np.float32)
    for reduction in REDUCTIONS:
        check_parity(
            getattr(jaxloss, name), getattr(F, name), (x, x.copy()), dict(reduction=reduction)
        )


@pytest.mark.parametrize("name", ["l1_loss", "mse_loss"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_])
def test_integer_or_bool_input_refused(name, dtype):
    x = np.array([1, 2, 3]).astype(dtype)
    with pytest.raises(TypeError, match=rf"{name}: input has dtype (int|bool).*floating-point"):
        getattr(jaxloss, name)(x, x.astype(np.float32))
    torch_refuses(getattr(F, name), torch.tensor(x), torch.tensor(x))


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
