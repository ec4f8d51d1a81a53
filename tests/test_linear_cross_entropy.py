"""linear_cross_entropy against live torch 2.13 (torch.nn.functional.linear_cross_entropy
with options=None, its dense reference): values and gradients w.r.t. input, linear_weight,
linear_bias (and probability targets), float32 and float64, eager and jit, on the dense
path, the fused kernel (whole vocabulary rows per chunk), the general chunked kernel
(token x vocabulary chunks) and the default options. Tolerances: torch_parity.py.

Small shapes with tiny chunk sizes force many chunks, a last token chunk and a last
vocabulary chunk that do not divide N and C, and a token chunk that is entirely ignored.
The extras torch lacks (z_loss, logit_softcap, return_lse, gradient w.r.t. weight) are
checked against an independent float64 formula written out below. Seeds: the conftest's
`rng` fixture (20261126) unless a test says otherwise.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch_parity import assert_close, precision, to_jax, to_torch

import jaxloss
from jaxloss._classification import cross_entropy
from jaxloss._linear_cross_entropy import (
    LinearCrossEntropyOptions,
    linear_cross_entropy,
    vocab_parallel_linear_cross_entropy,
)

N, D, C = 11, 5, 7  # tokens, in_features, classes: N % 4 == 3, C % 3 == 1
OPTIONS = {
    "dense": LinearCrossEntropyOptions(dense=True),
    "fused": LinearCrossEntropyOptions(token_chunk_size=4),  # whole rows: the fused kernel
    "chunked": LinearCrossEntropyOptions(token_chunk_size=4, vocab_chunk_size=3),
    "default": None,
}
DTYPES = [np.float32, np.float64]


def _problem(rng, dtype, n=N, d=D, c=C, out_features=()):
    x = rng.normal(size=(n, d)).astype(dtype)
    w = rng.normal(size=(c, *out_features, d)).astype(dtype)
    w[1] = w[0]  # ties: classes 0 and 1 have equal logits everywhere
    b = rng.normal(size=(c, *out_features)).astype(dtype)
    b[1] = b[0]
    return x, w, b


def _index_target(rng, n=N, c=C, out_features=(), ignored=(2, 4, 5, 6, 7)):
    t = rng.integers(0, c, size=(n, *out_features))
    t[1] = 0  # a target among the tied classes
    for i in ignored:  # rows 4..7 are the whole second token chunk of size 4
        t[i] = -100
    return t


def _jax(options, **fixed):
    def fn(x, w, t, b=None, **kw):
        return linear_cross_entropy(x, w, t, linear_bias=b, options=options, **fixed, **kw)

    return fn


def _torch(x, w, t, b=None, **kw):
    return F.linear_cross_entropy(x, w, t, linear_bias=b, **kw)


# ----------------------------------------------------------------------------- parity


def _check(
    opt,
    args,
    kwargs=None,
    grad_argnums=(0, 1),
    dtype=np.float32,
    jit=True,
    seed=0,
    rtol=None,
    atol=None,
):
    """Value and VJP (seeded random cotangent) of the jaxloss call with OPTIONS[opt] equal
    torch's reference path on the same inputs; jitted unless ``jit=False`` (eager)."""
    kwargs = dict(kwargs or {})
    t_args = [None if a is None else to_torch(a, i in grad_argnums) for i, a in enumerate(args)]
    t_out = _torch(*t_args, **{k: to_torch(v) for k, v in kwargs.items()})
    ct = np.random.default_rng(seed).uniform(0.5, 1.5, size=tuple(t_out.shape))
    if grad_argnums:
        t_out.backward(torch.as_tensor(ct, dtype=t_out.dtype))
    with precision(dtype):

        def fn(*diff):
            a = list(args)
            for i, v in zip(grad_argnums, diff):
                a[i] = v
            return _jax(OPTIONS[opt])(
                *[to_jax(v) for v in a], **{k: to_jax(v) for k, v in kwargs.items()}
            )

        out, vjp = jax.vjp(
            jax.jit(fn) if jit else fn, *[jnp.asarray(args[i]) for i in grad_argnums]
        )
        mode = "jit" if jit else "eager"
        assert out.dtype == np.dtype(str(t_out.dtype).replace("torch.", "")), mode
        assert_close(out, t_out, dtype, f"{opt} {mode} value", rtol, atol)
        for i, g in zip(grad_argnums, vjp(jnp.asarray(ct, out.dtype))):
            assert_close(g, t_args[i].grad, dtype, f"{opt} {mode} grad {i}", rtol, atol)


