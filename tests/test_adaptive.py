"""AdaptiveLogSoftmaxWithLoss and NLLLoss2d against live torch 2.13.

Every expected number comes from torch: a torch module is built under a fixed
torch.manual_seed, its state_dict is loaded into the JAX module, and output, loss,
log_prob, predict and the gradients w.r.t. input and every parameter (torch's .grad
after backward) are compared, eager and under jax.jit, in float32 and float64, at the
tolerances of torch_parity.py.
"""

from __future__ import annotations

import dataclasses
import itertools
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from torch import nn
from torch_parity import assert_close, precision

from jaxloss import AdaptiveLogSoftmaxWithLoss, NLLLoss2d, adaptive_log_softmax_with_loss

DTYPES = [np.float32, np.float64]
_TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}

# (in_features, n_classes, cutoffs, div_value, head_bias); hsz = int(F // div**i) in torch
CONFIGS = [
    (16, 20, [4, 10, 15], 4.0, False),  # hsz 4, 1, 0: a zero-width last cluster
    (16, 20, [4, 10, 15], 1.0, True),  # hsz 16, 16, 16
    (10, 12, [3], 2.0, True),  # one cluster, hsz 5
    (8, 10, [9], 4.0, False),  # last cluster holds one class (cutoff n_classes - 1)
    (7, 30, [5, 12], 2.5, False),  # non-integral div_value: hsz 7 // 2.5 = 2, 7 // 6.25 = 1
]


def _torch_module(config: tuple, dtype: Any, seed: int = 0) -> nn.AdaptiveLogSoftmaxWithLoss:
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        # torch: "Initializing zero-element tensors is a no-op" for an hsz == 0 cluster
        warnings.simplefilter("ignore", UserWarning)
        module = nn.AdaptiveLogSoftmaxWithLoss(*config)
    return module.to(_TORCH_DTYPE[dtype])


def _targets(config: tuple, rng: np.random.Generator, case: str, n: int = 12) -> np.ndarray:
    """Targets hitting every cluster, the shortlist only, or all but cluster 1."""
    _, n_classes, cutoffs, _, _ = config
    bounds = [0, *cutoffs, n_classes]
    if case == "shortlist":
        return rng.integers(0, cutoffs[0], n)
    ranges = [
        (lo, hi)
        for i, (lo, hi) in enumerate(itertools.pairwise(bounds))
        if not (case == "skip_cluster_1" and i == 1)
    ]
    t = [rng.integers(lo, hi) for lo, hi in ranges]  # one in each kept range ...
    t += list(rng.integers(0, n_classes, 2 * n))  # ... then random, minus the skipped range
    if case == "skip_cluster_1":
        t = [v for v in t if not bounds[1] <= v < bounds[2]]
    return np.array((t * n)[:n])


def _grads(module: nn.Module) -> dict[str, np.ndarray]:
    return {
        k: (torch.zeros_like(p) if p.grad is None else p.grad).numpy()
        for k, p in module.named_parameters()
    }


def _jax_grads(g: AdaptiveLogSoftmaxWithLoss) -> dict[str, np.ndarray]:
    """A model-shaped gradient, under torch's parameter names."""
    return g.state_dict()


def _check_dict(actual: dict, expected: dict, dtype: Any, what: str, scaled: bool = False) -> None:
    """Compare gradients per parameter. ``scaled``: a float32 gradient summed over many
    rows of large, cancelling terms is compared with atol 1e-7 * its largest entry (the
    rounding of such a sum), else at the harness tolerances."""
    assert set(actual) == set(expected), (what, set(actual), set(expected))
    for k, want in expected.items():
        atol = None
        if scaled and np.dtype(dtype) == np.float32 and want.size:
            atol = max(1e-6, 1e-7 * float(np.abs(want).max()))
        assert_close(actual[k], want, dtype, f"{what} {k}", atol=atol)


def _objective(m, x, t, ct):
    out = m(x, t)
    return jnp.sum(ct * out.output) + out.loss, out


