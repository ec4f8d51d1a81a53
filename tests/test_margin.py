"""hinge_embedding_loss, margin_ranking_loss, multi_margin_loss and multilabel_margin_loss
against live torch 2.13: values and gradients, float32 and float64, eager and jit, every
option; exact hinge ties; bad input; classes. Tolerances: torch_parity.py."""

import warnings
from typing import Any, NamedTuple

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


def _signs(rng, shape, dtype):
    return rng.choice(np.array([-1.0, 1.0]), size=shape).astype(dtype)


class Both(NamedTuple):
    """An option value that differs per side, e.g. a distance function written twice."""

    jax: Any
    torch: Any


def variants(jax_fn, torch_fn, options=({},), reductions=REDUCTIONS):
    """Both functions evaluated for every option dict in ``options`` and every reduction
    (``reductions=None``: no reduction argument), each output flattened and concatenated
    into one vector. One check_parity call (one jit compile) then compares every variant's
    values element by element, and the seeded random cotangent weights every variant's
    gradient into the one compared. numpy option values (e.g. ``weight``) are handed to
    each side as its own array type; ``Both`` values give each side its own."""

    def call(fn, args, kwargs, convert, cat):
        outs = []
        for o in options:
            for r in reductions or [None]:
                kw = dict(kwargs, **{k: convert(v) for k, v in o.items()})
                if r is not None:
                    kw["reduction"] = r
                outs.append(fn(*args, **kw).reshape(-1))
        return cat(outs)

    def mine(*args, **kwargs):
        return call(jax_fn, args, kwargs, _to_jax, jnp.concatenate)

    def theirs(*args, **kwargs):
        return call(torch_fn, args, kwargs, _to_torch, torch.cat)

    return mine, theirs


def _to_jax(v):
    return v.jax if isinstance(v, Both) else jnp.asarray(v) if isinstance(v, np.ndarray) else v


def _to_torch(v):
    return (
        v.torch if isinstance(v, Both) else torch.from_numpy(v) if isinstance(v, np.ndarray) else v
    )


# --- hinge_embedding_loss -----------------------------------------------------------
ELEMENTWISE_SHAPES = [(), (8,), (3, 4)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES)
def test_hinge_embedding(rng, dtype, shape):
    x = rng.uniform(-0.5, 2.0, size=shape).astype(dtype)
    y = _signs(rng, shape, dtype)
    if y.size > 2:
        y.flat[1] = 0.0  # torch's general form: neither +1 nor -1 gives both terms
    options = [{}, dict(margin=-0.25)]
    check_parity(
        *variants(jaxloss.hinge_embedding_loss, F.hinge_embedding_loss, options),
        (x, y),
        grad_argnums=(0, 1),
        dtype=dtype,
    )


def test_hinge_embedding_broadcasts_and_integer_target(rng):
    x = rng.uniform(-0.5, 2.0, size=(1, 4)).astype(np.float32)
    y = np.array([[1], [-1], [1]])  # int target, (3, 1) against (1, 4): torch broadcasts silently
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_parity(*variants(jaxloss.hinge_embedding_loss, F.hinge_embedding_loss), (x, y))


# --- margin_ranking_loss ------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES)
def test_margin_ranking(rng, dtype, shape):
    x1 = rng.normal(size=shape).astype(dtype)
    x2 = rng.normal(size=shape).astype(dtype)
    y = _signs(rng, shape, dtype)
    options = [{}, dict(margin=0.5)]
    check_parity(
        *variants(jaxloss.margin_ranking_loss, F.margin_ranking_loss, options),
        (x1, x2, y),
        grad_argnums=(0, 1, 2),
        dtype=dtype,
    )


def test_margin_ranking_broadcasts_within_rank_and_int_target(rng):
    x1 = rng.normal(size=(1, 4)).astype(np.float32)
    x2 = rng.normal(size=(3, 1)).astype(np.float32)
    y = np.array([[1, -1, 1, 1]])
    check_parity(
        *variants(jaxloss.margin_ranking_loss, F.margin_ranking_loss),
        (x1, x2, y),
        dict(margin=0.2),
        grad_argnums=(0, 1),
    )


