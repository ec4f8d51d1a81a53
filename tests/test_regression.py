"""l1_loss, mse_loss, smooth_l1_loss, huber_loss, poisson_nll_loss, gaussian_nll_loss (jaxloss/_regression.py)
against live torch 2.13: values and gradients, float32 and float64, eager and jit, every option,
edge cases and bad input. Tolerances: torch_parity.py (rtol 1e-5/atol 1e-6 f32, 1e-10/1e-12 f64)
unless stated."""

import itertools
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
        with pytest.raises(ValueError, match=r"huber_loss: delta must be greater than 0, got "):
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
        # torch: NotImplementedError for two integer arguments (an integer input with a
        # floating target is promoted: test_smooth_l1_integer_input_with_float_target_like_torch)
        jaxloss.smooth_l1_loss(np.zeros(3, np.int32), np.zeros(3, np.int32))
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
        match=r"input has shape \(2, 3\), target has shape \(2,\), which do not broadcast",
    ):
        getattr(jaxloss, name)(X, np.zeros(2, np.float32))
    torch_refuses(getattr(F, name), torch.tensor(X), torch.zeros(2))


@pytest.mark.parametrize("name", ["l1_loss", "mse_loss"])
def test_weight_shape_must_match_input(name):
    with pytest.raises(ValueError, match=r"weight has shape \(3,\) but \(2, 3\) is required"):
        getattr(jaxloss, name)(X, X, weight=np.ones(3, np.float32))
    torch_refuses(getattr(F, name), torch.tensor(X), torch.tensor(X), weight=torch.ones(3))


# --- fixes: closed-over constants under jit, torch 2.13 edge cases -------------------------
# Helpers used by the same sections of test_binary, test_divergence, test_embedding and
# test_margin. Every expected value is live torch 2.13 unless a comment says otherwise.


