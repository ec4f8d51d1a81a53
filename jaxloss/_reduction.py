"""The one reduction every loss hands its unreduced values to."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def reduce_loss(
    loss: jax.Array,
    reduction: str,
    *,
    total_weight: jax.Array | float | None = None,
) -> jax.Array:
    """Reduce an elementwise loss as torch does.

    Args:
      loss: the unreduced loss (any shape).
      reduction: 'none' returns ``loss``; 'sum' sums it (0 when empty); 'mean'
        averages it (nan when empty).
      total_weight: for 'mean', divide the sum by this instead of the element
        count (torch's weighted mean, e.g. the sum of the target classes'
        weights in cross_entropy, or N for kl_div's 'batchmean').
    """
    if reduction == "none":
        return loss
    if reduction == "sum":
        return jnp.sum(loss)
    if total_weight is None:
        return jnp.mean(loss)
    return jnp.sum(loss) / total_weight
