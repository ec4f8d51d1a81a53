"""Binary (per-element two-class) losses: torch.nn.functional's binary_cross_entropy,
binary_cross_entropy_with_logits, soft_margin_loss and multilabel_soft_margin_loss."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from . import _errors, _math
from ._errors import _fmt
from ._reduction import reduce_loss
from ._regression import broadcast_silently, check_broadcasts_to


def _same_shape(fn: str, input: jax.Array, target: jax.Array) -> None:
    if target.shape != input.shape:
        # torch: ValueError "Using a target size (...) that is different to the input size"
        raise ValueError(
            f"{fn}: target has shape {_fmt(target.shape)} but input has shape "
            f"{_fmt(input.shape)}; target must have input's shape"
        )


def _check_unit_interval(fn: str, name: str, x: jax.Array) -> None:
    """torch's value check, possible only when ``x`` is concrete (not under jit/grad)."""
    if not _errors.is_concrete(x) or x.size == 0:
        return
    ok = (x >= 0) & (x <= 1)  # false for nan, as torch's check
    if not bool(jnp.all(ok)):
        bad = x[~ok][0]
        # torch: RuntimeError "all elements of input should be between 0 and 1"
        raise ValueError(
            f"{fn}: all elements of {name} should be between 0 and 1, but it contains {bad}"
        )


def _optional_weight(fn: str, name: str, value, shape, dtypes: list) -> jax.Array | None:
    """An optional weight that must broadcast to input's ``shape``; its dtype joins ``dtypes``."""
    if value is None:
        return None
    w = _errors.real_array(fn, name, value)
    check_broadcasts_to(fn, name, w, shape, "input's shape")
    dtypes.append(w.dtype)
    return w


def binary_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """Binary cross entropy between probabilities ``input`` and ``target``.

    Unreduced: ``l = -w (y max(log p, -100) + (1 - y) max(log(1 - p), -100))``
    with ``p = input``, ``y = target``.

    Args:
      input: probabilities in [0, 1], any shape, floating point.
      target: floating point, input's shape, values in [0, 1].
      weight: optional rescaling weight that broadcasts to input's shape.
      size_average: deprecated, use ``reduction``.
      reduce: deprecated, use ``reduction``.
      reduction: 'none' | 'mean' | 'sum'. Default 'mean' (a plain mean, even with weight).

    Shape:
      Input: (*). Target: (*), same shape. Output: scalar, or (*) for 'none'.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> p = jnp.array([0.9, 0.2])
      >>> y = jnp.array([1.0, 0.0])
      >>> print(f"{jaxloss.binary_cross_entropy(p, y):.4f}")
      0.1643

    Matches torch.nn.functional.binary_cross_entropy, including torch's
    gradients ``(p - y) / max(p (1 - p), 1e-12)`` (so -1e12 at p = 0, y = 1,
    where differentiating the clamped log gives nan) and ``-logit(p)`` for the
    target. Deliberate differences: values of ``input``/``target`` outside
    [0, 1] raise ValueError (torch: RuntimeError), and only when they are
    concrete; under jit/grad they cannot be checked and give nan or garbage.
    """
    fn = "binary_cross_entropy"
    reduction = _errors.resolve_reduction(size_average, reduce, reduction)
    x = _errors.floating_array(fn, "input", input)
    y = _errors.floating_array(fn, "target", target)
    _same_shape(fn, x, y)
    _check_unit_interval(fn, "input", x)
    _check_unit_interval(fn, "target", y)
    dtypes = [x.dtype, y.dtype]
    # torch: weight.expand(broadcast(target, weight)), then loss.mul_(weight) in place
    w = _optional_weight(fn, "weight", weight, x.shape, dtypes)
    compute, out = _errors.compute_dtype(*dtypes)
    loss = _math.binary_cross_entropy(x.astype(compute), y.astype(compute))
    if weight is not None:
        loss = loss * w.astype(compute)
    return reduce_loss(loss, reduction).astype(out)


def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: ArrayLike | None = None,
) -> jax.Array:
    """Binary cross entropy on logits (sigmoid folded in, stable for any |x|).

    Unreduced: ``l = w ((1 - y) x - (1 + (pos_weight - 1) y) log_sigmoid(x))``,
    i.e. ``-w (pos_weight y log sigmoid(x) + (1 - y) log(1 - sigmoid(x)))``.

    Args:
      input: logits, any shape, floating point.
      target: floating point, input's shape; values outside [0, 1] are accepted.
      weight: optional rescaling weight that broadcasts to input's shape.
      size_average: deprecated, use ``reduction``.
      reduce: deprecated, use ``reduction``.
      reduction: 'none' | 'mean' | 'sum'. Default 'mean' (a plain mean).
      pos_weight: optional weight of the positive term; broadcasts to input's
        shape, so a (C,) ``pos_weight`` applies along the last dim.

    Shape:
      Input: (*). Target: (*), same shape. Pos_weight: e.g. (C,) for input (N, C).
      Output: scalar, or (*) for 'none'.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([2.0, -1.0])
      >>> y = jnp.array([1.0, 0.0])
      >>> print(f"{jaxloss.binary_cross_entropy_with_logits(x, y):.4f}")
      0.2201

    Matches torch.nn.functional.binary_cross_entropy_with_logits (torch 2.13
    computes ``(1 - y) x - log_weight * log_sigmoid(x)`` the same way).
    """
    fn = "binary_cross_entropy_with_logits"
    reduction = _errors.resolve_reduction(size_average, reduce, reduction)
    x = _errors.floating_array(fn, "input", input)
    y = _errors.floating_array(fn, "target", target)
    _same_shape(fn, x, y)
    dtypes = [x.dtype, y.dtype]
    w = _optional_weight(fn, "weight", weight, x.shape, dtypes)
    # torch: log_sigmoid(x).mul_(log_weight) in place, so it must broadcast to input's shape
    pw = _optional_weight(fn, "pos_weight", pos_weight, x.shape, dtypes)
    compute, out = _errors.compute_dtype(*dtypes)
    x, y = x.astype(compute), y.astype(compute)
    log_sig = _math.log_sigmoid(x)
    if pos_weight is not None:
        log_sig = log_sig * ((pw.astype(compute) - 1) * y + 1)
    loss = (1 - y) * x - log_sig
    if weight is not None:
        loss = loss * w.astype(compute)
    return reduce_loss(loss, reduction).astype(out)