def check_closed_over(name, torch_fn, arrays, kwargs, closed, kind):
    """jaxloss.<name> under jax.jit with the array argument ``closed`` a closed-over constant
    (``kind`` 'numpy' or 'jax'; ``closed == '*'`` closes over every array) and the others
    traced, against torch's value (float32 tolerances)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # kl_div's 'mean' warning, both sides
        expected = torch_fn(**{k: torch.from_numpy(v) for k, v in arrays.items()}, **kwargs)
        wrap = np.asarray if kind == "numpy" else jnp.asarray
        const = {k: wrap(v) for k, v in arrays.items() if closed in ("*", k)}
        traced = {k: jnp.asarray(v) for k, v in arrays.items() if k not in const}
        fn = getattr(jaxloss, name)
        out = jax.jit(lambda t: fn(**const, **t, **kwargs))(traced)
    assert_close(out, expected, np.float32, f"{name}: {closed} closed over as a {kind} array")


def closed_over_params(table):
    """(name, argument) pairs: each array argument of each loss, and '*' (all of them)."""
    return [(name, arg) for name, (_, arrays, _) in table.items() for arg in [*arrays, "*"]]


def check_elementwise_mean(name, torch_fn, arrays, kwargs):
    """torch's deprecated reduction='elementwise_mean': where torch accepts it (UserWarning,
    then 'mean') jaxloss warns the same and returns torch's value; where torch refuses it
    (ValueError) jaxloss refuses it too."""
    t = {k: torch.from_numpy(v) for k, v in arrays.items()}
    j = {k: jnp.asarray(v) for k, v in arrays.items()}
    fn = getattr(jaxloss, name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            expected = torch_fn(**t, **kwargs, reduction="elementwise_mean")
        except ValueError:
            expected = None
    if expected is None:
        with pytest.raises(ValueError, match="elementwise_mean is not a valid value for reduction"):
            fn(**j, **kwargs, reduction="elementwise_mean")
        return
    deprecation = "reduction='elementwise_mean' is deprecated. Please use reduction='mean' instead."
    assert [str(w.message) for w in caught] == [deprecation]  # torch: exactly this warning
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        out = fn(**j, **kwargs, reduction="elementwise_mean")
    assert [(w.category, str(w.message)) for w in ours] == [(UserWarning, deprecation)]
    assert_close(out, expected, np.float32, f"{name} elementwise_mean")


def check_dtypes_like_torch(name, torch_fn, arrays, kwargs, dtypes):
    """``arrays`` cast to ``dtypes`` (one per array, in order): jaxloss returns torch's
    dtype and value, or both refuse. Run under x64 so that float64 exists in JAX."""
    t = {k: torch.from_numpy(v.astype(d)) for (k, v), d in zip(arrays.items(), dtypes)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            expected = torch_fn(**t, **kwargs)
        except RuntimeError:
            expected = None
        with precision(np.float64):
            j = {k: jnp.asarray(v, d) for (k, v), d in zip(arrays.items(), dtypes)}
            fn = getattr(jaxloss, name)
            if expected is None:
                with pytest.raises(TypeError, match=f"{name}: .* has dtype"):
                    fn(**j, **kwargs)
                return
            out = fn(**j, **kwargs)
    what = f"{name} with dtypes {[np.dtype(d).name for d in dtypes]}"
    assert out.dtype == np.dtype(str(expected.dtype).replace("torch.", "")), (
        f"{what}: dtype {out.dtype} != torch's {expected.dtype}"
    )
    half = any(np.dtype(d).itemsize == 2 for d in dtypes)
    tol = 1e-2 if half else None  # torch rounds each elementwise result to half
    assert_close(out, expected.float(), np.float32, what, rtol=tol, atol=tol)


def mixed_dtypes(n):
    """Every assignment of float32/float64 to ``n`` arrays that mixes the two."""
    return [c for c in itertools.product([np.float32, np.float64], repeat=n) if len(set(c)) > 1]


def _regression_table():
    rng = np.random.default_rng(11)  # seed: inputs of the closed-over/dtype checks
    x = rng.normal(size=(4, 3)).astype(np.float32)
    t = (x + 2 * rng.normal(size=(4, 3))).astype(np.float32)
    w = rng.uniform(0.5, 2.0, size=(4, 3)).astype(np.float32)
    var = rng.uniform(0.5, 2.0, size=(4, 3)).astype(np.float32)
    counts = rng.poisson(2.0, size=(4, 3)).astype(np.float32)
    return {
        "l1_loss": (F.l1_loss, dict(input=x, target=t, weight=w), {}),
        "mse_loss": (F.mse_loss, dict(input=x, target=t, weight=w), {}),
        "smooth_l1_loss": (F.smooth_l1_loss, dict(input=x, target=t), dict(beta=0.5)),
        "huber_loss": (F.huber_loss, dict(input=x, target=t, weight=w), dict(delta=0.7)),
        "poisson_nll_loss": (F.poisson_nll_loss, dict(input=x, target=counts), {}),
        "gaussian_nll_loss": (F.gaussian_nll_loss, dict(input=x, target=t, var=var), {}),
    }


REGRESSION_TABLE = _regression_table()


@pytest.mark.parametrize("kind", ["numpy", "jax"])
@pytest.mark.parametrize("name,closed", closed_over_params(REGRESSION_TABLE))
def test_jit_with_closed_over_array(name, closed, kind):
    # gaussian_nll_loss with a closed-over jax var raised TracerBoolConversionError
    torch_fn, arrays, kwargs = REGRESSION_TABLE[name]
    check_closed_over(name, torch_fn, arrays, kwargs, closed, kind)


def test_value_checks_see_closed_over_constants():
    # torch: ValueError "var has negative entry/entries"; a numpy constant closed over by jit
    # is known at trace time, so it is checked (a traced var cannot be)
    x = jnp.zeros((2, 3))
    bad = -np.ones((2, 3), np.float32)
    for var in (bad, jnp.asarray(bad)):
        with pytest.raises(ValueError, match="gaussian_nll_loss: var has negative entries"):
            jax.jit(lambda a, v=var: jaxloss.gaussian_nll_loss(a, a, v))(x)
    with pytest.raises(ValueError, match="var has negative entry"):
        F.gaussian_nll_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.from_numpy(bad))
    # a traced var still works (unchecked)
    assert jnp.isfinite(jax.jit(jaxloss.gaussian_nll_loss)(x, x, jnp.ones((2, 3))))


@pytest.mark.parametrize("name", sorted(REGRESSION_TABLE))
def test_elementwise_mean_alias_like_torch(name):
    # torch 2.13: accepted (UserWarning) by l1, mse, smooth_l1, huber; refused (ValueError)
    # by poisson_nll and gaussian_nll, whose Python code checks the string itself
    torch_fn, arrays, kwargs = REGRESSION_TABLE[name]
    check_elementwise_mean(name, torch_fn, arrays, kwargs)


def test_elementwise_mean_not_seen_with_legacy_flags():
    # torch: the legacy flags replace reduction before it is read, so no alias warning
    x = np.array([1.0, 2.0], np.float32)
    y = np.array([0.0, 4.0], np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = jaxloss.l1_loss(x, y, size_average=False, reduction="elementwise_mean")
    assert not any("elementwise_mean" in str(w.message) for w in caught)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = F.l1_loss(
            torch.from_numpy(x),
            torch.from_numpy(y),
            size_average=False,
            reduction="elementwise_mean",
        )
    assert_close(out, expected, np.float32, "legacy flags win")  # torch: 3.0 ('sum')


@pytest.mark.parametrize("name", sorted(REGRESSION_TABLE))
def test_bad_reduction_lists_the_accepted_values(name):
    # torch: "avg is not a valid value for reduction" (gaussian_nll: "avg is not valid";
    # with weight: "Invalid reduction mode: avg. ..."); ours names the function, then torch's
    # usual text
    torch_fn, arrays, kwargs = REGRESSION_TABLE[name]
    with pytest.raises(ValueError, match="avg"):
        torch_fn(**{k: torch.from_numpy(v) for k, v in arrays.items()}, reduction="avg")
    with pytest.raises(ValueError) as info:
        getattr(jaxloss, name)(**arrays, **kwargs, reduction="avg")
    expected = f"{name}: avg is not a valid value for reduction; expected 'none', 'mean' or 'sum'"
    assert str(info.value) == expected


@pytest.mark.parametrize("name", sorted(REGRESSION_TABLE))
def test_mixed_float32_float64_dtypes_like_torch(name):
    # torch: huber_loss returns input's dtype (target cast into it); the others promote
    torch_fn, arrays, kwargs = REGRESSION_TABLE[name]
    for dtypes in mixed_dtypes(len(arrays)):
        check_dtypes_like_torch(name, torch_fn, arrays, kwargs, dtypes)


def test_huber_half_input_keeps_its_dtype_like_torch():
    # torch 2.13: huber(float16 input, float32 target) is float16 (float32 with a float32
    # weight, which multiplies the unweighted loss); float32 input, float16 target: float32
    torch_fn, arrays, kwargs = REGRESSION_TABLE["huber_loss"]
    unweighted = {k: arrays[k] for k in ("input", "target")}
    for dtypes in [(np.float16, np.float32), (np.float32, np.float16)]:
        check_dtypes_like_torch("huber_loss", torch_fn, unweighted, kwargs, dtypes)
    for dtypes in [(np.float16, np.float32, np.float32), (np.float16, np.float16, np.float32)]:
        check_dtypes_like_torch("huber_loss", torch_fn, arrays, kwargs, dtypes)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("smooth_l1_loss", dict(beta=1.0)),
        ("smooth_l1_loss", dict(beta=0.0)),
        ("smooth_l1_loss", dict(beta=0.5)),
        ("huber_loss", dict(delta=2.0)),
        ("huber_loss", dict(delta=0.5)),
    ],
)
def test_infinite_difference_gradient_like_torch(name, kwargs, reduction):
    # torch 2.13: smooth_l1(0, inf) = inf with gradient -1 (also beta=0), huber(0, inf,
    # delta=2) gradient -2; differentiating the branches gave nan
    x = np.array([0.0, 0.0, 1.0, 0.0, 0.25], np.float32)
    y = np.array([np.inf, -np.inf, np.inf, 3.0, 0.0], np.float32)
    check_parity(
        getattr(jaxloss, name),
        getattr(F, name),
        (x, y),
        dict(kwargs, reduction=reduction),
        grad_argnums=(0, 1),
    )


def test_gaussian_nll_second_derivative_below_eps_like_torch():
    # torch: var.clamp_(min=eps) under no_grad is straight-through to every order; the
    # Hessian at var = 1e-9 (x = 0.5, t = 0, eps = 1e-6) is 2.4999950000e+17, not 0
    x = np.array([0.5, 0.5, -1.0], np.float64)
    t = np.zeros(3, np.float64)
    var = np.array([1e-9, 0.3, 2e-7], np.float64)
    from torch_parity import check_hessian

    check_hessian(
        lambda v: jaxloss.gaussian_nll_loss(jnp.asarray(x), jnp.asarray(t), v, reduction="sum"),
        lambda v: F.gaussian_nll_loss(torch.from_numpy(x), torch.from_numpy(t), v, reduction="sum"),
        var,
    )
    with precision(np.float64):
        h = jax.hessian(
            lambda v: jaxloss.gaussian_nll_loss(
                jnp.array([0.5]), jnp.array([0.0]), v, reduction="sum"
            )
        )(jnp.array([1e-9]))
    np.testing.assert_allclose(np.asarray(h), [[2.499995e17]], rtol=1e-12)  # torch 2.13


def test_huber_hessian_matches_torch(rng):
    from torch_parity import check_hessian

    x = rng.normal(size=(6,)).astype(np.float64)
    y = rng.normal(size=(6,))
    check_hessian(
        lambda a: jaxloss.huber_loss(a, jnp.asarray(y), delta=0.8, reduction="sum"),
        lambda a: F.huber_loss(a, torch.from_numpy(y), delta=0.8, reduction="sum"),
        x,
    )


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("l1_loss", {}),
        ("smooth_l1_loss", dict(beta=0.0)),
        ("smooth_l1_loss", dict(beta=1.0)),
        ("huber_loss", {}),
        ("mse_loss", {}),
    ],
)
def test_nan_gradient_like_torch(name, kwargs):
    # torch: the l1 gradient is sgn(d) and sgn(nan) = 0, so l1 (and smooth_l1 with beta=0,
    # which is l1) gives [0, 0] for inputs [1, nan], targets [nan, 2]; beta > 0, huber and
    # mse give nan
    x = np.array([1.0, np.nan, 0.5], np.float32)
    y = np.array([np.nan, 2.0, 0.5], np.float32)
    check_parity(
        getattr(jaxloss, name),
        getattr(F, name),
        (x, y),
        dict(kwargs, reduction="sum"),
        grad_argnums=(0, 1),
    )


@pytest.mark.parametrize("delta", ["a", 1 + 0j, None, [1.0], np.ones(2, np.float32)])
def test_huber_delta_must_be_a_real_number_like_torch(delta):
    x = np.array([0.0, 1.0], np.float32)
    y = np.array([0.5, 3.0], np.float32)
    # torch: TypeError "huber_loss(): argument 'delta' (position 4) must be float, not str",
    # and torch.nn.HuberLoss(delta='a') raises TypeError "delta must be a float or int"
    with pytest.raises(TypeError):
        F.huber_loss(torch.from_numpy(x), torch.from_numpy(y), delta=delta)
    with pytest.raises(TypeError, match=r"^huber_loss: delta must be a float or int, got "):
        jaxloss.huber_loss(x, y, delta=delta)
    with pytest.raises(TypeError, match="smooth_l1_loss: beta must be a float or int"):
        jaxloss.smooth_l1_loss(x, y, beta=delta)
    with pytest.raises(TypeError, match="delta must be a float or int"):
        jaxloss.nn.HuberLoss(delta=delta)(x, y)


@pytest.mark.parametrize("delta", [True, 2, np.float32(0.5), np.array(1.5), float("inf")])
def test_huber_delta_real_numbers_accepted_like_torch(delta):
    x = np.array([0.0, 1.0, -2.0], np.float32)
    y = np.array([0.5, 3.0, 0.0], np.float32)
    check_parity(jaxloss.huber_loss, F.huber_loss, (x, y), dict(delta=float(delta)))
    expected = F.huber_loss(torch.from_numpy(x), torch.from_numpy(y), delta=float(delta))
    assert_close(jaxloss.huber_loss(x, y, delta=delta), expected, np.float32, "delta type")
    traced = jax.jit(lambda d: jaxloss.huber_loss(x, y, delta=d))(jnp.float32(delta))
    assert_close(traced, expected, np.float32, "traced delta")


COMPLEX_L1 = [
    (np.complex64, np.float32, {}),
    (np.complex64, np.complex64, {}),
    (np.complex128, np.float64, {}),
    (np.complex64, np.float32, dict(weight=np.array([1.0, 3.0, 0.5], np.float32))),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("in_dtype,target_dtype,extra", COMPLEX_L1)
@pytest.mark.parametrize("jit", [False, True])
def test_l1_complex_input_like_torch(in_dtype, target_dtype, extra, reduction, jit):
    # torch: L1Loss(reduction='none')([1+1j, 2-1j], [0, 1]) = [1.4142, 1.4142], real;
    # torch's .grad is sgn(z - y) = (z - y) / |z - y| (0 at z == y); jax.grad of the real
    # loss w.r.t. a complex argument is its complex conjugate
    z = np.array([1 + 1j, 2 - 1j, 0.5 + 0j], in_dtype)
    y = np.array([0, 1, 0.5], target_dtype)
    if np.issubdtype(target_dtype, np.complexfloating):
        y = (y + np.array([0.5j, 0, 0])).astype(target_dtype)
    dtype = np.float64 if in_dtype == np.complex128 else np.float32
    tz = torch.from_numpy(z).requires_grad_(True)
    ty = torch.from_numpy(y).requires_grad_(True)
    kw = {k: torch.from_numpy(v) for k, v in extra.items()}
    expected = F.l1_loss(tz, ty, reduction=reduction, **kw)
    ct = np.random.default_rng(3).uniform(0.5, 1.5, size=tuple(expected.shape))
    expected.backward(torch.from_numpy(ct).to(expected.dtype))
    with precision(dtype):
        fn = lambda a, b: jaxloss.l1_loss(a, b, reduction=reduction, **extra)  # noqa: E731
        fn = jax.jit(fn) if jit else fn
        out, vjp = jax.vjp(fn, jnp.asarray(z), jnp.asarray(y))
        gz, gy = vjp(jnp.asarray(ct, out.dtype))
    assert out.dtype == np.dtype(dtype)
    assert_close(out, expected, dtype, "complex l1 value")
    for ours, theirs, what in [(gz, tz.grad, "input"), (gy, ty.grad, "target")]:
        ours = np.conj(np.asarray(ours))  # JAX's convention: conj of torch's .grad
        theirs = theirs.numpy()
        assert_close(ours.real, theirs.real, dtype, f"grad of {what} (real part)")
        assert_close(np.imag(ours), np.imag(theirs), dtype, f"grad of {what} (imag part)")


def test_l1_complex_example_from_torch():
    out = jaxloss.l1_loss(jnp.array([1 + 1j, 2 - 1j]), jnp.array([0.0, 1.0]), reduction="none")
    np.testing.assert_allclose(np.asarray(out), [1.4142135, 1.4142135], rtol=1e-6)  # torch
    assert out.dtype == jnp.float32


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("in_dtype", [np.int32, np.int64, np.bool_])
def test_smooth_l1_integer_input_with_float_target_like_torch(in_dtype, reduction):
    # torch: smooth_l1_loss(tensor([1]), tensor([0.5])) = 0.125 (promoted); two integer
    # arguments raise NotImplementedError "smooth_l1_cpu" not implemented for 'Long'
    x = np.array([1, 0, 3]).astype(in_dtype)
    y = np.array([0.5, 0.25, 0.0], np.float32)
    expected = F.smooth_l1_loss(torch.from_numpy(x), torch.from_numpy(y), reduction=reduction)
    out = jaxloss.smooth_l1_loss(x, y, reduction=reduction)
    assert out.dtype == np.float32
    assert_close(out, expected, np.float32, "integer input")
    with pytest.raises(NotImplementedError):
        F.smooth_l1_loss(torch.from_numpy(x), torch.from_numpy(x.astype(np.int64)))
    with pytest.raises(TypeError, match="smooth_l1_loss: input has dtype"):
        jaxloss.smooth_l1_loss(x, x.astype(np.int32))
