"""binary_cross_entropy, binary_cross_entropy_with_logits, soft_margin_loss,
multilabel_soft_margin_loss and kl_div (and their classes) against live torch 2.13:
values and gradients (input and, where torch defines one, target), float32 and float64,
eager and jit, every option; the torch behaviours of docs/torch_semantics.md; bad input.
Tolerances: torch_parity.py (rtol 1e-5/atol 1e-6 f32, 1e-10/1e-12 f64) unless stated."""

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


# 'none' in both precisions checks every element's value and gradient (random cotangent);
# the reductions themselves are the shared reduce_loss, so each gets one precision
DTYPE_REDUCTIONS = [
    (np.float32, "none"),
    (np.float64, "none"),
    (np.float32, "mean"),
    (np.float64, "sum"),
]


N, C = 4, 5


def _weight(rng, kind, dtype, shape=(N, C)):
    if kind is None:
        return None
    return rng.uniform(0.2, 2.0, size={"per_class": shape[-1:], "full": shape}[kind]).astype(dtype)


def _torch_raises(fn, *args, **kwargs):
    with pytest.raises((ValueError, RuntimeError, TypeError, IndexError)):
        fn(
            *(torch.from_numpy(np.asarray(a)) for a in args),
            **{
                k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v
                for k, v in kwargs.items()
            },
        )


z23 = np.zeros((2, 3), np.float32)


half23 = np.full((2, 3), 0.5, np.float32)


BAD = [
    (
        "binary_cross_entropy",
        (half23, half23[0]),
        {},
        ValueError,
        r"target has shape \(3,\) but input has shape \(2, 3\)",
    ),
    (
        "binary_cross_entropy",
        (half23 + 1, half23),
        {},
        ValueError,
        r"all elements of input should be between 0 and 1, but it contains 1.5",
    ),
    (
        "binary_cross_entropy",
        (half23 * np.nan, half23),
        {},
        ValueError,
        r"all elements of input should be between 0 and 1, but it contains nan",
    ),
    (
        "binary_cross_entropy",
        (half23, half23 - 1),
        {},
        ValueError,
        r"all elements of target should be between 0 and 1, but it contains -0.5",
    ),
    (
        "binary_cross_entropy",
        (half23, np.zeros((2, 3), np.int64)),
        {},
        TypeError,
        r"target has dtype int\d+ but a floating-point dtype",
    ),
    (
        "binary_cross_entropy",
        (half23, half23),
        dict(weight=np.ones((2, 2, 3), np.float32)),
        ValueError,
        r"weight has shape \(2, 2, 3\), which does not broadcast to input's shape \(2, 3\)",
    ),
    (
        "binary_cross_entropy",
        (half23, half23),
        dict(reduction="batchmean"),
        ValueError,
        "batchmean is not a valid value for reduction",
    ),
    (
        "binary_cross_entropy_with_logits",
        (z23, z23[0]),
        {},
        ValueError,
        r"target has shape \(3,\) but input has shape \(2, 3\)",
    ),
    (
        "binary_cross_entropy_with_logits",
        (z23, z23),
        dict(pos_weight=np.ones(2, np.float32)),
        ValueError,
        r"pos_weight has shape \(2,\), which does not broadcast to input's shape \(2, 3\)",
    ),
    (
        "binary_cross_entropy_with_logits",
        (z23, z23),
        dict(weight=np.ones((3, 1), np.float32)),
        ValueError,
        r"weight has shape \(3, 1\), which does not broadcast",
    ),
    (
        "soft_margin_loss",
        (z23[0], z23),
        {},
        ValueError,
        r"target has shape \(2, 3\), which does not broadcast to input's shape \(3,\)",
    ),
    (
        "multilabel_soft_margin_loss",
        (np.zeros((), np.float32), np.zeros((), np.float32)),
        {},
        ValueError,
        r"input has shape \(\) but \(C,\) or \(N, C\)",
    ),
    (
        "multilabel_soft_margin_loss",
        (z23, z23),
        dict(reduction="bad"),
        ValueError,
        "bad is not a valid value for reduction",
    ),
    (
        "kl_div",
        (z23, np.zeros((2, 3), np.int64)),
        dict(reduction="sum"),
        TypeError,
        r"kl_div: target has dtype int\d+",
    ),
    (
        "kl_div",
        (z23, np.zeros((2, 2), np.float32)),
        dict(reduction="sum"),
        ValueError,
        r"kl_div: input has shape \(2, 3\), target has shape \(2, 2\), which do not broadcast",
    ),
    (
        "kl_div",
        (z23, z23),
        dict(reduction="bad"),
        ValueError,
        "bad is not a valid value for reduction",
    ),
]


