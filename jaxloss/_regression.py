"""Regression losses: torch.nn.functional's l1_loss and mse_loss (and friends)."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from . import _errors
from . import _math
from ._reduction import reduce_loss


def pointwise_loss(
    fn: str,
    elementwise: Callable[[jax.Array, jax.Array], jax.Array],
    input: ArrayLike,
    target: ArrayLike,
    reduction: str,
    weight: ArrayLike | None = None,
) -> jax.Array:
    """Shared body of the elementwise regression losses.

    Validates dtypes (floating ``input``; a numeric ``target`` is promoted),
    broadcasts like torch (warning on a size mismatch), applies torch 2.13's
    optional per-element ``weight`` (shape of ``input``; 'mean' becomes
    sum(w * l) / sum(w)) and reduces. ``reduction`` must already be resolved.
    """
    x = _errors.floating_array(fn, "input", input)
    y = _errors.real_array(fn, "target", target)
    dtypes = [x.dtype, y.dtype]
    if weight is not None:
        w = _errors.real_array(fn, "weight", weight)
        # torch: "Weights and input must have the same size."
        _errors.check_shape(fn, "weight", w, x.shape, " (the shape of input)")
        dtypes.append(w.dtype)
    compute, out = _errors.compute_dtype(*dtypes)
    x, y = _errors.broadcast_pair(fn, x.astype(compute), y.astype(compute))
    loss = elementwise(x, y)
    if weight is None:
        return reduce_loss(loss, reduction).astype(out)
    w = w.astype(compute)
    loss = loss * w
    return reduce_loss(loss, reduction, total_weight=jnp.sum(w)).astype(out)


def l1_loss(
    input: ArrayLike,
    target: ArrayLike,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: ArrayLike | None = None,
) -> jax.Array:
    """Mean absolute error.

    Unreduced: ``l_i = |input_i - target_i|`` (times ``weight_i`` when given).

    Args:
      input: predictions, any shape, floating point.
      target: same shape as ``input`` (other broadcastable shapes warn, then broadcast).
      size_average: deprecated, use ``reduction``.
      reduce: deprecated, use ``reduction``.
      reduction: 'none' | 'mean' | 'sum'. Default 'mean'.
      weight: optional per-element weight of ``input``'s shape; 'mean' is then
        sum(w * l) / sum(w).

    Shape:
      Input: (*), any number of dimensions. Target: (*), same shape.
      Output: scalar, or (*) for reduction='none'.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([1., 2., 3.]).reshape(1, 1, 1, 3)
      >>> y = jnp.array([1., 2., 5.]).reshape(1, 1, 1, 3)
      >>> print(f"{jaxloss.l1_loss(x, y):.4f}")
      0.6667

    Matches torch.nn.functional.l1_loss, including its gradient 0 where
    input == target (``jax.grad(jnp.abs)(0.)`` is 1). Deliberate difference:
    an integer ``input`` is refused with TypeError (torch refuses it for 'mean').
    """
    reduction = _errors.resolve_reduction(size_average, reduce, reduction)
    return pointwise_loss(
        "l1_loss", lambda x, y: _math.abs(x - y), input, target, reduction, weight
    )


def mse_loss(
    input: ArrayLike,
    target: ArrayLike,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: ArrayLike | None = None,
) -> jax.Array:
    """Mean squared error.

    Unreduced: ``l_i = (input_i - target_i)^2`` (times ``weight_i`` when given).

    Args:
      input: predictions, any shape, floating point.
      target: same shape as ``input`` (other broadcastable shapes warn, then broadcast).
      size_average: deprecated, use ``reduction``.
      reduce: deprecated, use ``reduction``.
      reduction: 'none' | 'mean' | 'sum'. Default 'mean'.
      weight: optional per-element weight of ``input``'s shape; 'mean' is then
        sum(w * l) / sum(w).

    Shape:
      Input: (*). Target: (*), same shape. Output: scalar, or (*) for 'none'.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> x = jnp.array([1., 2., 3.])
      >>> y = jnp.array([1., 2., 5.])
      >>> print(f"{jaxloss.mse_loss(x, y):.4f}")
      1.3333

    Matches torch.nn.functional.mse_loss. An integer ``input`` is refused with
    TypeError (torch raises NotImplementedError for Long).
    """
    reduction = _errors.resolve_reduction(size_average, reduce, reduction)
    return pointwise_loss("mse_loss", lambda x, y: jnp.square(x - y), input, target, reduction, weight)
