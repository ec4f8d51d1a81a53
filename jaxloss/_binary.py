"""Binary (per-element two-class) losses: torch.nn.functional's binary_cross_entropy,
binary_cross_entropy_with_logits, soft_margin_loss and multilabel_soft_margin_loss."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from . import _errors, _math, _promotion, _reduction
from ._reduction import reduce_loss


def _weight(fn: str, name: str, value: ArrayLike, shape: tuple[int, ...]) -> jax.Array:
    """A weight that must broadcast to input's ``shape``."""
    w = _errors.real_array(fn, name, value)
    _errors.check_broadcasts_to(fn, name, w, shape, "input's shape")
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
      input: probabilities in [0, 1], any shape, floating point; the loss has its dtype.
      target: floating point of input's dtype (as torch requires), input's shape,
        values in [0, 1].
      weight: optional rescaling weight that broadcasts to input's shape (any
        real dtype; it does not change the loss's dtype, as in torch).
      size_average: deprecated, use ``reduction``.
      reduce: deprecated, use ``reduction``.
      reduction: 'none' | 'mean' | 'sum' ('elementwise_mean' warns and means
        'mean'). Default 'mean' (a plain mean, even with weight).

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
    target. Input and target of different dtypes raise TypeError (torch:
    RuntimeError "Found dtype Float but expected Double"). Deliberate
    differences: values of ``input``/``target`` outside [0, 1] raise ValueError
    (torch: RuntimeError), and only when their values are known (also constants
    closed over by jit); traced arguments cannot be checked and give nan or garbage.
    """
    fn = "binary_cross_entropy"
    reduction = _reduction.resolve_reduction_alias(size_average, reduce, reduction, fn=fn)
    x = _errors.floating_array(fn, "input", input)
    y = _errors.floating_array(fn, "target", target)
    _errors.check_same_shape(fn, y, x)
    # torch: "Found dtype Float but expected Double"; no promotion between the two
    _errors.check_same_dtype(fn, "input", x, "target", y)
    _errors.check_unit_interval(fn, "input", input)
    _errors.check_unit_interval(fn, "target", target)
    if weight is None:
        compute, out = _promotion.compute_dtype(x.dtype)
        loss = _math.binary_cross_entropy(x.astype(compute), y.astype(compute))
        return reduce_loss(loss, reduction).astype(out)
    # torch: weight.expand(broadcast(target, weight)), then loss.mul_(weight) in place,
    # so the loss keeps input's dtype
    w = _weight(fn, "weight", weight, x.shape)
    compute, _ = _promotion.compute_dtype(x.dtype, w.dtype)
    loss = _math.binary_cross_entropy(x.astype(compute), y.astype(compute)) * w.astype(compute)
    return reduce_loss(loss, reduction).astype(x.dtype)


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
        The loss has target's dtype, as in torch (float64 logits with a float32
        target give a float32 loss; computed in the wider dtype).
      weight: optional rescaling weight that broadcasts to input's shape.
      size_average: deprecated, use ``reduction``.
      reduce: deprecated, use ``reduction``.
      reduction: 'none' | 'mean' | 'sum' ('elementwise_mean' warns and means
        'mean'). Default 'mean' (a plain mean).
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
    computes ``(1 - y) x - log_weight * log_sigmoid(x)`` the same way), dtype
    included: the loss has target's dtype (weights do not change it).
    """
    fn = "binary_cross_entropy_with_logits"
    reduction = _reduction.resolve_reduction_alias(size_average, reduce, reduction, fn=fn)
    x = _errors.floating_array(fn, "input", input)
    y = _errors.floating_array(fn, "target", target)
    _errors.check_same_shape(fn, y, x)
    w = None if weight is None else _weight(fn, "weight", weight, x.shape)
    # torch: log_sigmoid(x).mul_(log_weight) in place, so it must broadcast to input's shape
    pw = None if pos_weight is None else _weight(fn, "pos_weight", pos_weight, x.shape)
    dtypes = [a.dtype for a in (x, y, w, pw) if a is not None]
    compute, _ = _promotion.compute_dtype(*dtypes)
    out = y.dtype  # torch: (1 - target).mul_(input).sub_(...) stays in target's dtype
    x, y = x.astype(compute), y.astype(compute)
    log_sig = _math.log_sigmoid(x)
    if pw is not None:
        log_sig = log_sig * ((pw.astype(compute) - 1) * y + 1)
    loss = (1 - y) * x - log_sig
    if w is not None:
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

    Unreduced: ``l = log1p(exp(-target * input))``.

    Args:
      input: scores, any shape, floating point; the loss has its dtype (as torch).
      target: usually +-1; must broadcast to input's shape.
      size_average: deprecated, use ``reduction``.
      reduce: deprecated, use ``reduction``.
      reduction: 'none' | 'mean' | 'sum' ('elementwise_mean' warns and means
        'mean'). Default 'mean'.

    Shape:
      Input: (*). Target: (*), same shape (or broadcastable to it).
      Output: scalar, or (*) for 'none'.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([2.0, -1.0])
      >>> y = jnp.array([1.0, -1.0])
      >>> print(f"{jaxloss.soft_margin_loss(x, y):.4f}")
      0.2201

    Matches torch.nn.functional.soft_margin_loss: torch 2.13 evaluates
    ``log1p(exp(-y x))`` (accurate for large margins: x = 20, y = 1 gives
    2.061e-9 in float32, where ``log(1 + exp(-20))`` rounds to 0), deliberately
    including its overflow: in float32 ``-y x`` above ~88.7 gives ``inf`` and a
    nan gradient (e.g. x = -100, y = 1), where a softplus would give 100 and
    gradient -1. Use ``binary_cross_entropy_with_logits`` with targets
    (y + 1) / 2 for a stable equivalent.
    """
    fn = "soft_margin_loss"
    reduction = _reduction.resolve_reduction_alias(size_average, reduce, reduction, fn=fn)
    x = _errors.floating_array(fn, "input", input)
    y = _errors.real_array(fn, "target", target)
    # torch: the output has input's shape; target broadcasts into it silently
    _errors.check_broadcasts_to(fn, "target", y, x.shape, "input's shape")
    compute, _ = _promotion.compute_dtype(x.dtype, y.dtype)
    out = x.dtype  # torch: the output is allocated like input; target is cast into it
    x, y = x.astype(compute), y.astype(compute)
    # torch: exp_().log1p_() (no softplus): inf and nan grad once exp overflows
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
    reduction = _reduction.resolve_reduction(size_average, reduce, reduction, fn=fn)
    x = _errors.floating_array(fn, "input", input)
    y = _errors.real_array(fn, "target", target)
    _errors.check_layout(fn, "input", x, x.ndim > 0, "(C,) or (N, C), labels in the last dim")
    named: dict[str, Any] = dict(input=x, target=y)
    if weight is not None:
        named["weight"] = _errors.real_array(fn, "weight", weight)
    compute, out = _promotion.compute_dtype(*named.values())
    arrays = _errors.broadcast(fn, **{k: a.astype(compute) for k, a in named.items()})
    xb, yb = arrays[0], arrays[1]
    loss = -(yb * _math.log_sigmoid(xb) + (1 - yb) * _math.log_sigmoid(-xb))
    if weight is not None:
        loss = loss * arrays[2]
    # torch: class_dim = input.dim() - 1, counted from the front of the broadcast loss
    loss = jnp.sum(loss, axis=x.ndim - 1) / x.shape[-1]
    return reduce_loss(loss, reduction).astype(out)