@pytest.mark.parametrize("dtype,reduction", DTYPE_REDUCTIONS)
@pytest.mark.parametrize("weight", [None, "per_class", "full"])
def test_bce(rng, dtype, reduction, weight):
    p = rng.uniform(0.02, 0.98, size=(N, C)).astype(dtype)
    y = rng.uniform(0.0, 1.0, size=(N, C)).astype(dtype)
    y.flat[:2] = [0.0, 1.0]
    kwargs = dict(reduction=reduction)
    if weight:
        kwargs["weight"] = _weight(rng, weight, dtype)
    check_parity(
        jaxloss.binary_cross_entropy,
        F.binary_cross_entropy,
        (p, y),
        kwargs,
        grad_argnums=(0, 1),
        dtype=dtype,
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_saturated_probabilities_use_torch_gradient(dtype):
    # TORCH_SEMANTICS: p=0, y=1 -> value 100 (log clamped at -100) and grad -1e12 from
    # (p - y) / max(p(1-p), 1e-12); naive maximum(log p, -100) gives nan. Target grad
    # is -logit(p), +-inf at p in {0, 1}.
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.5, 1e-30, 1 - 1e-7, 1e-37], dtype)
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.3, 1.0, 0.0, 0.5], dtype)
    for reduction in ["none", "mean"]:
        check_parity(
            jaxloss.binary_cross_entropy,
            F.binary_cross_entropy,
            (p, y),
            dict(reduction=reduction),
            grad_argnums=(0, 1),
            dtype=dtype,
        )
    with precision(dtype):
        g = jax.grad(lambda a: jaxloss.binary_cross_entropy(a, y[:1], reduction="sum"))(p[:1])
    assert float(g[0]) == float(
        dtype(-1) / dtype(np.float32(1e-12))
    )  # torch's EPSILON is a C++ float


def test_bce_scalar_and_1d(rng):
    for shape in [(), (7,)]:
        p = np.asarray(rng.uniform(0.05, 0.95, size=shape), np.float64)
        y = np.asarray(rng.uniform(0, 1, size=shape), np.float64)
        check_parity(
            jaxloss.binary_cross_entropy,
            F.binary_cross_entropy,
            (p, y),
            dict(reduction="none"),
            grad_argnums=(0, 1),
            dtype=np.float64,
        )


@pytest.mark.parametrize("dtype,reduction", DTYPE_REDUCTIONS)
@pytest.mark.parametrize(
    "weight,pos_weight", [(None, False), (None, True), ("per_class", True), ("full", False)]
)
def test_bce_with_logits(rng, dtype, reduction, weight, pos_weight):
    x = (4 * rng.normal(size=(N, C))).astype(dtype)
    x.flat[:4] = [-200.0, 200.0, -100.0, 100.0]  # stable at large |x|
    y = rng.uniform(0.0, 1.0, size=(N, C)).astype(dtype)
    y.flat[:6] = [1.0, 0.0, 1.0, 0.0, 2.0, -0.5]  # targets outside [0, 1] are accepted
    kwargs = dict(reduction=reduction)
    if weight:
        kwargs["weight"] = _weight(rng, weight, dtype)
    if pos_weight:
        # broadcasts along the last dim
        kwargs["pos_weight"] = rng.uniform(0.3, 3.0, size=(C,)).astype(dtype)
    check_parity(
        jaxloss.binary_cross_entropy_with_logits,
        F.binary_cross_entropy_with_logits,
        (x, y),
        kwargs,
        grad_argnums=(0, 1),
        dtype=dtype,
    )


def test_bce_with_logits_pos_weight_full_shape_and_3d(rng):
    x = rng.normal(size=(2, 3, C))
    y = rng.uniform(0, 1, size=(2, 3, C))
    pw = rng.uniform(0.3, 3.0, size=(3, C))
    check_parity(
        jaxloss.binary_cross_entropy_with_logits,
        F.binary_cross_entropy_with_logits,
        (x, y),
        dict(reduction="none", pos_weight=pw),
        grad_argnums=(0, 1),
        dtype=np.float64,
    )