# --- multi_margin_loss --------------------------------------------------------------
CLASS_SHAPES = [(6, 5), (5,)]  # (N, C) and unbatched (C,)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", CLASS_SHAPES)
def test_multi_margin(rng, dtype, shape):
    x = rng.normal(size=shape).astype(dtype)
    t = rng.integers(0, shape[-1], size=shape[:-1])
    w = rng.uniform(0.2, 2.0, size=(shape[-1],)).astype(dtype)
    options = [{}, dict(p=2), dict(weight=w, margin=0.3), dict(p=2, margin=0.7, weight=w)]
    check_parity(
        *variants(jaxloss.multi_margin_loss, F.multi_margin_loss, options), (x, t), dtype=dtype
    )


@pytest.mark.parametrize("shapes", [((5,), (1,)), ((1, 5), ()), ((), ()), ((), (1,))])
def test_multi_margin_unbatched_shapes(rng, shapes):
    # torch: the unreduced loss is () for a () target and (N,) otherwise
    x_shape, t_shape = shapes
    x = rng.normal(size=x_shape).astype(np.float64)
    c = 1 if not x_shape else x_shape[-1]
    t = np.full(t_shape, c - 1)
    check_parity(
        *variants(jaxloss.multi_margin_loss, F.multi_margin_loss),
        (x, t),
        dict(margin=2.0),
        dtype=np.float64,
    )
    assert jaxloss.multi_margin_loss(x, t, reduction="none").shape == t_shape


def test_multi_margin_margins_and_nan_input(rng):
    x = rng.normal(size=(6, 5)).astype(np.float64)
    x[1, 0] = np.nan  # torch's kernel tests z > 0: a nan class contributes 0
    x[2, 4] = np.nan  # ... and a nan target score makes every z nan: loss 0
    t = np.array([0, 1, 4, 1, 3, 2])

    options = [dict(margin=m) for m in (-0.5, 0.0, 2.5)]
    check_parity(
        *variants(jaxloss.multi_margin_loss, F.multi_margin_loss, options, ["none"]),
        (x, t),
        dtype=np.float64,
    )


def test_multi_margin_plain_mean_with_weight(rng):
    # torch divides by N, not by the weights of the targets (float64 formula as reference)
    x = rng.normal(size=(6, 5))
    t = rng.integers(0, 5, size=6)
    w = rng.uniform(0.2, 2.0, size=5)
    z = np.maximum(1.0 - x[np.arange(6), t][:, None] + x, 0.0)
    z[np.arange(6), t] = 0.0
    expected = np.mean(w[t] * z.sum(1) / 5)
    with jax.enable_x64(True):
        got = jaxloss.multi_margin_loss(jnp.asarray(x), jnp.asarray(t), weight=jnp.asarray(w))
    np.testing.assert_allclose(got, expected, rtol=1e-12)


# --- multilabel_margin_loss ---------------------------------------------------------
def _multilabel_target(rng, n, c):
    t = np.full((n, c), -1)
    for i in range(n):
        k = rng.integers(0, c + 1)
        t[i, :k] = rng.permutation(c)[:k]
        if k + 1 < c:
            t[i, k + 1 :] = rng.integers(-1, c, size=c - k - 1)  # after the first -1: ignored
    if n > 1 and c > 2:
        t[1, :3] = [2, 2, -1]  # a class listed twice counts twice
    return t


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", CLASS_SHAPES)
def test_multilabel_margin(rng, dtype, shape):
    x = rng.normal(size=shape).astype(dtype)
    t = _multilabel_target(rng, 1 if len(shape) == 1 else shape[0], shape[-1]).reshape(shape)
    check_parity(
        *variants(jaxloss.multilabel_margin_loss, F.multilabel_margin_loss), (x, t), dtype=dtype
    )


@pytest.mark.parametrize("shapes", [((), ()), ((), (1,))])
def test_multilabel_margin_tiny_shapes(rng, shapes):
    x = rng.normal(size=shapes[0]).astype(np.float32)
    t = np.zeros(shapes[1], dtype=np.int64)
    check_parity(
        jaxloss.multilabel_margin_loss, F.multilabel_margin_loss, (x, t), dict(reduction="none")
    )


