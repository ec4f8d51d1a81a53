"""linear_cross_entropy: cross entropy of a linear layer's logits, without the logits.

The (tokens x vocab) logits of an LLM head are the largest array of a training step.
Here they are never materialised: tokens and the vocabulary are cut into chunks, each
chunk's logits are computed, reduced to a handful of per-token statistics and dropped,
and a ``jax.custom_vjp`` recomputes them chunk by chunk in the backward pass.

Per-token statistics (all the loss needs), for logits ``z`` over the classes:
  ``m``   max_c z_c (stopped gradient; every use below is invariant to it)
  ``r``   ``m`` where finite, else 0: the shift every other statistic is taken against
  ``ls``  log sum_c exp(z_c - r)                       so lse = r + ls
  ``zy``  z at the target class (index targets)        so -logp_y = ls + (r - zy)
  ``a``   sum_c u_c (z_c - r), u the class weight      so -sum_c u_c logp_c = U ls - a
  ``b``   sum_c u_c t_c (z_c - r), t probabilities     so -sum_c u_c t_c logp_c = (u.t) ls - b
Each is a sum over classes, so vocabulary chunks (and vocabulary shards on a mesh) combine
with one max and a few sums per token.

Two kernels:
  ``_chunked_stats``  token x vocabulary chunks, the statistics above as outputs; the
                      backward pass recomputes each chunk's logits (4 matmuls in all).
                      Every option: 'none', probability targets, K-dim heads, return_lse,
                      vocabulary sharding.
  ``_fused_loss``     chunks of whole vocabulary rows, a scalar reduction of class-index
                      targets: the gradients are accumulated in the forward pass and the
                      backward pass scales them (3 matmuls, as torch's chunked path and
                      Liger do). Taken by default whenever it applies.
A dense path (``LinearCrossEntropyOptions(dense=True)``, and by default problems of at
most 2**22 logits) computes the same statistics from the full logits with plain autodiff.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, NamedTuple, overload

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

from . import _errors, _math
from ._errors import fmt_shape
from ._matmul import PrecisionLike, dot, linear, operand_dtype, resolve_precision
from ._reduction import averages, reduce_loss, reduces

_FN = "linear_cross_entropy"
# Default size of one chunk's logits, in elements: about the input's size (torch's
# "aspect_ratio" idea), at least 2**20, at most 2**22 (16 MiB in float32).
_MIN_CHUNK_ELEMENTS = 1 << 20
_MAX_CHUNK_ELEMENTS = 1 << 22
# Up to this many logits the default stays dense: there the loops cost more time than the
# logits cost memory (16 MiB in float32).
_MAX_DENSE_LOGITS = 1 << 22
# Rows per chunk below which the matmuls get inefficient (the weight gradient contracts
# over them; measured on CPU: 128 rows cost 1.5x the time of 512): past this, chunk the
# vocabulary.
_MIN_TOKEN_CHUNK = 512
# The fused kernel's chunks hold whole vocabulary rows: as many as fit in 2**24 logits
# and an eighth of all logits, at least 128 while 128 rows fit in 2**25 logits.
_FUSED_CHUNK_ELEMENTS = 1 << 24
_MIN_FUSED_TOKEN_CHUNK = 128
_MAX_FUSED_ELEMENTS = 1 << 25
# The fused kernel adds each chunk's weight gradient a slab of vocabulary rows at a time,
# of at most this many elements, so no (V, D) partial product is held beside the
# accumulator.
_WEIGHT_GRAD_SLAB_ELEMENTS = 1 << 22


@dataclasses.dataclass(frozen=True)
class LinearCrossEntropyOptions:
    """How :func:`linear_cross_entropy` computes: chunk sizes, dense, vocabulary sharding.

    jaxloss's counterpart of ``torch.nn.LinearCrossEntropyOptions`` (whose fields --
    ``batch_chunk_size``, ``chunking_method``, ``acc_policy``, ... -- describe torch's
    implementation and have no meaning here). A frozen dataclass: hashable, so it can be
    a static argument of ``jax.jit``.

    Attributes:
      token_chunk_size: tokens (rows of ``input``) per chunk. ``None`` picks it from the
        shapes: for the fused kernel ('mean'/'sum' of class indices; whole vocabulary
        rows) as many rows as fit in 2**24 logits and an eighth of all logits, at least
        128; otherwise so that one chunk's logits hold about as many elements as
        ``input`` (between 2**20 and 2**22), at least 512 rows.
      vocab_chunk_size: classes per chunk (online log-sum-exp across chunks). ``None``
        keeps the whole vocabulary in a chunk unless that would push the token chunk
        below those minimums (for the fused kernel: unless 128 rows exceed 2**25
        logits).
      dense: compute the full logits in one piece (torch's reference path). Fastest for
        small problems; exclusive with the chunk sizes.
      vocab_axis: name of a mesh axis the classes are sharded over. Only inside
        ``jax.shard_map`` (see :func:`vocab_parallel_linear_cross_entropy`): each
        device holds its slice of ``linear_weight`` (and of ``linear_bias``, ``weight``,
        and of probability targets along the class axis) and the loss is assembled with
        per-token collectives only.
    """

    token_chunk_size: int | None = None
    vocab_chunk_size: int | None = None
    dense: bool = False
    vocab_axis: str | None = None

    def __post_init__(self) -> None:
        fn = "LinearCrossEntropyOptions"
        token, vocab = self.token_chunk_size, self.vocab_chunk_size
        _errors.check_positive_int(fn, "token_chunk_size", token, optional=True)
        _errors.check_positive_int(fn, "vocab_chunk_size", vocab, optional=True)
        _errors.check_type(fn, "dense", self.dense, isinstance(self.dense, bool), "a bool")
        _errors.check_compatible(
            fn,
            not self.dense or (token is None and vocab is None),
            "dense=True",
            f"cannot be combined with token_chunk_size={token} or vocab_chunk_size={vocab}",
            "it computes the logits in one piece, so leave both None",
        )
        axis = self.vocab_axis
        _errors.check_type(
            fn,
            "vocab_axis",
            axis,
            axis is None or isinstance(axis, str),
            "a mesh axis name (str) or None",
        )


def _pow2_floor(n: int) -> int:
    return 1 << (max(int(n), 1).bit_length() - 1)


def _chunk_sizes(
    options: LinearCrossEntropyOptions, n: int, d: int, v: int, whole_rows: bool = False
) -> tuple[int, int] | None:
    """(token chunk, vocab chunk), or None for the dense path.

    ``whole_rows``: the fused kernel applies (chunks of whole vocabulary rows, a quarter
    fewer matmuls), so it gets chunks of whole rows when they fit.
    """
    if options.dense or n == 0 or v == 0:
        return None
    tn, tv = options.token_chunk_size, options.vocab_chunk_size
    budget = min(max(n * d, _MIN_CHUNK_ELEMENTS), _MAX_CHUNK_ELEMENTS)
    if tn is None and tv is None:
        if n * v <= _MAX_DENSE_LOGITS:
            return None  # small enough: dense is faster and hardly bigger
        if whole_rows:
            rows = _pow2_floor(min(_FUSED_CHUNK_ELEMENTS, n * v // 8) // v)
            least = min(n, _MIN_FUSED_TOKEN_CHUNK)
            if rows < least and least * v <= _MAX_FUSED_ELEMENTS:
                rows = least
            if rows >= least:
                return min(rows, n), v
        rows = min(n, _MIN_TOKEN_CHUNK)
        if budget // v >= rows:
            return min(_pow2_floor(budget // v), n), v
        return rows, min(v, max(128, budget // rows))
    if tv is None:
        assert tn is not None
        cap = max(budget, _MAX_FUSED_ELEMENTS) if whole_rows else budget
        tv = v if min(tn, n) * v <= cap else max(128, budget // tn)
    elif tn is None:
        tn = max(1, _pow2_floor(budget // min(tv, v)))
    return min(int(tn), n), min(int(tv), v)


# --------------------------------------------------------------------------------------
# The chunked kernel: per-token statistics of the logits x @ w.T + b, with a custom VJP.
# --------------------------------------------------------------------------------------


class _Config(NamedTuple):
    """Static description of one kernel call (hashable: a nondiff argument)."""

    tn: int
    tv: int
    softcap: float | None
    need_zy: bool
    need_a: bool
    compute: Any  # np.dtype the chunks are computed (and the products accumulated) in
    operand: Any  # np.dtype input and linear_weight enter the products in
    precision: Any  # the products' precision, resolved (see _matmul.resolve_precision)


class _Stats(NamedTuple):
    m: jax.Array
    r: jax.Array
    ls: jax.Array
    zy: jax.Array | None
    a: jax.Array | None
    b: jax.Array | None


def _chunk_logits(
    cfg: _Config, x: jax.Array, w: jax.Array, bias: jax.Array | None, i0: Any, k0: Any
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array | None]:
    """(x rows, w rows, logits, tanh of the softcap or None) of the chunk at (i0, k0)."""
    xc = lax.dynamic_slice_in_dim(x, i0, cfg.tn, 0).astype(cfg.operand)
    wc = lax.dynamic_slice_in_dim(w, k0, cfg.tv, 0).astype(cfg.operand)
    z = _dot(cfg, xc, wc, (1, 1))
    if bias is not None:
        z = z + lax.dynamic_slice_in_dim(bias, k0, cfg.tv, 0).astype(cfg.compute)
    th = None
    if cfg.softcap is not None:
        th = jnp.tanh(z / cfg.softcap)
        z = cfg.softcap * th
    return xc, wc, z, th


def _dot(cfg: _Config, a: jax.Array, b: jax.Array, contract: tuple[int, int]) -> jax.Array:
    """A product of the kernel: operands in ``cfg.operand``, accumulated in ``cfg.compute``."""
    return dot(a, b, contract, cfg.precision, cfg.operand, cfg.compute)


# The last chunk starts at n - tn (v - tv) rather than being padded; its rows (columns)
# already covered by the previous chunk are masked wherever they would count twice.
def _col_mask(cfg: _Config, v: int, k: Any, k0: Any) -> jax.Array | None:
    if v % cfg.tv == 0:
        return None
    return (k0 + jnp.arange(cfg.tv)) >= k * cfg.tv


def _row_mask(cfg: _Config, n: int, i: Any, i0: Any) -> jax.Array | None:
    if n % cfg.tn == 0:
        return None
    return (i0 + jnp.arange(cfg.tn)) >= i * cfg.tn


def _vma(*arrays: jax.Array | None) -> frozenset:
    """Mesh axes (inside shard_map) any of ``arrays`` varies over."""
    out: frozenset = frozenset()
    for a in arrays:
        if a is not None:
            aval = jax.typeof(a)
            axes = getattr(getattr(aval, "manual_axis_type", None), "varying", None)
            out |= frozenset(getattr(aval, "vma", frozenset()) if axes is None else axes)
    return out


def _with_vma(tree: Any, vma: frozenset) -> Any:
    """Loop-carry initial values marked as varying over ``vma``, as the loop body's are."""

    def cast(a: jax.Array) -> jax.Array:
        missing = tuple(sorted(vma - _vma(a)))
        if not missing:
            return a
        if hasattr(lax, "pcast"):  # jax >= 0.9
            return lax.pcast(a, missing, to="varying")
        return lax.pvary(a, missing)  # type: ignore[attr-defined]  # jax 0.8: older name

    return jax.tree.map(cast, tree) if vma else tree


@overload
def _rows(a: jax.Array, i0: Any, size: int) -> jax.Array: ...
@overload
def _rows(a: None, i0: Any, size: int) -> None: ...
def _rows(a: jax.Array | None, i0: Any, size: int) -> jax.Array | None:
    """Rows i0 .. i0 + size of a per-token array (None stays None)."""
    return None if a is None else lax.dynamic_slice_in_dim(a, i0, size, 0)


def _masked(mask: jax.Array | None, x: jax.Array, fill: float = 0.0) -> jax.Array:
    return x if mask is None else jnp.where(mask, x, jnp.asarray(fill, x.dtype))


def _stats_forward(
    cfg: _Config,
    x: jax.Array,
    w: jax.Array,
    bias: jax.Array | None,
    u: jax.Array | None,
    y: jax.Array | None,
    t: jax.Array | None,
) -> _Stats:
    n, v = x.shape[0], w.shape[0]
    ct = cfg.compute
    n_tok, n_voc = -(-n // cfg.tn), -(-v // cfg.tv)
    neg_inf = jnp.asarray(-jnp.inf, ct)

    def token_chunk(i: Any, out: tuple) -> tuple:
        i0 = jnp.minimum(i * cfg.tn, n - cfg.tn)
        yc = _rows(y, i0, cfg.tn)

        def vocab_chunk(k: Any, c: tuple) -> tuple:
            m, r, s, zy, a, b, u_seen, ut_seen = c
            k0 = jnp.minimum(k * cfg.tv, v - cfg.tv)
            colv = _col_mask(cfg, v, k, k0)
            _, _, z, _ = _chunk_logits(cfg, x, w, bias, i0, k0)
            zm = _masked(colv, z, -jnp.inf)
            m_new = jnp.maximum(m, jnp.max(zm, axis=1))
            r_new = jnp.where(m_new == -jnp.inf, jnp.zeros((), ct), m_new)
            shift = r - r_new
            # m == -inf: nothing finite seen yet, s is 0 (exp(shift) could overflow)
            s = jnp.where(m == -jnp.inf, 0, s * jnp.exp(shift))
            s = s + jnp.sum(jnp.exp(zm - r_new[:, None]), axis=1)
            if yc is not None:
                cols = k0 + jnp.arange(cfg.tv)
                hit = cols[None, :] == yc[:, None]
                if colv is not None:
                    hit = hit & colv[None, :]
                zy = zy + jnp.sum(jnp.where(hit, z, 0), axis=1)
            if cfg.need_a or t is not None:
                uc = (
                    jnp.ones((cfg.tv,), ct)
                    if u is None
                    else lax.dynamic_slice_in_dim(u, k0, cfg.tv, 0).astype(ct)
                )
                uc = _masked(colv, uc)
                zr = z - r_new[:, None]
            if cfg.need_a:
                a = a + u_seen * shift + jnp.sum(_masked(colv, uc * zr), axis=1)
                u_seen = u_seen + jnp.sum(uc)
            if t is not None:
                tc = lax.dynamic_slice(t, (i0, k0), (cfg.tn, cfg.tv)).astype(ct)
                ut = uc * tc
                b = b + ut_seen * shift + jnp.sum(_masked(colv, ut * zr), axis=1)
                ut_seen = ut_seen + jnp.sum(ut, axis=1)
            return m_new, r_new, s, zy, a, b, u_seen, ut_seen

        zeros = jnp.zeros((cfg.tn,), ct)
        init = (
            jnp.full((cfg.tn,), neg_inf),
            zeros,
            zeros,
            zeros,
            zeros,
            zeros,
            jnp.zeros((), ct),
            zeros,
        )
        init = _with_vma(init, vma)
        m, r, s, zy, a, b, _, _ = lax.fori_loop(0, n_voc, vocab_chunk, init)
        chunk = (m, r, jnp.log(s), zy, a, b)
        # rows shared with the previous chunk get the same values again
        return tuple(lax.dynamic_update_slice_in_dim(o, c, i0, 0) for o, c in zip(out, chunk))

    zeros = jnp.zeros((n,), ct)
    vma = _vma(x, w, bias, u, y, t)
    init = _with_vma((zeros,) * 6, vma)
    m, r, ls, zy, a, b = lax.fori_loop(0, n_tok, token_chunk, init)
    return _Stats(
        m,
        r,
        ls,
        zy if cfg.need_zy else None,
        a if cfg.need_a else None,
        b if t is not None else None,
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _chunked_stats(
    cfg: _Config,
    x: jax.Array,
    w: jax.Array,
    bias: jax.Array | None,
    u: jax.Array | None,
    y: jax.Array | None,
    t: jax.Array | None,
) -> _Stats:
    return _stats_forward(cfg, x, w, bias, u, y, t)


def _chunked_stats_fwd(
    cfg: _Config,
    x: jax.Array,
    w: jax.Array,
    bias: jax.Array | None,
    u: jax.Array | None,
    y: jax.Array | None,
    t: jax.Array | None,
) -> tuple[_Stats, tuple]:
    stats = _stats_forward(cfg, x, w, bias, u, y, t)
    return stats, (x, w, bias, u, y, t, stats.r, stats.ls)


def _chunked_stats_bwd(cfg: _Config, res: tuple, g: _Stats) -> tuple:
    x, w, bias, u, y, t, r, ls = res
    n, v = x.shape[0], w.shape[0]
    ct = cfg.compute
    n_tok, n_voc = -(-n // cfg.tn), -(-v // cfg.tv)
    # m and r carry no gradient: every quantity built from the statistics is invariant
    # to the shift (the derivative of the shift's coefficient, 1 - sum softmax, is 0).
    g_ls = g.ls.astype(ct)
    g_zy = None if g.zy is None else g.zy.astype(ct)
    g_a = None if g.a is None else g.a.astype(ct)
    g_b = None if g.b is None else g.b.astype(ct)

    def token_chunk(i: Any, acc: tuple) -> tuple:
        dx, dw, db, du, dt = acc
        i0 = jnp.minimum(i * cfg.tn, n - cfg.tn)
        rowv = _row_mask(cfg, n, i, i0)

        rc, lsc, gls = (_rows(a, i0, cfg.tn) for a in (r, ls, g_ls))
        gzy, ga, gb = _rows(g_zy, i0, cfg.tn), _rows(g_a, i0, cfg.tn), _rows(g_b, i0, cfg.tn)
        yc = _rows(y, i0, cfg.tn)

        def vocab_chunk(k: Any, acc_k: tuple) -> tuple:
            dxc, dw, db, du, dt = acc_k
            k0 = jnp.minimum(k * cfg.tv, v - cfg.tv)
            colv = _col_mask(cfg, v, k, k0)
            xc, wc, z, th = _chunk_logits(cfg, x, w, bias, i0, k0)
            zr = z - rc[:, None]
            dz = gls[:, None] * jnp.exp(zr - lsc[:, None])
            if gzy is not None and yc is not None:
                cols = k0 + jnp.arange(cfg.tv)
                dz = dz + jnp.where(cols[None, :] == yc[:, None], gzy[:, None], 0)
            uc = None
            if u is not None:
                uc = lax.dynamic_slice_in_dim(u, k0, cfg.tv, 0).astype(ct)
            if ga is not None:
                dz = dz + ga[:, None] * (jnp.ones((1, cfg.tv), ct) if uc is None else uc)
            tc = None
            if t is not None and gb is not None:
                tc = lax.dynamic_slice(t, (i0, k0), (cfg.tn, cfg.tv)).astype(ct)
                ut = tc if uc is None else uc * tc
                dz = dz + gb[:, None] * ut
                # d b / d t = u (z - r); rows/columns shared with another chunk are
                # written again with the same values
                dtc = gb[:, None] * (zr if uc is None else uc * zr)
                dt = lax.dynamic_update_slice(dt, dtc.astype(dt.dtype), (i0, k0))
            if th is not None:
                dz = dz * (1 - th * th)
            dz = _masked(colv, dz)
            dxc = dxc + _dot(cfg, dz, wc, (1, 0))
            xr = _masked(None if rowv is None else rowv[:, None], xc)
            dzr = _masked(None if rowv is None else rowv[:, None], dz)
            dwc = _dot(cfg, dz, xr, (0, 0))
            dw = lax.dynamic_update_slice_in_dim(
                dw, lax.dynamic_slice_in_dim(dw, k0, cfg.tv, 0) + dwc, k0, 0
            )
            if db is not None:
                db = lax.dynamic_update_slice_in_dim(
                    db, lax.dynamic_slice_in_dim(db, k0, cfg.tv, 0) + jnp.sum(dzr, 0), k0, 0
                )
            if du is not None:
                duc = jnp.zeros((cfg.tn, cfg.tv), ct)
                if ga is not None:
                    duc = duc + ga[:, None] * zr
                if gb is not None and tc is not None:
                    duc = duc + gb[:, None] * tc * zr
                duc = _masked(None if rowv is None else rowv[:, None], duc)
                duc = jnp.sum(_masked(colv, duc), axis=0)
                du = lax.dynamic_update_slice_in_dim(
                    du, lax.dynamic_slice_in_dim(du, k0, cfg.tv, 0) + duc, k0, 0
                )
            return dxc, dw, db, du, dt

        init = _with_vma((jnp.zeros((cfg.tn, x.shape[1]), ct), dw, db, du, dt), vma)
        dxc, dw, db, du, dt = lax.fori_loop(0, n_voc, vocab_chunk, init)
        dx = lax.dynamic_update_slice_in_dim(dx, dxc, i0, 0)
        return dx, dw, db, du, dt

    acc = (
        jnp.zeros(x.shape, ct),
        jnp.zeros(w.shape, ct),
        None if bias is None else jnp.zeros((v,), ct),
        None if u is None else jnp.zeros((v,), ct),
        None if t is None else jnp.zeros(t.shape, t.dtype),
    )
    vma = _vma(x, w, bias, u, y, t, r, ls, g_ls, g_zy, g_a, g_b)
    acc = _with_vma(acc, vma)
    dx, dw, db, du, dt = lax.fori_loop(0, n_tok, token_chunk, acc)
    return (
        dx.astype(x.dtype),
        dw.astype(w.dtype),
        None if db is None else db.astype(bias.dtype),
        None if du is None else du.astype(u.dtype),
        None,
        dt,
    )


_chunked_stats.defvjp(_chunked_stats_fwd, _chunked_stats_bwd)


def _dense_stats(
    cfg: _Config,
    x: jax.Array,
    w: jax.Array,
    bias: jax.Array | None,
    u: jax.Array | None,
    y: jax.Array | None,
    t: jax.Array | None,
) -> _Stats:
    """The same statistics from the full logits (plain autodiff)."""
    ct = cfg.compute
    z = linear(x.astype(cfg.operand), w.astype(cfg.operand), cfg.precision, ct)
    if bias is not None:
        z = z + bias.astype(ct)
    if cfg.softcap is not None:
        z = cfg.softcap * jnp.tanh(z / cfg.softcap)
    m = lax.stop_gradient(jnp.max(z, axis=1))
    r = jnp.where(m == -jnp.inf, jnp.zeros((), ct), m)
    zr = z - r[:, None]
    ls = jnp.log(jnp.sum(jnp.exp(zr), axis=1))
    zy = a = b = None
    if y is not None:
        hit = jnp.arange(z.shape[1])[None, :] == y[:, None]
        zy = jnp.sum(jnp.where(hit, z, 0), axis=1)
    uc = None if u is None else u.astype(ct)
    if cfg.need_a:
        a = jnp.sum(zr if uc is None else uc * zr, axis=1)
    if t is not None:
        ut = t.astype(ct) if uc is None else uc * t.astype(ct)
        b = jnp.sum(ut * zr, axis=1)
    return _Stats(m, r, ls, zy, a, b)


# --------------------------------------------------------------------------------------
# The fused kernel: a scalar loss with its gradients computed in the forward pass.
# --------------------------------------------------------------------------------------
# For a scalar reduction of class-index targets the loss is a fixed linear combination
#   S = sum_n alpha_n nll_n + beta_n smooth_n + zeta_n lse_n**2
# (alpha = (1 - eps) w[y] / denominator, beta = eps / C / denominator, zeta = z_loss /
# denominator, 0 on ignored tokens), so when a chunk holds whole rows of logits its
# gradient is known as soon as the chunk's softmax is: the forward pass accumulates dx,
# dW, db, dweight and the backward pass only scales them (as torch's chunked path and
# Liger do). Three matmuls per chunk instead of four.


def _add_weight_grad(cfg: _Config, dw: jax.Array, dz: jax.Array, xc: jax.Array) -> jax.Array:
    """``dw + dz.T @ xc`` for (tn, V) ``dz``, a slab of vocabulary rows at a time."""
    v, d = dw.shape
    rows = min(v, _pow2_floor(max(_WEIGHT_GRAD_SLAB_ELEMENTS // max(d, 1), 1)))

    def slab(k: Any, dw: jax.Array) -> jax.Array:
        k0 = jnp.minimum(k * rows, v - rows)
        dzk = lax.dynamic_slice_in_dim(dz, k0, rows, 1)
        if v % rows:  # the last slab overlaps the previous one: count those rows once
            dzk = _masked(((k0 + jnp.arange(rows)) >= k * rows)[None, :], dzk)
        part = _dot(cfg, dzk, xc, (0, 0))
        return lax.dynamic_update_slice_in_dim(
            dw, lax.dynamic_slice_in_dim(dw, k0, rows, 0) + part, k0, 0
        )

    return lax.fori_loop(0, -(-v // rows), slab, dw)


def _times(coef: jax.Array, value: jax.Array) -> jax.Array:
    return jnp.where(coef == 0, jnp.zeros((), value.dtype), coef * value)


def _fused_loop(
    cfg: _Config,
    with_grads: bool,
    x: jax.Array,
    w: jax.Array,
    bias: jax.Array | None,
    u: jax.Array | None,
    y: jax.Array,
    alpha: jax.Array,
    beta: jax.Array | None,
    zeta: jax.Array | None,
) -> tuple:
    n, v = x.shape[0], w.shape[0]
    ct = cfg.compute
    n_tok = -(-n // cfg.tn)
    uc = jnp.ones((v,), ct) if u is None else u.astype(ct)
    u_sum = jnp.sum(uc)

    def token_chunk(i: Any, acc: tuple) -> tuple:
        loss, dx, dw, db, du, d_alpha, d_beta, d_zeta = acc
        i0 = jnp.minimum(i * cfg.tn, n - cfg.tn)
        rowv = _row_mask(cfg, n, i, i0)

        yc, al = _rows(y, i0, cfg.tn), _rows(alpha, i0, cfg.tn)
        be, ze = _rows(beta, i0, cfg.tn), _rows(zeta, i0, cfg.tn)
        xc, wc, z, th = _chunk_logits(cfg, x, w, bias, i0, 0)
        m = jnp.max(z, axis=1)
        r = jnp.where(m == -jnp.inf, jnp.zeros((), ct), m)
        zr = z - r[:, None]
        ls = jnp.log(jnp.sum(jnp.exp(zr), axis=1))
        hit = jnp.arange(v)[None, :] == yc[:, None]
        nll = ls + (r - jnp.sum(jnp.where(hit, z, 0), axis=1))  # -logp[y]
        lse = r + ls
        # a zero coefficient (an ignored token) contributes 0, even next to an inf
        term = _times(al, nll)
        smooth = lse2 = None
        if be is not None:
            smooth = u_sum * ls - jnp.sum(uc * zr, axis=1)  # -sum_c u_c logp_c
            term = term + _times(be, smooth)
        if ze is not None:
            lse2 = lse * lse
            term = term + _times(ze, lse2)
        loss = loss + jnp.sum(_masked(rowv, term))
        if not with_grads:
            return loss, dx, dw, db, du, d_alpha, d_beta, d_zeta
        g_ls = al
        if be is not None:
            g_ls = g_ls + be * u_sum
        if ze is not None:
            g_ls = g_ls + 2 * ze * lse
        dz = g_ls[:, None] * jnp.exp(zr - ls[:, None]) - jnp.where(hit, al[:, None], 0)
        if be is not None:
            dz = dz - be[:, None] * uc
        if th is not None:
            dz = dz * (1 - th * th)
        dx = lax.dynamic_update_slice_in_dim(dx, _dot(cfg, dz, wc, (1, 0)), i0, 0)
        rmask = None if rowv is None else rowv[:, None]
        dw = _add_weight_grad(cfg, dw, dz, _masked(rmask, xc))
        if db is not None:
            db = db + jnp.sum(_masked(rmask, dz), axis=0)
        if du is not None and be is not None:
            # d smooth / d u_c = lse - z_c; d nll / d u = 0 (w[y] sits in alpha)
            du = du + jnp.sum(_masked(rmask, be[:, None] * (lse[:, None] - z)), axis=0)
        d_alpha = lax.dynamic_update_slice_in_dim(d_alpha, nll, i0, 0)
        if smooth is not None:
            d_beta = lax.dynamic_update_slice_in_dim(d_beta, smooth, i0, 0)
        if lse2 is not None:
            d_zeta = lax.dynamic_update_slice_in_dim(d_zeta, lse2, i0, 0)
        return loss, dx, dw, db, du, d_alpha, d_beta, d_zeta

    def zeros(shape: tuple[int, ...], present: bool = True) -> jax.Array | None:
        return jnp.zeros(shape, ct) if present and with_grads else None

    acc = (
        jnp.zeros((), ct),
        zeros(x.shape),
        zeros(w.shape),
        zeros((v,), bias is not None),
        zeros((v,), u is not None and beta is not None),
        zeros((n,)),
        zeros((n,), beta is not None),
        zeros((n,), zeta is not None),
    )
    acc = _with_vma(acc, _vma(x, w, bias, u, y, alpha, beta, zeta))
    return lax.fori_loop(0, n_tok, token_chunk, acc)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _fused_loss(
    cfg: _Config,
    x: jax.Array,
    w: jax.Array,
    bias: jax.Array | None,
    u: jax.Array | None,
    y: jax.Array,
    alpha: jax.Array,
    beta: jax.Array | None,
    zeta: jax.Array | None,
) -> jax.Array:
    return _fused_loop(cfg, False, x, w, bias, u, y, alpha, beta, zeta)[0]


def _fused_loss_fwd(
    cfg: _Config,
    x: jax.Array,
    w: jax.Array,
    bias: jax.Array | None,
    u: jax.Array | None,
    y: jax.Array,
    alpha: jax.Array,
    beta: jax.Array | None,
    zeta: jax.Array | None,
) -> tuple[jax.Array, tuple]:
    loss, dx, dw, db, du, *d_coef = _fused_loop(cfg, True, x, w, bias, u, y, alpha, beta, zeta)
    # stored in the inputs' dtypes (as torch's chunked path stores them)
    grads = [
        None if g is None or a is None else g.astype(a.dtype)
        for g, a in zip((dx, dw, db, du), (x, w, bias, u))
    ]
    return loss, (*grads, *d_coef)


def _fused_loss_bwd(cfg: _Config, res: tuple, g: jax.Array) -> tuple:
    dx, dw, db, du, d_alpha, d_beta, d_zeta = (
        None if a is None else a * g.astype(a.dtype) for a in res
    )
    return dx, dw, db, du, None, d_alpha, d_beta, d_zeta


_fused_loss.defvjp(_fused_loss_fwd, _fused_loss_bwd)


# --------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------


class _Args(NamedTuple):
    x: jax.Array  # (N, D)
    w: jax.Array  # (C, P, D)
    bias: jax.Array | None  # (C, P)
    weight: jax.Array | None  # (C,)
    y: jax.Array | None  # (N, P) class indices
    t: jax.Array | None  # (N, C, P) class probabilities
    batch: tuple[int, ...]  # () unbatched, (N,) batched
    out_features: tuple[int, ...]
    compute: Any
    out: Any


def _check_args(
    input: ArrayLike,
    linear_weight: ArrayLike,
    target: ArrayLike,
    linear_bias: ArrayLike | None,
    weight: ArrayLike | None,
    ignore_index: int | None,
    num_classes_total: int | None = None,
) -> _Args:
    fn = _FN
    x = _errors.floating_array(fn, "input", input)
    w = _errors.floating_array(fn, "linear_weight", linear_weight)
    _errors.check_layout(fn, "input", x, x.ndim in (1, 2), "(in_features,) or (N, in_features)")
    _errors.check_layout(
        fn,
        "linear_weight",
        w,
        w.ndim >= 2,
        "(C, in_features) or (C, d1, ..., dK, in_features)",
    )
    in_features = x.shape[-1]
    _errors.check_in_features(fn, x, w)
    num_classes, out_features = w.shape[0], tuple(w.shape[1:-1])
    batch = tuple(x.shape[:-1])
    _errors.check_fits(
        fn,
        "input",
        x,
        bool(batch) or not out_features,
        f"linear_weight {fmt_shape(w.shape)} defines a K-dimensional loss, which needs batched "
        f"input (N, {in_features})",
    )
    bias = None
    if linear_bias is not None:
        bias = _errors.floating_array(fn, "linear_bias", linear_bias)
        _errors.check_shape(
            fn,
            "linear_bias",
            bias,
            (num_classes, *out_features),
            f" for linear_weight of shape {fmt_shape(w.shape)}",
        )
    # torch: "expected m1 and m2 to have the same dtype" (input @ linear_weight.T) and "self
    # and mat2 must have the same dtype" (the bias added to it): no promotion in the matmul
    _errors.check_same_dtype(fn, "input", x, "linear_weight", w)
    if bias is not None:
        _errors.check_same_dtype(fn, "input", x, "linear_bias", bias)
    cw = None
    if weight is not None:
        cw = _errors.floating_array(fn, "weight", weight)
        _errors.check_shape(
            fn, "weight", cw, (num_classes,), f" (one weight per class, C={num_classes})"
        )
    logits_shape = (*batch, num_classes, *out_features)
    index_shape = (*batch, *out_features)
    raw, target = target, jnp.asarray(target)
    dtypes = [x.dtype, w.dtype] + [a.dtype for a in (bias, cw) if a is not None]
    y = t = None
    if target.shape == logits_shape:  # torch: probabilities iff shaped like the logits
        _errors.check_compatible(
            fn,
            ignore_index is None,
            f"ignore_index={ignore_index}",
            "cannot be specified when target contains class probabilities (target of the "
            f"logits' shape {fmt_shape(logits_shape)})",
            "leave it None",
        )
        t = _errors.floating_array(fn, "target (class probabilities)", target)
        dtypes.append(t.dtype)
    else:
        if not batch and target.shape == (1,):
            raw, target = target[0], target[0]  # torch: an unbatched input with a (1,) target
        _errors.index_target(
            fn,
            raw,
            target,
            expected=index_shape,
            probabilities=logits_shape,
            subject=f"input {fmt_shape(x.shape)} and linear_weight {fmt_shape(w.shape)} need",
        )
        _errors.check_class_indices(
            fn,
            target,
            num_classes if num_classes_total is None else num_classes_total,
            -100 if ignore_index is None else ignore_index,
        )
        if cw is not None:  # class indices: the weight in the logits' dtype, as torch
            _errors.check_weight_dtype(fn, cw, x.dtype, "the logits (input @ linear_weight.T)")
        y = target
    compute, out = _errors.compute_dtype(*dtypes)
    p = math.prod(out_features)
    n = batch[0] if batch else 1
    x2 = x.reshape(n, in_features)
    w3 = w.reshape(num_classes, p, in_features)
    bias2 = None if bias is None else bias.reshape(num_classes, p)
    if y is not None:
        y = y.reshape(n, p)
        y = _math.as_index(y)
    if t is not None:
        t = t.reshape(n, num_classes, p)
    return _Args(x2, w3, bias2, cw, y, t, batch, out_features, compute, out)


# --------------------------------------------------------------------------------------
# The loss
# --------------------------------------------------------------------------------------


def _varying(x: jax.Array, axis: str) -> jax.Array:
    """``x`` marked as varying over ``axis`` inside shard_map (no-op if it already is)."""
    return _with_vma(x, frozenset({axis}))


def _combine_shards(
    stats: _Stats, u_local_sum: jax.Array, ut_local_sum: jax.Array | None, axis: str
) -> _Stats:
    """Statistics of a vocabulary-sharded head: one max and a few sums per token."""
    # the shifts carry no gradient (see _chunked_stats_bwd)
    m = lax.pmax(lax.stop_gradient(stats.m), axis)
    r = jnp.where(m == -jnp.inf, jnp.zeros((), m.dtype), m)
    shift = lax.stop_gradient(stats.r) - r
    ls = jnp.log(lax.psum(jnp.exp(stats.ls + shift), axis))
    zy = None if stats.zy is None else lax.psum(stats.zy, axis)
    a = None if stats.a is None else lax.psum(stats.a + u_local_sum * shift, axis)
    b = None
    if stats.b is not None and ut_local_sum is not None:
        b = lax.psum(stats.b + ut_local_sum * shift, axis)
    return _Stats(m, r, ls, zy, a, b)


def linear_cross_entropy(
    input: ArrayLike,
    linear_weight: ArrayLike,
    target: ArrayLike,
    *,
    linear_bias: ArrayLike | None = None,
    weight: ArrayLike | None = None,
    reduction: str = "mean",
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    options: LinearCrossEntropyOptions | None = None,
    z_loss: float = 0.0,
    logit_softcap: float | None = None,
    return_lse: bool = False,
    precision: PrecisionLike = None,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    r"""Cross entropy of the logits ``input @ linear_weight.T + linear_bias``, never formed.

    Equals ``cross_entropy(logits, target, weight=weight, reduction=reduction,
    ignore_index=ignore_index, label_smoothing=label_smoothing)`` with the logits laid
    out as torch lays them: ``logits[n, c, d1..dK] = input[n] . linear_weight[c, d1..dK]
    + linear_bias[c, d1..dK]``. With ``logp = log_softmax(logits)`` over the classes and
    eps = ``label_smoothing``, the unreduced loss per token is

    * class indices ``y``: ``-(1 - eps) w[y] logp[y] - eps/C sum_c w_c logp_c``, 0 where
      ``y == ignore_index``; 'mean' divides by ``sum w[y]`` over non-ignored tokens;
    * class probabilities ``q``: ``-sum_c w_c ((1 - eps) q_c + eps/C) logp_c``; 'mean'
      divides by the number of tokens;

    plus, beyond torch, ``z_loss * lse**2`` per non-ignored token (``lse`` the
    log-sum-exp of the logits), reduced with the loss.

    Tokens and the vocabulary are processed in chunks (online log-sum-exp across
    vocabulary chunks) inside a ``jax.custom_vjp`` whose backward recomputes each chunk's
    logits, so neither pass holds the (tokens x classes) logits: memory is
    O(N D + C D + one chunk). For 'mean'/'sum' of class indices the chunks hold whole
    rows and the gradients are accumulated in the forward pass instead (three matmuls
    instead of four; the gradients are then stored from the forward to the backward).

    Args:
      input: (N, in_features) or (in_features,) floating inputs of the linear layer.
      linear_weight: (C, in_features), or (C, d1, ..., dK, in_features) for a
        K-dimensional loss (batched input only).
      target: class indices, (N,), () or (N, d1, ..., dK), any integer dtype; or class
        probabilities, floating, of the logits' shape (N, C, d1, ..., dK) or (C,).
      linear_bias: optional (C,) or (C, d1, ..., dK) bias. Default None.
      weight: optional (C,) rescaling weight per class. Default None.
      reduction: 'none' | 'mean' | 'sum'. Default 'mean'.
      ignore_index: index-target value that contributes neither loss nor gradient;
        None means -100 for class indices. Must stay None for class probabilities.
        Values outside [0, C) work (and are ignored) under jit too.
      label_smoothing: eps in [0, 1]; > 1 raises, < 0 counts as 0 (as in torch). May be
        traced (under jit a value > 1 gives nan).
        Default 0.0.
      options: :class:`LinearCrossEntropyOptions` (chunk sizes, ``dense=True``,
        ``vocab_axis``). None picks chunk sizes from the shapes, and the dense path for
        at most 2**22 logits (where chunking would save little memory and cost time).
      z_loss: not in torch. Weight of the auxiliary ``lse**2`` term (PaLM's z-loss).
        Default 0.0.
      logit_softcap: not in torch. If given, the logits become
        ``logit_softcap * tanh(logits / logit_softcap)`` before the softmax (Gemma 2).
        Default None.
      return_lse: not in torch. Also return the per-token log-sum-exp (of the capped
        logits), shaped like the unreduced loss. Default False.
      precision: not in torch's signature: the matmuls' precision, anything
        ``jax.lax.dot_general`` takes. None (default) is the user's
        ``jax_default_matmul_precision`` where set (a ``jax.default_matmul_precision``
        block or the config), else torch's default on every backend: float32/float64
        at full precision (``lax.Precision.HIGHEST``; torch's
        ``get_float32_matmul_precision() == 'highest'``), bfloat16/float16 operands as
        they are, accumulated in float32. ``'tensorfloat32'`` (torch's 'high',
        ``allow_tf32=True``) or ``'bfloat16'`` (torch's 'medium') trade float32
        accuracy for tensor-core/MXU speed.

    Returns:
      The loss, a scalar, or shaped like the target's class indices for
      ``reduction='none'``; with ``return_lse=True`` the pair ``(loss, lse)``.
      bfloat16/float16 ``input`` and weights enter the matmuls as they are (float32
      accumulation); the softmax statistics are float32; the loss and the gradients
      come back in the arguments' own dtypes.

    Shape:
      Input: (N, D) or (D,), D = in_features, N the number of tokens.
      Linear weight: (C, D) or (C, d1, ..., dK, D); C the number of classes.
      Target: (N,), () or (N, d1, ..., dK) class indices, or (N, C, d1, ..., dK) / (C,)
      class probabilities.
      Output: scalar; (N,), () or (N, d1, ..., dK) for reduction='none'.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> x = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> w = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
      >>> print(f"{jaxloss.linear_cross_entropy(x, w, jnp.array([0, 2])):.4f}")
      0.8620

    Matches torch.nn.functional.linear_cross_entropy, gradients included (w.r.t.
    input, linear_weight, linear_bias, weight and probability targets). Deliberate
    differences: ``options=None`` takes the chunked path once there are more than 2**22
    logits, and the dense path up to that (torch's None is always its dense reference;
    ask for dense with ``LinearCrossEntropyOptions(dense=True)``); every
    option -- label smoothing, K-dimensional heads, probability targets, K-dim bias,
    'none' -- runs chunked, where torch's chunked path falls back to dense for most;
    ``z_loss``, ``logit_softcap`` and ``return_lse`` are extras; integer targets of any
    width are accepted. A concrete out-of-range class index raises IndexError like
    torch; under jit the loss is nan instead. ``input``, ``linear_weight`` and
    ``linear_bias`` of different dtypes raise TypeError (torch: RuntimeError).
    """
    fn = _FN
    reduction = _errors.check_reduction(reduction, fn=fn)
    setup = _settings(fn, options, label_smoothing, logit_softcap, z_loss)
    w_shape = jnp.shape(linear_weight)
    c_total = None if not w_shape else w_shape[0] * setup.shards
    args = _check_args(input, linear_weight, target, linear_bias, weight, ignore_index, c_total)
    ct = args.compute
    eps = setup.eps
    if setup.eps_invalid is not None:  # jit: a traced label_smoothing > 1 gives nan
        eps = jnp.where(setup.eps_invalid, jnp.nan, eps).astype(ct)
    n, d = args.x.shape
    c, p = args.w.shape[:2]
    u = None if args.weight is None else args.weight.astype(ct)
    # The fused kernel needs whole rows of logits per chunk and a scalar loss.
    fusable = (
        args.y is not None
        and reduces(reduction)
        and p == 1
        and setup.axis is None
        and not return_lse
    )
    chunks = _chunk_sizes(setup.options, n, d, c, whole_rows=fusable)
    cfg = _Config(
        tn=0 if chunks is None else chunks[0],
        tv=0 if chunks is None else chunks[1],
        softcap=setup.softcap,
        need_zy=args.y is not None,
        need_a=setup.smoothing,
        compute=np.dtype(ct),
        operand=operand_dtype(args.x.dtype, ct),
        precision=resolve_precision(fn, precision, args.x.dtype),
    )
    index = None
    if args.y is not None:
        index = _index_terms(
            args.y,
            u,
            -100 if ignore_index is None else int(ignore_index),
            c,
            setup.shards,
            setup.axis,
            ct,
        )
    if fusable and chunks is not None and chunks[1] == c:
        assert index is not None
        loss = _fused_reduced(cfg, args, u, index, reduction, eps, setup, c * setup.shards)
        return loss.astype(args.out)

    stats, u_sum, ut = _statistics(cfg, args, u, index, setup.axis, dense=chunks is None)
    loss, total_weight = _token_loss(stats, index, u_sum, ut, eps, setup, c * setup.shards)
    shape = (*args.batch, *args.out_features)
    out = reduce_loss(loss.reshape(shape), reduction, total_weight=total_weight)
    out = out.astype(args.out)
    if return_lse:
        lse = lax.stop_gradient(stats.r) + stats.ls
        return out, lse.reshape(shape).astype(args.out)
    return out


# The phases of linear_cross_entropy: its settings, what class-index targets need that does
# not depend on the logits, the fused kernel's reduced loss, the per-token statistics of the
# logits (dense or chunked, over one head per position, combined over vocabulary shards),
# and the per-token loss built from them.


class _Setup(NamedTuple):
    """linear_cross_entropy's keyword settings, checked."""

    options: LinearCrossEntropyOptions
    eps: Any  # label smoothing: a float, or a traced value
    eps_invalid: jax.Array | None  # a traced label smoothing above 1
    smoothing: bool  # whether the smoothing term is computed (a traced eps may be > 0)
    softcap: float | None
    z_loss: float
    axis: str | None  # the mesh axis the vocabulary is sharded over
    shards: int


def _settings(
    fn: str,
    options: LinearCrossEntropyOptions | None,
    label_smoothing: Any,
    logit_softcap: float | None,
    z_loss: float,
) -> _Setup:
    if options is None:
        options = LinearCrossEntropyOptions()
    _errors.check_type(
        fn,
        "options",
        options,
        isinstance(options, LinearCrossEntropyOptions),
        "a jaxloss LinearCrossEntropyOptions or None",
    )
    eps, eps_invalid = _errors.label_smoothing(fn, label_smoothing)
    smoothing = not isinstance(eps, float) or eps > 0.0
    softcap = None if logit_softcap is None else float(logit_softcap)
    if softcap is not None:
        _errors.check_positive(fn, "logit_softcap", softcap)
    axis = options.vocab_axis
    shards = 1
    if axis is not None:
        hint = (
            "; call it inside jax.shard_map over that axis, or use "
            "vocab_parallel_linear_cross_entropy"
        )
        shards = _errors.mesh_axis_size(fn, "options.vocab_axis", axis, hint=hint)
    return _Setup(options, eps, eps_invalid, smoothing, softcap, float(z_loss), axis, shards)


class _IndexTerms(NamedTuple):
    """Class-index targets: what the loss needs from them before any logit exists."""

    y: jax.Array  # (N, P) class indices local to this vocabulary shard
    ignored: jax.Array  # target == ignore_index (torch checks it before the range)
    in_range: jax.Array  # 0 <= target < C (over every shard)
    w_y: jax.Array  # the class weight of each token's target, 0 where ignored
    total_weight: jax.Array  # sum of w_y: what 'mean' divides by


def _index_terms(
    y: jax.Array,
    u: jax.Array | None,
    ignore_index: int,
    c: int,
    shards: int,
    axis: str | None,
    ct: Any,
) -> _IndexTerms:
    offset = 0 if axis is None else lax.axis_index(axis) * c
    local = y - offset
    ignored = y == ignore_index
    in_range = (y >= 0) & (y < c * shards)
    if u is None:
        w_y = jnp.ones(y.shape, ct)
    else:
        hit = (local >= 0) & (local < c)
        w_y = jnp.where(hit, u[jnp.where(hit, local, 0)], 0)
        if axis is not None:
            w_y = lax.psum(w_y, axis)
    w_y = jnp.where(ignored, jnp.zeros((), ct), w_y)
    return _IndexTerms(local, ignored, in_range, w_y, jnp.sum(w_y))


def _fused_reduced(
    cfg: _Config,
    args: _Args,
    u: jax.Array | None,
    index: _IndexTerms,
    reduction: str,
    eps: Any,
    setup: _Setup,
    c_total: int,
) -> jax.Array:
    """The 'mean' or 'sum' of class-index targets by the fused kernel: the reduction is
    folded into each token's coefficients."""
    ct = cfg.compute
    scale = 1.0 / index.total_weight if averages(reduction) else 1.0
    keep = ~index.ignored[:, 0]
    zero = jnp.zeros((), ct)
    # jit: an out-of-range class gives nan, never a wrapped or clamped class
    alpha = jnp.where(keep, (1.0 - eps) * index.w_y[:, 0] * scale, zero)
    alpha = jnp.where(index.in_range[:, 0] | ~keep, alpha, jnp.nan)
    beta = jnp.where(keep, eps / c_total * scale, zero) if setup.smoothing else None
    zeta = jnp.where(keep, setup.z_loss * scale, zero) if setup.z_loss else None
    loss = _fused_loss(
        cfg,
        args.x,
        args.w[:, 0],
        None if args.bias is None else args.bias[:, 0],
        u,
        index.y[:, 0],
        alpha,
        beta,
        zeta,
    )
    if averages(reduction):
        loss = jnp.where(index.total_weight == 0, jnp.nan, loss)  # torch: 0 / 0
    return loss


def _statistics(
    cfg: _Config,
    args: _Args,
    u: jax.Array | None,
    index: _IndexTerms | None,
    axis: str | None,
    dense: bool,
) -> tuple[_Stats, jax.Array, jax.Array | None]:
    """Per-token statistics of the logits, shaped (N, P), combined over the shards; with
    ``sum_c u_c`` and, for probability targets, ``sum_c u_c q_c`` per token."""
    ct = cfg.compute
    stats_fn = _dense_stats if dense else _chunked_stats
    x = args.x
    if axis is not None:
        # the kernels' input cotangent varies over the shards (its psum is the gradient)
        x = _varying(x, axis)
    y = None if index is None else index.y

    def at(a: Any, j: Any, axis: int) -> Any:
        """Position j of a per-position array (None stays None)."""
        if a is None or isinstance(j, int):
            return a if a is None else lax.index_in_dim(a, j, axis, keepdims=False)
        return jnp.take(a, j, axis=axis)

    def position(j: Any) -> _Stats:
        return stats_fn(
            cfg, x, at(args.w, j, 1), at(args.bias, j, 1), u, at(y, j, 1), at(args.t, j, 2)
        )

    p = args.w.shape[1]
    if p == 1:
        stats = jax.tree.map(lambda s: s[:, None], position(0))
    else:  # K-dimensional: one head per position, one after another
        stats = jax.tree.map(lambda s: jnp.moveaxis(s, 0, 1), lax.map(position, jnp.arange(p)))
    c = args.w.shape[0]
    u_sum = jnp.asarray(c, ct) if u is None else jnp.sum(u)
    ut = None
    if args.t is not None:
        tt = args.t.astype(ct)
        ut = jnp.sum(tt if u is None else tt * u[None, :, None], axis=1)  # (N, P)
    if axis is not None:
        stats = _combine_shards(stats, u_sum, ut, axis)
        u_sum = lax.psum(u_sum, axis)
        ut = None if ut is None else lax.psum(ut, axis)
    return stats, u_sum, ut


def _smoothed(
    loss: jax.Array, ls: jax.Array, a: jax.Array | None, u_sum: Any, eps: Any, c_total: int
) -> jax.Array:
    """Label smoothing: ``(1 - eps) * loss + eps / C * (-sum_c u_c logp_c)``."""
    assert a is not None
    smooth = u_sum * ls - a  # -sum_c u_c logp_c
    return (1.0 - eps) * loss + (eps / c_total) * smooth


def _token_loss(
    stats: _Stats,
    index: _IndexTerms | None,
    u_sum: jax.Array,
    ut: jax.Array | None,
    eps: Any,
    setup: _Setup,
    c_total: int,
) -> tuple[jax.Array, Any]:
    """The unreduced (N, P) loss and what 'mean' divides by."""
    ct = stats.ls.dtype
    r = lax.stop_gradient(stats.r)
    ls = stats.ls
    lse = r + ls
    if index is not None:  # class indices
        assert stats.zy is not None
        nll = ls + (r - stats.zy)  # -logp[y], in torch's order of operations
        loss = index.w_y * nll
        if setup.smoothing:
            loss = _smoothed(loss, ls, stats.a, u_sum, eps, c_total)
        # jit: an out-of-range class gives nan, never a wrapped or clamped class
        loss = jnp.where(index.in_range, loss, jnp.nan)
        loss = jnp.where(index.ignored, jnp.zeros((), ct), loss)
        if setup.z_loss:
            z_term = setup.z_loss * lse * lse
            loss = loss + jnp.where(index.ignored, jnp.zeros((), ct), z_term)
        return loss, index.total_weight
    assert ut is not None and stats.b is not None
    loss = ut * ls - stats.b  # -sum_c u_c q_c logp_c
    if setup.smoothing:
        loss = _smoothed(loss, ls, stats.a, u_sum, eps, c_total)
    if setup.z_loss:
        loss = loss + setup.z_loss * lse * lse
    return loss, loss.size  # torch: 'mean' divides by the token count, even with a weight


def vocab_parallel_linear_cross_entropy(
    input: ArrayLike,
    linear_weight: ArrayLike,
    target: ArrayLike,
    *,
    mesh: jax.sharding.Mesh,
    axis: str,
    linear_bias: ArrayLike | None = None,
    weight: ArrayLike | None = None,
    reduction: str = "mean",
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    options: LinearCrossEntropyOptions | None = None,
    z_loss: float = 0.0,
    logit_softcap: float | None = None,
    return_lse: bool = False,
    precision: PrecisionLike = None,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    """:func:`linear_cross_entropy` with the classes sharded over a mesh axis.

    Not in torch. ``linear_weight`` (and ``linear_bias``, ``weight``, probability
    targets) are split along the class axis over ``mesh`` axis ``axis`` with
    ``jax.shard_map``; ``input`` and class-index targets are replicated. Each device
    reduces its slice of the vocabulary to per-token statistics, which are combined with
    one ``pmax`` and a few ``psum`` of (tokens,)-sized arrays: neither the logits nor
    ``linear_weight`` is ever gathered. The gradient w.r.t. ``input`` is one ``psum`` of
    an (N, in_features) array.

    Args:
      input, linear_weight, target, linear_bias, weight, reduction, ignore_index,
      label_smoothing, z_loss, logit_softcap, return_lse, precision: as in
        :func:`linear_cross_entropy` (``precision=None``: torch's matmul precision on every
        backend), with global (unsharded) shapes.
      mesh: the ``jax.sharding.Mesh``.
      axis: the name of the mesh axis the classes are split over; C must be a multiple
        of its size.
      options: chunk sizes for each device's slice; ``dense`` and ``vocab_axis`` are
        set here.

    Shape:
      As :func:`linear_cross_entropy`.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import jaxloss
      >>> mesh = jax.make_mesh((1,), ("model",))
      >>> x = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> w = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
      >>> loss = jaxloss.vocab_parallel_linear_cross_entropy(
      ...     x, w, jnp.array([0, 2]), mesh=mesh, axis="model"
      ... )
      >>> print(f"{loss:.4f}")
      0.8620

    Matches :func:`linear_cross_entropy` (and torch) within floating-point rounding.
    Within your own ``jax.shard_map`` call :func:`linear_cross_entropy` with
    ``options=LinearCrossEntropyOptions(vocab_axis=...)`` instead.
    """
    fn = "vocab_parallel_linear_cross_entropy"
    shards = _errors.mesh_axis_size(fn, "axis", axis, mesh)
    # check the global shapes (and a concrete target's class range) before splitting
    args = _check_args(input, linear_weight, target, linear_bias, weight, ignore_index)
    num_classes = args.w.shape[0]
    _errors.check_fits(
        fn,
        "linear_weight",
        args.w,
        num_classes % shards == 0,
        f"its C={num_classes} classes must be a multiple of mesh axis {axis!r}'s size {shards}",
    )
    options = dataclasses.replace(options or LinearCrossEntropyOptions(), vocab_axis=axis)
    spec = jax.sharding.PartitionSpec
    probabilities = args.t is not None
    target_spec = spec()
    if probabilities:
        target_spec = spec(axis) if not args.batch else spec(None, axis)
    names = ["input", "linear_weight", "target"]
    values: list[Any] = [input, linear_weight, target]
    specs: list[Any] = [spec(), spec(axis), target_spec]
    for name, value in (("linear_bias", linear_bias), ("weight", weight)):
        if value is not None:
            names.append(name)
            values.append(value)
            specs.append(spec(axis))

    def local(*arrays: jax.Array) -> Any:
        kw = dict(zip(names, arrays))
        return linear_cross_entropy(
            kw.pop("input"),
            kw.pop("linear_weight"),
            kw.pop("target"),
            **kw,
            reduction=reduction,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            options=options,
            z_loss=z_loss,
            logit_softcap=logit_softcap,
            return_lse=return_lse,
            precision=precision,
        )

    out_specs = (spec(), spec()) if return_lse else spec()
    # lay the arrays out as the specs say (required on a mesh of Explicit axes)
    values = [
        jax.device_put(jnp.asarray(v), jax.sharding.NamedSharding(mesh, s))
        for v, s in zip(values, specs)
    ]
    return jax.shard_map(local, mesh=mesh, in_specs=tuple(specs), out_specs=out_specs)(*values)
