"""torch.nn's loss classes: declared configuration plus a one-line call into the functional.

Each class declares its settings once, as annotated attributes (as equinox modules and
dataclasses do); immutability, the pytree structure, ``repr``, equality and hashing follow
from that declaration. Settings declared with :func:`array_field` (``weight``,
``pos_weight``) are pytree leaves; all others are static. So an instance can be closed
over, passed through ``jax.jit`` as an argument, or, when it holds no arrays (it is then
hashable), used as a static argument. ``__init__`` keeps torch's exact signature.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import jax
from jax.typing import ArrayLike

from . import _errors
from . import functional as F
from ._errors import legacy_reduction


def array_field() -> Any:
    """Declare an array-valued setting: a pytree leaf (None when not given)."""
    return dataclasses.field(default=None, metadata={"array": True})


class Module:
    """Base of every class here: declared, immutable settings registered as a pytree."""

    _arrays: ClassVar[tuple[str, ...]] = ()  # derived: the array_field() settings
    _static: ClassVar[tuple[str, ...]] = ()  # derived: every other setting

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(frozen=True, init=False, repr=False, eq=False)(cls)
        cls.__setattr__ = Module.__setattr__  # type: ignore[method-assign]  # our message
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        cls._arrays = tuple(f.name for f in fields if f.metadata.get("array"))
        cls._static = tuple(f.name for f in fields if not f.metadata.get("array"))
        jax.tree_util.register_pytree_with_keys(
            cls, cls._flatten_with_keys, cls._unflatten, cls._flatten
        )

    def _set(self, **settings: Any) -> None:
        """Set declared settings from ``__init__`` (the instance is frozen afterwards)."""
        for name, value in settings.items():
            if name not in self._arrays and name not in self._static:
                raise AttributeError(f"{type(self).__name__} declares no setting {name!r}")
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(
            f"{type(self).__name__} is immutable; build a new one, e.g. "
            f"{type(self).__name__}({name}={value!r})"
        )

    def _replace(self, **changes: Any) -> Any:
        """A copy with some settings changed (no validation: for trusted internal use)."""
        obj = object.__new__(type(self))
        for name in (*self._static, *self._arrays):
            object.__setattr__(obj, name, changes.pop(name, getattr(self, name)))
        if changes:
            raise AttributeError(
                f"{type(self).__name__} declares no setting {next(iter(changes))!r}"
            )
        return obj

    # -- pytree ---------------------------------------------------------------
    def _static_items(self) -> tuple[tuple[str, Any], ...]:
        return tuple((k, getattr(self, k)) for k in self._static)

    def _flatten(self) -> tuple[list[Any], tuple[tuple[str, Any], ...]]:
        return [getattr(self, k) for k in self._arrays], self._static_items()

    def _flatten_with_keys(self) -> tuple[list[Any], tuple[tuple[str, Any], ...]]:
        children = [(jax.tree_util.GetAttrKey(k), getattr(self, k)) for k in self._arrays]
        return children, self._static_items()

    @classmethod
    def _unflatten(cls, static: tuple[tuple[str, Any], ...], children: Any) -> Any:
        obj = object.__new__(cls)
        for name, value in (*static, *zip(cls._arrays, children)):
            object.__setattr__(obj, name, value)
        return obj

    # -- value semantics ------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        assert isinstance(other, Module)
        return self._static_items() == other._static_items() and all(
            getattr(self, k) is getattr(other, k) for k in self._arrays
        )

    def __hash__(self) -> int:
        arrays = tuple(id(getattr(self, k)) for k in self._arrays)
        return hash((type(self), self._static_items(), arrays))

    def __repr__(self) -> str:
        shown = []
        for k in (*self._static, *self._arrays):
            v = getattr(self, k)
            if v is None or (k == "reduction" and v == "mean"):
                continue
            shown.append(f"{k}=Array{tuple(v.shape)}" if k in self._arrays else f"{k}={v!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


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
