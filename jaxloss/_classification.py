"""Multi-class losses: torch.nn.functional's cross_entropy and nll_loss.

Class-index targets go through two small differentiation rules (``jax.custom_jvp``), which
give torch's gradients in one fused pass and stay differentiable to any order:

* ``_take_class``: ``x[n, t_n]``. The forward reads only the target elements; the tangent
  is a masked sum, so reverse mode writes the cotangent into the target positions with one
  select instead of a scatter-add.
* ``_log_softmax_terms``: ``log_softmax(x)[n, t_n]`` (and, for label smoothing,
  ``sum_c w_c log_softmax(x)[n, c]``) without materialising log_softmax, written as torch's
  kernel writes it: ``(x - max) - log(sum(exp(x - max)))`` with no guard for an infinite
  max, so that a row holding +inf or nan (or only -inf) has an all-nan log_softmax, value
  and gradient, as in torch.

Under jit a traced target cannot raise: an out-of-range class index gives a nan loss and a
nan gradient (``_derivatives.poison_gradient``), and, inside ``jaxloss.checked()``, a
``checkify`` check with torch's message.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero
from jax.typing import ArrayLike

from . import _derivatives, _errors, _math, _promotion, _reduction
from ._reduction import reduce_loss


# --- the differentiation rules ---------------------------------------------------------
def _class_ids(x: jax.Array) -> jax.Array:
    """0 .. C-1 along axis 1, broadcastable against ``x`` (N, C, *d)."""
    return jnp.arange(x.shape[1]).reshape((1, x.shape[1]) + (1,) * (x.ndim - 2))


def _per_class(w: jax.Array, x: jax.Array) -> jax.Array:
    """A (C,) vector shaped to broadcast against ``x`` (N, C, *d)."""
    return w.reshape((1, x.shape[1]) + (1,) * (x.ndim - 2))


def _take(x: jax.Array, t: jax.Array) -> jax.Array:
    return jnp.take_along_axis(x, t[:, None], axis=1)[:, 0]


def _masked_sum(x: jax.Array, t: jax.Array, tx: jax.Array) -> jax.Array:
    # == _take(tx, t), as a sum whose transpose is a select (no scatter-add)
    return jnp.sum(jnp.where(_class_ids(x) == t[:, None], tx, jnp.zeros((), tx.dtype)), axis=1)


@jax.custom_jvp
def _take_class(x: jax.Array, t: jax.Array) -> jax.Array:
    """``x[n, t_n, ...]``: (N, C, *d) values at (N, *d) in-range class indices."""
    return _take(x, t)


@_take_class.defjvp
def _take_class_jvp(primals, tangents):
    x, t = primals
    return _take(x, t), _masked_sum(x, t, tangents[0])


def _log_softmax_parts(x, t, w, smooth: bool):
    """The outputs of ``_log_softmax_terms`` and, for its derivative, exp(x - max), its sum
    and the max."""
    m = jax.lax.stop_gradient(jnp.max(x, axis=1, keepdims=True, initial=-jnp.inf))  # C may be 0
    # torch: no guard for an infinite max; a +inf or nan in the row makes it all nan
    e = jnp.exp(x - m)
    s = jnp.sum(e, axis=1, keepdims=True)
    log_s = jnp.log(s)
    logp_t = (_take(x, t) - m[:, 0]) - log_s[:, 0]
    if not smooth:
        return (logp_t,), e, s, m
    logp = (x - m) - log_s
    if w is not None:
        logp = logp * _per_class(w, x)
    return (logp_t, jnp.sum(logp, axis=1)), e, s, m


@functools.partial(jax.custom_jvp, nondiff_argnums=(3,))
def _log_softmax_terms(x, t, w, smooth: bool):
    """``(logp[n, t_n],)``, with ``smooth`` also ``sum_c w_c logp[n, c]`` (w = 1 when None),
    for ``logp = log_softmax(x)`` over axis 1; ``t`` in-range class indices."""
    return _log_softmax_parts(x, t, w, smooth)[0]


@functools.partial(_log_softmax_terms.defjvp, symbolic_zeros=True)
def _log_softmax_terms_jvp(smooth, primals, tangents):
    x, t, w = primals
    tx, _, tw = tangents
    out, e, s, m = _log_softmax_parts(x, t, w, smooth)
    zero = jnp.zeros_like(out[0])
    if type(tx) is SymbolicZero:
        d_t, d_lse = zero, zero
    else:
        # softmax from the exponentials the forward summed (not exp(log_softmax) again:
        # one pass fewer over (N, C)); nan throughout a row whose log_softmax is nan
        d_lse = jnp.sum((e / s) * tx, axis=1)
        d_t = _masked_sum(x, t, tx) - d_lse
    if not smooth:
        return out, (d_t,)
    if type(tx) is SymbolicZero:
        d_smooth = zero
    elif w is None:
        d_smooth = jnp.sum(tx, axis=1) - x.shape[1] * d_lse
    else:
        d_smooth = jnp.sum(tx * _per_class(w, x), axis=1) - jnp.sum(w) * d_lse
    if w is not None and type(tw) is not SymbolicZero:
        logp = (x - m) - jnp.log(s)
        d_smooth = d_smooth + jnp.sum(logp * _per_class(tw, x), axis=1)
    return out, (d_t, d_smooth)


# --- argument handling -----------------------------------------------------------------
def _batched(fn: str, input: jax.Array) -> tuple[jax.Array, bool]:
    """(input with a batch axis, whether it was unbatched). Class axis is 1 after this."""
    _errors.check_layout(fn, "input", input, input.ndim > 0, "(C,), (N, C) or (N, C, d1, ..., dK)")
    if input.ndim == 1:  # torch: unbatched (C,) input, class axis 0
        return input[None], True
    return input, False


def _weight(fn: str, weight: Any, x: jax.Array, same_dtype: bool) -> jax.Array | None:
    """The (C,) class weight for batched ``x``; with ``same_dtype`` it must have x's dtype."""
    if weight is None:
        return None
    if not hasattr(weight, "dtype"):  # a list or tuple: take input's dtype, as torch.tensor would
        weight = jnp.asarray(weight, x.dtype)
    w = _errors.floating_array(fn, "weight", weight)
    if same_dtype:  # torch's class-index kernels: "expected scalar type Float but found Half"
        _errors.check_weight_dtype(fn, w, x.dtype)
    # torch: "weight tensor should be defined either for all C classes or no classes"
    _errors.check_shape(fn, "weight", w, (x.shape[1],), f" (one weight per class, C={x.shape[1]})")
    return w


