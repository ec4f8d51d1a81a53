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
class HingeEmbeddingLoss(_Loss):
    """torch.nn.HingeEmbeddingLoss; see ``hinge_embedding_loss``."""

    def __init__(self, margin: float = 1.0, size_average=None, reduce=None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self._set(margin=margin)

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.hinge_embedding_loss(input, target, margin=self.margin, reduction=self.reduction)


class MarginRankingLoss(_Loss):
    """torch.nn.MarginRankingLoss; see ``margin_ranking_loss``."""

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self._set(margin=margin)

    def __call__(self, input1: ArrayLike, input2: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.margin_ranking_loss(input1, input2, target, margin=self.margin,
                                     reduction=self.reduction)


class MultiMarginLoss(_WeightedLoss):
    """torch.nn.MultiMarginLoss; see ``multi_margin_loss``."""

    def __init__(self, p: int = 1, margin: float = 1.0, weight: ArrayLike | None = None,
                 size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        if p != 1 and p != 2:  # torch: checked at construction too
            raise ValueError(
                f"MultiMarginLoss: p must be 1 or 2 (only p == 1 and p == 2 supported), got {p!r}"
            )
        if weight is not None and jax.numpy.ndim(weight) != 1:
            raise ValueError(
                f"MultiMarginLoss: weight has shape {jax.numpy.shape(weight)} but must be one-dimensional"
            )
        self._set(p=p, margin=margin)

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.multi_margin_loss(input, target, p=self.p, margin=self.margin, weight=self.weight,
                                   reduction=self.reduction)


class MultiLabelMarginLoss(_Loss):
    """torch.nn.MultiLabelMarginLoss; see ``multilabel_margin_loss``."""

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.multilabel_margin_loss(input, target, reduction=self.reduction)


class CosineEmbeddingLoss(_Loss):
    """torch.nn.CosineEmbeddingLoss; see ``cosine_embedding_loss``."""

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self._set(margin=margin)

    def __call__(self, input1: ArrayLike, input2: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.cosine_embedding_loss(input1, input2, target, margin=self.margin,
                                       reduction=self.reduction)


class PairwiseDistance(_Loss):
    """torch.nn.PairwiseDistance (a distance, not a loss); see ``pairwise_distance``."""

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        self._set(norm=p, eps=eps, keepdim=keepdim)  # torch: the degree is stored as `norm`

    def __call__(self, x1: ArrayLike, x2: ArrayLike) -> jax.Array:
        return F.pairwise_distance(x1, x2, p=self.norm, eps=self.eps, keepdim=self.keepdim)


class TripletMarginLoss(_Loss):
    """torch.nn.TripletMarginLoss; see ``triplet_margin_loss``."""

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                 size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        if margin <= 0:  # torch: checked at construction too
            raise ValueError(
                f"TripletMarginLoss: expected margin to be greater than 0, got {margin} instead"
            )
        self._set(margin=margin, p=p, eps=eps, swap=swap)

    def __call__(self, anchor: ArrayLike, positive: ArrayLike, negative: ArrayLike) -> jax.Array:
        return F.triplet_margin_loss(anchor, positive, negative, margin=self.margin, p=self.p,
                                     eps=self.eps, swap=self.swap, reduction=self.reduction)


class TripletMarginWithDistanceLoss(_Loss):
    """torch.nn.TripletMarginWithDistanceLoss; see ``triplet_margin_with_distance_loss``."""

    def __init__(self, *, distance_function=None, margin: float = 1.0, swap: bool = False,
                 reduction: str = "mean") -> None:
        super().__init__(None, None, reduction)
        if margin <= 0:  # torch: checked at construction too
            raise ValueError(
                "TripletMarginWithDistanceLoss: expected margin to be greater than 0, "
                f"got {margin} instead"
            )
        # torch: None becomes a PairwiseDistance() module
        if distance_function is None:
            distance_function = PairwiseDistance()
        self._set(distance_function=distance_function, margin=margin, swap=swap)

    def __call__(self, anchor: ArrayLike, positive: ArrayLike, negative: ArrayLike) -> jax.Array:
        return F.triplet_margin_with_distance_loss(
            anchor, positive, negative, distance_function=self.distance_function,
            margin=self.margin, swap=self.swap, reduction=self.reduction)



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
