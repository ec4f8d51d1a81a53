"""Multi-class losses: torch.nn.functional's cross_entropy and nll_loss."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from . import _errors
from ._errors import _fmt
from ._reduction import reduce_loss


def _batched(fn: str, input: jax.Array) -> tuple[jax.Array, bool]:
    """(input with a batch axis, whether it was unbatched). Class axis is 1 after this."""
    if input.ndim == 0:
        raise ValueError(f"{fn}: input has shape () but needs (C,), (N, C) or (N, C, d1, ..., dK)")
    if input.ndim == 1:  # torch: unbatched (C,) input, class axis 0
        return input[None], True
    return input, False


def _index_target_shape(input_shape: tuple[int, ...], unbatched: bool) -> tuple[int, ...]:
    return () if unbatched else (input_shape[0],) + tuple(input_shape[2:])


def _check_weight(fn: str, weight: ArrayLike | None, num_classes: int) -> jax.Array | None:
    if weight is None:
        return None
    w = _errors.floating_array(fn, "weight", weight)
    # torch: "weight tensor should be defined either for all C classes or no classes"
    _errors.check_shape(
        fn, "weight", w, (num_classes,), f" (one weight per class, C={num_classes})"
    )
    return w


def _index_target(
    fn: str, input: jax.Array, target: ArrayLike, unbatched: bool, probabilities_ok: bool
) -> jax.Array:
    """Validate a class-index target against (batched) ``input``; returns it batched."""
    target = jnp.asarray(target)
    shape = (input.shape[1],) if unbatched else input.shape
    expected = _index_target_shape(input.shape[1:] if unbatched else input.shape, unbatched)
    if unbatched and target.shape == (1,):
        target = target[0]  # torch: a (C,) input with a (1,) target is a batch of one
    if not jnp.issubdtype(target.dtype, jnp.integer):
        hint = (
            f" (class indices), or a floating dtype with input's shape {_fmt(shape)} (class probabilities)"
            if probabilities_ok
            else " (class indices)"
        )
        raise TypeError(
            f"{fn}: target has dtype {target.dtype} and shape {_fmt(target.shape)}; "
            f"an integer dtype is required{hint}"
        )
    if target.shape != expected:
        hint = f" or {_fmt(shape)} for class probabilities" if probabilities_ok else ""
        raise ValueError(
            f"{fn}: target has shape {_fmt(target.shape)} but input {_fmt(shape)} "
            f"needs {_fmt(expected)} for class indices{hint}"
        )
    return target[None] if unbatched else target


def _nll_unreduced(
    scores: jax.Array,
    target: jax.Array,
    weight: jax.Array | None,
    ignore_index: int,
    label_smoothing: float = 0.0,
    log_normalizer: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Per-element loss and the per-element weight that 'mean' divides by.

    ``scores`` is (N, C, *d): log-probabilities, or logits when ``log_normalizer``
    (their logsumexp over C, shape (N, *d)) is given, so that
    ``logp = scores - log_normalizer`` is never materialised (as optax does).
    ``target`` is (N, *d) class indices. The loss is
    (1 - eps) * (-w[t] * logp[t]) + eps / C * (-sum_c w_c * logp_c); both terms
    share torch's denominator sum(w[t]) over non-ignored targets, so the weighted
    mean of the sum equals torch's sum of weighted means.
    """
    num_classes = scores.shape[1]
    t = target.astype(jnp.int32) if target.dtype.itemsize < 4 else target
    ignored = t == ignore_index  # torch checks ignore_index before the range
    in_range = (t >= 0) & (t < num_classes)
    safe_t = jnp.where(in_range, t, 0)
    picked = jnp.take_along_axis(scores, safe_t[:, None], axis=1)[:, 0]
    if log_normalizer is not None:
        picked = picked - log_normalizer
    w_t = jnp.ones((), scores.dtype) if weight is None else weight[safe_t]
    loss = -w_t * picked
    if label_smoothing > 0.0:
        logp = scores if log_normalizer is None else scores - log_normalizer[:, None]
        if weight is not None:
            logp = logp * weight.reshape((1, num_classes) + (1,) * (scores.ndim - 2))
        smooth = -jnp.sum(logp, axis=1)
        loss = (1.0 - label_smoothing) * loss + (label_smoothing / num_classes) * smooth
    # jit: an out-of-range class gives nan, never a wrapped or clamped class
    loss = jnp.where(in_range, loss, jnp.nan)
    loss = jnp.where(ignored, jnp.zeros((), loss.dtype), loss)
    w_t = jnp.broadcast_to(w_t, t.shape)
    return loss, jnp.where(ignored, jnp.zeros((), w_t.dtype), w_t)


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
      weight: optional (C,) rescaling weight per class.
      size_average: deprecated, use ``reduction``.
      ignore_index: target value that contributes neither loss nor weight. Default -100.
      reduce: deprecated, use ``reduction``.
      reduction: 'none' | 'mean' | 'sum'. Default 'mean'.

    Shape:
      Input: (C), (N, C) or (N, C, d1, ..., dK), C the number of classes, N the batch.
      Target: (), (N) or (N, d1, ..., dK). Output: scalar, or target's shape for 'none'.

    Example:
      >>> import jax, jax.numpy as jnp, jaxloss
      >>> logp = jax.nn.log_softmax(jnp.array([[0.1, 0.2, 0.3]]))
      >>> print(f"{jaxloss.nll_loss(logp, jnp.array([1])):.4f}")
      1.1019

    Matches torch.nn.functional.nll_loss. A concrete out-of-range target raises
    IndexError like torch; under jit the loss is nan instead.
    """
    fn = "nll_loss"
    reduction = _errors.resolve_reduction(size_average, reduce, reduction)
    x, unbatched = _batched(fn, _errors.floating_array(fn, "input", input))
    t = _index_target(fn, x, target, unbatched, probabilities_ok=False)
    compute, out = _errors.compute_dtype(
        x.dtype, *(() if weight is None else (jnp.asarray(weight).dtype,))
    )
    w = _check_weight(fn, weight, x.shape[1])
    _errors.check_class_indices(fn, t, x.shape[1], ignore_index)
    loss, w_t = _nll_unreduced(
        x.astype(compute), t, None if w is None else w.astype(compute), ignore_index
    )
    if unbatched:
        loss, w_t = loss[0], w_t[0]
    return reduce_loss(loss, reduction, total_weight=jnp.sum(w_t)).astype(out)


def cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
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
      weight: optional (C,) rescaling weight per class.
      size_average: deprecated, use ``reduction``.
      ignore_index: index target value that is ignored (index targets only; a
        non-negative value with probability targets raises, as in torch). Default -100.
      reduce: deprecated, use ``reduction``.
      reduction: 'none' | 'mean' | 'sum'. Default 'mean'.
      label_smoothing: eps in [0, 1]; > 1 raises, < 0 counts as 0 (as in torch).

    Shape:
      Input: (C), (N, C) or (N, C, d1, ..., dK), C classes on axis 1 (axis 0 unbatched).
      Target: (), (N) or (N, d1, ..., dK) class indices, or input's shape for probabilities.
      Output: scalar, or (), (N) or (N, d1, ..., dK) for reduction='none'.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([[0.1, 0.2, 0.3]])
      >>> print(f"{jaxloss.cross_entropy(x, jnp.array([1])):.4f}")
      1.1019

    Matches torch.nn.functional.cross_entropy, gradients included. A concrete
    out-of-range class index raises IndexError like torch; under jit it gives nan.
    """
    fn = "cross_entropy"
    reduction = _errors.resolve_reduction(size_average, reduce, reduction)
    if label_smoothing > 1.0:
        raise ValueError(
            f"{fn}: label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}"
        )
    label_smoothing = max(float(label_smoothing), 0.0)  # torch: < 0 acts as 0
    x = _errors.floating_array(fn, "input", input)
    target = jnp.asarray(target)
    dtypes = [x.dtype] + ([] if weight is None else [jnp.asarray(weight).dtype])

    if target.shape == x.shape and x.ndim > 0:  # class probabilities
        target = _errors.floating_array(fn, "target (class probabilities)", target)
        if ignore_index >= 0:
            raise ValueError(
                f"{fn}: ignore_index={ignore_index} is not supported for class-probability "
                "targets (floating target of input's shape); leave it at the default -100"
            )
        xb, unbatched = _batched(fn, x)
        w = _check_weight(fn, weight, xb.shape[1])
        compute, out = _errors.compute_dtype(*dtypes, target.dtype)
        xb = xb.astype(compute)
        num_classes = xb.shape[1]
        q = target.astype(compute)
        q = q[None] if unbatched else q
        if label_smoothing > 0.0:
            q = q * (1.0 - label_smoothing) + label_smoothing / num_classes
        logp = jax.nn.log_softmax(xb, axis=1)
        prod = logp * q
        if w is not None:
            prod = prod * w.astype(compute).reshape((1, num_classes) + (1,) * (xb.ndim - 2))
        loss = -jnp.sum(prod, axis=1)
        if unbatched:
            loss = loss[0]
        # torch: 'mean' divides by the sample count even with weight
        return reduce_loss(loss, reduction, total_weight=loss.size).astype(out)

    xb, unbatched = _batched(fn, x)
    t = _index_target(fn, xb, target, unbatched, probabilities_ok=True)
    w = _check_weight(fn, weight, xb.shape[1])
    _errors.check_class_indices(fn, t, xb.shape[1], ignore_index)
    compute, out = _errors.compute_dtype(*dtypes)
    xb = xb.astype(compute)
    loss, w_t = _nll_unreduced(
        xb,
        t,
        None if w is None else w.astype(compute),
        ignore_index,
        label_smoothing,
        log_normalizer=jax.nn.logsumexp(xb, axis=1),
    )
    if unbatched:
        loss, w_t = loss[0], w_t[0]
    return reduce_loss(loss, reduction, total_weight=jnp.sum(w_t)).astype(out)
