"""Connectionist temporal classification: torch.nn.functional.ctc_loss.

The forward pass is the alpha recursion of Graves et al. (2006), eq. (6)-(8), in
log space with ``jax.lax.scan`` over time, vectorised over the batch and the
2S+1 extended-label positions (blank, l_1, blank, l_2, ..., blank). Each
log-sum-exp is written the way torch's CPU kernel (aten/src/ATen/native/LossCTC.cpp)
writes it: shift by the max, shift by 0 when every term is -inf.

The derivative is torch's own backward formula (a ``jax.custom_jvp``), not the
autodiff of the recursion: torch returns, per frame t < input_length,

    d loss / d log_probs[t, n, c] = exp(log_probs[t, n, c]) - posterior[t, n, c]

where ``posterior`` sums alpha * beta / y over the extended positions labelled c.
The ``exp(log_probs)`` term is not part of the derivative of the returned value;
it sums to 1 over c when ``log_probs`` is normalised, so after a ``log_softmax``
it cancels and both give the same gradient w.r.t. the logits.
"""

from __future__ import annotations

import functools
import operator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from . import _derivatives, _errors, _promotion, _reduction
from ._reduction import reduce_loss

_FN = "ctc_loss"
_NEG_INF = -jnp.inf


# --- the recursions -------------------------------------------------------------
def _lse3(a: jax.Array, b: jax.Array, c: jax.Array) -> jax.Array:
    """log(e^a + e^b + e^c), max-shifted in torch's order; -inf (not nan) when all are -inf."""
    m = jnp.maximum(jnp.maximum(a, b), c)
    m = jnp.where(m == _NEG_INF, jnp.zeros((), m.dtype), m)  # torch: cannot do -inf - -inf
    total = jnp.exp(a - m) + jnp.exp(b - m) + jnp.exp(c - m)
    # log(0) = -inf as torch, but through a where, so that differentiating this (second
    # derivatives of the loss) gives 0, not inf * 0 = nan, for unreachable states
    empty = total == 0
    return jnp.where(empty, _NEG_INF, jnp.log(jnp.where(empty, 1, total)) + m)


def _shift(x: jax.Array, k: int, fill: Any) -> jax.Array:
    """``x`` moved k places along the last axis (k > 0: to higher s), ``fill`` let in."""
    n, length = x.shape
    pad = jnp.full((n, abs(k)), fill, x.dtype)
    if k > 0:
        return jnp.concatenate([pad, x], axis=1)[:, :length]
    return jnp.concatenate([x, pad], axis=1)[:, -k:]


def _alphas(lpe, skip, il, tl, keep: bool):
    """Forward variables. ``lpe`` is (T, N, L) = log_probs at each extended label.

    Returns alpha at t = input_length - 1 (N, L) and, with ``keep``, every alpha (T, N, L)
    (frozen after input_length - 1, where the backward masks them out).
    """
    s = jnp.arange(lpe.shape[2])[None]
    first = (s == 0) | ((s == 1) & (tl[:, None] > 0))
    alpha0 = jnp.where(first, lpe[0], _NEG_INF)

    def step(alpha, xs):
        t, lpe_t = xs
        la3 = jnp.where(skip, _shift(alpha, 2, _NEG_INF), _NEG_INF)
        new = _lse3(alpha, _shift(alpha, 1, _NEG_INF), la3) + lpe_t
        alpha = jnp.where((t < il)[:, None], new, alpha)
        return alpha, (alpha if keep else None)

    last, rest = jax.lax.scan(step, alpha0, (jnp.arange(1, lpe.shape[0]), lpe[1:]))
    return last, (jnp.concatenate([alpha0[None], rest]) if keep else None)


def _log_likelihood(last, il, tl):
    """log p(target | input) from the alphas at t = input_length - 1 (eq. 8)."""
    two_tl = (2 * tl)[:, None]
    l1 = jnp.take_along_axis(last, two_tl, axis=1)[:, 0]
    l2 = jnp.take_along_axis(last, jnp.maximum(two_tl - 1, 0), axis=1)[:, 0]
    l2 = jnp.where(tl > 0, l2, _NEG_INF)  # an empty target ends in the blank at s = 0 only
    log_likelihood = _lse3(l1, l2, jnp.full_like(l1, _NEG_INF))
    # torch: input length 0 gives likelihood 1 for an empty target, 0 otherwise
    empty = jnp.where(tl == 0, jnp.zeros((), last.dtype), _NEG_INF)
    return jnp.where(il == 0, empty, log_likelihood)