# jitted once at module level, so a test's repeated calls reuse the compiled program
_value_and_grad = jax.jit(jax.value_and_grad(_objective, argnums=(0, 1), has_aux=True))

# every config in float32, two in float64; the op-by-op (eager) values on the first too
# (eager costs a compile per op, so it runs where it adds a path, not everywhere)
FORWARD_CASES = [(c, np.float32, i == 0) for i, c in enumerate(CONFIGS)] + [
    (CONFIGS[0], np.float64, False),
    (CONFIGS[1], np.float64, False),
]


@pytest.mark.parametrize(
    "config,dtype,eager",
    FORWARD_CASES,
    ids=[f"{c[2]}-div{c[3]}-bias{c[4]}-{d.__name__}" for c, d, _ in FORWARD_CASES],
)
def test_forward_and_gradients_match_torch(rng, config, dtype, eager):
    tm = _torch_module(config, dtype)
    n = 12
    x = rng.normal(size=(n, config[0])).astype(dtype)
    ct = rng.uniform(0.5, 1.5, size=n).astype(dtype)
    with precision(dtype):
        jm = AdaptiveLogSoftmaxWithLoss.from_torch_state_dict(tm.state_dict(), config[3])
        for case in ["all", "shortlist", "skip_cluster_1"]:
            t = _targets(config, rng, case, n)
            tm.zero_grad()
            tx = torch.from_numpy(x.copy()).requires_grad_(True)
            t_out = tm(tx, torch.from_numpy(t))
            ((torch.from_numpy(ct) * t_out.output).sum() + t_out.loss).backward()
            if eager:  # op by op: the values (gradients below, under jit)
                out = jm(jnp.asarray(x), jnp.asarray(t))
                assert_close(out.output, t_out.output, dtype, f"{case} eager output")
                assert_close(out.loss, t_out.loss, dtype, f"{case} eager loss")
            (_, out), (g_model, g_x) = _value_and_grad(
                jm, jnp.asarray(x), jnp.asarray(t), jnp.asarray(ct)
            )
            what = f"{case} jit"
            assert out.output.dtype == dtype and out.loss.dtype == dtype
            assert_close(out.output, t_out.output, dtype, f"{what} output")
            assert_close(out.loss, t_out.loss, dtype, f"{what} loss")
            assert_close(g_x, tx.grad, dtype, f"{what} grad input")
            _check_dict(_jax_grads(g_model), _grads(tm), dtype, f"{what} grad")
            if case == "skip_cluster_1":  # torch never ran cluster 1: its grads are exactly 0
                g = _jax_grads(g_model)
                assert not np.any(g["tail.0.0.weight"]) and not np.any(g["tail.0.1.weight"])


def test_inf_row_outside_a_cluster_leaves_its_gradients_finite_like_torch(rng):
    # torch runs a cluster only on its rows, so an inf feature in a shortlist row makes
    # the head (and loss) nan but leaves every tail gradient finite
    config = CONFIGS[0]
    tm = _torch_module(config, np.float32)
    jm = AdaptiveLogSoftmaxWithLoss.from_torch_state_dict(tm.state_dict())
    x = rng.normal(size=(12, 16)).astype(np.float32)
    x[0, 3] = np.inf
    t = _targets(config, rng, "all")
    t[0] = 1
    ct = np.ones(12, np.float32)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    t_out = tm(tx, torch.from_numpy(t))
    ((torch.from_numpy(ct) * t_out.output).sum() + t_out.loss).backward()
    (_, out), (g_model, g_x) = _value_and_grad(jm, jnp.asarray(x), jnp.asarray(t), ct)
    assert_close(out.output, t_out.output, np.float32, "output")
    assert_close(g_x, tx.grad, np.float32, "grad input")
    expected = _grads(tm)
    assert all(np.isfinite(v).all() for k, v in expected.items() if k.startswith("tail"))
    _check_dict(_jax_grads(g_model), expected, np.float32, "grad")


