"""Divergences between distributions: torch.nn.functional's kl_div."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
from jax.scipy.special import xlogy
from jax.typing import ArrayLike

from . import _errors, _promotion, _reduction
from ._reduction import reduce_loss

KL_REDUCTIONS = (*_reduction.REDUCTIONS, "batchmean")


def kl_div(
    input: ArrayLike,
    target: ArrayLike,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    log_target: bool = False,
) -> jax.Array:
    """Kullback-Leibler divergence KL(target || model) with ``input`` the model's log-probabilities.

    Unreduced: ``l = target (log(target) - input)`` (0 where target == 0), or
    ``l = exp(target) (target - input)`` when ``log_target``.

    Args:
      input: log-probabilities, any shape, floating point.
      target: probabilities (log-probabilities if ``log_target``), floating
        point, broadcastable with ``input``.
      size_average: deprecated, use ``reduction``.
      reduce: deprecated, use ``reduction``.
      reduction: 'none' | 'batchmean' | 'sum' | 'mean'. Default 'mean', which
        divides by every element and warns (as torch); 'batchmean' divides the
        sum by ``input.shape[0]`` and is the mathematical KL divergence.
        'elementwise_mean' (torch's deprecated alias of 'mean') warns and means 'mean'.
      log_target: whether ``target`` is given as log-probabilities. Default False.

    Shape:
      Input: (*). Target: (*), same shape (broadcastable). Output: scalar, or
      the broadcast shape for 'none'.

    Example:
      >>> import jax.numpy as jnp, jaxloss
      >>> logq = jnp.log(jnp.array([[0.5, 0.5]]))
      >>> p = jnp.array([[0.9, 0.1]])
      >>> print(f"{jaxloss.kl_div(logq, p, reduction='batchmean'):.4f}")
      0.3681

    Matches torch.nn.functional.kl_div, values and gradients: target == 0
    contributes 0 (torch uses xlogy; a naive ``t * log(t)`` gives nan), a
    negative target gives nan, and with the deprecated ``size_average`` /
    ``reduce`` flags plus reduction='batchmean' the legacy reduction is applied
    and then divided by ``input.shape[0]``, as torch does.
    """
    fn = "kl_div"
    legacy = size_average is not None or reduce is not None
    # torch: 'elementwise_mean' warns and means 'mean', without the 'mean' warning below
    resolved = _reduction.resolve_reduction_alias(
        size_average, reduce, reduction, KL_REDUCTIONS, fn=fn
    )
    if not legacy and reduction == "mean":
        # torch: UserWarning, 'mean' is not the KL divergence
        warnings.warn(
            "kl_div: reduction='mean' divides the total loss by both the batch size and the "
            "support size. 'batchmean' divides only by the batch size, and aligns with the KL "
            "div math definition. 'mean' will be changed to behave the same as 'batchmean' in "
            "the next major release.",
            UserWarning,
            stacklevel=2,
        )
    x = _errors.floating_array(fn, "input", input)
    # torch: "kl_div: Integral inputs not supported."
    y = _errors.floating_array(fn, "target", target)
    compute, out = _promotion.compute_dtype(x, y)
    xb, yb = _errors.broadcast(fn, input=x.astype(compute), target=y.astype(compute))
    if log_target:
        loss = jnp.exp(yb) * (yb - xb)
    else:
        # torch: xlogy(target, target) - target * input, so target == 0 gives 0, not nan
        loss = xlogy(yb, yb) - yb * xb
    batch = x.shape[0] if x.ndim != 0 else None  # torch: input.size(0), a 0-d input undivided
    result = reduce_loss(loss, resolved, batch_size=batch, fn=fn)
    if legacy and reduction == "batchmean" and batch is not None:
        # torch: the legacy flags' reduction, then still divided by input.size(0)
        result = result / batch
    return result.astype(out)
