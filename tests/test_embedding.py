"""pairwise_distance, cosine_embedding_loss, triplet_margin_loss and
triplet_margin_with_distance_loss against live torch 2.13: values and gradients, float32
and float64, eager and jit, every option; exact ties; zero vectors; bad input; classes.
Tolerances: torch_parity.py."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_margin import Both, variants
from torch_parity import check_hessian, check_parity

import jaxloss

DTYPES = [np.float32, np.float64]
INF = float("inf")


def _l1(u, v):
    return jnp.sum(jnp.abs(u - v), axis=-1)


def _l1_torch(u, v):
    return torch.sum(torch.abs(u - v), dim=-1)


def _cosine_distance(u, v):
    return 1.0 - jnp.sum(u * v, -1) / jnp.sqrt(jnp.sum(u * u, -1) * jnp.sum(v * v, -1))


def _cosine_distance_torch(u, v):
    return 1.0 - F.cosine_similarity(u, v, dim=-1, eps=0.0)


L1 = Both(_l1, _l1_torch)
COSINE = Both(_cosine_distance, _cosine_distance_torch)


# --- pairwise_distance ---------------------------------------------------------------
P_VALUES = [2.0, 1.0, 3.0, 1.5, 0.5, INF, -INF, 0.0, -1.0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_pairwise_distance(rng, dtype):
    x1 = rng.normal(size=(6, 5)).astype(dtype)
    x2 = rng.normal(size=(6, 5)).astype(dtype)
    options = [dict(p=p) for p in P_VALUES] + [
        dict(keepdim=True),
        dict(p=1.0, eps=0.25, keepdim=True),
    ]
    check_parity(
        *variants(jaxloss.pairwise_distance, F.pairwise_distance, options, None),
        (x1, x2),
        grad_argnums=(0, 1),
        dtype=dtype,
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_pairwise_distance_zero_difference_and_ties(dtype):
    # eps=0 and x1 == x2 in row 0: torch's norm backward gives 0 there (naive JAX: nan for p=2);
    # row 1 has tied largest |x| (+-inf ties split the gradient); row 2 has zeros (p < 1).
    x1 = np.array(
        [[1.0, 2.0, 3.0], [1.0, -2.0, 2.0], [0.0, 0.5, -1.5], [2.0, 1.0, 1.0]], dtype=dtype
    )
    x2 = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 2.0, 0.0]], dtype=dtype)
    options = [dict(p=p, eps=0.0) for p in [2.0, 1.0, 3.0, 0.5, INF]]
    check_parity(
        *variants(jaxloss.pairwise_distance, F.pairwise_distance, options, None),
        (x1, x2),
        grad_argnums=(0, 1),
        dtype=dtype,
    )
    g = jax.grad(lambda a: jaxloss.pairwise_distance(a, jnp.asarray(x2), eps=0.0).sum())(
        jnp.asarray(x1)
    )
    assert np.all(np.isfinite(g)) and np.all(g[0] == 0)


@pytest.mark.parametrize(
    "shapes",
    [((5,), (5,)), ((2, 3, 5), (2, 3, 5)), ((6, 5), (5,)), ((6, 1), (6, 5)), ((), ()), ((1,), ())],
)
def test_pairwise_distance_shapes_broadcasting_and_scalars(rng, shapes):
    x1 = rng.normal(size=shapes[0])
    x2 = rng.normal(size=shapes[1])
    options = [dict(), dict(p=1.0, keepdim=True)]
    check_parity(
        *variants(jaxloss.pairwise_distance, F.pairwise_distance, options, None),
        (x1, x2),
        grad_argnums=(0, 1),
        dtype=np.float64,
    )


# --- cosine_embedding_loss ---------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(6, 5), (5,)])
def test_cosine_embedding(rng, dtype, shape):
    x1 = rng.normal(size=shape).astype(dtype)
    x2 = rng.normal(size=shape).astype(dtype)
    if len(shape) == 2:
        x1[0] = 0.0  # a zero vector: torch's 1e-12 keeps value and gradient finite
        x2[3] = 0.0
        y = np.array([1.0, -1.0, 1.0, -1.0, 0.0, -1.0], dtype=dtype)  # 0: neither term
    else:
        y = np.array(-1.0, dtype=dtype)
    options = [{}, dict(margin=0.5), dict(margin=-0.3)]
    check_parity(
        *variants(jaxloss.cosine_embedding_loss, F.cosine_embedding_loss, options),
        (x1, x2, y),
        grad_argnums=(0, 1),
        dtype=dtype,
    )


def test_cosine_embedding_broadcasting_and_int_target(rng):
    x1 = rng.normal(size=(6, 5)).astype(np.float32)
    x2 = rng.normal(size=(1, 5)).astype(np.float32)  # torch broadcasts within equal ranks
    for y in (np.array([1, -1, -1, 1, 1, -1]), np.array([-1])):
        check_parity(
            *variants(jaxloss.cosine_embedding_loss, F.cosine_embedding_loss),
            (x1, x2, y),
            grad_argnums=(0, 1),
        )


@pytest.mark.parametrize("dtype", DTYPES)
def test_cosine_embedding_zero_vector_gradient_is_torch_s(dtype):
    # torch adds EPSILON = float32(1e-12) (not 1e-12) to each squared norm: the gradient at a
    # zero vector is x2 / sqrt(eps * |x2|^2), about 3.3e5 here, so the constant must be exact.
    x1 = np.zeros((6, 5), dtype=dtype)
    x1[1] = [1.0, 2.0, 0.0, -1.0, 0.5]
    x2 = np.tile(np.array([1.0, 2.0, 2.0, 0.0, 0.0], dtype=dtype), (6, 1))
    y = np.array([1.0, 1.0, -1.0, -1.0, 1.0, -1.0], dtype=dtype)
    check_parity(
        *variants(jaxloss.cosine_embedding_loss, F.cosine_embedding_loss, [dict(margin=-0.5)]),
        (x1, x2, y),
        grad_argnums=(0, 1),
        dtype=dtype,
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_tie_cosine_embedding_boundary_is_active(dtype):
    # rows 0, 2, 4: orthogonal pairs, cos == 0 == margin exactly, target -1: torch's clamp_min
    # passes the gradient at the boundary (jnp.maximum would halve it)
    x1 = np.array(
        [[1.0, 2.0], [3.0, 4.0], [0.5, 0.0], [1.0, 1.0], [2.0, -1.0], [1.0, 0.0]], dtype=dtype
    )
    x2 = np.array(
        [[2.0, -1.0], [3.0, 4.0], [0.0, 3.0], [1.0, -0.5], [1.0, 2.0], [1.0, 1.0]], dtype=dtype
    )
    y = np.full(6, -1.0, dtype=dtype)
    check_parity(
        *variants(jaxloss.cosine_embedding_loss, F.cosine_embedding_loss, [{}], ["none"]),
        (x1, x2, y),
        grad_argnums=(0, 1),
        dtype=dtype,
    )
    g = jax.grad(
        lambda a: jaxloss.cosine_embedding_loss(a, jnp.asarray(x2), jnp.asarray(y), reduction="sum")
    )(jnp.asarray(x1))
    assert np.all(g[0] != 0)


# --- triplet_margin_loss ---------------------------------------------------------------
def _triplets(rng, shape, dtype, equal_row=True):
    a = rng.normal(size=shape).astype(dtype)
    p = rng.normal(size=shape).astype(dtype)
    n = rng.normal(size=shape).astype(dtype)
    if len(shape) == 2:
        if equal_row:
            p[0] = a[0]  # anchor == positive: eps keeps the gradient finite
        n[1] = a[1] + 0.75 * (p[1] - a[1])  # nearer the positive: swap changes this row
    return a, p, n


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(6, 5), (5,)])
def test_triplet_margin(rng, dtype, shape):
    args = _triplets(rng, shape, dtype)
    options = [
        {},
        dict(p=1.0, swap=True, margin=2.0),
        dict(p=3.0, eps=1e-3, margin=0.25),
        dict(p=INF, swap=True),
    ]
    if len(shape) == 1:
        options = options[:2]
    check_parity(
        *variants(jaxloss.triplet_margin_loss, F.triplet_margin_loss, options),
        args,
        grad_argnums=(0, 1, 2),
        dtype=dtype,
    )


def test_triplet_margin_3d_and_broadcasting(rng):
    a = rng.normal(size=(2, 3, 4))
    p = rng.normal(size=(1, 3, 4))
    n = rng.normal(size=(2, 1, 4))
    check_parity(
        *variants(jaxloss.triplet_margin_loss, F.triplet_margin_loss, [{}, dict(swap=True)]),
        (a, p, n),
        grad_argnums=(0, 1, 2),
        dtype=np.float64,
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_tie_triplet_boundary_is_active_and_swap_splits(dtype):
    # eps=0 and integer coordinates: exact distances. Row 0: margin + d(a,p) - min(d(a,n),
    # d(p,n)) = 1 + 1 - min(2, 3) = 0 (boundary, active in torch). Row 1: d(a,n) == d(p,n)
    # = 2, a swap tie (torch.min splits the gradient 0.5/0.5). Row 2: a == p == n.
    a = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]], dtype=dtype)
    p = np.array([[-1.0, 0.0], [4.0, 0.0], [1.0, 1.0]], dtype=dtype)
    n = np.array([[2.0, 0.0], [2.0, 0.0], [1.0, 1.0]], dtype=dtype)
    options = [dict(p=1.0, eps=0.0, swap=True), dict(p=2.0, eps=0.0, swap=True)]
    check_parity(
        *variants(jaxloss.triplet_margin_loss, F.triplet_margin_loss, options, ["none"]),
        (a, p, n),
        grad_argnums=(0, 1, 2),
        dtype=dtype,
    )
    g = jax.grad(
        lambda pp: jaxloss.triplet_margin_loss(
            jnp.asarray(a), pp, jnp.asarray(n), p=2.0, eps=0.0, swap=True, reduction="sum"
        )
    )(jnp.asarray(p))
    assert g[0, 0] == -1.0  # the boundary row passes d d(a,p) / dp = -1 (jnp.maximum: -0.5)


# --- triplet_margin_with_distance_loss --------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_triplet_margin_with_distance(rng, dtype):
    # no anchor == positive row: jnp.abs in the user's L1 has gradient 1 at 0, torch.abs 0
    args = _triplets(rng, (6, 5), dtype, equal_row=False)
    options = [
        {},
        dict(swap=True),
        dict(distance_function=L1, margin=2.0, swap=True),
        dict(distance_function=COSINE, margin=0.5),
    ]
    check_parity(
        *variants(
            jaxloss.triplet_margin_with_distance_loss, F.triplet_margin_with_distance_loss, options
        ),
        args,
        grad_argnums=(0, 1, 2),
        dtype=dtype,
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_tie_triplet_with_distance(dtype):
    # L1 distances, no zero coordinate differences (jnp.abs and torch.abs differ at 0):
    # row 0 on the boundary (1 + 1.5 - 2.5 = 0), row 1 a swap tie (d(a,n) == d(p,n) = 2.5)
    a = np.array([[0.0, 0.0], [0.0, 0.0]], dtype=dtype)
    p = np.array([[1.0, 0.5], [4.0, 1.0]], dtype=dtype)
    n = np.array([[2.0, -0.5], [2.0, 0.5]], dtype=dtype)
    options = [dict(distance_function=L1), dict(distance_function=L1, swap=True)]
    check_parity(
        *variants(
            jaxloss.triplet_margin_with_distance_loss,
            F.triplet_margin_with_distance_loss,
            options,
            ["none"],
        ),
        (a, p, n),
        grad_argnums=(0, 1, 2),
        dtype=dtype,
    )


def test_hessians_match_torch(rng):
    a0, p0, n0 = (rng.normal(size=(3, 4)) for _ in range(3))
    check_hessian(
        lambda a: jaxloss.triplet_margin_loss(a, jnp.asarray(p0), jnp.asarray(n0), margin=3.0),
        lambda a: F.triplet_margin_loss(a, torch.from_numpy(p0), torch.from_numpy(n0), margin=3.0),
        a0,
    )
    y = np.array([1.0, -1.0, -1.0])
    check_hessian(
        lambda a: jaxloss.cosine_embedding_loss(a, jnp.asarray(p0), jnp.asarray(y), margin=-0.9),
        lambda a: F.cosine_embedding_loss(
            a, torch.from_numpy(p0), torch.from_numpy(y), margin=-0.9
        ),
        a0,
    )


def test_half_precision_matches_torch_half(rng):
    # torch computes these in float16 too; tolerance: a few float16 ulps
    a, p, n = (rng.normal(size=(6, 5)).astype(np.float16) for _ in range(3))
    y = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0], dtype=np.float16)
    cases = [
        (jaxloss.pairwise_distance, F.pairwise_distance, (a, p)),
        (jaxloss.cosine_embedding_loss, F.cosine_embedding_loss, (a, p, y)),
        (jaxloss.triplet_margin_loss, F.triplet_margin_loss, (a, p, n)),
        (jaxloss.triplet_margin_with_distance_loss, F.triplet_margin_with_distance_loss, (a, p, n)),
    ]
    for mine, theirs, args in cases:
        got = mine(*map(jnp.asarray, args))
        ref = theirs(*map(torch.from_numpy, args))
        assert got.dtype == jnp.float16
        np.testing.assert_allclose(
            np.asarray(got, np.float32), ref.float().numpy(), rtol=4e-3, atol=1e-3
        )


# --- classes -------------------------------------------------------------------------------
def test_class_construction_errors():
    with pytest.raises(
        ValueError, match="TripletMarginLoss: margin must be greater than 0, got 0.0"
    ):
        jaxloss.TripletMarginLoss(margin=0.0)
    with pytest.raises(
        ValueError, match="TripletMarginWithDistanceLoss: margin must be greater than 0"
    ):
        jaxloss.TripletMarginWithDistanceLoss(margin=-1.0)
    # repr shows the settings that differ from __init__'s defaults (torch stores p as norm)
    assert repr(jaxloss.PairwiseDistance()) == "PairwiseDistance()"
    assert repr(jaxloss.PairwiseDistance(p=3.0, keepdim=True)) == (
        "PairwiseDistance(norm=3.0, keepdim=True)"
    )


# --- bad input -------------------------------------------------------------------------------
def test_bad_input_errors():
    x = jnp.ones((2, 3))
    with pytest.raises(TypeError, match="pairwise_distance: x2 has dtype int32"):
        jaxloss.pairwise_distance(x, jnp.ones((2, 3), jnp.int32))
    with pytest.raises(
        ValueError,
        match=r"pairwise_distance: x1 has shape \(2, 3\), x2 has shape \(2, 4\), which do not broadcast",
    ):
        jaxloss.pairwise_distance(x, jnp.ones((2, 4)))
    with pytest.raises(
        ValueError,
        match=r"cosine_embedding_loss: target has shape \(1, 2\) but \(N,\) or \(\) is required",
    ):
        jaxloss.cosine_embedding_loss(x, x, jnp.ones((1, 2)))
    with pytest.raises(
        ValueError,
        match=r"cosine_embedding_loss: a 1-d target \(2,\) needs 2-d inputs \(\(N, D\)\) but got input1 \(2, 3\) and input2 \(3,\)",
    ):
        jaxloss.cosine_embedding_loss(x, jnp.ones(3), jnp.ones(2))
    with pytest.raises(ValueError, match=r"a 0-d target \(\) needs 1-d inputs"):
        jaxloss.cosine_embedding_loss(x, x, jnp.ones(()))
    with pytest.raises(
        ValueError,
        match=r"cosine_embedding_loss: input1 has shape \(2, 3\), input2 has shape \(2, 4\), which do not broadcast",
    ):
        jaxloss.cosine_embedding_loss(x, jnp.ones((2, 4)), jnp.ones(2))
    with pytest.raises(
        ValueError,
        match=r"target has shape \(3,\), cosine has shape \(2,\), which do not broadcast",
    ):
        jaxloss.cosine_embedding_loss(x, x, jnp.ones(3))
    with pytest.raises(ValueError, match="batchmean is not a valid value for reduction"):
        jaxloss.cosine_embedding_loss(x, x, jnp.ones(2), reduction="batchmean")
    for fn in (jaxloss.triplet_margin_loss, jaxloss.triplet_margin_with_distance_loss):
        with pytest.raises(
            ValueError, match=f"{fn.__name__}: margin must be greater than 0, got 0.0"
        ):
            fn(x, x, x, margin=0.0)
        with pytest.raises(
            ValueError,
            match=rf"{fn.__name__}: anchor \(2, 3\), positive \(2, 3\) and negative \(3,\) must have the same number of dimensions",
        ):
            fn(x, x, jnp.ones(3))
        with pytest.raises(TypeError, match=f"{fn.__name__}: negative has dtype int32"):
            fn(x, x, jnp.ones((2, 3), jnp.int32))
    with pytest.raises(
        ValueError,
        match=r"triplet_margin_loss: anchor has shape \(2, 3\), positive has shape \(4, 3\), negative has shape \(2, 3\), which do not broadcast",
    ):
        jaxloss.triplet_margin_loss(x, jnp.ones((4, 3)), x)
    with pytest.raises(TypeError, match="distance_function must be a callable"):
        jaxloss.triplet_margin_with_distance_loss(x, x, x, distance_function="l2")
    with pytest.raises(ValueError, match="foo is not a valid value for reduction"):
        jaxloss.triplet_margin_with_distance_loss(x, x, x, reduction="foo")


def test_torch_agrees_these_inputs_are_bad():
    x = torch.ones(2, 3)
    with pytest.raises(RuntimeError, match="0D or 1D target tensor expected"):
        F.cosine_embedding_loss(x, x, torch.ones(1, 2))
    with pytest.raises(RuntimeError, match="1D target tensor expects 2D input tensors"):
        F.cosine_embedding_loss(x, torch.ones(3), torch.ones(2))
    with pytest.raises(ValueError, match="margin must be greater than 0"):
        F.triplet_margin_loss(x, x, x, margin=0.0)
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        F.triplet_margin_loss(x, x, torch.ones(3))
    with pytest.raises(RuntimeError, match="must match"):
        F.triplet_margin_loss(x, torch.ones(4, 3), x)


def test_vmap_of_unbatched_calls_matches_torch_batched(rng):
    # per-sample (D,) calls under jax.vmap against torch's batched 'none' losses
    a, p, n = _triplets(rng, (6, 5), np.float64)
    y = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0])
    cases = [
        (
            lambda u, v, w: jaxloss.triplet_margin_loss(u, v, w, swap=True),
            lambda u, v, w: F.triplet_margin_loss(u, v, w, swap=True, reduction="none"),
            (a, p, n),
        ),
        (
            jaxloss.cosine_embedding_loss,
            lambda u, v, w: F.cosine_embedding_loss(u, v, w, reduction="none"),
            (a, p, y),
        ),
    ]
    for mine, theirs, args in cases:
        ta = [torch.from_numpy(z.copy()).requires_grad_(True) for z in args[:2]]
        ref = theirs(*ta, torch.from_numpy(args[2]))
        ref.sum().backward()
        with jax.enable_x64(True):
            val, grads = jax.vmap(jax.value_and_grad(mine, argnums=(0, 1)))(*map(jnp.asarray, args))
        np.testing.assert_allclose(val, ref.detach().numpy(), rtol=1e-10, atol=1e-12)
        for g, t in zip(grads, ta):
            np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10, atol=1e-12)


# --- fixes: closed-over constants under jit, torch 2.13 edge cases -------------------------
from test_regression import (  # noqa: E402
    check_closed_over,
    check_dtypes_like_torch,
    check_elementwise_mean,
    closed_over_params,
    mixed_dtypes,
)


def _embedding_table():
    rng = np.random.default_rng(14)  # seed: inputs of the closed-over/dtype checks
    a, b, c = (rng.normal(size=(4, 3)).astype(np.float32) for _ in range(3))
    signs = rng.choice(np.array([-1.0, 1.0], np.float32), size=(4,))
    return {
        "pairwise_distance": (F.pairwise_distance, dict(x1=a, x2=b), {}),
        "cosine_embedding_loss": (
            F.cosine_embedding_loss,
            dict(input1=a, input2=b, target=signs),
            dict(margin=0.2),
        ),
        "triplet_margin_loss": (
            F.triplet_margin_loss,
            dict(anchor=a, positive=b, negative=c),
            dict(margin=2.0),
        ),
        "triplet_margin_with_distance_loss": (
            F.triplet_margin_with_distance_loss,
            dict(anchor=a, positive=b, negative=c),
            dict(margin=2.0, swap=True),
        ),
    }


EMBEDDING_TABLE = _embedding_table()


@pytest.mark.parametrize("kind", ["numpy", "jax"])
@pytest.mark.parametrize("name,closed", closed_over_params(EMBEDDING_TABLE))
def test_jit_with_closed_over_array(name, closed, kind):
    torch_fn, arrays, kwargs = EMBEDDING_TABLE[name]
    check_closed_over(name, torch_fn, arrays, kwargs, closed, kind)


@pytest.mark.parametrize("name", sorted(set(EMBEDDING_TABLE) - {"pairwise_distance"}))
def test_elementwise_mean_alias_like_torch(name):
    # torch 2.13: accepted with a UserWarning by cosine_embedding and triplet_margin;
    # refused by triplet_margin_with_distance_loss (its Python code checks the string)
    torch_fn, arrays, kwargs = EMBEDDING_TABLE[name]
    check_elementwise_mean(name, torch_fn, arrays, kwargs)


@pytest.mark.parametrize("name", sorted(EMBEDDING_TABLE))
def test_mixed_float32_float64_dtypes_like_torch(name):
    torch_fn, arrays, kwargs = EMBEDDING_TABLE[name]
    for dtypes in mixed_dtypes(len(arrays)):
        check_dtypes_like_torch(name, torch_fn, arrays, kwargs, dtypes)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, 0.5, INF, -INF, -1.0])
def test_pairwise_distance_nan_gradient_like_torch(p):
    # torch's norm_backward uses sgn, and sgn(nan) = 0: with x1 = [1, nan, 3], x2 = [0, 1, 1]
    # torch 2.13 gives grad x1 [1, 0, 1] for p = 1 and [0, 0, 0] for p = +-inf (nan for the
    # other p); jnp.sign(nan) is nan
    x1 = np.array([[1.0, np.nan, 3.0], [0.5, -2.0, 1.0]], np.float32)
    x2 = np.array([[0.0, 1.0, 1.0], [0.5, 1.0, -1.0]], np.float32)
    check_parity(
        jaxloss.pairwise_distance, F.pairwise_distance, (x1, x2), dict(p=p), grad_argnums=(0, 1)
    )


@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("p", [1.0, 2.0, INF, -INF])
def test_triplet_nan_gradient_like_torch(p, swap):
    # torch 2.13: a nan anchor element gives a nan loss, clamp_min passes no gradient, and
    # sgn(nan) * 0 = 0 for p = 1 and +-inf (0 * nan = nan for p = 2)
    a = np.array([[1.0, np.nan, 3.0], [0.5, -2.0, 1.0]], np.float32)
    pos = np.array([[0.0, 1.0, 1.0], [0.5, 1.0, -1.0]], np.float32)
    neg = np.array([[5.0, 1.0, 9.0], [2.0, 0.0, 0.0]], np.float32)
    check_parity(
        jaxloss.triplet_margin_loss,
        F.triplet_margin_loss,
        (a, pos, neg),
        dict(p=p, margin=100.0, swap=swap, reduction="none"),
        grad_argnums=(0, 1, 2),
    )


@pytest.mark.parametrize("shape", [(3, 0), (0,), (2, 3, 0)])
@pytest.mark.parametrize("p", [2.0, 1.0, 0.0, 0.5, -1.0, INF, -INF])
def test_empty_last_dimension_like_torch(shape, p):
    # torch 2.13: vector_norm over an empty dimension raises RuntimeError "linalg.vector_norm
    # cannot compute the inf norm on the dimension 1because this dimension is empty..." for
    # p < 0 and p = +-inf; the norms with an identity give 0 (triplet: margin)
    e = np.zeros(shape, np.float32)
    cases = [
        ("pairwise_distance", (e, e), dict(p=p)),
        ("triplet_margin_loss", (e, e, e), dict(p=p, reduction="none")),
    ]
    for name, args, kwargs in cases:
        t_args = [torch.from_numpy(a) for a in args]
        if p < 0 or p == INF:
            with pytest.raises(RuntimeError, match="this dimension is empty"):
                getattr(F, name)(*t_args, **kwargs)
            with pytest.raises(ValueError, match=rf"{name}: the p=.* norm over an empty last"):
                getattr(jaxloss, name)(*args, **kwargs)
        else:
            expected = getattr(F, name)(*t_args, **kwargs)
            out = getattr(jaxloss, name)(*args, **kwargs)
            np.testing.assert_allclose(np.asarray(out), expected.numpy(), err_msg=name)


def test_empty_batch_with_inf_norm_still_works_like_torch():
    # torch: only an empty *reduced* dimension raises; (0, 3) gives an empty result
    e = np.zeros((0, 3), np.float32)
    for p in (INF, -1.0):
        out = jaxloss.pairwise_distance(e, e, p=p)
        assert out.shape == tuple(
            F.pairwise_distance(torch.zeros(0, 3), torch.zeros(0, 3), p=p).shape
        )