def test_unbatched_and_batch_of_one_match_torch(rng):
    config, dtype = CONFIGS[0], np.float32
    tm = _torch_module(config, dtype)
    jm = AdaptiveLogSoftmaxWithLoss.from_torch_state_dict(tm.state_dict())
    for shape, target in [((16,), 17), ((16,), 2), ((1, 16), [12])]:
        x = rng.normal(size=shape).astype(dtype)
        ct = np.full(np.shape(target), 3.0, dtype)
        tm.zero_grad()
        tx = torch.from_numpy(x.copy()).requires_grad_(True)
        t_out = tm(tx, torch.tensor(target))
        (t_out.output.sum() * 3 + t_out.loss).backward()
        (_, out), (g_model, g_x) = _value_and_grad(
            jm, jnp.asarray(x), jnp.asarray(target), jnp.asarray(ct)
        )
        what = f"{shape} {target}"
        assert out.output.shape == tuple(t_out.output.shape)
        assert_close(out.output, t_out.output, dtype, f"{what} output")
        assert_close(out.loss, t_out.loss, dtype, f"{what} loss")
        assert_close(g_x, tx.grad, dtype, f"{what} grad input")
        _check_dict(_jax_grads(g_model), _grads(tm), dtype, f"{what} grad")


def test_empty_batch_loss_is_nan_like_torch():
    tm = _torch_module(CONFIGS[2], np.float32)
    t_out = tm(torch.zeros(0, 10), torch.zeros(0, dtype=torch.long))
    jm = AdaptiveLogSoftmaxWithLoss.from_torch_state_dict(tm.state_dict(), 2.0)
    out = jm(jnp.zeros((0, 10)), jnp.zeros((0,), jnp.int32))
    assert out.output.shape == (0,) and np.isnan(t_out.loss.item()) and np.isnan(out.loss)


def _log_prob_objective(m, x, ct):
    return jnp.sum(m.log_prob(x) * ct)


def _log_prob_all(m, x, ct):
    """(log_prob, its gradients w.r.t. (model, input), predict)."""
    return m.log_prob(x), jax.grad(_log_prob_objective, (0, 1))(m, x, ct), m.predict(x)


_log_prob_all_jit = jax.jit(_log_prob_all)
LOG_PROB_CASES = [(CONFIGS[0], np.float32), (CONFIGS[1], np.float64), (CONFIGS[2], np.float32)]


@pytest.mark.parametrize(
    "config,dtype",
    LOG_PROB_CASES,
    ids=[f"{c[2]}-div{c[3]}-bias{c[4]}-{d.__name__}" for c, d in LOG_PROB_CASES],
)
def test_log_prob_and_predict_match_torch(rng, config, dtype):
    tm = _torch_module(config, dtype)
    # scaled so that the head's argmax falls both in the shortlist and in the clusters
    x = (3.0 * rng.normal(size=(40, config[0]))).astype(dtype)
    ct = rng.uniform(0.5, 1.5, size=(40, config[1])).astype(dtype)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    t_lp = tm.log_prob(tx)
    (t_lp * torch.from_numpy(ct)).sum().backward()
    with torch.no_grad():
        t_pred = tm.predict(tx).numpy()
        head_best = tm.head(tx).argmax(1).numpy()
    assert (head_best < config[2][0]).any() and (head_best >= config[2][0]).any()
    with precision(dtype):
        jm = AdaptiveLogSoftmaxWithLoss.from_torch_state_dict(tm.state_dict(), config[3])
        lp, (g_model, g_x), pred = _log_prob_all_jit(jm, jnp.asarray(x), jnp.asarray(ct))
        assert_close(lp, t_lp, dtype, "log_prob")
        tol = 1e-7 * float(tx.grad.abs().max()) if dtype == np.float32 else None
        assert_close(g_x, tx.grad, dtype, "log_prob grad input", atol=tol)
        _check_dict(_jax_grads(g_model), _grads(tm), dtype, "log_prob grad", scaled=True)
        np.testing.assert_array_equal(pred, t_pred, err_msg="predict")
        # predict == log_prob.argmax, as torch documents
        np.testing.assert_array_equal(jnp.argmax(lp, 1), t_pred)