def soft_margin_loss(
    input: ArrayLike,
    target: ArrayLike,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """Two-class logistic loss with targets in {-1, 1}.

    Unreduced: ``l = log(1 + exp(-target * input))``.

    Args:
      input: scores, any shape, floating point.
      target: usually +-1; must broadcast to input's shape.
      size_average: deprecated, use ``reduction``.
      reduce: deprecated, use ``reduction``.
      reduction: 'none' | 'mean' | 'sum'. Default 'mean'.

    Shape:
      Input: (*). Target: (*), same shape (or broadcastable to it).
      Output: scalar, or (*) for 'none'.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([2.0, -1.0])
      >>> y = jnp.array([1.0, -1.0])
      >>> print(f"{jaxloss.soft_margin_loss(x, y):.4f}")
      0.2201

    Matches torch.nn.functional.soft_margin_loss, deliberately including its
    overflow: torch evaluates ``log(1 + exp(-y x))`` literally, so in float32
    ``-y x`` above ~88.7 gives ``inf`` and a nan gradient (e.g. x = -100,
    y = 1), where a softplus would give 100 and gradient -1. Use
    ``binary_cross_entropy_with_logits`` with targets (y + 1) / 2 for a stable
    equivalent.
    """
    fn = "soft_margin_loss"
    reduction = _errors.resolve_reduction(size_average, reduce, reduction)
    x = _errors.floating_array(fn, "input", input)
    y = _errors.real_array(fn, "target", target)
    # torch: the output has input's shape; target broadcasts into it silently
    check_broadcasts_to(fn, "target", y, x.shape, "input's shape")
    compute, out = _errors.compute_dtype(x.dtype, y.dtype)
    x, y = x.astype(compute), y.astype(compute)
    # torch: log(1 + exp(-x * y)) literally (no softplus): inf and nan grad once exp overflows
    loss = _math.log_one_plus_exp(-x * y)
    return reduce_loss(loss, reduction).astype(out)


def multilabel_soft_margin_loss(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """One-versus-all logistic loss over C labels, averaged over the labels.

    Unreduced, per sample:
    ``l = -1/C sum_c w_c (y_c log_sigmoid(x_c) + (1 - y_c) log_sigmoid(-x_c))``.

    Args:
      input: scores, (N, C) or (C,), floating point; the last dim holds the labels.
      target: 0/1 labels (any real values are used as given), input's shape.
      weight: optional rescaling weight, e.g. (C,), broadcasting with input.
      size_average: deprecated, use ``reduction``.
      reduce: deprecated, use ``reduction``.
      reduction: 'none' | 'mean' | 'sum'. Default 'mean'.

    Shape:
      Input: (N, C) or (C,). Target: same shape. Output: scalar, or (N,)
      (() for unbatched input) for 'none'.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([[2.0, -1.0]])
      >>> y = jnp.array([[1.0, 0.0]])
      >>> print(f"{jaxloss.multilabel_soft_margin_loss(x, y):.4f}")
      0.2201

    Matches torch.nn.functional.multilabel_soft_margin_loss. Deliberate
    difference: a 0-d input raises ValueError (torch: IndexError).
    """
    fn = "multilabel_soft_margin_loss"
    reduction = _errors.resolve_reduction(size_average, reduce, reduction)
    x = _errors.floating_array(fn, "input", input)
    y = _errors.real_array(fn, "target", target)
    if x.ndim == 0:
        raise ValueError(
            f"{fn}: input has shape () but needs (C,) or (N, C), labels in the last dim"
        )
    arrays = dict(input=x, target=y)
    if weight is not None:
        arrays["weight"] = _errors.real_array(fn, "weight", weight)
    compute, out = _errors.compute_dtype(*(a.dtype for a in arrays.values()))
    arrays = broadcast_silently(fn, **{k: a.astype(compute) for k, a in arrays.items()})
    xb, yb = arrays[0], arrays[1]
    loss = -(yb * _math.log_sigmoid(xb) + (1 - yb) * _math.log_sigmoid(-xb))
    if weight is not None:
        loss = loss * arrays[2]
    # torch: class_dim = input.dim() - 1, counted from the front of the broadcast loss
    loss = jnp.sum(loss, axis=x.ndim - 1) / x.shape[-1]
    return reduce_loss(loss, reduction).astype(out)