@pytest.mark.parametrize(
    "opt,reduction,dtype",
    [
        ("fused", "mean", np.float32),
        ("fused", "mean", np.float64),
        ("fused", "sum", np.float64),
        ("chunked", "none", np.float32),
        ("chunked", "none", np.float64),
        ("chunked", "mean", np.float64),
    ],
)
def test_index_targets_weight_smoothing_bias(rng, opt, reduction, dtype):
    x, w, b = _problem(rng, dtype)
    t = _index_target(rng)
    kwargs = dict(
        reduction=reduction, weight=rng.uniform(0.2, 2.0, C).astype(dtype), label_smoothing=0.15
    )
    _check(opt, (x, w, t, b), kwargs, (0, 1, 3), dtype)


@pytest.mark.parametrize("opt,dtype", [("fused", np.float64), ("chunked", np.float32)])
def test_eager(rng, opt, dtype):
    x, w, b = _problem(rng, dtype)
    t = _index_target(rng)
    kwargs = dict(weight=rng.uniform(0.2, 2.0, C).astype(dtype), label_smoothing=0.15)
    _check(opt, (x, w, t, b), kwargs, (0, 1, 3), dtype, jit=False)


@pytest.mark.parametrize("opt", ["fused", "chunked"])
def test_index_targets_plain(rng, opt):
    x, w, _ = _problem(rng, np.float32)
    t = _index_target(rng, ignored=(3,))
    _check(opt, (x, w, t), dict(reduction="mean" if opt == "fused" else "none"))


@pytest.mark.parametrize("kwargs", [dict(weight=True), dict(label_smoothing=0.3)])
def test_fused_weight_or_smoothing_alone(rng, kwargs):
    x, w, b = _problem(rng, np.float64)
    t = _index_target(rng)
    if kwargs.get("weight"):
        kwargs = dict(weight=rng.uniform(0.2, 2.0, C), reduction="sum")
    _check("fused", (x, w, t, b), kwargs, (0, 1, 3), np.float64)


def test_default_options_chunk_a_larger_head(rng):
    # 2100 tokens x 2000 classes exceed the default's dense limit (2**22 logits): it takes
    # the fused kernel for 'mean' (chunks of 256 rows, the last overlapping the one
    # before) and the statistics kernel for 'none'
    n, c = 2100, 2000
    x, w, b = _problem(rng, np.float32, n=n, d=4, c=c)
    t = _index_target(rng, n=n, c=c)
    # float32 sums over 2100 tokens and 2000 classes: atol 1e-5 of the gradients' scale
    # ('mean': |grad| <= 2e-3; 'none' with its cotangent: up to 6.7, where torch's own
    # float32 input gradient lies 3.4e-5 from float64 on some CPUs, jaxloss's 5.0e-6)
    for reduction, atol in [("mean", 1e-5), ("none", 1e-4)]:
        _check(
            "default",
            (x, w, t, b),
            dict(reduction=reduction, label_smoothing=0.1),
            (0, 1, 3),
            atol=atol,
        )
    hlo = jax.jit(jax.grad(lambda x: linear_cross_entropy(x, w, t))).lower(x).as_text()
    assert f"<{n}x{c}x" not in hlo and "while" in hlo  # StableHLO: tensor<NxCxf32>
    dense = LinearCrossEntropyOptions(dense=True)
    hlo = (
        jax.jit(jax.grad(lambda x: linear_cross_entropy(x, w, t, options=dense))).lower(x).as_text()
    )
    assert f"<{n}x{c}x" in hlo  # the check can fail


@pytest.mark.parametrize(
    "case",
    [
        ("dense", "none", np.float64),
        ("chunked", "none", np.float64),
        ("chunked", "mean", np.float64),
        ("chunked", "sum", np.float32),
    ],
)
def test_probability_targets(rng, case):
    opt, reduction, dtype = case
    x, w, b = _problem(rng, dtype)
    t = rng.dirichlet(np.ones(C), size=N).astype(dtype)
    t[3] = 0.0
    t[3, 2] = 1.0  # a one-hot row
    kwargs = dict(
        reduction=reduction, weight=rng.uniform(0.2, 2.0, C).astype(dtype), label_smoothing=0.1
    )
    _check(opt, (x, w, t, b), kwargs, (0, 1, 2, 3), dtype)