def test_multilabel_margin_nan_input(rng):
    x = rng.normal(size=(6, 5))
    x[0, 1] = np.nan  # a nan non-target class contributes 0 (z > 0 is false)
    x[2, 0] = np.nan  # a nan target class: its z are all nan, they contribute 0
    t = _multilabel_target(rng, 6, 5)
    t[0, :3] = [3, -1, 0]
    t[2, :3] = [0, 4, -1]
    check_parity(
        jaxloss.multilabel_margin_loss,
        F.multilabel_margin_loss,
        (x, t),
        dict(reduction="none"),
        dtype=np.float64,
    )


# --- exact hinge ties: inputs built from small binary fractions hit z == 0 exactly ----
@pytest.mark.parametrize("dtype", DTYPES)
def test_tie_hinge_embedding_boundary_is_active(dtype):
    x = np.array([1.0, 0.5, 1.0, 2.0, 0.75, 1.0, 0.25, 1.0], dtype=dtype)
    y = np.array([-1.0, -1.0, 1.0, -1.0, -1.0, -1.0, 0.0, 0.0], dtype=dtype)  # x == margin: z == 0
    check_parity(
        jaxloss.hinge_embedding_loss,
        F.hinge_embedding_loss,
        (x, y),
        dict(margin=1.0, reduction="none"),
        dtype=dtype,
    )
    g = jax.grad(lambda v: jaxloss.hinge_embedding_loss(v, jnp.asarray(y), reduction="sum"))(
        jnp.asarray(x)
    )
    assert (
        g[0] == -1.0 and g[5] == -1.0
    )  # torch's clamp_min passes the boundary (jnp.maximum: -0.5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tie_margin_ranking_boundary_is_active(dtype):
    x1 = np.array([1.5, 2.0, 0.25, 3.0, 1.0, -0.5, 0.75, 2.5], dtype=dtype)
    x2 = np.array([1.0, 2.0, 0.75, 3.0, 0.5, 0.0, 0.75, 3.0], dtype=dtype)
    y = np.array([1.0, 1.0, -1.0, -1.0, 1.0, -1.0, 1.0, -1.0], dtype=dtype)

    # margin 0.5: elements 0, 2, 4, 5, 7 on the boundary; margin 0.0: elements 1, 3, 6
    options = [dict(margin=0.5), dict(margin=0.0)]
    check_parity(
        *variants(jaxloss.margin_ranking_loss, F.margin_ranking_loss, options, ["none"]),
        (x1, x2, y),
        grad_argnums=(0, 1, 2),
        dtype=dtype,
    )
    g = jax.grad(
        lambda a: jaxloss.margin_ranking_loss(
            a, jnp.asarray(x2), jnp.asarray(y), margin=0.5, reduction="sum"
        )
    )(jnp.asarray(x1))
    assert g[0] == -1.0 and g[2] == 1.0


def _multi_margin_ties(dtype):
    # margin - x[y] + x[i] = 0.5 - 1 + 0.5 = 0 for class 2 of row 0, etc.: z == 0 exactly
    x = np.array(
        [
            [0.0, 1.0, 0.5, 0.25, 0.75],
            [0.5, 0.5, 0.0, 1.0, 1.0],
            [0.0, 0.0, 0.0, 0.0, 0.0],
            [1.0, 2.0, 0.0, 1.5, 1.5],
            [0.25, 0.25, 0.25, 0.25, -0.25],
            [-1.0, 0.5, -0.5, 0.0, 0.0],
        ],
        dtype=dtype,
    )
    return x, np.array([1, 0, 3, 0, 4, 2])