def _skips(ext: jax.Array) -> jax.Array:
    """Where the recursion may also come from s - 2: l'[s - 2] != l'[s] (never over a repeat)."""
    s = jnp.arange(ext.shape[1])[None]
    return (s > 1) & (ext != _shift(ext, 2, -1))


@jax.custom_jvp
def _nll(lp, ext, il, tl, invalid, zero_infinity):
    """Per-sample negative log-likelihood (N,), with torch's gradient w.r.t. ``lp``."""
    lpe = jnp.take_along_axis(lp, ext[None], axis=2)  # (T, N, L): log-prob of each l'_s
    last, _ = _alphas(lpe, _skips(ext), il, tl, keep=False)
    return jnp.where(invalid, jnp.nan, -_log_likelihood(last, il, tl))


@_nll.defjvp
def _nll_jvp(primals, tangents):
    lp, ext, il, tl, invalid, zero_infinity = primals
    num_t, n, _ = lp.shape
    length = ext.shape[1]
    lpe = jnp.take_along_axis(lp, ext[None], axis=2)
    # The backward variables (eq. 10-11) are the forward variables of the problem reversed
    # in time (t -> il - 1 - t) and in position (s -> 2 tl - s): torch's beta recursion term
    # for term. Both run in one scan over a batch of 2N.
    t_rev = jnp.clip(il[None] - 1 - jnp.arange(num_t)[:, None], 0, num_t - 1)[:, :, None]
    s_rev = jnp.clip(2 * tl[:, None] - jnp.arange(length)[None], 0, length - 1)[None]
    batch = jnp.arange(n)[None, :, None]
    ext_rev = jnp.take_along_axis(ext, s_rev[0], axis=1)
    last, alphas = _alphas(
        jnp.concatenate([lpe, lpe[t_rev, batch, s_rev]], axis=1),
        jnp.concatenate([_skips(ext), _skips(ext_rev)]),
        jnp.concatenate([il, il]),
        jnp.concatenate([tl, tl]),
        keep=True,
    )
    alphas, betas = alphas[:, :n], alphas[:, n:][t_rev, batch, s_rev]
    nll = jnp.where(invalid, jnp.nan, -_log_likelihood(last[:n], il, tl))
    grad = _torch_grad(lp, lpe, ext, alphas, betas, nll, il, tl, invalid, zero_infinity)
    # linear in the tangent, so reverse mode transposes it into cotangent * grad
    return nll, jnp.sum(grad * tangents[0], axis=(0, 2))


def _torch_grad(lp, lpe, ext, alphas, betas, nll, il, tl, invalid, zero_infinity):
    """torch's ctc_loss_backward for a unit cotangent: (T, N, C)."""
    num_t, n, c = lp.shape
    t = jnp.arange(num_t)[:, None, None]
    live = (jnp.arange(ext.shape[1])[None, None] <= 2 * tl[None, :, None]) & (t < il[None, :, None])
    nll_b = nll[None, :, None]
    # log posterior of each extended position, as torch orders it: (alpha + beta + nll) - lp
    log_post = jnp.where(live, alphas + betas + nll_b - lpe, _NEG_INF)
    post = (
        jnp.zeros(lp.shape, lp.dtype)
        .at[t, jnp.arange(n)[None, :, None], ext[None]]
        .add(jnp.exp(log_post))
    )
    # torch: a label absent from the target contributes exp(-inf + nll - lp), nan if nll = inf
    # or lp = -inf (as does a present one then)
    post = post + jnp.exp(_NEG_INF + nll_b - lp)
    grad = jnp.where(t < il[None, :, None], jnp.exp(lp) - post, jnp.zeros((), lp.dtype))
    # torch: zero_infinity zeroes the whole gradient of an infinite loss
    grad = jnp.where(zero_infinity & (nll_b == jnp.inf), jnp.zeros((), lp.dtype), grad)
    return jnp.where(invalid[None, :, None], jnp.nan, grad)


# --- argument handling ------------------------------------------------------------
# the two layouts of targets besides the padded one
_LAYOUTS = "(padded) or (sum(target_lengths),) (concatenated)"


def _lengths(name: str, value: Any, n: int, unbatched: bool) -> jax.Array:
    x = _errors.integer_array(
        _FN, name, value, " (lengths; torch: 'must be integral'), e.g. a tuple of ints"
    )
    need = (
        "() or (1,) for unbatched log_probs (T, C)"
        if unbatched
        else f"({n},), one per batch element"
    )
    _errors.check_layout(_FN, name, x, x.size == n and x.ndim <= 1, need)
    return x.reshape(n).astype(jnp.int32)