def _eps_per_class(eps: float | jax.Array, num_classes: int) -> float | jax.Array:
    """``eps / C``; for C = 0 inf (torch divides in double), not ZeroDivisionError."""
    if num_classes or not isinstance(eps, float):
        return eps / num_classes
    return float("inf")


def _poison(x: jax.Array, bad: jax.Array | None, reduction: str) -> jax.Array:
    """nan gradient: everywhere for a reduced loss, else for the bad elements' rows."""
    if bad is None:
        return x
    # the class axis inserted, so that unreduced a bad element poisons only its own row
    return _derivatives.poison_rows(x, bad[:, None] if bad.ndim else bad, reduction)


def _index_loss(
    fn: str,
    x: jax.Array,
    target: Any,
    weight: Any,
    ignore_index: int,
    reduction: str,
    eps: float | jax.Array,
    eps_invalid: jax.Array | None,
    *,
    logits: bool,
) -> jax.Array:
    """nll_loss (``logits=False``: x holds log-probabilities) or cross_entropy of class-index
    targets, reduced. The unreduced loss is
    (1 - eps) * (-w[t] * logp[t]) + eps / C * (-sum_c w_c * logp_c), 0 where t is ignored;
    'mean' divides by sum(w[t]) over non-ignored targets (both terms, as torch)."""
    xb, unbatched = _batched(fn, x)
    # torch 2.13 refuses label smoothing of a (C,) input with a (1,) target
    _errors.check_compatible(
        fn,
        not (unbatched and jnp.shape(target) == (1,) and isinstance(eps, float) and eps > 0),
        f"label_smoothing={eps}",
        "cannot be used with a (C,) input and a (1,) target: output with shape [] doesn't "
        "match the broadcast shape [1] (as torch)",
        "pass the target as a 0-d array",
    )
    t, raw = _errors.class_index_target(fn, xb, target, unbatched, probabilities_ok=logits)
    w = _weight(fn, weight, xb, same_dtype=True)
    num_classes = xb.shape[1]
    bad = _errors.out_of_range_classes(fn, raw, num_classes, ignore_index)
    if bad is not None and unbatched:
        bad = bad[None]
    if eps_invalid is not None:
        bad = eps_invalid if bad is None else bad | eps_invalid
    compute, out = _promotion.compute_dtype(xb.dtype)
    xb = _poison(xb.astype(compute), bad, reduction)
    w = None if w is None else w.astype(compute)
    if not isinstance(eps, float):
        eps = eps.astype(compute)
    t = _math.as_index(t)
    ignored = t == ignore_index  # torch checks ignore_index before the range
    safe_t = jnp.where(ignored if bad is None else ignored | bad, 0, t)
    smooth = not (isinstance(eps, float) and eps == 0.0)
    if logits:
        terms = _log_softmax_terms(xb, safe_t, w, smooth)
    else:
        terms = (_take_class(xb, safe_t),)
    w_t = jnp.ones((), compute) if w is None else w[safe_t]
    loss = -w_t * terms[0]
    if smooth:
        smoothed = (1 - eps) * loss + _eps_per_class(eps, num_classes) * -terms[1]
        # torch: label_smoothing 0 takes the plain path (no 0 * inf from a -inf logit)
        loss = smoothed if isinstance(eps, float) else jnp.where(eps > 0, smoothed, loss)
    if bad is not None:  # jit: an out-of-range class gives nan, never a wrapped or clamped class
        loss = jnp.where(bad, jnp.nan, loss)
    zero = jnp.zeros((), compute)
    loss = jnp.where(ignored, zero, loss)
    w_t = jnp.where(ignored, zero, jnp.broadcast_to(w_t, t.shape))
    if unbatched:
        loss, w_t = loss[0], w_t[0]
    total = jnp.sum(w_t)
    result = reduce_loss(loss, reduction, total_weight=total)
    if smooth and _reduction.averages(reduction):
        # torch divides its two terms apart: nll 0 / 0 = nan when the weights sum to 0 (the
        # smoothing term alone would give inf); a factor, so that the gradient is nan too
        result = result * jnp.where(total == 0, jnp.nan, 1.0).astype(result.dtype)
    if smooth and num_classes == 0:
        # torch: eps / C = inf times the (empty, 0) smoothing sum, after its reduction and
        # for ignored targets too: nan, even for 'sum' of an empty batch
        nan = jnp.full_like(result, jnp.nan)
        result = nan if isinstance(eps, float) else jnp.where(eps > 0, nan, result)
    return result.astype(out)