@pytest.mark.parametrize("dtype", DTYPES)
def test_tie_multi_margin_boundary_gets_zero(dtype):
    x, t = _multi_margin_ties(dtype)
    w = np.array([1.0, 2.0, 0.5, 1.0, 1.5], dtype=dtype)

    options = [dict(p=p, weight=wt) for p in (1, 2) for wt in (None, w)]
    check_parity(
        *variants(jaxloss.multi_margin_loss, F.multi_margin_loss, options, ["none"]),
        (x, t),
        dict(margin=0.5),
        dtype=dtype,
    )
    g = jax.grad(
        lambda v: jaxloss.multi_margin_loss(v, jnp.asarray(t), margin=0.5, reduction="sum")
    )(jnp.asarray(x))
    assert g[0, 2] == 0.0 and g[1, 2] == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_tie_multilabel_margin_boundary_gets_zero(dtype):
    # 1 - x[target] + x[i] = 0 exactly, e.g. row 0: 1 - 1 + 0 for i in {0, 2}
    x, _ = _multi_margin_ties(dtype)
    t = np.array(
        [
            [1, -1, 0, 0, 0],
            [2, 3, -1, 0, 0],
            [0, -1, 0, 0, 0],
            [1, 2, -1, 0, 0],
            [4, -1, 0, 0, 0],
            [1, 3, -1, 0, 0],
        ]
    )
    check_parity(
        jaxloss.multilabel_margin_loss,
        F.multilabel_margin_loss,
        (x, t),
        dict(reduction="none"),
        dtype=dtype,
    )
    g = jax.grad(lambda v: jaxloss.multilabel_margin_loss(v, jnp.asarray(t), reduction="sum"))(
        jnp.asarray(x)
    )
    assert g[0, 0] == 0.0 and g[5, 0] == 0.0  # only boundary terms touch these


# --- jit: out-of-range classes give nan for their sample -------------------------------
def test_out_of_range_targets_under_jit_give_nan(rng):
    x = rng.normal(size=(3, 4)).astype(np.float32)
    mm = jax.jit(lambda v, t: jaxloss.multi_margin_loss(v, t, reduction="none"))(
        x, jnp.array([1, 4, -1])
    )
    expected = F.multi_margin_loss(torch.from_numpy(x[:1]), torch.tensor([1]), reduction="none")
    np.testing.assert_allclose(mm[0], expected[0].numpy(), rtol=1e-6)
    assert np.isnan(mm[1]) and np.isnan(mm[2])
    ml = jax.jit(lambda v, t: jaxloss.multilabel_margin_loss(v, t, reduction="none"))(
        x, jnp.array([[0, -1, 0, 0], [4, -1, 0, 0], [1, -1, 9, 0]])
    )
    expected = F.multilabel_margin_loss(
        torch.from_numpy(x[:1]), torch.tensor([[0, -1, 0, 0]]), reduction="none"
    )
    np.testing.assert_allclose(ml[0], expected[0].numpy(), rtol=1e-6)
    assert np.isnan(ml[1]) and np.isnan(ml[2])  # torch checks the whole row, after -1 too


def test_empty_batch():
    x = np.zeros((0, 3), np.float32)
    for fn, t in (
        (jaxloss.multi_margin_loss, np.zeros((0,), np.int32)),
        (jaxloss.multilabel_margin_loss, np.zeros((0, 3), np.int32)),
    ):
        assert fn(x, t, reduction="sum") == 0.0  # torch: 0
        assert fn(x, t, reduction="none").shape == (0,)  # torch: shape (0,)
        assert np.isnan(
            fn(x, t)
        )  # torch returns an uninitialised value here; we give mean([]) = nan
    assert np.isnan(jaxloss.hinge_embedding_loss(np.zeros(0, np.float32), np.zeros(0, np.float32)))


def test_half_precision_computes_in_float32(rng):
    # torch has no CPU half kernel for multi/multilabel margin: reference is torch in float32
    # on the float16-rounded input, rounded to float16 (tolerance: one float16 ulp)
    x = rng.normal(size=(6, 5)).astype(np.float16)
    t = rng.integers(0, 5, size=6)
    tl = _multilabel_target(rng, 6, 5)
    for jfn, tfn, tgt in (
        (jaxloss.multi_margin_loss, F.multi_margin_loss, t),
        (jaxloss.multilabel_margin_loss, F.multilabel_margin_loss, tl),
    ):
        got = jfn(jnp.asarray(x), jnp.asarray(tgt), reduction="none")
        assert got.dtype == jnp.float16
        ref = tfn(torch.from_numpy(x.astype(np.float32)), torch.from_numpy(tgt)).numpy()
        ref = tfn(
            torch.from_numpy(x.astype(np.float32)), torch.from_numpy(tgt), reduction="none"
        ).numpy()
        np.testing.assert_allclose(
            np.asarray(got, np.float32),
            ref.astype(np.float16).astype(np.float32),
            rtol=1e-3,
            atol=1e-3,
        )
    h = jaxloss.hinge_embedding_loss(jnp.asarray(x), jnp.ones((6, 5)), reduction="sum")
    assert h.dtype == jnp.float16
    ref = F.hinge_embedding_loss(torch.from_numpy(x), torch.ones(6, 5), reduction="sum")
    np.testing.assert_allclose(float(h), float(ref), rtol=2e-3)