@pytest.mark.parametrize(
    "case", [("chunked", False, "none"), ("chunked", True, "mean"), ("dense", False, "mean")]
)
def test_k_dimensional(rng, case):
    # torch lays the logits out as (N, C, 2, 3): logits[n, c, i, j] = x[n] . W[c, i, j]
    opt, probabilities, reduction = case
    x, w, b = _problem(rng, np.float64, out_features=(2, 3))
    if probabilities:
        t = np.moveaxis(rng.dirichlet(np.ones(C), size=(N, 2, 3)), -1, 1)
    else:
        t = _index_target(rng, out_features=(2, 3), ignored=(4,))
        t[0, 1, 2] = -100
    _check(opt, (x, w, t, b), dict(reduction=reduction, label_smoothing=0.1), (0, 1, 3), np.float64)


@pytest.mark.parametrize(
    "case",
    [
        ("chunked", "index"),
        ("fused", "index"),
        ("chunked", "probabilities"),
        ("chunked", "index (1,)"),
    ],
)
def test_unbatched(rng, case):
    opt, target = case
    x, w, b = _problem(rng, np.float64)
    t = {
        "index": np.array(3),
        "index (1,)": np.array([3]),
        "probabilities": rng.dirichlet(np.ones(C)),
    }[target]
    # torch's backward fails for a (1,) target with an unbatched input ("size mismatch
    # (got input: [7], target: [1])"), so that one is checked by value only
    grads = () if target == "index (1,)" else (0, 1, 3)
    _check(
        opt,
        (x[0], w, t, b),
        dict(reduction="mean" if opt == "fused" else "none"),
        grads,
        np.float64,
    )


@pytest.mark.parametrize("case", [("fused", "mean"), ("chunked", "mean"), ("chunked", "sum")])
def test_all_ignored(rng, case):
    opt, reduction = case
    x, w, b = _problem(rng, np.float32)
    t = np.full((N,), -100)
    _check(opt, (x, w, t, b), dict(reduction=reduction), (0, 1, 3))  # mean: nan, zero grads
    if reduction == "mean":
        loss, grads = jax.jit(jax.value_and_grad(_jax(OPTIONS[opt]), argnums=(0, 1)))(x, w, t)
        assert np.isnan(loss) and all(np.all(np.asarray(g) == 0) for g in grads)