# --- the losses ------------------------------------------------------------------------
def nll_loss(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """Negative log-likelihood of class indices given log-probabilities.

    Unreduced: ``l_n = -weight[y_n] * input[n, y_n]``, 0 where ``y_n == ignore_index``.
    'mean' divides the sum by ``sum_n weight[y_n]`` over non-ignored targets
    (nan when every target is ignored; 'sum' gives 0 then).

    Args:
      input: log-probabilities, floating point.
      target: class indices in [0, C), any integer dtype.
      weight: optional (C,) rescaling weight per class, of input's dtype (as torch).
      size_average: deprecated, use ``reduction``.
      ignore_index: target value that contributes neither loss nor weight. Default -100.
      reduce: deprecated, use ``reduction``.
      reduction: 'none' | 'mean' | 'sum' ('elementwise_mean' warns and means
        'mean'). Default 'mean'.

    Shape:
      Input: (C), (N, C) or (N, C, d1, ..., dK), C the number of classes, N the batch.
      Target: (), (N) or (N, d1, ..., dK). Output: scalar, or target's shape for 'none'.

    Example:
      >>> import jax, jax.numpy as jnp, jaxloss
      >>> logp = jax.nn.log_softmax(jnp.array([[0.1, 0.2, 0.3]]))
      >>> print(f"{jaxloss.nll_loss(logp, jnp.array([1])):.4f}")
      1.1019

    Matches torch.nn.functional.nll_loss, gradients included; only the target elements
    are read. Errors as torch: a concrete out-of-range target raises IndexError
    ("Target 5 is out of bounds."); a ``weight`` of another dtype than ``input``
    raises TypeError; so does C = 0 with a non-empty target for 3-D or >= 5-D input
    (ValueError). Under ``jax.jit`` a traced out-of-range target gives nan, and a nan
    gradient: all of it for 'mean' and 'sum', the sample's row for 'none'; inside
    ``jaxloss.checked()``, ``jax.experimental.checkify.checkify(f)`` gets torch's message
    from inside jit instead (``err.throw()``).
    """
    fn = "nll_loss"
    reduction = _reduction.resolve_reduction_alias(size_average, reduce, reduction, fn=fn)
    x = _errors.floating_array(fn, "input", input)
    return _index_loss(fn, x, target, weight, ignore_index, reduction, 0.0, None, logits=False)


def cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float | ArrayLike = 0.0,
) -> jax.Array:
    """Cross entropy between logits and class indices or class probabilities.

    Index targets, unreduced:
      ``l_n = -(1-eps) * w[y_n] * logp[n, y_n] - eps/C * sum_c w_c * logp[n, c]``
      with ``logp = log_softmax(input)`` over the class axis; 0 where ignored.
      'mean' divides by ``sum_n w[y_n]`` over non-ignored targets.
    Probability targets ``p`` (input's shape), unreduced:
      ``l_n = -sum_c w_c * q[n, c] * logp[n, c]``, ``q = (1-eps) * p + eps/C``;
      'mean' divides by the number of samples N * d1 * ... * dK (not by weights).

    Args:
      input: unnormalised logits, floating point.
      target: class indices (any integer dtype) or class probabilities (floating,
        same shape as ``input``).
      weight: optional (C,) rescaling weight per class; of input's dtype for index
        targets (as torch), any floating dtype (promoted) for probabilities.
      size_average: deprecated, use ``reduction``.
      ignore_index: index target value that is ignored (index targets only; a
        non-negative value with probability targets raises, as in torch). Default -100.
      reduce: deprecated, use ``reduction``.
      reduction: 'none' | 'mean' | 'sum' ('elementwise_mean' warns and means
        'mean'). Default 'mean'.
      label_smoothing: eps in [0, 1]; > 1 raises, < 0 counts as 0 (as in torch). May be
        traced (a jit argument); a traced eps > 1 gives nan.

    Shape:
      Input: (C), (N, C) or (N, C, d1, ..., dK), C classes on axis 1 (axis 0 unbatched).
      Target: (), (N) or (N, d1, ..., dK) class indices, or input's shape for probabilities.
      Output: scalar, or (), (N) or (N, d1, ..., dK) for reduction='none'.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([[0.1, 0.2, 0.3]])
      >>> print(f"{jaxloss.cross_entropy(x, jnp.array([1])):.4f}")
      1.1019

    Matches torch.nn.functional.cross_entropy, gradients included, also at infinite
    logits: a row holding +inf (or nan) has a nan loss and an all-nan gradient row (even
    when its target is ignored), as torch's log_softmax gives. Errors as torch: a concrete
    out-of-range class index raises IndexError ("Target 5 is out of bounds."); an index
    target with a ``weight`` of another dtype than ``input`` raises TypeError. Under
    ``jax.jit`` a traced out-of-range class index (or traced label_smoothing > 1) gives
    nan, and a nan gradient: all of it for 'mean' and 'sum', the sample's row for 'none';
    inside ``jaxloss.checked()``, ``jax.experimental.checkify.checkify(f)`` gets torch's
    message from inside jit instead (``err.throw()``).
    """
    fn = "cross_entropy"
    reduction = _reduction.resolve_reduction_alias(size_average, reduce, reduction, fn=fn)
    eps, eps_invalid = _errors.label_smoothing(fn, label_smoothing)
    x = _errors.floating_array(fn, "input", input)
    t = jnp.asarray(target)
    if t.shape == x.shape and x.ndim > 0:
        return _probability_loss(fn, x, t, weight, ignore_index, reduction, eps, eps_invalid)
    return _index_loss(
        fn, x, target, weight, ignore_index, reduction, eps, eps_invalid, logits=True
    )