# --- classes --------------------------------------------------------------------------
def test_class_construction_errors():
    with pytest.raises(ValueError, match="p must be 1 or 2"):
        jaxloss.MultiMarginLoss(p=3)
    with pytest.raises(ValueError, match="weight has shape .* one-dimensional"):
        jaxloss.MultiMarginLoss(weight=jnp.ones((1, 3)))
    assert "margin=0.5" in repr(jaxloss.HingeEmbeddingLoss(margin=0.5))


# --- bad input -------------------------------------------------------------------------
def test_bad_input_errors():
    x = jnp.ones((2, 3))
    with pytest.raises(ValueError, match="foo is not a valid value for reduction"):
        jaxloss.hinge_embedding_loss(x, x, reduction="foo")
    with pytest.raises(TypeError, match="hinge_embedding_loss: input has dtype int32"):
        jaxloss.hinge_embedding_loss(jnp.ones(3, jnp.int32), jnp.ones(3))
    with pytest.raises(
        ValueError,
        match=r"hinge_embedding_loss: input has shape \(2, 3\), target has shape \(2,\), which do not broadcast",
    ):
        jaxloss.hinge_embedding_loss(x, jnp.ones(2))
    with pytest.raises(
        ValueError,
        match=r"margin_ranking_loss: input1 \(3,\), input2 \(3, 1\) and target \(3,\) must have the same number of dimensions",
    ):
        jaxloss.margin_ranking_loss(jnp.ones(3), jnp.ones((3, 1)), jnp.ones(3))
    with pytest.raises(ValueError, match=r"multi_margin_loss: p must be 1 or 2.*got 3"):
        jaxloss.multi_margin_loss(x, jnp.array([0, 1]), p=3)
    with pytest.raises(
        ValueError,
        match=r"multi_margin_loss: input has shape \(2, 3, 4\) but \(\), \(C,\) or \(N, C\)",
    ):
        jaxloss.multi_margin_loss(jnp.ones((2, 3, 4)), jnp.array([0, 1]))
    with pytest.raises(ValueError, match=r"input has shape \(2, 0\)"):
        jaxloss.multi_margin_loss(jnp.ones((2, 0)), jnp.array([0, 1]))
    with pytest.raises(
        ValueError,
        match=r"multi_margin_loss: target has shape \(1,\) but input \(2, 3\) needs \(2,\)",
    ):
        jaxloss.multi_margin_loss(x, jnp.array([1]))
    with pytest.raises(
        TypeError,
        match="multi_margin_loss: target has dtype float32 but an integer dtype is required",
    ):
        jaxloss.multi_margin_loss(x, jnp.array([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"weight has shape \(2,\) but \(3,\) is required"):
        jaxloss.multi_margin_loss(x, jnp.array([1, 0]), weight=jnp.ones(2))
    with pytest.raises(ValueError, match="weight has shape .* must be one-dimensional"):
        jaxloss.multi_margin_loss(x, jnp.array([1, 0]), weight=jnp.ones((1, 3)))
    with pytest.raises(
        IndexError,
        match=r"multi_margin_loss: Target 3 is out of bounds. Class indices must lie in \[0, 2\]\.$",
    ):
        jaxloss.multi_margin_loss(x, jnp.array([1, 3]))
    with pytest.raises(IndexError, match=r"Target -1 is out of bounds"):
        jaxloss.multi_margin_loss(x, jnp.array([-1, 0]))
    with pytest.raises(
        ValueError,
        match=r"multilabel_margin_loss: target has shape \(2, 2\) but input \(2, 3\) needs \(2, 3\)",
    ):
        jaxloss.multilabel_margin_loss(x, jnp.zeros((2, 2), jnp.int32))
    with pytest.raises(
        IndexError,
        match=r"multilabel_margin_loss: Target -2 is out of bounds. Class indices must lie in \[-1, 2\]\.$",
    ):
        jaxloss.multilabel_margin_loss(x, jnp.array([[0, -2, 0], [0, -1, 0]]))
    with pytest.raises(
        IndexError, match=r"Target 5 is out of bounds"
    ):  # after -1: torch checks it too
        jaxloss.multilabel_margin_loss(x, jnp.array([[0, -1, 5], [0, -1, 0]]))
    with pytest.raises(TypeError, match="multilabel_margin_loss: target has dtype float32"):
        jaxloss.multilabel_margin_loss(x, x)


def test_torch_agrees_these_inputs_are_bad():
    # the errors above mirror torch's: confirm torch refuses the same inputs
    x = torch.ones(2, 3)
    with pytest.raises(RuntimeError, match="same dimension"):
        F.margin_ranking_loss(torch.ones(3), torch.ones(3, 1), torch.ones(3))
    with pytest.raises(ValueError, match="only p == 1 and p == 2 supported"):
        F.multi_margin_loss(x, torch.tensor([0, 1]), p=3)
    with pytest.raises(RuntimeError, match="target out of range"):
        F.multi_margin_loss(x, torch.tensor([1, 3]))
    with pytest.raises(RuntimeError, match="out of range"):
        F.multilabel_margin_loss(x, torch.tensor([[0, -1, 5], [0, -1, 0]]))
    with pytest.raises(RuntimeError, match="inconsistent target size"):
        F.multilabel_margin_loss(x, torch.zeros(2, 2, dtype=torch.long))


# --- vmap and forward mode ----------------------------------------------------------
def test_vmap_of_unbatched_calls_matches_torch_batched(rng):
    # per-sample (C,) calls under jax.vmap (the multilabel loop then runs batched) against
    # torch's batched 'none' losses, values and per-sample gradients
    x = rng.normal(size=(6, 5))
    t = rng.integers(0, 5, size=6)
    tl = _multilabel_target(rng, 6, 5)
    for jfn, tfn, tgt in (
        (jaxloss.multi_margin_loss, F.multi_margin_loss, t),
        (jaxloss.multilabel_margin_loss, F.multilabel_margin_loss, tl),
    ):
        tx = torch.from_numpy(x.copy()).requires_grad_(True)
        ref = tfn(tx, torch.from_numpy(tgt), reduction="none")
        ref.sum().backward()
        with jax.enable_x64(True):
            val, grad = jax.vmap(jax.value_and_grad(jfn))(jnp.asarray(x), jnp.asarray(tgt))
        np.testing.assert_allclose(val, ref.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_forward_mode_and_hessian(rng):
    # jvp equals torch's gradient dotted with the tangent (the custom_jvp loop is
    # forward-differentiable too); the loss is piecewise linear, so its Hessian is zero
    x = rng.normal(size=(6, 5))
    v = rng.normal(size=(6, 5))
    tl = _multilabel_target(rng, 6, 5)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    F.multilabel_margin_loss(tx, torch.from_numpy(tl)).backward()
    with jax.enable_x64(True):
        f = lambda a: jaxloss.multilabel_margin_loss(a, jnp.asarray(tl))  # noqa: E731
        _, tangent = jax.jvp(f, (jnp.asarray(x),), (jnp.asarray(v),))
        hess = jax.hessian(f)(jnp.asarray(x))
    np.testing.assert_allclose(tangent, np.sum(tx.grad.numpy() * v), rtol=1e-10)
    assert not np.any(hess)


# --- fixes: closed-over constants under jit, torch 2.13 edge cases -------------------------
from test_regression import (  # noqa: E402
    check_closed_over,
    check_dtypes_like_torch,
    check_elementwise_mean,
    closed_over_params,
    mixed_dtypes,
)


def _margin_table():
    rng = np.random.default_rng(15)  # seed: inputs of the closed-over/dtype checks
    x = np.abs(rng.normal(size=(4, 3))).astype(np.float32)
    signs = rng.choice(np.array([-1.0, 1.0], np.float32), size=(4, 3))
    x1, x2 = (rng.normal(size=(5,)).astype(np.float32) for _ in range(2))
    ranks = rng.choice(np.array([-1.0, 1.0], np.float32), size=(5,))
    return {
        "hinge_embedding_loss": (
            F.hinge_embedding_loss,
            dict(input=x, target=signs),
            dict(margin=0.8),
        ),
        "margin_ranking_loss": (
            F.margin_ranking_loss,
            dict(input1=x1, input2=x2, target=ranks),
            dict(margin=0.1),
        ),
    }


MARGIN_TABLE = _margin_table()


@pytest.mark.parametrize("kind", ["numpy", "jax"])
@pytest.mark.parametrize("name,closed", closed_over_params(MARGIN_TABLE))
def test_jit_with_closed_over_array(name, closed, kind):
    torch_fn, arrays, kwargs = MARGIN_TABLE[name]
    check_closed_over(name, torch_fn, arrays, kwargs, closed, kind)


@pytest.mark.parametrize("name", sorted(MARGIN_TABLE))
def test_elementwise_mean_alias_like_torch(name):
    # torch 2.13: accepted with a UserWarning (its C++ losses read the enum)
    torch_fn, arrays, kwargs = MARGIN_TABLE[name]
    check_elementwise_mean(name, torch_fn, arrays, kwargs)


@pytest.mark.parametrize("name", sorted(MARGIN_TABLE))
def test_mixed_float32_float64_dtypes_like_torch(name):
    torch_fn, arrays, kwargs = MARGIN_TABLE[name]
    for dtypes in mixed_dtypes(len(arrays)):
        check_dtypes_like_torch(name, torch_fn, arrays, kwargs, dtypes)


# ============================================================================================
# multi_margin_loss / multilabel_margin_loss: class indices under jit, weight dtype, traced
# and closed-over arrays (owner: the class-index losses)
# ============================================================================================
def _close(actual, expected, dtype, what):
    from torch_parity import assert_close

    assert_close(actual, expected, dtype, what)


def _index_margin_cases(rng):
    x = rng.normal(size=(4, 5)).astype(np.float32)
    return {
        "multi_margin_loss": (x, np.array([1, 7, 0, 4]), 1),  # row 1 out of range
        "multilabel_margin_loss": (
            x,
            np.array([[1, -1, 9, 0, 0], [2, 4, -1, 0, 0], [0, 1, 2, 3, 4], [3, -1, 0, 0, 0]]),
            0,
        ),
    }


@pytest.mark.parametrize("name", ["multi_margin_loss", "multilabel_margin_loss"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_index_margin_traced_out_of_range_poisons_the_gradient(rng, name, reduction):
    x, t, bad_row = _index_margin_cases(rng)[name]
    with pytest.raises(RuntimeError, match="out of range"):  # torch refuses these targets
        getattr(F, name)(torch.from_numpy(x), torch.from_numpy(t))

    def f(a, b):
        return jnp.sum(getattr(jaxloss, name)(a, b, reduction=reduction))

    value, grad = jax.jit(jax.value_and_grad(f))(x, t)
    assert np.isnan(value)
    if reduction != "none":
        assert np.isnan(grad).all()
        return
    keep = [i for i in range(4) if i != bad_row]
    tx = torch.from_numpy(x[keep]).requires_grad_(True)
    ref = getattr(F, name)(tx, torch.from_numpy(t[keep]), reduction="none")
    ref.sum().backward()
    per = jax.jit(lambda a, b: getattr(jaxloss, name)(a, b, reduction="none"))(x, t)
    assert np.isnan(per[bad_row]) and np.isnan(grad[bad_row]).all()
    np.testing.assert_allclose(per[np.array(keep)], ref.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(grad[np.array(keep)], tx.grad.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["multi_margin_loss", "multilabel_margin_loss"])
def test_index_margin_checkify_message(rng, name):
    from jax.experimental import checkify

    x, t, _ = _index_margin_cases(rng)[name]
    checked = jaxloss.checked()(
        checkify.checkify(jax.jit(getattr(jaxloss, name)), errors=checkify.user_checks)
    )
    err, _ = checked(x, t)
    with pytest.raises(IndexError) as concrete:
        getattr(jaxloss, name)(x, t)
    assert str(concrete.value) in err.get()
    value = {"multi_margin_loss": 7, "multilabel_margin_loss": 9}[name]
    assert f"Target {value} is out of bounds." in err.get()
    good = np.clip(t, -1, 4) if name == "multilabel_margin_loss" else np.clip(t, 0, 4)
    err, out = checked(x, good)
    assert err.get() is None
    _close(out, getattr(F, name)(torch.from_numpy(x), torch.from_numpy(good)), np.float32, "value")


@pytest.mark.parametrize(
    "x_dtype,w_dtype",
    [(np.float32, np.float16), (np.float32, np.float64), (np.float64, np.float32)],
)
def test_multi_margin_weight_of_another_dtype_is_refused(x_dtype, w_dtype):
    x = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]], x_dtype)
    with jax.enable_x64(True):
        with pytest.raises(
            TypeError,
            match=f"multi_margin_loss: weight has dtype {np.dtype(w_dtype).name} but input has "
            f"dtype {np.dtype(x_dtype).name}",
        ):
            jaxloss.multi_margin_loss(jnp.asarray(x), np.array([0, 2]), weight=jnp.ones(3, w_dtype))
    with pytest.raises(RuntimeError, match="expected scalar type"):
        F.multi_margin_loss(
            torch.from_numpy(x), torch.tensor([0, 2]), weight=torch.from_numpy(np.ones(3, w_dtype))
        )


def _index_margin_arrays():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(4, 5)).astype(np.float32)
    return {
        "multi_margin_loss": dict(
            input=x,
            target=np.array([1, 3, 0, 4]),
            weight=rng.uniform(0.5, 2, 5).astype(np.float32),
            margin=np.float32(0.7),
        ),
        "multilabel_margin_loss": dict(
            input=x,
            target=np.array(
                [[1, -1, 0, 0, 0], [2, 4, -1, 0, 0], [0, 1, 2, 3, 4], [3, 3, -1, 0, 0]]
            ),
        ),
    }


@pytest.mark.parametrize(
    "loss,name",
    [(loss, name) for loss, arrays in _index_margin_arrays().items() for name in arrays],
)
@pytest.mark.parametrize("how", ["traced", "closed_over"])
def test_index_margin_every_array_argument_traced_or_closed_over(loss, name, how):
    arrays = _index_margin_arrays()[loss]
    torch_kwargs = {
        k: float(v) if k == "margin" else torch.from_numpy(np.asarray(v)) for k, v in arrays.items()
    }
    tx = torch_kwargs["input"].requires_grad_(True)
    expected = getattr(F, loss)(**torch_kwargs)
    expected.backward()
    constants = {k: jnp.asarray(v) for k, v in arrays.items()}
    moving = [name] if how == "traced" else (["target"] if name == "input" else ["input"])
    fixed = {k: v for k, v in constants.items() if k not in moving}

    def f(*values):
        return getattr(jaxloss, loss)(**fixed, **dict(zip(moving, values)))

    args = [constants[k] for k in moving]
    _close(jax.jit(f)(*args), expected, np.float32, "value")
    if moving == ["input"]:
        _close(jax.jit(jax.grad(f))(*args), tx.grad, np.float32, "grad")


def test_index_margin_unchecked_jit_has_no_effect(rng):
    # an effect (as checkify.check's) would take jit off jax's C++ dispatch fast path
    x, t, _ = _index_margin_cases(rng)["multi_margin_loss"]
    tl = _index_margin_cases(rng)["multilabel_margin_loss"][1]
    for fn, target in ((jaxloss.multi_margin_loss, t), (jaxloss.multilabel_margin_loss, tl)):
        f = jax.value_and_grad(fn)
        assert jax.make_jaxpr(f)(x, target).effects == set()
        assert "callback" not in jax.jit(f).lower(x, target).compile().as_text().lower()