# the messages of the value checks, concrete (ValueError) and traced (checkify) alike
def _input_length_message(num_t: int) -> str:
    return (
        f"{_FN}: input_lengths[{{}}] = {{}} but each input length must lie in [0, {num_t}] "
        "(T = log_probs.shape[0])"
    )


_TARGET_LENGTH_MESSAGE = f"{_FN}: target_lengths[{{}}] = {{}} but lengths must be >= 0"


def _padded_length_message(n: int, width: int) -> str:
    return (
        f"{_FN}: target_lengths[{{}}] = {{}} exceeds the padded length S = {width} of targets "
        f"with shape ({n}, {width})"
    )


def _label_message(why: str, num_classes: int) -> str:
    return (
        f"{_FN}: target label {{}} (sample {{}}, position {{}}) {why}; labels must be "
        f"class indices in [0, C = {num_classes}) other than blank"
    )


def _check_lengths(il: np.ndarray | None, tl: np.ndarray | None, num_t: int) -> None:
    """torch's RuntimeErrors on concrete lengths, as ValueError."""
    if il is not None:
        bad = (il < 0) | (il > num_t)
        _errors.check_values(bad, _input_length_message(num_t), np.arange(il.size), il)
    if tl is not None:
        _errors.check_values(tl < 0, _TARGET_LENGTH_MESSAGE, np.arange(tl.size), tl)


def _target_width(targets: jax.Array, tl_np: np.ndarray | None, n: int, unbatched: bool) -> int:
    """Check ``targets``' layout against the batch; the padded width S the recursion uses."""
    if targets.ndim == 2:
        need = "(1, S)" if unbatched else f"({n}, S)"
        _errors.check_layout(_FN, "targets", targets, targets.shape[0] == n, f"{need} {_LAYOUTS}")
        if tl_np is not None:  # the longest target names the sample
            bad = np.arange(n) == np.argmax(tl_np)
            bad &= tl_np > targets.shape[1]
            message = _padded_length_message(n, targets.shape[1])
            _errors.check_values(bad, message, np.arange(n), tl_np)
        return targets.shape[1]
    _errors.check_layout(_FN, "targets", targets, targets.ndim == 1, f"(N, S) {_LAYOUTS}")
    if tl_np is None:
        return targets.shape[0]  # a traced length may be anything up to the total
    _errors.check_shape(
        _FN,
        "targets",
        targets,
        (int(tl_np.sum()),),
        " (concatenated targets: one label per unit of sum(target_lengths))",
    )
    return int(tl_np.max())


def _check_labels(targets: np.ndarray, tl_np: np.ndarray, blank: int, num_classes: int) -> None:
    """ValueError for a concrete label equal to blank or outside [0, C)."""
    offsets = np.cumsum(tl_np) - tl_np
    for b, length in enumerate(tl_np):
        if targets.ndim == 2:
            row = targets[b, :length]
        else:
            row = targets[offsets[b] : offsets[b] + length]
        bad = (row == blank) | (row < 0) | (row >= num_classes)
        if bad.any():
            v = int(row[np.argmax(bad)])
            why = f"equals blank={blank}" if v == blank else f"is outside [0, {num_classes - 1}]"
            positions = np.arange(row.size)
            samples = np.full(row.size, b)
            _errors.check_values(bad, _label_message(why, num_classes), row, samples, positions)


def _traced_checks(padded, il, tl, in_range, consistent, blank, num_t, num_classes, flat):
    """The concrete argument checks again, as checkify checks with the same messages
    (traced inside ``jaxloss.checked()`` only)."""
    n, width = padded.shape

    def check(bad, message, *values):  # ``values``: functions of the first bad sample b
        b = jnp.argmax(bad)
        _derivatives.traced_check(~jnp.any(bad), message, *(v(b) for v in values))

    check((il < 0) | (il > num_t), _input_length_message(num_t), lambda b: b, lambda b: il[b])
    check(tl < 0, _TARGET_LENGTH_MESSAGE, lambda b: b, lambda b: tl[b])
    if flat is None:
        check(tl > width, _padded_length_message(n, width), lambda b: b, lambda b: tl[b])
    else:
        _derivatives.traced_check(
            consistent,
            f"{_FN}: targets has shape ({flat},) but ({{}},) is required (concatenated "
            "targets: one label per unit of sum(target_lengths))",
            jnp.sum(tl),
        )
    if not width:
        return
    j = jnp.arange(width)[None]
    live = (j < tl[:, None]) & ~((il < 0) | (il > num_t) | (tl < 0))[:, None]
    for bad, why, extra in (
        (live & ~in_range, f"is outside [0, {num_classes - 1}]", ()),
        (live & in_range & (padded == blank), "equals blank={}", (blank,)),
    ):
        pos = jnp.argmax(bad.reshape(-1))
        b, k = pos // width, pos % width
        _derivatives.traced_check(
            ~jnp.any(bad),
            _label_message(why, num_classes),
            padded[b, k],
            b,
            k,
            *extra,
        )


