"""torch.nn's loss classes: declared configuration plus a one-line call into the functional.

Each class declares its settings once, as annotated attributes (see ``_module.Module``);
immutability, the pytree structure, ``repr``, equality and hashing follow from that
declaration. Array settings (``weight``, ``pos_weight``) are pytree leaves; all others are
static. So an instance can be closed over, passed through ``jax.jit`` as an argument, or,
when it holds no arrays (it is then hashable), used as a static argument. ``__init__``
keeps torch's exact signature.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from . import _errors
from . import functional as F
from ._adaptive import AdaptiveLogSoftmaxWithLoss as AdaptiveLogSoftmaxWithLoss
from ._errors import legacy_reduction
from ._interop import to_numpy
from ._linear_cross_entropy import LinearCrossEntropyOptions as LinearCrossEntropyOptions
from ._matmul import PrecisionLike
from ._module import Module, array_field

__all__ = [
    "AdaptiveLogSoftmaxWithLoss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CosineEmbeddingLoss",
    "CrossEntropyLoss",
    "CTCLoss",
    "GaussianNLLLoss",
    "HingeEmbeddingLoss",
    "HuberLoss",
    "KLDivLoss",
    "L1Loss",
    "LinearCrossEntropyLoss",
    "LinearCrossEntropyOptions",
    "MarginRankingLoss",
    "MSELoss",
    "MultiLabelMarginLoss",
    "MultiLabelSoftMarginLoss",
    "MultiMarginLoss",
    "NLLLoss",
    "NLLLoss2d",
    "PairwiseDistance",
    "PoissonNLLLoss",
    "SmoothL1Loss",
    "SoftMarginLoss",
    "TripletMarginLoss",
    "TripletMarginWithDistanceLoss",
]


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
        # stacklevel 3: past Module's __init__ check, at the line that builds the loss
        warnings.warn(_NLLLOSS2D_DEPRECATION, FutureWarning, stacklevel=3)
        super().__init__(weight, size_average, ignore_index, reduce, reduction)

    @classmethod
    def _rebuild(cls, settings: dict[str, Any]) -> Any:
        with warnings.catch_warnings():  # warned when this one was built, not again
            warnings.filterwarnings("ignore", re.escape(_NLLLOSS2D_DEPRECATION), FutureWarning)
            return super()._rebuild(settings)


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
    _init_keyword = {"norm": "p"}

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


# --- language-model heads -----------------------------------------------------
class LinearCrossEntropyLoss(_Loss):
    """torch.nn.LinearCrossEntropyLoss: a linear layer and cross entropy, without the logits.

    Holds the linear layer's ``linear_weight`` (torch's flat storage,
    ``(C * prod(out_features), in_features)``) and optional ``linear_bias`` as pytree
    leaves, initialised as torch's ``nn.Linear`` from an explicit PRNG ``key`` (uniform in
    ``±1/sqrt(in_features)``),
    so ``jax.grad`` of a function of the loss object returns their gradients. Load torch's
    weights with :meth:`from_torch_state_dict`. Calls ``linear_cross_entropy``; ``precision``
    (keyword, not in torch) is its matmul precision, None for torch's default.

    Example:
        >>> import jax, jax.numpy as jnp, jaxloss
        >>> head = jaxloss.LinearCrossEntropyLoss(4, 10, key=jax.random.key(0))
        >>> x, t = jnp.ones((3, 4)), jnp.array([1, 2, 3])
        >>> grads = jax.grad(lambda h: h(x, t))(head)
        >>> grads.linear_weight.shape
        (10, 4)
    """

    in_features: int
    num_classes: int
    out_features: tuple[int, ...]
    ignore_index: int | None
    label_smoothing: float
    options: LinearCrossEntropyOptions | None
    precision: PrecisionLike
    linear_weight: jax.Array = array_field()
    linear_bias: jax.Array | None = array_field()
    weight: jax.Array | None = array_field()

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        out_features: tuple[int, ...] = (),
        bias: bool = False,
        device: Any = None,
        dtype: Any = None,
        reduction: str = "mean",
        weight: ArrayLike | None = None,
        ignore_index: int | None = None,
        label_smoothing: float = 0.0,
        options: LinearCrossEntropyOptions | None = None,
        precision: PrecisionLike = None,
        key: jax.Array | None = None,
    ) -> None:
        fn = "LinearCrossEntropyLoss"
        key = _errors.check_required(
            fn,
            "key",
            key,
            " to initialise the linear weight, e.g. key=jax.random.key(0) (or build from torch "
            "weights with LinearCrossEntropyLoss.from_torch_state_dict)",
        )
        super().__init__(reduction=reduction)
        out_features = tuple(int(d) for d in out_features)
        if weight is not None:
            _errors.check_shape(fn, "weight", jnp.asarray(weight), (num_classes,))
        # torch: checked at construction, where a negative value is refused too
        _errors.label_smoothing(fn, label_smoothing, negative_ok=False)
        rows = math.prod(out_features, start=num_classes)
        dtype = jnp.float32 if dtype is None else dtype
        bound = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
        kw, kb = jax.random.split(key)
        # torch's nn.Linear: kaiming_uniform_(a=sqrt(5)) == U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        w = jax.random.uniform(kw, (rows, in_features), dtype, -bound, bound)
        b = jax.random.uniform(kb, (rows,), dtype, -bound, bound) if bias else None
        if device is not None:
            w, b = jax.device_put((w, b), device)
        self._set(
            in_features=in_features,
            num_classes=num_classes,
            out_features=out_features,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            options=options,
            precision=precision,
            linear_weight=w,
            linear_bias=b,
            weight=weight,
        )

    @classmethod
    def _init_extras(cls, kept: dict[str, Any]) -> dict[str, Any]:
        # the kept linear layer replaces the one initialised from this key
        w = kept["linear_weight"]
        return dict(key=jax.random.key(0), bias=kept["linear_bias"] is not None, dtype=w.dtype)

    @classmethod
    def from_torch_state_dict(
        cls, state_dict: Any, *, out_features: tuple[int, ...] = (), **kwargs: Any
    ) -> LinearCrossEntropyLoss:
        """Build from torch's ``LinearCrossEntropyLoss.state_dict()``.

        ``state_dict`` maps ``linear.weight`` (and ``linear.bias``, and ``weight`` when
        the torch module has class weights) to torch tensors, numpy or jax arrays; the
        other settings (``reduction``, ``ignore_index``, ...) are passed as keywords.
        Only shapes are read, so the arrays may be traced (it works inside ``jax.jit``
        and ``jax.grad``).
        """
        w = to_numpy(state_dict["linear.weight"])
        rows, in_features = w.shape
        num_classes = rows // max(math.prod(out_features), 1)
        b = state_dict.get("linear.bias")
        if "weight" in state_dict and "weight" not in kwargs:
            kwargs["weight"] = jnp.asarray(to_numpy(state_dict["weight"]))
        loss = cls(
            in_features,
            num_classes,
            out_features=out_features,
            bias=b is not None,
            key=jax.random.key(0),
            **kwargs,
        )
        return loss._replace(
            linear_weight=jnp.asarray(w),
            linear_bias=None if b is None else jnp.asarray(to_numpy(b)),
        )

    def __call__(self, input: ArrayLike, target: ArrayLike, **extras: Any) -> Any:
        """The loss of ``input`` (``(N, in_features)`` or ``(in_features,)``) and ``target``.

        ``extras`` are the keyword-only options of ``linear_cross_entropy`` beyond torch
        (``z_loss``, ``logit_softcap``, ``return_lse``).
        """
        w = self.linear_weight.reshape((self.num_classes, *self.out_features, self.in_features))
        b = self.linear_bias
        if b is not None:
            b = b.reshape((self.num_classes, *self.out_features))
        return F.linear_cross_entropy(
            input,
            w,
            target,
            linear_bias=b,
            weight=self.weight,
            reduction=self.reduction,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
            options=self.options,
            precision=self.precision,
            **extras,
        )
