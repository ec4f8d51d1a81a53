"""torch.nn's loss classes: declared configuration plus a one-line call into the functional.

Each class declares its settings once, as annotated attributes (see ``_module.Module``);
immutability, the pytree structure, ``repr``, equality and hashing follow from that
declaration. Array settings (``weight``, ``pos_weight``) are pytree leaves; all others are
static. So an instance can be closed over, passed through ``jax.jit`` as an argument, or,
when it holds no arrays (it is then hashable), used as a static argument. ``__init__``
keeps torch's exact signature.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import jax
from jax.typing import ArrayLike

from . import _errors
from . import functional as F
from ._adaptive import AdaptiveLogSoftmaxWithLoss as AdaptiveLogSoftmaxWithLoss
from ._errors import legacy_reduction
from ._module import Module, array_field


class _Loss(Module):
    """torch.nn.modules.loss._Loss: a reduction, resolved from the legacy flags once."""

    reduction: str

    def __init__(
        self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean"
    ) -> None:
        # torch: legacy flags are resolved once, at construction
        self._set(reduction=legacy_reduction(size_average, reduce, reduction))


class _WeightedLoss(_Loss):
    weight: jax.Array | None = array_field()

    def __init__(
        self,
        weight: ArrayLike | None = None,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
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

    ignore_index: int

    def __init__(
        self,
        weight: ArrayLike | None = None,
        size_average: bool | None = None,
        ignore_index: int = -100,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self._set(ignore_index=ignore_index)

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.nll_loss(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
        )


class CrossEntropyLoss(_WeightedLoss):
    """torch.nn.CrossEntropyLoss; see ``cross_entropy``."""

    ignore_index: int
    label_smoothing: float

    def __init__(
        self,
        weight: ArrayLike | None = None,
        size_average: bool | None = None,
        ignore_index: int = -100,
        reduce: bool | None = None,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self._set(ignore_index=ignore_index, label_smoothing=label_smoothing)

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.cross_entropy(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )


_NLLLOSS2D_DEPRECATION = (
    "`NLLLoss2d` has been deprecated. Please use `NLLLoss` instead as a drop-in replacement "
    "and see https://pytorch.org/docs/main/nn.html#torch.nn.NLLLoss for more details."
)


class NLLLoss2d(NLLLoss):
    """torch.nn.NLLLoss2d, torch's deprecated alias of NLLLoss; see ``nll_loss``.

    Constructing one emits torch's FutureWarning (the same text); the loss is
    ``nll_loss`` with any input shape it takes, e.g. (N, C, H, W) with (N, H, W) targets.
    """

    def __init__(
        self,
        weight: ArrayLike | None = None,
        size_average: bool | None = None,
        ignore_index: int = -100,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        # torch: @deprecated(..., category=FutureWarning) on the class
        warnings.warn(_NLLLOSS2D_DEPRECATION, FutureWarning, stacklevel=2)
        super().__init__(weight, size_average, ignore_index, reduce, reduction)


# --- regression losses ----------------------------------------------
class SmoothL1Loss(_Loss):
    """torch.nn.SmoothL1Loss; see ``smooth_l1_loss``."""

    beta: float

    def __init__(
        self,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        beta: float = 1.0,
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self._set(beta=beta)

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """torch.nn.HuberLoss; see ``huber_loss``."""

    delta: float

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        _errors.check_real_number("HuberLoss", "delta", delta)  # torch: at construction
        self._set(delta=delta)

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class PoissonNLLLoss(_Loss):
    """torch.nn.PoissonNLLLoss; see ``poisson_nll_loss``."""

    log_input: bool
    full: bool
    eps: float

    def __init__(
        self,
        log_input: bool = True,
        full: bool = False,
        size_average: bool | None = None,
        eps: float = 1e-8,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self._set(log_input=log_input, full=full, eps=eps)

    def __call__(self, log_input: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.poisson_nll_loss(
            log_input,
            target,
            log_input=self.log_input,
            full=self.full,
            eps=self.eps,
            reduction=self.reduction,
        )


class GaussianNLLLoss(_Loss):
    """torch.nn.GaussianNLLLoss; see ``gaussian_nll_loss``."""

    full: bool
    eps: float

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self._set(full=full, eps=eps)

    def __call__(self, input: ArrayLike, target: ArrayLike, var: ArrayLike | float) -> jax.Array:
        return F.gaussian_nll_loss(
            input, target, var, full=self.full, eps=self.eps, reduction=self.reduction
        )


# --- binary and divergence losses -----------------------------------
class BCELoss(_WeightedLoss):
    """torch.nn.BCELoss; see ``binary_cross_entropy``."""

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """torch.nn.BCEWithLogitsLoss; see ``binary_cross_entropy_with_logits``."""

    weight: jax.Array | None = array_field()
    pos_weight: jax.Array | None = array_field()

    def __init__(
        self,
        weight: ArrayLike | None = None,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        pos_weight: ArrayLike | None = None,
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self._set(weight=weight, pos_weight=pos_weight)

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.binary_cross_entropy_with_logits(
            input, target, weight=self.weight, reduction=self.reduction, pos_weight=self.pos_weight
        )


class KLDivLoss(_Loss):
    """torch.nn.KLDivLoss; see ``kl_div``."""

    log_target: bool

    def __init__(
        self,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        log_target: bool = False,
    ) -> None:
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
        return F.multilabel_soft_margin_loss(
            input, target, weight=self.weight, reduction=self.reduction
        )


# --- margin and embedding losses -------------------------------------
class HingeEmbeddingLoss(_Loss):
    """torch.nn.HingeEmbeddingLoss; see ``hinge_embedding_loss``."""

    margin: float

    def __init__(
        self,
        margin: float = 1.0,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self._set(margin=margin)

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.hinge_embedding_loss(input, target, margin=self.margin, reduction=self.reduction)


class MarginRankingLoss(_Loss):
    """torch.nn.MarginRankingLoss; see ``margin_ranking_loss``."""

    margin: float

    def __init__(
        self,
        margin: float = 0.0,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self._set(margin=margin)

    def __call__(self, input1: ArrayLike, input2: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.margin_ranking_loss(
            input1, input2, target, margin=self.margin, reduction=self.reduction
        )


class MultiMarginLoss(_WeightedLoss):
    """torch.nn.MultiMarginLoss; see ``multi_margin_loss``."""

    p: int
    margin: float

    def __init__(
        self,
        p: int = 1,
        margin: float = 1.0,
        weight: ArrayLike | None = None,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        # torch: checked at construction too, with the functional's checks
        _errors.check_choice("MultiMarginLoss", "p", p, (1, 2))
        if weight is not None:
            _errors.check_ndim("MultiMarginLoss", "weight", weight, 1)
        self._set(p=p, margin=margin)

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.multi_margin_loss(
            input,
            target,
            p=self.p,
            margin=self.margin,
            weight=self.weight,
            reduction=self.reduction,
        )


class MultiLabelMarginLoss(_Loss):
    """torch.nn.MultiLabelMarginLoss; see ``multilabel_margin_loss``."""

    def __call__(self, input: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.multilabel_margin_loss(input, target, reduction=self.reduction)


class CosineEmbeddingLoss(_Loss):
    """torch.nn.CosineEmbeddingLoss; see ``cosine_embedding_loss``."""

    margin: float

    def __init__(
        self,
        margin: float = 0.0,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self._set(margin=margin)

    def __call__(self, input1: ArrayLike, input2: ArrayLike, target: ArrayLike) -> jax.Array:
        return F.cosine_embedding_loss(
            input1, input2, target, margin=self.margin, reduction=self.reduction
        )


class PairwiseDistance(Module):
    """torch.nn.PairwiseDistance (a distance, not a loss); see ``pairwise_distance``."""

    norm: float  # torch: the degree p is stored as `norm`
    eps: float
    keepdim: bool

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        self._set(norm=p, eps=eps, keepdim=keepdim)

    def __call__(self, x1: ArrayLike, x2: ArrayLike) -> jax.Array:
        return F.pairwise_distance(x1, x2, p=self.norm, eps=self.eps, keepdim=self.keepdim)


class TripletMarginLoss(_Loss):
    """torch.nn.TripletMarginLoss; see ``triplet_margin_loss``."""

    margin: float
    p: float
    eps: float
    swap: bool

    def __init__(
        self,
        margin: float = 1.0,
        p: float = 2.0,
        eps: float = 1e-6,
        swap: bool = False,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        _errors.check_positive("TripletMarginLoss", "margin", margin)  # torch: here too
        self._set(margin=margin, p=p, eps=eps, swap=swap)

    def __call__(self, anchor: ArrayLike, positive: ArrayLike, negative: ArrayLike) -> jax.Array:
        return F.triplet_margin_loss(
            anchor,
            positive,
            negative,
            margin=self.margin,
            p=self.p,
            eps=self.eps,
            swap=self.swap,
            reduction=self.reduction,
        )


class TripletMarginWithDistanceLoss(_Loss):
    """torch.nn.TripletMarginWithDistanceLoss; see ``triplet_margin_with_distance_loss``."""

    distance_function: Callable[[jax.Array, jax.Array], jax.Array]
    margin: float
    swap: bool

    def __init__(
        self,
        *,
        distance_function: Callable[[jax.Array, jax.Array], jax.Array] | None = None,
        margin: float = 1.0,
        swap: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(None, None, reduction)
        _errors.check_positive("TripletMarginWithDistanceLoss", "margin", margin)  # torch: here too
        # torch: None becomes a PairwiseDistance() module
        if distance_function is None:
            distance_function = PairwiseDistance()
        self._set(distance_function=distance_function, margin=margin, swap=swap)

    def __call__(self, anchor: ArrayLike, positive: ArrayLike, negative: ArrayLike) -> jax.Array:
        return F.triplet_margin_with_distance_loss(
            anchor,
            positive,
            negative,
            distance_function=self.distance_function,
            margin=self.margin,
            swap=self.swap,
            reduction=self.reduction,
        )


# --- sequence losses -------------------------------------------------
class CTCLoss(_Loss):
    """torch.nn.CTCLoss; see ``ctc_loss``."""

    blank: int
    zero_infinity: bool

    def __init__(
        self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False
    ) -> None:
        super().__init__(reduction=reduction)
        self._set(blank=blank, zero_infinity=zero_infinity)

    def __call__(
        self,
        log_probs: ArrayLike,
        targets: ArrayLike,
        input_lengths: ArrayLike,
        target_lengths: ArrayLike,
    ) -> jax.Array:
        return F.ctc_loss(
            log_probs,
            targets,
            input_lengths,
            target_lengths,
            blank=self.blank,
            reduction=self.reduction,
            zero_infinity=self.zero_infinity,
        )