def test_vmap_over_batches_matches_torch_per_batch(rng):
    config = CONFIGS[0]
    tm = _torch_module(config, np.float32)
    jm = AdaptiveLogSoftmaxWithLoss.from_torch_state_dict(tm.state_dict())
    xs = rng.normal(size=(3, 5, 16)).astype(np.float32)
    ts = np.stack([_targets(config, rng, "all", 5) for _ in range(3)])
    outs = jax.jit(jax.vmap(AdaptiveLogSoftmaxWithLoss.__call__, (None, 0, 0)))(jm, xs, ts)
    for b in range(3):
        t_out = tm(torch.from_numpy(xs[b]), torch.from_numpy(ts[b]))
        assert_close(outs.output[b], t_out.output, np.float32, f"vmap output {b}")
        assert_close(outs.loss[b], t_out.loss, np.float32, f"vmap loss {b}")

    # per example, unbatched: vmap over rows gives torch's batched numbers
    def per_row(m, x, t):
        return m(x, t).output, m.log_prob(x), m.predict(x)

    rows, lp, pred = jax.jit(jax.vmap(per_row, (None, 0, 0)))(jm, xs[0], ts[0])
    tx = torch.from_numpy(xs[0])
    assert_close(rows, outs.output[0], np.float32, "vmap rows")
    assert_close(lp, tm.log_prob(tx), np.float32, "vmap log_prob")
    np.testing.assert_array_equal(pred, tm.predict(tx))


def test_functional_matches_module(rng):
    tm = _torch_module(CONFIGS[1], np.float32)
    jm = AdaptiveLogSoftmaxWithLoss.from_torch_state_dict(tm.state_dict(), 1.0)
    x = rng.normal(size=(6, 16)).astype(np.float32)
    t = np.array([0, 5, 11, 19, 3, 16])
    functional = jax.jit(adaptive_log_softmax_with_loss, static_argnums=4)
    out = functional(x, t, jm.head_weight, jm.tail, (4, 10, 15), jm.head_bias_vector)
    t_out = tm(torch.from_numpy(x), torch.from_numpy(t))
    assert_close(out.output, t_out.output, np.float32, "functional output")
    assert_close(out.loss, t_out.loss, np.float32, "functional loss")


# ---------------------------------------------------------------------------------------
# construction, pytree, state dicts
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [CONFIGS[0], (7, 30, [5, 12], 2.5, True)],
    ids=lambda c: f"{c[2]}-div{c[3]}-bias{c[4]}",
)
def test_init_shapes_and_bounds_are_torchs(config):
    tm = _torch_module(config, np.float32)
    jm = AdaptiveLogSoftmaxWithLoss(*config, key=jax.random.key(0))
    shapes = {k: v.shape for k, v in jm.state_dict().items()}
    assert shapes == {k: tuple(v.shape) for k, v in tm.state_dict().items()}
    assert (jm.in_features, jm.n_classes, jm.cutoffs, jm.div_value, jm.head_bias) == (
        config[0],
        config[1],
        tuple(config[2]),
        config[3],
        config[4],
    )
    assert (jm.shortlist_size, jm.n_clusters, jm.head_size) == (
        tm.shortlist_size,
        tm.n_clusters,
        tm.head_size,
    )
    for k, v in jm.state_dict().items():
        if v.size == 0:
            continue
        # torch's nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_features of
        # the layer (also for head.bias); the same holds for torch's own tensor
        fan_in = config[0] if k.startswith("head") or k.endswith(".0.weight") else v.shape[1]
        bound = 1.0 / np.sqrt(fan_in)
        assert np.abs(v).max() <= bound and np.abs(tm.state_dict()[k].numpy()).max() <= bound
    head = jm.head_weight  # >= 56 draws: their range nearly reaches the bound
    bound = 1.0 / np.sqrt(config[0])
    assert float(jnp.abs(head).max()) > 0.9 * bound and float(jnp.abs(head).min()) < 0.1 * bound
    again = AdaptiveLogSoftmaxWithLoss(*config, key=jax.random.key(0))
    jax.tree.map(np.testing.assert_array_equal, again, jm)