@pytest.mark.parametrize("dtype,reduction", DTYPE_REDUCTIONS)
def test_soft_margin(rng, dtype, reduction):
    x = (3 * rng.normal(size=(N, C))).astype(dtype)
    y = rng.choice([-1.0, 1.0], size=(N, C)).astype(dtype)
    # torch defines no gradient for the target
    check_parity(
        jaxloss.soft_margin_loss,
        F.soft_margin_loss,
        (x, y),
        dict(reduction=reduction),
        grad_argnums=(0,),
        dtype=dtype,
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_soft_margin_overflows_like_torch(dtype):
    # TORCH_SEMANTICS: torch computes log(1 + exp(-y x)) literally: in float32 x*y = -100
    # gives inf with a nan gradient (float64 still has room: 100, grad -1)
    x = np.array([-100.0, -89.0, -88.0, 100.0, 0.0, -50.0, 30.0], dtype)
    y = np.array([1.0, 1.0, 1.0, -1.0, 1.0, 1.0, 2.0], dtype)
    check_parity(
        jaxloss.soft_margin_loss,
        F.soft_margin_loss,
        (x, y),
        dict(reduction="none"),
        grad_argnums=(0,),
        dtype=dtype,
    )
    with precision(dtype):
        value = float(jaxloss.soft_margin_loss(x[:1], y[:1]))
    assert value == (np.inf if dtype == np.float32 else 100.0)


def test_soft_margin_target_broadcasts_into_input(rng):
    x = rng.normal(size=(N, C)).astype(np.float32)
    y = rng.choice([-1.0, 1.0], size=(C,)).astype(np.float32)
    check_parity(jaxloss.soft_margin_loss, F.soft_margin_loss, (x, y), dict(reduction="none"))


@pytest.mark.parametrize("dtype,reduction", DTYPE_REDUCTIONS)
@pytest.mark.parametrize("weight,shape", [(None, (N, C)), ("full", (N, C)), ("per_class", (C,))])
def test_multilabel_soft_margin(rng, dtype, reduction, weight, shape):
    x = (3 * rng.normal(size=shape)).astype(dtype)
    y = rng.integers(0, 2, size=shape).astype(dtype)
    y.flat[0] = 0.3  # soft labels are used as given
    kwargs = dict(reduction=reduction)
    if weight:
        kwargs["weight"] = _weight(rng, weight, dtype, shape)
    check_parity(
        jaxloss.multilabel_soft_margin_loss,
        F.multilabel_soft_margin_loss,
        (x, y),
        kwargs,
        grad_argnums=(0, 1),
        dtype=dtype,
    )


def test_class_with_arrays_is_a_pytree_through_jit(rng):
    x = rng.normal(size=(N, C)).astype(np.float32)
    y = rng.uniform(0, 1, size=(N, C)).astype(np.float32)
    w = rng.uniform(0.5, 1.5, size=(C,)).astype(np.float32)
    pw = rng.uniform(0.5, 3.0, size=(C,)).astype(np.float32)
    loss = jaxloss.BCEWithLogitsLoss(weight=jnp.asarray(w), pos_weight=jnp.asarray(pw))
    out = jax.jit(lambda l, a, b: l(a, b))(loss, x, y)
    expected = torch.nn.BCEWithLogitsLoss(
        weight=torch.from_numpy(w), pos_weight=torch.from_numpy(pw)
    )(torch.from_numpy(x), torch.from_numpy(y))
    assert_close(out, expected, np.float32, "jit(BCEWithLogitsLoss)")


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_half_precision_returns_own_dtype(rng, dtype):
    p = rng.uniform(0.05, 0.95, size=(4, 6)).astype(np.float32)
    y = rng.uniform(0, 1, size=(4, 6)).astype(np.float32)
    tdt = torch.float16 if dtype == jnp.float16 else torch.bfloat16
    pt, yt = (torch.from_numpy(a).to(tdt) for a in (p, y))
    pj, yj = (jnp.asarray(a, dtype) for a in (p, y))
    cases = [
        (jaxloss.binary_cross_entropy(pj, yj), F.binary_cross_entropy(pt, yt)),
        (
            jaxloss.binary_cross_entropy_with_logits(pj, yj),
            F.binary_cross_entropy_with_logits(pt, yt),
        ),
        (jaxloss.soft_margin_loss(pj, yj), F.soft_margin_loss(pt, yt)),
        (jaxloss.multilabel_soft_margin_loss(pj, yj), F.multilabel_soft_margin_loss(pt, yt)),
        (
            jaxloss.kl_div(jnp.log(pj), yj, reduction="batchmean"),
            F.kl_div(torch.log(pt), yt, reduction="batchmean"),
        ),
    ]
    for ours, theirs in cases:
        assert ours.dtype == dtype
        # half precision: torch rounds elementwise results to half, we compute in float32
        np.testing.assert_allclose(np.float32(ours), theirs.float().item(), rtol=2e-2)


def test_vmap_matches_torch_rows(rng):
    x = rng.normal(size=(3, C)).astype(np.float32)
    y = rng.integers(0, 2, size=(3, C)).astype(np.float32)
    out = jax.vmap(jaxloss.multilabel_soft_margin_loss)(x, y)
    expected = F.multilabel_soft_margin_loss(
        torch.from_numpy(x), torch.from_numpy(y), reduction="none"
    )
    assert_close(out, expected, np.float32, "vmap multilabel_soft_margin_loss")


@pytest.mark.parametrize("name,args,kwargs,error,match", BAD)
def test_bad_input_raises_where_torch_does(name, args, kwargs, error, match):
    _torch_raises(getattr(F, name), *args, **kwargs)
    with pytest.raises(error, match=match):
        getattr(jaxloss, name)(*args, **kwargs)


def test_bce_range_is_not_checked_under_jit():
    # documented difference: traced values cannot be checked; torch would raise
    out = jax.jit(jaxloss.binary_cross_entropy)(
        np.full((2,), 1.5, np.float32), np.ones(2, np.float32)
    )
    assert np.isnan(float(out))


@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
def test_empty_input_like_torch(reduction):
    # TORCH_SEMANTICS: empty input, 'mean' -> nan, 'sum' -> 0 ('batchmean' over 0 rows: nan)
    e = np.zeros((0, 3), np.float32)
    names = (
        ["kl_div"]
        if reduction == "batchmean"
        else [
            "binary_cross_entropy",
            "binary_cross_entropy_with_logits",
            "soft_margin_loss",
            "multilabel_soft_margin_loss",
            "kl_div",
        ]
    )
    for name in names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            ours = getattr(jaxloss, name)(e, e, reduction=reduction)
            theirs = getattr(F, name)(torch.from_numpy(e), torch.from_numpy(e), reduction=reduction)
        assert_close(ours, theirs, np.float32, f"{name} empty {reduction}")


# --- fixes: closed-over constants under jit, torch 2.13 edge cases -------------------------
from test_regression import (  # noqa: E402
    check_closed_over,
    check_dtypes_like_torch,
    check_elementwise_mean,
    closed_over_params,
    mixed_dtypes,
)


def _binary_table():
    rng = np.random.default_rng(12)  # seed: inputs of the closed-over/dtype checks
    p = rng.uniform(0.05, 0.95, size=(4, 3)).astype(np.float32)
    y = rng.uniform(0.0, 1.0, size=(4, 3)).astype(np.float32)
    logits = (2 * rng.normal(size=(4, 3))).astype(np.float32)
    signs = rng.choice(np.array([-1.0, 1.0], np.float32), size=(4, 3))
    w = rng.uniform(0.5, 2.0, size=(4, 3)).astype(np.float32)
    wc = rng.uniform(0.5, 2.0, size=(3,)).astype(np.float32)
    return {
        "binary_cross_entropy": (
            F.binary_cross_entropy,
            dict(input=p, target=y, weight=w),
            {},
        ),
        "binary_cross_entropy_with_logits": (
            F.binary_cross_entropy_with_logits,
            dict(input=logits, target=y, weight=w, pos_weight=wc),
            {},
        ),
        "soft_margin_loss": (F.soft_margin_loss, dict(input=logits, target=signs), {}),
        "multilabel_soft_margin_loss": (
            F.multilabel_soft_margin_loss,
            dict(input=logits, target=np.round(y), weight=wc),
            {},
        ),
    }


BINARY_TABLE = _binary_table()


@pytest.mark.parametrize("kind", ["numpy", "jax"])
@pytest.mark.parametrize("name,closed", closed_over_params(BINARY_TABLE))
def test_jit_with_closed_over_array(name, closed, kind):
    # jax.jit(lambda p: binary_cross_entropy(p, Y)) with a global jax array Y raised
    # TracerBoolConversionError (torch: 1.0601 for that case)
    torch_fn, arrays, kwargs = BINARY_TABLE[name]
    check_closed_over(name, torch_fn, arrays, kwargs, closed, kind)


def test_bce_closed_over_constant_from_the_report():
    y = jnp.array([1.0, 0.0, 1.0])
    p = jnp.array([0.3, 0.4, 0.5])
    out = jax.jit(lambda q: jaxloss.binary_cross_entropy(q, y))(p)
    expected = F.binary_cross_entropy(torch.tensor([0.3, 0.4, 0.5]), torch.tensor([1.0, 0.0, 1.0]))
    assert_close(out, expected, np.float32, "bce closed over")  # torch: 0.80265


@pytest.mark.parametrize("wrap", [np.asarray, jnp.asarray])
@pytest.mark.parametrize("which", ["input", "target"])
def test_bce_range_is_checked_for_closed_over_constants(which, wrap):
    # torch: RuntimeError "all elements of input should be between 0 and 1"; a constant
    # closed over by jit has known values, so it is checked (a traced argument cannot be)
    good = np.array([0.3, 0.4], np.float32)
    bad = wrap(np.array([0.5, 1.5], np.float32))
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(torch.tensor([0.5, 1.5]), torch.tensor([0.3, 0.4]))
    with pytest.raises(ValueError, match=f"all elements of {which} should be between 0 and 1"):
        if which == "input":
            jax.jit(lambda t: jaxloss.binary_cross_entropy(bad, t))(good)
        else:
            jax.jit(lambda q: jaxloss.binary_cross_entropy(q, bad))(good)


@pytest.mark.parametrize("dtype", DTYPES)
def test_soft_margin_uses_log1p_like_torch(dtype):
    # torch 2.13 computes log1p(exp(-x y)): x = 20, y = 1 in float32 gives 2.061e-9 (log(1 +
    # exp(-20)) rounds to 0) and x = 16 gives 1.125e-7 (not 1.192e-7); x = -100 still
    # overflows to inf with a nan gradient, as in torch
    x = np.array([20.0, 16.0, 30.0, -100.0, 0.5, -3.0], dtype)
    y = np.array([1.0, 1.0, 1.0, 1.0, -1.0, 1.0], dtype)
    check_parity(
        jaxloss.soft_margin_loss,
        F.soft_margin_loss,
        (x, y),
        dict(reduction="none"),
        dtype=dtype,
        rtol=1e-6 if dtype == np.float32 else 1e-12,
        atol=0.0,
    )
    out = jaxloss.soft_margin_loss(
        x[:2].astype(np.float32), y[:2].astype(np.float32), reduction="none"
    )
    np.testing.assert_allclose(np.asarray(out), [2.0611537e-09, 1.1253517e-07], rtol=1e-6)


@pytest.mark.parametrize("name", sorted(BINARY_TABLE))
def test_elementwise_mean_alias_like_torch(name):
    # torch 2.13: accepted with a UserWarning by bce, bce_with_logits and soft_margin;
    # refused by multilabel_soft_margin_loss ("elementwise_mean is not valid")
    torch_fn, arrays, kwargs = BINARY_TABLE[name]
    check_elementwise_mean(name, torch_fn, arrays, kwargs)


@pytest.mark.parametrize("name", sorted(BINARY_TABLE))
def test_mixed_float32_float64_dtypes_like_torch(name):
    # torch 2.13: bce refuses input/target of different dtypes (RuntimeError "Found dtype
    # Float but expected Double") and returns input's dtype whatever weight's;
    # bce_with_logits returns target's dtype (float64 logits, float32 target -> float32);
    # soft_margin returns input's dtype; multilabel_soft_margin promotes
    torch_fn, arrays, kwargs = BINARY_TABLE[name]
    for dtypes in mixed_dtypes(len(arrays)):
        check_dtypes_like_torch(name, torch_fn, arrays, kwargs, dtypes)


@pytest.mark.parametrize("name", ["binary_cross_entropy_with_logits", "soft_margin_loss"])
@pytest.mark.parametrize("half_at", [0, 1])
def test_mixed_half_dtypes_like_torch(name, half_at):
    # torch 2.13: float16 logits with a float32 target -> float32 for bce_with_logits (the
    # target's dtype), float16 for soft_margin (the input's)
    torch_fn, arrays, kwargs = BINARY_TABLE[name]
    dtypes = [np.float32] * len(arrays)
    dtypes[half_at] = np.float16
    check_dtypes_like_torch(name, torch_fn, arrays, kwargs, dtypes)


def test_bce_weight_does_not_change_the_dtype_like_torch():
    torch_fn, arrays, kwargs = BINARY_TABLE["binary_cross_entropy"]
    for dtypes in [(np.float16, np.float16, np.float32), (np.float32, np.float32, np.float16)]:
        check_dtypes_like_torch("binary_cross_entropy", torch_fn, arrays, kwargs, dtypes)


def test_bce_mixed_dtypes_message_names_both():
    with precision(np.float64):
        with pytest.raises(
            TypeError,
            match=r"binary_cross_entropy: input has dtype float64 but target has dtype float32",
        ):
            jaxloss.binary_cross_entropy(
                jnp.full(2, 0.5, jnp.float64), jnp.full(2, 0.5, jnp.float32)
            )