@functools.partial(jax.jit, static_argnames="width")
def _ctc(x, targets, il, tl, blank, zero_infinity, reduced, *, width):
    """Per-sample losses (N,) from checked arguments: ``x`` (T, N, C) in the compute dtype.

    Only ``width`` is static, so one compilation serves every blank, reduction and
    zero_infinity for given shapes. ``reduced``: the losses will be summed, so an invalid
    sample poisons the whole gradient, not just its own.
    """
    num_t, n, num_classes = x.shape
    if targets.ndim == 1:  # concatenated: gather each sample's labels into a padded row
        total = targets.shape[0]
        consistent = jnp.sum(tl) == total
        if total == 0 or width == 0:
            padded = jnp.zeros((n, width), jnp.int32)
        else:
            idx = (jnp.cumsum(tl) - tl)[:, None] + jnp.arange(width)[None]
            padded = targets.astype(jnp.int32)[jnp.clip(idx, 0, total - 1)]
    else:
        padded, consistent = targets.astype(jnp.int32), jnp.ones((), bool)

    # traced arguments: anything invalid makes that sample's loss and gradient nan
    j = jnp.arange(width)[None]
    in_range = (padded >= 0) & (padded < num_classes)
    invalid = (
        (il < 0)
        | (il > num_t)
        | (tl < 0)
        | (tl > width)
        | jnp.any((j < tl[:, None]) & ~in_range, axis=1)
        | ~consistent
    )
    _traced_checks(
        padded,
        il,
        tl,
        in_range,
        consistent,
        blank,
        num_t,
        num_classes,
        targets.shape[0] if targets.ndim == 1 else None,
    )
    # jit: a nan gradient as well, for every sample once the losses are summed
    bad = jnp.where(reduced, jnp.any(invalid), invalid)
    x = _derivatives.poison_gradient(x, bad[None, :, None])
    il, tl_c = jnp.clip(il, 0, num_t), jnp.clip(tl, 0, width)

    # extended labels l' = (blank, l_1, blank, ..., l_S, blank); past 2 * S_n they are blank
    labels = jnp.where((j < tl_c[:, None]) & in_range, padded, blank)
    ext = jnp.full((n, 2 * width + 1), blank, jnp.int32).at[:, 1::2].set(labels)

    loss = _nll(x, ext, il, tl_c, invalid, zero_infinity)
    return jnp.where(zero_infinity & (loss == jnp.inf), jnp.zeros((), loss.dtype), loss)