def test_model_is_a_pytree_with_static_config(rng):
    config = CONFIGS[1]
    tm = _torch_module(config, np.float32)
    jm = AdaptiveLogSoftmaxWithLoss.from_torch_state_dict(tm.state_dict(), config[3])
    leaves, treedef = jax.tree.flatten(jm)
    assert len(leaves) == 2 + 2 * 3  # head weight, head bias, 3 (projection, output) pairs
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(jm)[0]]
    assert paths[:3] == [".head_weight", ".head_bias_vector", ".tail[0][0]"]
    x = jnp.asarray(rng.normal(size=(12, 16)).astype(np.float32))
    t = jnp.asarray(_targets(config, rng, "all"))
    ct = jnp.zeros(12, jnp.float32)  # the objective is the loss alone
    (loss, _), (g, _) = _value_and_grad(jm, x, t, ct)
    assert type(g) is AdaptiveLogSoftmaxWithLoss and jax.tree.structure(g) == treedef
    assert g.config() == jm.config()
    stepped = jax.tree.map(lambda p, d: p - 0.1 * d, jm, g)
    assert float(_value_and_grad(stepped, x, t, ct)[0][0]) < float(loss)
    with pytest.raises(dataclasses.FrozenInstanceError):
        jm.head_weight = jnp.zeros(3)  # type: ignore[misc]
    assert repr(jm) == (
        "AdaptiveLogSoftmaxWithLoss(in_features=16, n_classes=20, "
        "cutoffs=[4, 10, 15], div_value=1.0, head_bias=True)"
    )


def test_state_dict_round_trips_with_torch(rng):
    tm = _torch_module(CONFIGS[0], np.float32)
    # torch tensors straight from state_dict() (duck-typed, no numpy conversion by the user)
    jm = AdaptiveLogSoftmaxWithLoss.from_torch_state_dict(tm.state_dict())
    fresh = AdaptiveLogSoftmaxWithLoss(*CONFIGS[0], key=jax.random.key(3))
    loaded = fresh.load_state_dict(tm.state_dict())
    jax.tree.map(np.testing.assert_array_equal, loaded, jm)
    back = _torch_module(CONFIGS[0], np.float32, seed=1)
    back.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in jm.state_dict().items()})
    x = torch.from_numpy(rng.normal(size=(3, 16)).astype(np.float32))
    np.testing.assert_array_equal(back.log_prob(x).detach(), tm.log_prob(x).detach())


def test_state_dict_mismatches_are_named():
    tm = _torch_module(CONFIGS[0], np.float32)
    with pytest.raises(
        ValueError,
        match=r"tail\[0\]\[0\] has shape \(4, 16\) but div_value=2.0 "
        r"gives \(8, 16\)",
    ):
        AdaptiveLogSoftmaxWithLoss.from_torch_state_dict(tm.state_dict(), div_value=2.0)
    other = AdaptiveLogSoftmaxWithLoss(16, 21, [4, 10, 15], key=jax.random.key(0))
    with pytest.raises(ValueError, match="the state_dict is for .*n_classes=20"):
        other.load_state_dict(tm.state_dict())
    extra = dict(tm.state_dict(), **{"head.scale": torch.ones(1)})
    with pytest.raises(ValueError, match="head.scale"):
        AdaptiveLogSoftmaxWithLoss.from_torch_state_dict(extra)
    with pytest.raises(ValueError, match="needs 'head.weight'"):
        AdaptiveLogSoftmaxWithLoss.from_torch_state_dict({"head.weight": np.zeros((3, 2))})


# ---------------------------------------------------------------------------------------
# errors: each refused by torch 2.13 too
# ---------------------------------------------------------------------------------------


def torch_refuses(fn, *args, **kwargs) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises((RuntimeError, ValueError, IndexError, TypeError)):
            fn(*args, **kwargs)