def _probability_loss(
    fn: str,
    x: jax.Array,
    target: jax.Array,
    weight: Any,
    ignore_index: int,
    reduction: str,
    eps: float | jax.Array,
    eps_invalid: jax.Array | None,
) -> jax.Array:
    target = _errors.floating_array(fn, "target (class probabilities)", target)
    _errors.check_compatible(
        fn,
        ignore_index < 0,
        f"ignore_index={ignore_index}",
        "is not supported for class-probability targets (floating target of input's shape)",
        "leave it at the default -100",
    )
    xb, unbatched = _batched(fn, x)
    w = _weight(fn, weight, xb, same_dtype=False)  # torch: promoted here
    dtypes = [xb.dtype, target.dtype] + ([] if w is None else [w.dtype])
    compute, out = _promotion.compute_dtype(*dtypes)
    xb = _poison(xb.astype(compute), eps_invalid, reduction)
    num_classes = xb.shape[1]
    if not isinstance(eps, float):
        eps = eps.astype(compute)
    q = target.astype(compute)
    q = q[None] if unbatched else q
    if not (isinstance(eps, float) and eps == 0.0):  # exactly q again at eps = 0
        q = q * (1 - eps) + _eps_per_class(eps, num_classes)
    logp = jax.nn.log_softmax(xb, axis=1)  # a +inf or nan in a row: all nan, as torch
    prod = logp * q
    if w is not None:
        prod = prod * _per_class(w.astype(compute), xb)
    loss = -jnp.sum(prod, axis=1)
    if eps_invalid is not None:
        loss = jnp.where(eps_invalid, jnp.nan, loss)
    if unbatched:
        loss = loss[0]
    # torch: 'mean' divides by the sample count even with weight (numel / C: nan for C = 0)
    count = loss.size if num_classes else float("nan")
    return reduce_loss(loss, reduction, total_weight=count).astype(out)