def ctc_loss(
    log_probs: ArrayLike,
    targets: ArrayLike,
    input_lengths: ArrayLike,
    target_lengths: ArrayLike,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> jax.Array:
    r"""Connectionist temporal classification loss.

    Unreduced, for sample n with input length T_n and target l = (l_1, ..., l_{S_n}):
      ``loss_n = -log sum_{pi in B^{-1}(l)} prod_{t < T_n} exp(log_probs[t, n, pi_t])``
    over every alignment pi of length T_n that collapses to l once repeats are merged
    and blanks removed (Graves et al., 2006), computed by the alpha recursion in log
    space. An alignment that cannot exist (T_n too short, counting the blanks that
    separate repeated labels) gives ``inf``.
    'mean' is ``mean_n(loss_n / max(S_n, 1))``; 'sum' sums; 'none' returns (N,).

    Args:
      log_probs: log-probabilities over C classes (blank included), e.g. a
        ``log_softmax`` output; float32 or float64 (float16/bfloat16 compute in float32).
      targets: class indices, any integer dtype: padded (N, S) or the N targets
        concatenated, (sum(target_lengths),).
      input_lengths: (N,) integers (array, tuple or list), each in [0, T].
      target_lengths: (N,) integers (array, tuple or list), each >= 0 (<= S if padded).
      blank: the blank label, in [0, C). Default 0.
      reduction: 'none' | 'mean' | 'sum' ('elementwise_mean' warns and means
        'mean'). Default 'mean'.
      zero_infinity: replace infinite losses, and their gradients, by 0. Default False.

    Shape:
      Log_probs: (T, N, C) or unbatched (T, C); T frames, N the batch, C classes.
      Targets: (N, S) or (sum(target_lengths),); unbatched (S_1,) or (1, S).
      Input_lengths, Target_lengths: (N,); unbatched () or (1,).
      Output: scalar, or (N,) (unbatched ()) for reduction='none'.

    Example:
      >>> import jax, jax.numpy as jnp, jaxloss
      >>> logp = jax.nn.log_softmax(jnp.arange(12.0).reshape(4, 1, 3) % 5, axis=-1)
      >>> print(f"{jaxloss.ctc_loss(logp, jnp.array([[1, 2]]), (4,), (2,)):.4f}")
      0.7874

    Matches torch.nn.functional.ctc_loss, gradients included: the gradient w.r.t.
    ``log_probs`` is torch's ``exp(log_probs) - posterior`` (0 for t >= input_length),
    which equals the derivative of the loss up to a term that cancels through a
    ``log_softmax``; for un-normalised ``log_probs`` it is torch's number, not the
    derivative of the returned value. Impossible alignments give inf with nan
    gradients, a -inf log-probability a nan gradient at that entry, as in torch.
    Deliberate differences: concrete invalid arguments raise ValueError (torch:
    RuntimeError), and so do target labels equal to ``blank`` or outside [0, C)
    (torch computes with them or reads out of bounds); floating ``targets`` raise
    TypeError (torch truncates them); float16/bfloat16 work (torch's CPU kernel
    refuses them). Under ``jax.jit`` with traced lengths or targets, a sample with
    invalid lengths or out-of-range labels gives nan, and so does the gradient: the
    sample's for 'none', all of it for 'mean' and 'sum' (torch has no check: it reads
    out of bounds, or crashes); a traced label equal to ``blank`` computes as torch does.
    Inside ``jaxloss.checked()``, ``jax.experimental.checkify.checkify(f)`` raises each
    check's message above from inside jit instead (``err.throw()``).
    Concatenated targets with traced ``target_lengths`` pad to S = len(targets)
    (correct, slower). Second derivatives
    differentiate torch's gradient formula (torch has none); through a ``log_softmax``
    that is the exact Hessian w.r.t. the logits.
    """
    reduction = _reduction.resolve_reduction_alias(None, None, reduction, fn=_FN)
    x = _errors.floating_array(_FN, "log_probs", log_probs)
    _errors.check_layout(_FN, "log_probs", x, x.ndim in (2, 3), "(T, N, C) or unbatched (T, C)")
    unbatched = x.ndim == 2
    if unbatched:  # torch: unbatched input is a batch of one
        x = x[:, None, :]
    num_t, n, num_classes = x.shape
    accepted = "(T, N, C) with T, N, C >= 1"
    _errors.check_layout(_FN, "log_probs", x, x.size > 0, accepted, "; it must not be empty")
    blank = operator.index(blank)
    _errors.check_option(
        _FN,
        "blank",
        blank,
        0 <= blank < num_classes,
        f"a class of log_probs with C = {num_classes}",
        f"it must lie in [0, {num_classes - 1}] (torch: 'blank must be in label range')",
    )
    il = _lengths("input_lengths", input_lengths, n, unbatched)
    tl = _lengths("target_lengths", target_lengths, n, unbatched)
    tgt = _errors.integer_array(_FN, "targets", targets, " (class indices; torch truncates floats)")
    il_np, tl_np, tgt_np = map(_errors.concrete_values, (input_lengths, target_lengths, targets))
    il_np = None if il_np is None else il_np.reshape(n)
    tl_np = None if tl_np is None else tl_np.reshape(n)
    _check_lengths(il_np, tl_np, num_t)
    width = _target_width(tgt, tl_np, n, unbatched)
    if tgt_np is not None and tl_np is not None:
        _check_labels(tgt_np.reshape(tgt.shape), tl_np, blank, num_classes)
    compute, out = _promotion.compute_dtype(x.dtype)
    loss = _ctc(
        x.astype(compute),
        tgt.astype(jnp.int32),
        il,
        tl,
        jnp.int32(blank),
        jnp.bool_(zero_infinity),
        jnp.bool_(_reduction.reduces(reduction)),
        width=width,
    )
    if _reduction.averages(reduction):
        # torch: each loss is divided by its target length clamped to >= 1 before the mean
        loss = loss / jnp.maximum(tl, 1).astype(compute)
    elif unbatched and not _reduction.reduces(reduction):
        loss = loss[0]
    return reduce_loss(loss, reduction).astype(out)