@pytest.mark.parametrize("cutoffs", [[], [0, 5], [5, 2], [2, 2], [10], [2.5], [-1]])
def test_bad_cutoffs_refused_like_torch(cutoffs):
    with pytest.raises(ValueError, match=r"AdaptiveLogSoftmaxWithLoss: cutoffs=\[.*\] should be"):
        AdaptiveLogSoftmaxWithLoss(8, 10, cutoffs, key=jax.random.key(0))
    torch_refuses(nn.AdaptiveLogSoftmaxWithLoss, 8, 10, cutoffs)


def test_cutoffs_not_a_sequence_refused_like_torch():
    with pytest.raises(TypeError, match="cutoffs=5 is not a sequence"):
        AdaptiveLogSoftmaxWithLoss(8, 10, 5, key=jax.random.key(0))  # type: ignore[arg-type]
    torch_refuses(nn.AdaptiveLogSoftmaxWithLoss, 8, 10, 5)


@pytest.mark.parametrize(
    "x_shape,target,match",
    [
        ((4, 8), [[0, 1, 2, 3]], r"target has shape \(1, 4\) but a 0-d or 1-d target"),
        ((4, 8), [0, 1, 2], r"input has shape \(4, 8\) but \(3, 8\) is required for a target"),
        ((8,), [0] * 8, r"input has shape \(8,\) but \(8, 8\) is required"),
        ((4, 8), 3, r"input has shape \(4, 8\) but \(8,\) is required for a 0-d"),
        ((4, 5), [0, 1, 2, 3], r"input has shape \(4, 5\) but \(4, 8\) is required"),
    ],
)
def test_shape_errors_refused_like_torch(x_shape, target, match):
    tm = _torch_module((8, 10, [3, 6], 2.0, False), np.float32)
    jm = AdaptiveLogSoftmaxWithLoss.from_torch_state_dict(tm.state_dict(), 2.0)
    with pytest.raises(ValueError, match=match):
        jm(np.zeros(x_shape, np.float32), np.array(target))
    torch_refuses(tm, torch.zeros(x_shape), torch.tensor(target))


def test_out_of_range_target_refused_like_torch_and_nan_under_jit():
    tm = _torch_module((8, 10, [3, 6], 2.0, False), np.float32)
    jm = AdaptiveLogSoftmaxWithLoss.from_torch_state_dict(tm.state_dict(), 2.0)
    call = jax.jit(AdaptiveLogSoftmaxWithLoss.__call__)
    for bad in [10, -1, 12]:
        x, t = np.ones((3, 8), np.float32), np.array([0, bad, 7])
        with pytest.raises(IndexError, match=f"Target {bad} is out of bounds.*\\[0, 9\\]"):
            jm(x, t)
        with pytest.raises(RuntimeError, match=r"Target values should be in \[0, 9\]"):
            tm(torch.from_numpy(x), torch.from_numpy(t))
        output, loss = (np.asarray(v) for v in call(jm, x, t))
        assert np.isnan(output[1]) and np.isfinite(output[[0, 2]]).all() and np.isnan(loss)


def test_dtype_errors_refused_like_torch():
    tm = _torch_module((8, 10, [3, 6], 2.0, False), np.float32)
    jm = AdaptiveLogSoftmaxWithLoss.from_torch_state_dict(tm.state_dict(), 2.0)
    x = np.ones((2, 8), np.float32)
    with pytest.raises(TypeError, match="target has dtype float32 but an integer dtype"):
        jm(x, np.array([0.0, 1.0], np.float32))
    torch_refuses(tm, torch.from_numpy(x), torch.tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match="input has dtype int32"):
        jm(x.astype(np.int32), np.array([0, 1]))
    torch_refuses(tm, torch.ones(2, 8, dtype=torch.int32), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"log_prob: input has shape \(2, 3, 8\)"):
        jm.log_prob(np.ones((2, 3, 8), np.float32))
    torch_refuses(tm.log_prob, torch.ones(2, 3, 8))


# ---------------------------------------------------------------------------------------
# NLLLoss2d
# ---------------------------------------------------------------------------------------


