"""Detection losses: torchvision.ops' sigmoid_focal_loss and its generalized, distance and
complete box IoU losses."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from . import _errors, _math
from ._reduction import averages, check_torchvision_reduction, reduce_loss

_DEFAULT_EPS = 1e-7  # torchvision's eps default, also the one CIoU's inner DIoU term uses


def sigmoid_focal_loss(
    inputs: ArrayLike,
    targets: ArrayLike,
    alpha: float = 0.25,
    gamma: float = 2,
    reduction: str = "none",
) -> jax.Array:
    """Focal loss on logits (RetinaNet, https://arxiv.org/abs/1708.02002).

    Unreduced, with ``p = sigmoid(x)``, ``y = targets`` and ``ce`` the binary cross
    entropy on logits: ``p_t = p y + (1 - p)(1 - y)``,
    ``l = alpha_t * ce * (1 - p_t)^gamma``, ``alpha_t = alpha y + (1 - alpha)(1 - y)``
    (``alpha_t = 1`` for ``alpha = -1``).

    Args:
      inputs: logits, any shape, floating point.
      targets: floating point, the shape of ``inputs``; 0 for the negative class and 1
        for the positive one (soft labels in between are accepted).
      alpha: weight of the positive class in [0, 1], or -1 for no weighting. Default 0.25.
      gamma: exponent of the modulating factor ``(1 - p_t)``. Default 2.
      reduction: 'none' | 'mean' | 'sum'. Default 'none' (torchvision's default, not
        torch.nn's 'mean'); 'mean' of an empty input is nan.

    Shape:
      Inputs: (*), any number of dimensions. Targets: (*), same shape.
      Output: (*) for reduction='none', else scalar.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([2.0, -1.0])
      >>> y = jnp.array([1.0, 0.0])
      >>> print(f"{jaxloss.ops.sigmoid_focal_loss(x, y, reduction='mean'):.6f}")
      0.008722

    Matches torchvision.ops.sigmoid_focal_loss (torchvision 0.28), values and gradients
    of both arguments; the loss has the promoted dtype of ``inputs`` and ``targets``.
    ``alpha`` and ``gamma`` may also be 0-d arrays, traced under ``jax.jit``; an ``alpha``
    outside [0, 1] and not -1 raises torchvision's ValueError when its value is known.
    ``targets`` of another shape raise ValueError, as in torchvision. Deliberate
    difference: ``targets`` of an integer dtype raise TypeError (torch: RuntimeError).
    """
    fn = "sigmoid_focal_loss"
    _errors.check_real_number(fn, "alpha", alpha)
    _errors.check_real_number(fn, "gamma", gamma)
    a = _errors.check_focal_alpha(alpha)
    x = _errors.floating_array(fn, "inputs", inputs)
    y = _errors.floating_array(fn, "targets", targets)
    # torch: ValueError "Target size (...) must be the same as input size (...)"
    _errors.check_same_shape(fn, y, x, ("targets", "inputs"))
    reduction = check_torchvision_reduction(reduction)
    compute, out = _errors.compute_dtype(x, y)
    x, y = x.astype(compute), y.astype(compute)
    p = jax.nn.sigmoid(x)
    # torch 2.13's binary_cross_entropy_with_logits: (1 - y) x - log_sigmoid(x)
    ce_loss = (1 - y) * x - _math.log_sigmoid(x)
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if a is None:  # a traced alpha: torchvision's `if alpha >= 0` as a select
        alpha_t = alpha * y + (1 - alpha) * (1 - y)
        loss = jnp.where(jnp.asarray(alpha) >= 0, alpha_t * loss, loss)
    elif a >= 0:
        alpha_t = alpha * y + (1 - alpha) * (1 - y)
        loss = alpha_t * loss
    return reduce_loss(loss, reduction).astype(out)


# --- box IoU losses -------------------------------------------------------------------------
def _boxes(fn: str, boxes1: ArrayLike, boxes2: ArrayLike) -> tuple[jax.Array, jax.Array, Any]:
    """(boxes1, boxes2, the loss's dtype): boxes2 checked to broadcast to boxes1's shape,
    both upcast as torchvision does, in the dtype the loss is computed in."""
    b1 = _errors.boxes_array(fn, "boxes1", boxes1)
    b2 = _errors.boxes_array(fn, "boxes2", boxes2)
    # torchvision: the intersection is zeros_like(boxes1's x1) indexed by a mask of the
    # broadcast shape, so boxes2 may broadcast to boxes1's shape but not the other way
    _errors.check_broadcasts_to(fn, "boxes2", b2, b1.shape, "boxes1's shape")
    # torchvision: _upcast_non_float, every dtype but float32 and float64 becomes float32
    b1, b2 = (
        b if b.dtype in (jnp.float32, jnp.float64) else b.astype(jnp.float32) for b in (b1, b2)
    )
    # torch promotes the coordinates (boxes' shapes without the last dimension, shape-aware)
    compute, out = _errors.compute_dtype(
        jax.ShapeDtypeStruct(b1.shape[:-1], b1.dtype), jax.ShapeDtypeStruct(b2.shape[:-1], b2.dtype)
    )
    # not broadcast here: as in torch, each operation broadcasts (and its gradient sums)
    return b1.astype(compute), b2.astype(compute), out


def _eps(fn: str, eps: Any, dtype: Any) -> jax.Array:
    _errors.check_real_number(fn, "eps", eps)
    return jnp.asarray(eps, dtype)  # torch: a Python scalar takes the tensor's dtype


def _reduce_boxes(loss: jax.Array, reduction: str) -> jax.Array:
    if averages(reduction) and loss.size == 0:
        # torchvision: 0.0 * loss.sum() for an empty 'mean' (a plain mean would be nan)
        return 0.0 * reduce_loss(loss, "sum")
    return reduce_loss(loss, reduction)


def _inter_union(b1: jax.Array, b2: jax.Array) -> tuple[jax.Array, jax.Array]:
    """torchvision's _loss_inter_union: the boxes' intersection and union areas."""
    x1, y1, x2, y2 = jnp.unstack(b1, axis=-1)
    x1g, y1g, x2g, y2g = jnp.unstack(b2, axis=-1)
    xkis1 = _math.maximum(x1, x1g)
    ykis1 = _math.maximum(y1, y1g)
    xkis2 = _math.minimum(x2, x2g)
    ykis2 = _math.minimum(y2, y2g)
    mask = (ykis2 > ykis1) & (xkis2 > xkis1)
    # torchvision: intsctk[mask] = (xkis2 - xkis1) * (ykis2 - ykis1), 0 elsewhere; both
    # factors masked, so an unselected entry passes gradient 0 even for infinite coordinates
    zero = jnp.zeros((), b1.dtype)
    intsctk = jnp.where(mask, xkis2 - xkis1, zero) * jnp.where(mask, ykis2 - ykis1, zero)
    unionk = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - intsctk
    return intsctk, unionk


def _enclosing(b1: jax.Array, b2: jax.Array) -> tuple[jax.Array, ...]:
    """The smallest box enclosing both: (xc1, yc1, xc2, yc2)."""
    x1, y1, x2, y2 = jnp.unstack(b1, axis=-1)
    x1g, y1g, x2g, y2g = jnp.unstack(b2, axis=-1)
    return (
        _math.minimum(x1, x1g),
        _math.minimum(y1, y1g),
        _math.maximum(x2, x2g),
        _math.maximum(y2, y2g),
    )


def _diou_iou_loss(b1: jax.Array, b2: jax.Array, eps: jax.Array) -> tuple[jax.Array, jax.Array]:
    """torchvision's _diou_iou_loss: (the unreduced DIoU loss, the IoU)."""
    intsct, union = _inter_union(b1, b2)
    iou = _math.divide(intsct, union + eps)
    xc1, yc1, xc2, yc2 = _enclosing(b1, b2)
    diagonal_distance_squared = ((xc2 - xc1) ** 2) + ((yc2 - yc1) ** 2) + eps
    x1, y1, x2, y2 = jnp.unstack(b1, axis=-1)
    x1g, y1g, x2g, y2g = jnp.unstack(b2, axis=-1)
    x_p = (x2 + x1) / 2
    y_p = (y2 + y1) / 2
    x_g = (x1g + x2g) / 2
    y_g = (y1g + y2g) / 2
    centers_distance_squared = ((x_p - x_g) ** 2) + ((y_p - y_g) ** 2)
    loss = 1 - iou + _math.divide(centers_distance_squared, diagonal_distance_squared)
    return loss, iou


def generalized_box_iou_loss(
    boxes1: ArrayLike,
    boxes2: ArrayLike,
    reduction: str = "none",
    eps: float = 1e-7,
) -> jax.Array:
    """Generalized IoU loss (Rezatofighi et al., https://arxiv.org/abs/1902.09630).

    Unreduced, per pair of boxes with intersection ``I``, union ``U`` and smallest
    enclosing box of area ``C``: ``l = 1 - I / (U + eps) + (C - U) / (C + eps)``.
    Symmetric in its two arguments.

    Args:
      boxes1: boxes (x1, y1, x2, y2), shape (N, 4) or (4,) (any leading
        dimensions), meant with ``x1 < x2`` and ``y1 < y2`` (not checked: degenerate
        boxes give torchvision's numbers, nan and inf included). Floating, integer or
        bool; every dtype but float32 and float64 is upcast to float32, as torchvision.
      boxes2: boxes of the same shape (or one that broadcasts to boxes1's shape).
      reduction: 'none' | 'mean' | 'sum'. Default 'none'; 'mean' of no boxes is 0
        (torchvision's choice, with gradient 0), not nan.
      eps: added to both denominators. Default 1e-7.

    Shape:
      Boxes1: (*, 4), e.g. (N, 4) for N boxes. Boxes2: (*, 4), the same.
      Output: (*) for reduction='none', else scalar.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> b1 = jnp.array([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
      >>> b2 = jnp.array([[0.0, 1.0, 1.0, 2.0], [1.0, 1.0, 2.0, 2.0]])
      >>> print(jaxloss.ops.generalized_box_iou_loss(b1, b2))
      [1.  1.5]

    Matches torchvision.ops.generalized_box_iou_loss (torchvision 0.28), values and
    gradients of both arguments (torch's: a tie between coordinates splits the
    gradient of min/max in halves; no overlap passes none through the intersection).
    Deliberate differences: a last dimension other than 4 or shapes that do not
    broadcast raise ValueError naming the argument (torch: ValueError from unpacking,
    IndexError or RuntimeError); float32 (or integer) ``boxes1`` with float64 ``boxes2``
    give a float64 loss, where torchvision raises RuntimeError unless some pairs
    intersect and others do not.
    """
    fn = "generalized_box_iou_loss"
    reduction = check_torchvision_reduction(reduction)
    b1, b2, out = _boxes(fn, boxes1, boxes2)
    eps_ = _eps(fn, eps, b1.dtype)
    intsctk, unionk = _inter_union(b1, b2)
    iouk = _math.divide(intsctk, unionk + eps_)
    xc1, yc1, xc2, yc2 = _enclosing(b1, b2)
    area_c = (xc2 - xc1) * (yc2 - yc1)
    miouk = iouk - _math.divide(area_c - unionk, area_c + eps_)
    loss = 1 - miouk
    return _reduce_boxes(loss, reduction).astype(out)


def distance_box_iou_loss(
    boxes1: ArrayLike,
    boxes2: ArrayLike,
    reduction: str = "none",
    eps: float = 1e-7,
) -> jax.Array:
    """Distance IoU loss (Zheng et al., https://arxiv.org/abs/1911.08287).

    Unreduced, per pair of boxes with intersection ``I``, union ``U``, centers ``c1``,
    ``c2`` and smallest enclosing box of diagonal ``d``:
    ``l = 1 - I / (U + eps) + |c1 - c2|^2 / (d^2 + eps)``. Symmetric in its two
    arguments; for boxes with one center it is the IoU loss.

    Args:
      boxes1: boxes (x1, y1, x2, y2), shape (N, 4) or (4,) (any leading
        dimensions), meant with ``x1 < x2`` and ``y1 < y2`` (not checked: degenerate
        boxes give torchvision's numbers, nan and inf included). Floating, integer or
        bool; every dtype but float32 and float64 is upcast to float32, as torchvision.
      boxes2: boxes of the same shape (or one that broadcasts to boxes1's shape).
      reduction: 'none' | 'mean' | 'sum'. Default 'none'; 'mean' of no boxes is 0
        (torchvision's choice, with gradient 0), not nan.
      eps: added to both denominators. Default 1e-7.

    Shape:
      Boxes1: (*, 4), e.g. (N, 4) for N boxes. Boxes2: (*, 4), the same.
      Output: (*) for reduction='none', else scalar.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> b1 = jnp.array([-1.0, -1.0, 1.0, 1.0])
      >>> b2 = jnp.array([0.0, 0.0, 1.0, 1.0])
      >>> print(f"{jaxloss.ops.distance_box_iou_loss(b1, b2):.4f}")
      0.8125

    Matches torchvision.ops.distance_box_iou_loss (torchvision 0.28), values and
    gradients of both arguments. Deliberate differences: as generalized_box_iou_loss
    (bad shapes raise ValueError; float32 ``boxes1`` with float64 ``boxes2`` promote).
    """
    fn = "distance_box_iou_loss"
    reduction = check_torchvision_reduction(reduction)
    b1, b2, out = _boxes(fn, boxes1, boxes2)
    loss, _ = _diou_iou_loss(b1, b2, _eps(fn, eps, b1.dtype))
    return _reduce_boxes(loss, reduction).astype(out)


def complete_box_iou_loss(
    boxes1: ArrayLike,
    boxes2: ArrayLike,
    reduction: str = "none",
    eps: float = 1e-7,
) -> jax.Array:
    """Complete IoU loss (Zheng et al., https://arxiv.org/abs/1911.08287).

    Unreduced: the distance IoU loss (with its default eps, 1e-7) plus an aspect-ratio
    term, ``l = diou + a v`` with
    ``v = 4 / pi^2 (atan(w2 / h2) - atan(w1 / h1))^2`` and
    ``a = v / (1 - IoU + v + eps)``, ``a`` a constant for the gradient. Symmetric in its
    two arguments.

    Args:
      boxes1: boxes (x1, y1, x2, y2), shape (N, 4) or (4,) (any leading
        dimensions), meant with ``x1 < x2`` and ``y1 < y2`` (not checked: degenerate
        boxes give torchvision's numbers, nan and inf included). Floating, integer or
        bool; every dtype but float32 and float64 is upcast to float32, as torchvision.
      boxes2: boxes of the same shape (or one that broadcasts to boxes1's shape).
      reduction: 'none' | 'mean' | 'sum'. Default 'none'; 'mean' of no boxes is 0
        (torchvision's choice, with gradient 0), not nan.
      eps: added to the denominator of ``a`` only; the distance IoU term inside uses
        torchvision's default 1e-7 whatever ``eps`` is. Default 1e-7.

    Shape:
      Boxes1: (*, 4), e.g. (N, 4) for N boxes. Boxes2: (*, 4), the same.
      Output: (*) for reduction='none', else scalar.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> b1 = jnp.array([-1.0, -1.0, 1.0, 1.0])
      >>> b2 = jnp.array([0.0, 1.0, 1.0, 2.0])
      >>> print(f"{jaxloss.ops.complete_box_iou_loss(b1, b2):.4f}")
      1.1923

    Matches torchvision.ops.complete_box_iou_loss (torchvision 0.28), values and
    gradients of both arguments: ``a`` is computed without gradient
    (``jax.lax.stop_gradient``, torchvision's ``torch.no_grad()``). A box of height 0
    gives torchvision's inf or nan. Deliberate differences: as generalized_box_iou_loss
    (bad shapes raise ValueError; float32 ``boxes1`` with float64 ``boxes2`` promote).
    """
    fn = "complete_box_iou_loss"
    reduction = check_torchvision_reduction(reduction)
    b1, b2, out = _boxes(fn, boxes1, boxes2)
    eps_ = _eps(fn, eps, b1.dtype)
    # torchvision: _diou_iou_loss(boxes1, boxes2) without eps, so its default
    diou_loss, iou = _diou_iou_loss(b1, b2, jnp.asarray(_DEFAULT_EPS, b1.dtype))
    x1, y1, x2, y2 = jnp.unstack(b1, axis=-1)
    x1g, y1g, x2g, y2g = jnp.unstack(b2, axis=-1)
    w_pred = x2 - x1
    h_pred = y2 - y1
    w_gt = x2g - x1g
    h_gt = y2g - y1g
    atan_gt, atan_pred = (
        jnp.arctan(_math.divide(w_gt, h_gt)),
        jnp.arctan(_math.divide(w_pred, h_pred)),
    )
    v = (4 / (math.pi**2)) * jnp.square(atan_gt - atan_pred)
    # torchvision: computed under torch.no_grad()
    alpha = jax.lax.stop_gradient(v / (1 - iou + v + eps_))
    loss = diou_loss + alpha * v
    return _reduce_boxes(loss, reduction).astype(out)