@pytest.mark.parametrize("opt", ["chunked", "fused"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_minus_inf_logits_from_bias(rng, opt, smoothing):
    # torch: a -inf non-target logit is harmless; with label smoothing the loss is inf.
    # Class 5 is -inf for every token; chunk [3, 6) of "chunked" holds it.
    x, w, b = _problem(rng, np.float64)
    b[5] = -np.inf
    t = _index_target(rng, ignored=(2,))
    t[t == 5] = 6
    _check(
        opt,
        (x, w, t, b),
        dict(reduction="none" if opt == "chunked" else "sum", label_smoothing=smoothing),
        (0, 1),
        np.float64,
    )


def test_whole_vocabulary_chunk_minus_inf(rng):
    # every class of the first vocabulary chunk is -inf: the online max starts at -inf
    x, w, b = _problem(rng, np.float64)
    b[:3] = -np.inf
    t = rng.integers(3, C, size=N)
    _check("chunked", (x, w, t, b), dict(reduction="none"), (0, 1), np.float64)


@pytest.mark.parametrize("case", [("chunked", 2), ("fused", 50)])
def test_explicit_ignore_index(rng, case):
    # 2 is a valid class (it stays in the softmax); 50 is out of range and ignored,
    # also under jit where the target's values are unknown at trace time
    opt, ignore_index = case
    x, w, b = _problem(rng, np.float32)
    t = rng.integers(0, C, size=N)
    t[[1, 4]] = ignore_index
    kwargs = dict(ignore_index=ignore_index, weight=rng.uniform(0.5, 2, C).astype(np.float32))
    _check(opt, (x, w, t, b), kwargs, (0, 1, 3))


@pytest.mark.parametrize("opt", ["chunked", "fused"])
def test_out_of_range_target_under_jit_is_nan(rng, opt):
    # torch raises IndexError (checked in test_refusals); traced targets cannot, so nan
    x, w, _ = _problem(rng, np.float32)
    t = _index_target(rng, ignored=())
    t[3] = C
    reduction = "mean" if opt == "fused" else "none"
    loss = jax.jit(_jax(OPTIONS[opt], reduction=reduction))(x, w, t)
    assert np.isnan(loss if opt == "fused" else loss[3])


def test_vmap(rng):
    xs = rng.normal(size=(3, N, D)).astype(np.float32)
    ws = rng.normal(size=(3, C, D)).astype(np.float32)
    ts = rng.integers(0, C, size=(3, N))
    for opt in ["chunked", "fused"]:
        fn = jax.jit(
            jax.vmap(jax.value_and_grad(_jax(OPTIONS[opt], label_smoothing=0.1), argnums=(0, 1)))
        )
        loss, (gx, gw) = fn(xs, ws, ts)
        for i in range(3):
            tx = torch.from_numpy(xs[i]).requires_grad_()
            tw = torch.from_numpy(ws[i]).requires_grad_()
            tl = F.linear_cross_entropy(tx, tw, torch.from_numpy(ts[i]), label_smoothing=0.1)
            tl.backward()
            assert_close(loss[i], tl, np.float32, f"{opt} vmap value {i}")
            assert_close(gx[i], tx.grad, np.float32, f"{opt} vmap grad x {i}")
            assert_close(gw[i], tw.grad, np.float32, f"{opt} vmap grad W {i}")


@pytest.mark.parametrize("case", [("fused", "bfloat16"), ("chunked", "float16")])
def test_half_precision_returns_torchs_dtype(rng, case):
    opt, dtype = case
    x, w, b = _problem(rng, np.float32)
    t = _index_target(rng)
    jd, td = jnp.dtype(dtype), getattr(torch, dtype)
    fn = jax.jit(
        jax.value_and_grad(
            lambda x, w, b: linear_cross_entropy(x, w, t, linear_bias=b, options=OPTIONS[opt]),
            argnums=(0, 1, 2),
        )
    )
    loss, grads = fn(jnp.asarray(x, jd), jnp.asarray(w, jd), jnp.asarray(b, jd))
    tl = F.linear_cross_entropy(
        torch.from_numpy(x).to(td),
        torch.from_numpy(w).to(td),
        torch.from_numpy(t),
        linear_bias=torch.from_numpy(b).to(td),
    )
    assert loss.dtype == jd and tl.dtype == td
    assert all(g.dtype == jd for g in grads)
    # jaxloss accumulates in float32 from the rounded inputs; torch rounds the logits to
    # the half dtype first: agreement to the half dtype's resolution
    assert_close(loss.astype(jnp.float32), tl.float(), np.float32, "half value", rtol=2e-2)


@pytest.mark.parametrize("opt", list(OPTIONS))
@pytest.mark.parametrize("target", ["indices", "probabilities"])
def test_traced_label_smoothing(rng, opt, target):
    # label_smoothing as a jitted function's argument, as cross_entropy takes it: torch's
    # value and gradients for 0.1, 0 for a negative value (torch: < 0 acts as 0), nan for
    # a value above 1 (torch raises), with torch's message under checkify
    from jax.experimental import checkify

    x, w, b = _problem(rng, np.float32)
    if target == "indices":
        t = _index_target(rng)
    else:
        t = rng.dirichlet(np.ones(C), size=N).astype(np.float32)
    fn = _jax(OPTIONS[opt])
    for eps, torch_eps in ((0.1, 0.1), (-0.3, 0.0), (1.0, 1.0)):
        tx, tw = to_torch(x, True), to_torch(w, True)
        expected = _torch(tx, tw, to_torch(t), label_smoothing=torch_eps)
        expected.backward()
        f = jax.jit(jax.value_and_grad(lambda x, w, s: fn(x, w, t, label_smoothing=s), (0, 1)))
        value, (gx, gw) = f(x, w, eps)
        assert_close(value, expected, np.float32, f"traced label_smoothing={eps}")
        assert_close(gx, tx.grad, np.float32, f"grad input, label_smoothing={eps}")
        assert_close(gw, tw.grad, np.float32, f"grad linear_weight, label_smoothing={eps}")
    with pytest.raises(RuntimeError, match="label_smoothing must be between 0.0 and 1.0"):
        _torch(to_torch(x), to_torch(w), to_torch(t), label_smoothing=1.5)
    value, grad = jax.jit(jax.value_and_grad(lambda x, s: fn(x, w, t, label_smoothing=s)))(x, 1.5)
    kept = np.ones(N, bool) if target == "probabilities" else t != -100
    assert np.isnan(value) and np.isnan(grad[kept]).all()  # an ignored token's stays 0
    checked = jaxloss.checked()(
        checkify.checkify(
            jax.jit(lambda s: fn(x, w, t, label_smoothing=s)), errors=checkify.user_checks
        )
    )
    assert "label_smoothing must be between 0.0 and 1.0. Got: 1.5" in checked(1.5)[0].get()
    assert checked(0.5)[0].get() is None


# ----------------------------------------------------------------------------- extras


def _reference64(x, w, t, b=None, weight=None, eps=0.0, z=0.0, cap=None, probabilities=False):
    """(per-token loss, lse, w[y]) in float64 from the full logits (independent formula)."""
    logits = x @ w.T + (0 if b is None else b)
    if cap is not None:
        logits = cap * jnp.tanh(logits / cap)
    lse = jax.scipy.special.logsumexp(logits, axis=-1)
    logp = logits - lse[:, None]
    wc = jnp.ones(w.shape[0]) if weight is None else weight
    c = w.shape[0]
    if probabilities:
        q = (1 - eps) * t + eps / c
        loss = -jnp.sum(wc * q * logp, axis=-1) + z * lse**2
        return loss, lse, jnp.ones(t.shape[0])
    keep = t != -100
    ts = jnp.where(keep, t, 0)
    nll = -wc[ts] * jnp.take_along_axis(logp, ts[:, None], axis=1)[:, 0]
    smooth = -jnp.sum(wc * logp, axis=-1)
    loss = jnp.where(keep, (1 - eps) * nll + eps / c * smooth + z * lse**2, 0.0)
    return loss, lse, jnp.where(keep, wc[ts], 0.0)


@pytest.mark.parametrize(
    "case",
    [
        ("fused", False, "mean"),
        ("chunked", False, "none"),
        ("chunked", True, "mean"),
        ("dense", True, "none"),
    ],
)
def test_z_loss_softcap_lse_against_float64_formula(rng, case):
    # values and gradients w.r.t. input, linear_weight, linear_bias and weight (torch
    # refuses a weight gradient), and the returned lse with its gradient
    opt, probabilities, reduction = case
    x, w, b = _problem(rng, np.float64)
    weight = rng.uniform(0.2, 2.0, C)
    t = rng.dirichlet(np.ones(C), size=N) if probabilities else _index_target(rng)
    eps, z, cap = 0.1, 0.05, 2.5
    with_lse = opt != "fused"  # return_lse takes the statistics kernel, not the fused one
    with precision(np.float64):

        def ref(x, w, b, weight):
            loss, lse, den = _reference64(x, w, t, b, weight, eps, z, cap, probabilities)
            if reduction == "mean":
                loss = jnp.sum(loss) / (loss.shape[0] if probabilities else jnp.sum(den))
            return (loss, lse) if with_lse else loss

        def ours(x, w, b, weight):
            return linear_cross_entropy(
                x,
                w,
                t,
                linear_bias=b,
                weight=weight,
                reduction=reduction,
                label_smoothing=eps,
                z_loss=z,
                logit_softcap=cap,
                return_lse=with_lse,
                options=OPTIONS[opt],
            )

        args = (x, w, b, weight)
        expected, e_vjp = jax.vjp(jax.jit(ref), *args)
        actual, a_vjp = jax.vjp(jax.jit(ours), *args)
        cts = jax.tree.map(lambda e: jnp.asarray(rng.uniform(0.5, 1.5, jnp.shape(e))), expected)
        for name, a, e in zip(["loss", "lse"], *(jax.tree.leaves(v) for v in (actual, expected))):
            assert_close(a, e, np.float64, name)
        for name, ga, ge in zip(["x", "W", "b", "weight"], a_vjp(cts), e_vjp(cts)):
            assert_close(ga, ge, np.float64, f"grad {name}")


# ----------------------------------------------------------------------------- memory


def _temp_bytes(fn, *shapes):
    structs = [jax.ShapeDtypeStruct(s, d) for s, d in shapes]
    compiled = jax.jit(jax.value_and_grad(fn, argnums=(0, 1))).lower(*structs).compile()
    return compiled.memory_analysis().temp_size_in_bytes, compiled.as_text()


def test_memory_llm_head_is_eight_times_below_dense():
    # N=8192 tokens, D=512, V=65536 float32: dense value+grad holds (N, V) logits and
    # their gradient (2 GiB each). Compile only; nothing is allocated.
    n, d, v = 8192, 512, 65536
    shapes = [((n, d), jnp.float32), ((v, d), jnp.float32), ((n,), jnp.int32)]
    chunked, hlo = _temp_bytes(lambda x, w, t: linear_cross_entropy(x, w, t), *shapes)
    dense, _ = _temp_bytes(lambda x, w, t: cross_entropy(x @ w.T, t), *shapes)
    assert dense >= 8 * chunked, (dense, chunked)
    assert chunked <= 4 * (n * d + v * d) * 2, chunked  # O(N D + V D + chunk)
    # no (N, V) array anywhere in the compiled program
    assert not re.search(rf"\[{n},{v}\]|\[{v},{n}\]", hlo)


def test_memory_vocabulary_chunks():
    # the general kernel (token x vocabulary chunks, 'none'): no (N, V) array either
    n, d, v = 4096, 64, 32768
    shapes = [((n, d), jnp.float32), ((v, d), jnp.float32), ((n,), jnp.int32)]
    opts = LinearCrossEntropyOptions(token_chunk_size=256, vocab_chunk_size=4096)
    chunked, hlo = _temp_bytes(
        lambda x, w, t: linear_cross_entropy(x, w, t, reduction="none", options=opts).sum(), *shapes
    )
    dense, _ = _temp_bytes(lambda x, w, t: cross_entropy(x @ w.T, t), *shapes)
    assert dense >= 8 * chunked, (dense, chunked)
    assert not re.search(rf"\[{n},{v}\]|\[{v},{n}\]", hlo)


# ----------------------------------------------------------------------------- refusals


def _refused_by_torch(x, w, t, **kw):
    def to_t(a):
        return torch.from_numpy(a) if isinstance(a, np.ndarray) else a

    with pytest.raises((RuntimeError, ValueError, IndexError, TypeError, NotImplementedError)):
        F.linear_cross_entropy(to_t(x), to_t(w), to_t(t), **{k: to_t(v) for k, v in kw.items()})


REFUSALS = {
    "input 3-d": (dict(x=np.zeros((2, 3, D))), ValueError, r"input has shape \(2, 3, 5\)"),
    "linear_weight 1-d": (dict(w=np.zeros((D,))), ValueError, r"linear_weight has shape \(5,\)"),
    "in_features differ": (
        dict(w=np.zeros((C, D + 1))),
        ValueError,
        r"input has shape \(11, 5\) and linear_weight \(7, 6\)",
    ),
    "bias shape": (
        dict(linear_bias=np.zeros(C + 1)),
        ValueError,
        r"linear_bias has shape \(8,\) but \(7,\) is required",
    ),
    "target batch": (
        dict(t=np.zeros(N - 1, np.int64)),
        ValueError,
        r"target has shape \(10,\) but .* need \(11,\) for class indices or "
        r"\(11, 7\) for class probabilities",
    ),
    "target float of index shape": (dict(t=np.zeros(N)), TypeError, r"target has dtype float"),
    "integer input": (
        dict(x=np.zeros((N, D), np.int64)),
        TypeError,
        r"input has dtype int(32|64) but a floating-point dtype",
    ),
    "weight size": (
        dict(weight=np.ones(C - 1, np.float32)),
        ValueError,
        r"weight has shape \(6,\) but \(7,\) is required",
    ),
    "weight dtype": (  # torch: "expected scalar type Float but found Half"
        dict(weight=np.ones(C, np.float16)),
        TypeError,
        r"weight has dtype float16 but the logits \(input @ linear_weight.T\) has dtype float32",
    ),
    "linear_weight dtype": (  # torch: "expected m1 and m2 to have the same dtype"
        dict(w=np.zeros((C, D), np.float16)),
        TypeError,
        r"input has dtype float32 but linear_weight has dtype float16; they must have the same "
        r"dtype, e.g. linear_weight.astype\(input.dtype\)",
    ),
    "linear_bias dtype": (  # torch: "self and mat2 must have the same dtype"
        dict(linear_bias=np.zeros(C, np.float16)),
        TypeError,
        r"input has dtype float32 but linear_bias has dtype float16",
    ),
    "input dtype": (
        dict(x=np.zeros((N, D), np.float16)),
        TypeError,
        r"input has dtype float16 but linear_weight has dtype float32",
    ),
    "ignore_index with probabilities": (
        dict(t=np.full((N, C), 1.0 / C, np.float32), ignore_index=-100),
        ValueError,
        r"ignore_index=-100 cannot be specified when target contains class probabilities",
    ),
    "K-dim unbatched": (
        dict(x=np.zeros(D, np.float32), w=np.zeros((C, 2, D), np.float32), t=np.zeros(2, np.int64)),
        ValueError,
        r"needs batched input",
    ),
    "label_smoothing > 1": (dict(label_smoothing=1.5), ValueError, r"label_smoothing must be"),
    "reduction": (dict(reduction="batchmean"), ValueError, r"batchmean is not a valid value"),
    "target out of range": (
        dict(t=np.full(N, C, np.int64)),
        IndexError,
        r"Target 7 is out of bounds",
    ),
    "target -1": (dict(t=np.full(N, -1, np.int64)), IndexError, r"Target -1 is out of bounds"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refusals(case):
    change, error, match = REFUSALS[case]
    kw = dict(
        x=np.zeros((N, D), np.float32), w=np.zeros((C, D), np.float32), t=np.zeros(N, np.int64)
    )
    kw.update(change)
    x, w, t = kw.pop("x"), kw.pop("w"), kw.pop("t")
    _refused_by_torch(x, w, t, **kw)
    with pytest.raises(error, match=match):
        linear_cross_entropy(x, w, t, **kw)


@pytest.mark.parametrize("field", ["token_chunk_size", "vocab_chunk_size"])
@pytest.mark.parametrize("value", [0, -4])
def test_options_refuse_bad_chunk_sizes(field, value):
    with pytest.raises(ValueError, match=f"{field} must be a positive int"):
        LinearCrossEntropyOptions(**{field: value})
    # torch's own option refuses a non-positive chunk size as well
    with pytest.raises(ValueError, match="batch_chunk_size must be positive"):
        torch.nn.LinearCrossEntropyOptions(batch_chunk_size=value)


def test_options_refuse_dense_with_chunks_and_torchs_options():
    with pytest.raises(ValueError, match="dense=True .* token_chunk_size=8"):
        LinearCrossEntropyOptions(dense=True, token_chunk_size=8)
    with pytest.raises(TypeError, match="token_chunk_size must be a positive int"):
        LinearCrossEntropyOptions(token_chunk_size=2.5)
    x, w, t = np.zeros((N, D), np.float32), np.zeros((C, D), np.float32), np.zeros(N, int)
    with pytest.raises(TypeError, match="options must be a jaxloss LinearCrossEntropyOptions"):
        linear_cross_entropy(x, w, t, options=torch.nn.LinearCrossEntropyOptions())


def test_options_are_hashable_static_arguments(rng):
    x, w, _ = _problem(rng, np.float32)
    t = _index_target(rng)
    fn = jax.jit(
        lambda x, w, t, options: linear_cross_entropy(x, w, t, options=options), static_argnums=3
    )
    a = fn(x, w, t, OPTIONS["chunked"])
    b = fn(x, w, t, LinearCrossEntropyOptions(token_chunk_size=4, vocab_chunk_size=3))
    assert float(a) == float(b)


def test_docstring_examples_run():
    import doctest

    import jaxloss._linear_cross_entropy as module

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 2 and result.failed == 0


# ----------------------------------------------------------------------------- sharded

_VOCAB_PARALLEL = textwrap.dedent(
    r"""
    import re, sys
    import jax, jax.numpy as jnp, numpy as np
    from jaxloss._linear_cross_entropy import (
        LinearCrossEntropyOptions as O, linear_cross_entropy, vocab_parallel_linear_cross_entropy)
    assert jax.device_count() == 4, jax.devices()
    mesh = jax.make_mesh((4,), ("model",))
    rng = np.random.default_rng(7)
    n, d, c = 13, 6, 20
    x = rng.normal(size=(n, d)).astype(np.float32)
    w = rng.normal(size=(c, d)).astype(np.float32)
    b = rng.normal(size=c).astype(np.float32)
    weight = rng.uniform(0.5, 2.0, c).astype(np.float32)
    t = rng.integers(0, c, n); t[2] = -100
    probs = rng.dirichlet(np.ones(c), size=n).astype(np.float32)
    chunks = O(token_chunk_size=4, vocab_chunk_size=2)
    cases = [
        (t, dict(weight=weight, label_smoothing=0.1, z_loss=0.01, logit_softcap=3.0,
                 reduction="none", return_lse=True), chunks),
        (probs, dict(weight=weight, label_smoothing=0.2, reduction="sum"), chunks),
        (probs, dict(reduction="none"), O(dense=True)),
    ]
    for target, kw, opts in cases:
        def one(x, w, b):
            return linear_cross_entropy(x, w, target, linear_bias=b, **kw)
        def sharded(x, w, b):
            return vocab_parallel_linear_cross_entropy(
                x, w, target, linear_bias=b, mesh=mesh, axis="model", options=opts, **kw)
        e, e_vjp = jax.vjp(jax.jit(one), x, w, b)
        a, a_vjp = jax.vjp(jax.jit(sharded), x, w, b)
        ct = jax.tree.map(jnp.ones_like, e)
        names = ["value", "lse", "dx", "dW", "db"] if kw.get("return_lse") else [
            "value", "dx", "dW", "db"]
        for name, u, v in zip(names, [*jax.tree.leaves(a), *a_vjp(ct)],
                              [*jax.tree.leaves(e), *e_vjp(ct)]):
            np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=2e-5, atol=2e-6,
                                       err_msg=f"{kw} {opts} {name}")
    try:
        vocab_parallel_linear_cross_entropy(x, w[:7], t % 7, mesh=mesh, axis="model")
        raise AssertionError("7 classes over 4 devices should be refused")
    except ValueError as e:
        assert "C=7 classes must be a multiple of mesh axis 'model'" in str(e), e
    # the compiled gradient has only per-token (and the (N, D) input-gradient) all-reduces:
    # no all-gather, nothing (N, V) or (V, D) sized crosses devices
    big_n, big_d, big_c = 64, 16, 4096
    opts = O(token_chunk_size=16, vocab_chunk_size=256)
    hlo = jax.jit(jax.grad(
        lambda x, w, t: vocab_parallel_linear_cross_entropy(
            x, w, t, mesh=mesh, axis="model", options=opts), argnums=(0, 1))).lower(
        jax.ShapeDtypeStruct((big_n, big_d), jnp.float32),
        jax.ShapeDtypeStruct((big_c, big_d), jnp.float32),
        jax.ShapeDtypeStruct((big_n,), jnp.int32)).compile().as_text()
    ops = r"(all-gather|all-reduce|all-to-all|collective-permute|reduce-scatter)(-start)?"
    collectives = [(m.group(2), m.group(1)) for m in (
        re.search(r"=\s*(.*?)\s" + ops + r"\(", line) for line in hlo.splitlines()) if m]
    assert collectives, "expected all-reduces"
    for op, result in collectives:
        assert op == "all-reduce", (op, result)
        for dims in re.findall(r"\w+\[([\d,]*)\]", result):
            size = int(np.prod([int(s) for s in dims.split(",") if s]))
            assert size <= big_n * big_d, (op, result)
    print("OK")
    """
)


def test_vocab_parallel_four_devices():
    env = dict(os.environ)
    env["XLA_FLAGS"] = env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    env["JAX_PLATFORMS"] = "cpu"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", _VOCAB_PARALLEL],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr[-4000:]


def test_vocab_parallel_refuses_an_unknown_axis():
    # (one device; the 1-device mesh itself runs in the docstring example)
    mesh = jax.make_mesh((1,), ("model",))
    x, w, t = np.zeros((N, D), np.float32), np.zeros((C, D), np.float32), np.zeros(N, int)
    with pytest.raises(ValueError, match="axis 'data' is not an axis of the mesh"):
        vocab_parallel_linear_cross_entropy(x, w, t, mesh=mesh, axis="data")
    with pytest.raises(ValueError, match="vocab_axis='model' names no mesh axis in scope"):
        linear_cross_entropy(x, w, t, options=LinearCrossEntropyOptions(vocab_axis="model"))