def test_nllloss2d_warns_like_torch():
    with pytest.warns(FutureWarning) as ours:
        NLLLoss2d()
    with pytest.warns(FutureWarning) as theirs:
        nn.NLLLoss2d()
    assert [str(w.message) for w in ours] == [str(w.message) for w in theirs]
    assert ours[0].filename == __file__  # points at the caller, as torch's does
    with pytest.warns(FutureWarning), pytest.warns(DeprecationWarning, match="reduction='sum'"):
        assert NLLLoss2d(size_average=False).reduction == "sum"
    with pytest.warns(FutureWarning), pytest.warns(UserWarning, match="reduction='sum'"):
        assert nn.NLLLoss2d(size_average=False).reduction == "sum"


def _nll2d_value_and_grad(loss_fn, logp, t, ct):
    value, vjp = jax.vjp(lambda a: loss_fn(a, t), logp)
    return value, vjp(ct)[0]


_nll2d_jit = jax.jit(_nll2d_value_and_grad)
NLL2D_CASES = [
    ({}, np.float32),
    ({"reduction": "none"}, np.float32),
    ({"reduction": "sum", "ignore_index": 1}, np.float32),
    ({"weight": True}, np.float32),
    ({"weight": True, "ignore_index": 2}, np.float64),
    ({"reduction": "none"}, np.float64),
]


@pytest.mark.parametrize("kwargs,dtype", NLL2D_CASES)
def test_nllloss2d_matches_torch(rng, kwargs, dtype):
    x = rng.normal(size=(2, 4, 3, 5)).astype(dtype)
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    t = rng.integers(0, 4, size=(2, 3, 5))
    kwargs = dict(kwargs)
    w = rng.uniform(0.5, 2.0, size=4).astype(dtype) if kwargs.pop("weight", False) else None
    with pytest.warns(FutureWarning):
        t_loss_fn = nn.NLLLoss2d(None if w is None else torch.from_numpy(w), **kwargs)
    tx = torch.from_numpy(logp.copy()).requires_grad_(True)
    t_loss = t_loss_fn(tx, torch.from_numpy(t))
    ct = rng.uniform(0.5, 1.5, size=tuple(t_loss.shape)).astype(dtype)
    t_loss.backward(torch.from_numpy(ct))
    with precision(dtype):
        with pytest.warns(FutureWarning):
            loss_fn = NLLLoss2d(w, **kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no warning again when jit unflattens the loss
            value, grad = _nll2d_jit(loss_fn, jnp.asarray(logp), jnp.asarray(t), jnp.asarray(ct))
        assert value.dtype == dtype
        assert_close(value, t_loss, dtype, "value")
        assert_close(grad, tx.grad, dtype, "grad")


def test_loaders_work_on_traced_arrays(rng):
    # a state dict of jax arrays as the argument of jax.jit and jax.grad: the loaders read
    # shapes only, so jax.grad gives torch's parameter gradients under torch's keys
    config = CONFIGS[1]
    tm = _torch_module(config, np.float32)
    x = rng.normal(size=(12, 16)).astype(np.float32)
    t = _targets(config, rng, "all")
    tm(torch.from_numpy(x), torch.from_numpy(t)).loss.backward()
    state = {k: jnp.asarray(v.detach().numpy()) for k, v in tm.state_dict().items()}
    template = AdaptiveLogSoftmaxWithLoss(*config, key=jax.random.key(0))

    def from_state(s):
        return AdaptiveLogSoftmaxWithLoss.from_torch_state_dict(s, div_value=config[3])(x, t).loss

    def loaded(s):
        return template.load_state_dict(s)(x, t).loss

    for f in (from_state, loaded):
        grads = jax.jit(jax.grad(f))(state)
        _check_dict(
            {k: np.asarray(v) for k, v in grads.items()}, _grads(tm), np.float32, f.__name__
        )
    with pytest.raises(TypeError, match="state_dict: the parameters are traced"):
        jax.jit(lambda m: m.state_dict()["head.weight"])(template)
