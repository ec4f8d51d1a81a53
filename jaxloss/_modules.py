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
class SmoothL1Loss(_Loss):
    """torch.nn.SmoothL1Loss; see ``smooth_l1_loss``."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean",
                 beta: float = 1.0) -> None:
        super().__init__(size_average, reduce, reduction)
        self._set(beta=beta)

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """torch.nn.HuberLoss; see ``huber_loss``."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self._set(delta=delta)

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class PoissonNLLLoss(_Loss):
    """torch.nn.PoissonNLLLoss; see ``poisson_nll_loss``."""

    def __init__(self, log_input: bool = True, full: bool = False, size_average=None,
                 eps: float = 1e-8, reduce=None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self._set(log_input=log_input, full=full, eps=eps)

    def __call__(self, log_input: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.poisson_nll_loss(log_input, target, log_input=self.log_input, full=self.full,
                                  eps=self.eps, reduction=self.reduction)


class GaussianNLLLoss(_Loss):
    """torch.nn.GaussianNLLLoss; see ``gaussian_nll_loss``."""

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self._set(full=full, eps=eps)

    def __call__(self, input: ArrayLike, target: ArrayLike, var: ArrayLike | float) -> jax.Array:
        return F.gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps,
                                   reduction=self.reduction)


# --- binary and divergence losses (issue 5) -----------------------------------
class BCELoss(_WeightedLoss):
    """torch.nn.BCELoss; see ``binary_cross_entropy``."""

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """torch.nn.BCEWithLogitsLoss; see ``binary_cross_entropy_with_logits``."""

    _arrays = ("weight", "pos_weight")

    def __init__(self, weight: ArrayLike | None = None, size_average=None, reduce=None,
                 reduction: str = "mean", pos_weight: ArrayLike | None = None) -> None:
        super().__init__(size_average, reduce, reduction)
        self._set(weight=weight, pos_weight=pos_weight)

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class KLDivLoss(_Loss):
    """torch.nn.KLDivLoss; see ``kl_div``."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean",
                 log_target: bool = False) -> None:
        super().__init__(size_average, reduce, reduction)
        self._set(log_target=log_target)

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class SoftMarginLoss(_Loss):
    """torch.nn.SoftMarginLoss; see ``soft_margin_loss``."""

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.soft_margin_loss(input, target, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_WeightedLoss):
    """torch.nn.MultiLabelSoftMarginLoss; see ``multilabel_soft_margin_loss``."""

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.multilabel_soft_margin_loss(input, target, weight=self.weight,
                                             reduction=self.reduction)


# --- margin and embedding losses (issue 5) -------------------------------------


# --- sequence losses (issue 5) -------------------------------------------------
class CTCLoss(_Loss):
    """torch.nn.CTCLoss: ``CTCLoss(blank=0, reduction='mean', zero_infinity=False)``; see ``ctc_loss``."""

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False) -> None:
        super().__init__(reduction=reduction)
        self._set(blank=blank, zero_infinity=zero_infinity)

    def __call__(self, log_probs: ArrayLike, targets: ArrayLike, input_lengths: ArrayLike,
                 target_lengths: ArrayLike) -> jax.Array:
        return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=self.blank,
                          reduction=self.reduction, zero_infinity=self.zero_infinity)
