"""Reductions: the one table of reduction names, torch's legacy ``size_average``/``reduce``
flags, and the one ``reduce_loss`` every loss hands its unreduced values to.

As torch's ``torch/nn/_reduction.py``: a name the table does not hold raises, naming the
function (``get_enum`` raises too; a missing final branch would make it silently 'mean').
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

# the names most losses accept; kl_div adds 'batchmean'
REDUCTIONS = ("none", "mean", "sum")


class Reduction(NamedTuple):
    """One row of the table: how a name reduces an unreduced loss."""

    reduces: bool  # False: the loss comes back unreduced ('none')
    averages: bool  # True: the sum is divided by a count ('mean', 'batchmean')
    apply: Callable[[jax.Array, Any, Any], jax.Array]  # (loss, total_weight, batch_size)


def _mean(loss: jax.Array, total_weight: Any, batch_size: Any) -> jax.Array:
    # torch's weighted mean divides the sum by the weights' sum (cross_entropy, weighted mse)
    return jnp.mean(loss) if total_weight is None else jnp.sum(loss) / total_weight


def _batchmean(loss: jax.Array, total_weight: Any, batch_size: Any) -> jax.Array:
    # torch (kl_div): the sum divided by input.size(0); a 0-d input is not divided
    total = jnp.sum(loss)
    return total if batch_size is None else total / batch_size


TABLE: dict[str, Reduction] = {
    "none": Reduction(False, False, lambda loss, total_weight, batch_size: loss),
    "mean": Reduction(True, True, _mean),
    "sum": Reduction(True, False, lambda loss, total_weight, batch_size: jnp.sum(loss)),
    "batchmean": Reduction(True, True, _batchmean),
}


def check_reduction(
    reduction: Any, allowed: tuple[str, ...] = REDUCTIONS, *, fn: str | None = None
) -> str:
    """Return ``reduction`` or raise torch's ValueError, naming ``fn``, for an unknown one."""
    if not isinstance(reduction, str) or reduction not in allowed:
        names = [repr(a) for a in allowed]
        expected = ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]
        where = f"{fn}: " if fn else ""
        # torch: "<value> is not a valid value for reduction"
        raise ValueError(
            f"{where}{reduction} is not a valid value for reduction; expected {expected}"
        )
    return reduction


def check_torchvision_reduction(reduction: Any) -> str:
    """Return ``reduction`` or raise torchvision.ops' ValueError for a name the table's
    'none' | 'mean' | 'sum' lacks (its losses have their own message)."""
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        # torchvision 0.28's text, its quoting and line break included
        raise ValueError(
            f"Invalid Value for arg 'reduction': '{reduction} \n Supported reduction modes: "
            "'none', 'mean', 'sum'"
        )
    return reduction


def legacy_reduction(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """Map torch's deprecated ``size_average``/``reduce`` pair onto ``reduction``.

    Exactly torch's ``_Reduction.legacy_get_string``: either flag set overrides
    ``reduction``; None counts as True; (True, True) -> 'mean', (False, True) ->
    'sum', reduce=False -> 'none'.
    """
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        ret = "mean"
    elif reduce:
        ret = "sum"
    else:
        ret = "none"
    warnings.warn(
        f"size_average and reduce args will be deprecated, please use reduction='{ret}' instead.",
        DeprecationWarning,
        stacklevel=3,
    )
    return ret


def resolve_reduction(
    size_average: bool | None,
    reduce: bool | None,
    reduction: str,
    allowed: tuple[str, ...] = REDUCTIONS,
    *,
    fn: str | None = None,
) -> str:
    """Legacy flags first (as torch does), then validate the resulting string."""
    return check_reduction(legacy_reduction(size_average, reduce, reduction), allowed, fn=fn)


def resolve_reduction_alias(
    size_average: bool | None,
    reduce: bool | None,
    reduction: Any,
    allowed: tuple[str, ...] = REDUCTIONS,
    *,
    fn: str | None = None,
) -> str:
    """``resolve_reduction`` that also takes torch's deprecated alias 'elementwise_mean'.

    As torch's ``_Reduction.get_enum``: 'elementwise_mean' means 'mean' and warns
    (UserWarning). The legacy flags, when given, replace ``reduction`` first, so the
    alias is then never seen (as in torch).
    """
    if size_average is None and reduce is None and reduction == "elementwise_mean":
        # torch: UserWarning from _Reduction.get_enum
        warnings.warn(
            "reduction='elementwise_mean' is deprecated. Please use reduction='mean' instead.",
            UserWarning,
            stacklevel=3,
        )
        reduction = "mean"
    return resolve_reduction(size_average, reduce, reduction, allowed, fn=fn)


def lookup(reduction: Any, fn: str | None = None) -> Reduction:
    """The table's row for ``reduction``; ValueError naming ``fn`` for a name it lacks."""
    return TABLE[check_reduction(reduction, tuple(TABLE), fn=fn)]


def reduces(reduction: str) -> bool:
    """False for 'none' (the loss comes back elementwise), True for a reducing name."""
    return lookup(reduction).reduces


def averages(reduction: str) -> bool:
    """True where the reduction divides the sum by a count ('mean', 'batchmean')."""
    return lookup(reduction).averages


def reduce_loss(
    loss: jax.Array,
    reduction: str,
    *,
    total_weight: jax.Array | float | None = None,
    batch_size: int | None = None,
    fn: str | None = None,
) -> jax.Array:
    """Reduce an elementwise loss as torch does.

    Args:
      loss: the unreduced loss (any shape).
      reduction: a name of the table: 'none' returns ``loss``; 'sum' sums it (0 when
        empty); 'mean' averages it (nan when empty); 'batchmean' divides the sum by
        ``batch_size`` (kl_div). Any other name raises ValueError naming ``fn``.
      total_weight: for 'mean', divide the sum by this instead of the element
        count (torch's weighted mean, e.g. the sum of the target classes'
        weights in cross_entropy).
      batch_size: for 'batchmean', the divisor (input.shape[0]); None divides by nothing.
      fn: the loss's name, for the error message.
    """
    return lookup(reduction, fn).apply(loss, total_weight, batch_size)
