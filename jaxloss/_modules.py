"""torch.nn-style loss classes: configuration plus a one-line call into the functional.

Every class is immutable. Array-valued settings (``weight``, ``pos_weight``) are
pytree leaves and everything else is static, so an instance can be closed over,
passed through ``jax.jit`` as an argument, or used as a static argument when it
holds no arrays (it is then hashable).
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
from jax.typing import ArrayLike

from . import functional as F
from ._errors import REDUCTIONS, legacy_reduction


class _Loss:
    """Base class: immutable settings, a torch-like repr, pytree registration."""

    _arrays: ClassVar[tuple[str, ...]] = ()  # settings that are arrays (pytree leaves)
    _reductions: ClassVar[tuple[str, ...]] = REDUCTIONS

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean") -> None:
        # torch: legacy flags are resolved once, at construction
        self._set(reduction=legacy_reduction(size_average, reduce, reduction))

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        jax.tree_util.register_pytree_with_keys(
            cls, cls._tree_flatten_with_keys, cls._tree_unflatten, cls._tree_flatten
        )

    def _set(self, **settings: Any) -> None:
        for name, value in settings.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(
            f"{type(self).__name__} is immutable; build a new one, e.g. "
            f"{type(self).__name__}({name}={value!r})"
        )

    # -- pytree ---------------------------------------------------------------
    def _static(self) -> tuple[tuple[str, Any], ...]:
        return tuple((k, v) for k, v in vars(self).items() if k not in self._arrays)

    def _tree_flatten(self):
        return [getattr(self, k) for k in self._arrays], self._static()

    def _tree_flatten_with_keys(self):
        children = [(jax.tree_util.GetAttrKey(k), getattr(self, k)) for k in self._arrays]
        return children, self._static()

    @classmethod
    def _tree_unflatten(cls, static, children):
        obj = object.__new__(cls)
        obj._set(**dict(static), **dict(zip(cls._arrays, children)))
        return obj

    # -- value semantics ------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        return self._static() == other._static() and all(
            getattr(self, k) is getattr(other, k) for k in self._arrays
        )

    def __hash__(self) -> int:
        return hash((type(self), self._static(), tuple(id(getattr(self, k)) for k in self._arrays)))

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{k}={v!r}" if k not in self._arrays else f"{k}=Array{tuple(v.shape)}"
            for k, v in vars(self).items()
            if v is not None and not (k == "reduction" and v == "mean")
        )
        return f"{type(self).__name__}({shown})"


class _WeightedLoss(_Loss):
    _arrays = ("weight",)

    def __init__(self, weight: ArrayLike | None = None, size_average=None, reduce=None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self._set(weight=weight)


# --- the lesson's losses ------------------------------------------------------
class L1Loss(_Loss):
    """torch.nn.L1Loss: ``L1Loss(reduction='sum')(input, target)``; see ``l1_loss``."""

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.l1_loss(input, target, reduction=self.reduction)


class MSELoss(_Loss):
    """torch.nn.MSELoss; see ``mse_loss``."""

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.mse_loss(input, target, reduction=self.reduction)


class NLLLoss(_WeightedLoss):
    """torch.nn.NLLLoss; see ``nll_loss``."""

    def __init__(self, weight: ArrayLike | None = None, size_average=None, ignore_index: int = -100,
                 reduce=None, reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self._set(ignore_index=ignore_index)

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    """torch.nn.CrossEntropyLoss; see ``cross_entropy``."""

    def __init__(self, weight: ArrayLike | None = None, size_average=None, ignore_index: int = -100,
                 reduce=None, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self._set(ignore_index=ignore_index, label_smoothing=label_smoothing)

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


# --- regression losses (issue 5) ----------------------------------------------


# --- binary and divergence losses (issue 5) -----------------------------------


# --- margin and embedding losses (issue 5) -------------------------------------


# --- sequence losses (issue 5) -------------------------------------------------
