"""What the losses benchmark times: one :class:`LossCase` per loss, in :data:`LOSS_CASES`.

A case names the loss (its name in both ``jaxloss.functional`` and
``torch.nn.functional``), the grid of sizes it runs over, a generator of its inputs and
the keyword arguments. To benchmark a new loss, append a ``LossCase`` to ``LOSS_CASES``
(and, where optax has the same function, an entry to :func:`optax_twins`).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from benchmarks.config import BenchConfig

GRIDS = ("elements", "classes", "ctc")
# Exported by jaxloss.functional but not losses: nothing to benchmark.
NOT_LOSSES = ("pairwise_distance",)


@dataclasses.dataclass(frozen=True)
class LossCase:
    """How to benchmark one loss.

    ``make(rng, shape)`` returns the positional arguments as numpy arrays (float32
    inputs; integer targets as int64) and ``kwargs`` the keyword arguments used for
    jaxloss and torch alike. The gradient is taken with respect to the first argument.
    ``grid`` says which sizes of the run's config ``shape`` takes: ``"elements"`` (an
    element count), ``"classes"`` ((N, C)) or ``"ctc"`` ((T, N, C, S)). ``optax``
    (filled in from :func:`optax_twins`) computes the same value from the same JAX
    arguments. ``torch_fn`` is the dotted path of the torch function compared against
    (default ``torch.nn.functional.<name>``; e.g. ``"torchvision.ops.sigmoid_focal_loss"``,
    read from torchvision's own files where ``import torchvision`` fails).
    """

    name: str
    grid: str
    make: Callable[[np.random.Generator, Any], list[np.ndarray]]
    kwargs: dict = dataclasses.field(default_factory=dict)
    optax: Callable | None = None
    torch_fn: str | None = None

    def torch_function(self) -> Callable:
        """The torch function this case is compared against (imported on demand)."""
        module, _, attr = (self.torch_fn or f"torch.nn.functional.{self.name}").rpartition(".")
        if module == "torchvision.ops":
            return getattr(_torchvision_ops(), attr)
        return getattr(importlib.import_module(module), attr)


def _torchvision_ops() -> Any:
    """torchvision 0.28.0's losses, loaded from its files by tests/torchvision_ops.py
    (``import torchvision`` needs compiled operators a CPU build of torch may not load)."""
    if "torchvision_ops" not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "tests" / "torchvision_ops.py"
        spec = importlib.util.spec_from_file_location("torchvision_ops", path)
        assert spec is not None and spec.loader is not None
        sys.modules["torchvision_ops"] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules["torchvision_ops"].TORCHVISION_OPS


# ---------------------------------------------------------------- input generators


def _vec(size: int) -> tuple[int, ...]:
    return (size,)


def _rows(size: int, width: int = 128) -> tuple[int, int]:
    """(N, D) embeddings with about ``size`` elements."""
    d = min(size, width)
    return (max(1, size // d), d)


def normal(rng, shape):
    return rng.standard_normal(shape, dtype=np.float32)


def uniform(rng, shape, lo=0.0, hi=1.0):
    return rng.uniform(lo, hi, size=shape).astype(np.float32)


def signs(rng, shape):
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0).astype(np.float32)


def class_indices(rng, n, c):
    return rng.integers(0, c, size=(n,), dtype=np.int64)


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    x = x - x.max(axis=axis, keepdims=True)
    return (x - np.log(np.exp(x).sum(axis=axis, keepdims=True))).astype(np.float32)


def _multilabel_targets(rng, n, c):
    t = np.full((n, c), -1, dtype=np.int64)
    for i in range(n):
        k = int(rng.integers(1, min(c, 4) + 1))
        t[i, :k] = rng.choice(c, size=k, replace=False)
    return t


def _ctc_inputs(rng, shape):
    t, n, c, s = shape
    log_probs = log_softmax(normal(rng, (t, n, c)), axis=2)
    targets = rng.integers(1, c, size=(n, s), dtype=np.int64)
    input_lengths = np.full((n,), t, dtype=np.int64)
    target_lengths = rng.integers(max(1, s // 2), s + 1, size=(n,), dtype=np.int64)
    return [log_probs, targets, input_lengths, target_lengths]


def _vectors(*kinds: Callable) -> Callable[[np.random.Generator, int], list[np.ndarray]]:
    """Inputs of one 1-D vector per ``kind`` (a generator ``(rng, shape)``), all of the
    grid's size."""
    return lambda r, s: [kind(r, _vec(s)) for kind in kinds]


def _probabilities(r, shape):
    return uniform(r, shape, 0.01, 0.99)


def _log_probabilities(r, shape):
    return np.log(uniform(r, shape, 0.01, 1.0))


def _poisson_targets(r, shape):
    return r.poisson(1.0, shape).astype(np.float32)


def _half_normal(r, shape):
    return 0.5 * normal(r, shape)


def _variances(r, shape):
    return uniform(r, shape, 0.1, 2.0)


def _box_pair(r, size):
    """Two sets of about ``size`` elements of (x1, y1, x2, y2) boxes, positive sides."""

    def boxes():
        xy = uniform(r, (max(1, size // 4), 2), 0.0, 10.0)
        return np.concatenate([xy, xy + uniform(r, xy.shape, 0.5, 5.0)], axis=1)

    return [boxes(), boxes()]


def _sparse_labels(r, shape):
    return (r.random(shape) < 0.1).astype(np.float32)


E, C = "elements", "classes"

LOSS_CASES: list[LossCase] = [
    LossCase("l1_loss", E, _vectors(normal, normal)),
    LossCase("mse_loss", E, _vectors(normal, normal)),
    LossCase("smooth_l1_loss", E, _vectors(normal, normal)),
    LossCase("huber_loss", E, _vectors(normal, normal)),
    LossCase("soft_margin_loss", E, _vectors(normal, signs)),
    LossCase("binary_cross_entropy", E, _vectors(_probabilities, uniform)),
    LossCase("binary_cross_entropy_with_logits", E, _vectors(normal, uniform)),
    LossCase("kl_div", E, _vectors(_log_probabilities, uniform), {"reduction": "batchmean"}),
    LossCase("poisson_nll_loss", E, _vectors(_half_normal, _poisson_targets)),
    LossCase("gaussian_nll_loss", E, _vectors(normal, normal, _variances)),
    LossCase("hinge_embedding_loss", E, _vectors(normal, signs)),
    LossCase("margin_ranking_loss", E, _vectors(normal, normal, signs)),
    LossCase(
        "cosine_embedding_loss",
        E,
        lambda r, s: [normal(r, _rows(s)), normal(r, _rows(s)), signs(r, _rows(s)[:1])],
    ),
    LossCase("triplet_margin_loss", E, lambda r, s: [normal(r, _rows(s)) for _ in range(3)]),
    LossCase(
        "triplet_margin_with_distance_loss",
        E,
        lambda r, s: [normal(r, _rows(s)) for _ in range(3)],
    ),
    LossCase("cross_entropy", C, lambda r, s: [normal(r, s), class_indices(r, *s)]),
    LossCase("nll_loss", C, lambda r, s: [log_softmax(normal(r, s), 1), class_indices(r, *s)]),
    LossCase("multi_margin_loss", C, lambda r, s: [normal(r, s), class_indices(r, *s)]),
    LossCase("multilabel_margin_loss", C, lambda r, s: [normal(r, s), _multilabel_targets(r, *s)]),
    LossCase(
        "multilabel_soft_margin_loss",
        C,
        lambda r, s: [normal(r, s), (r.random(s) < 0.3).astype(np.float32)],
    ),
    LossCase("ctc_loss", "ctc", _ctc_inputs),
    # (N, C) logits from N tokens of width 64 and a (C, 64) head; the large shapes
    # (tokens x vocabulary past 2**22 logits) are benchmarks/bench_linear_cross_entropy.py
    LossCase(
        "linear_cross_entropy",
        C,
        lambda r, s: [normal(r, (s[0], 64)), 0.1 * normal(r, (s[1], 64)), class_indices(r, *s)],
    ),
    # torchvision.ops' losses (jaxloss.ops), reduced with 'mean'
    LossCase(
        "sigmoid_focal_loss",
        E,
        _vectors(normal, _sparse_labels),
        {"reduction": "mean"},
        torch_fn="torchvision.ops.sigmoid_focal_loss",
    ),
    *(
        LossCase(name, E, _box_pair, {"reduction": "mean"}, torch_fn=f"torchvision.ops.{name}")
        for name in ("generalized_box_iou_loss", "distance_box_iou_loss", "complete_box_iou_loss")
    ),
]


def optax_twins() -> dict[str, Callable]:
    """optax's function for a loss, where optax has the same one (same value)."""
    import jax.numpy as jnp
    import optax  # type: ignore[import-untyped, unused-ignore]

    L = optax.losses
    return {
        "mse_loss": lambda x, y: jnp.mean(L.squared_error(x, y)),
        # huber with delta 1 == smooth_l1 with beta 1 (torch's defaults)
        "huber_loss": lambda x, y: jnp.mean(L.huber_loss(x, y, delta=1.0)),
        "smooth_l1_loss": lambda x, y: jnp.mean(L.huber_loss(x, y, delta=1.0)),
        "cross_entropy": lambda x, y: jnp.mean(L.softmax_cross_entropy_with_integer_labels(x, y)),
        "binary_cross_entropy_with_logits": lambda x, y: jnp.mean(
            L.sigmoid_binary_cross_entropy(x, y)
        ),
        # kl_div(reduction='batchmean') on a 1-D input: the sum over the vector / its length
        "kl_div": lambda x, y: L.kl_divergence(x, y) / x.shape[0],
        "triplet_margin_loss": lambda a, p, n: jnp.mean(L.triplet_margin_loss(a, p, n, margin=1.0)),
        "sigmoid_focal_loss": lambda x, y: jnp.mean(L.sigmoid_focal_loss(x, y, alpha=0.25)),
    }


def loss_cases() -> dict[str, LossCase]:
    """:data:`LOSS_CASES` by name, each with its optax twin (if any) filled in."""
    twins = optax_twins()
    return {c.name: dataclasses.replace(c, optax=twins.get(c.name)) for c in LOSS_CASES}


def available_losses() -> list[str]:
    """The public functions of ``jaxloss.functional`` then ``jaxloss.ops``, in their order."""
    import jaxloss.functional as F
    import jaxloss.ops as ops

    return [
        name
        for module in (F, ops)
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and callable(obj)
        and getattr(obj, "__module__", "").startswith("jaxloss")
        and name not in NOT_LOSSES
    ]


def grid(case: LossCase, cfg: BenchConfig) -> list[Any]:
    """The shapes ``case`` runs at, from the run's grids."""
    if case.grid == "elements":
        return list(cfg.sizes)
    if case.grid == "classes":
        return [tuple(s) for s in cfg.class_shapes]
    return [tuple(s) for s in cfg.ctc_shapes]


def shape_label(case: LossCase, shape) -> str:
    """A short label of a case's shape: ``1e6``, ``64x10``, ``T50xN16xC20 S10``."""
    if case.grid == "elements":
        return f"{shape:.0e}".replace("e+0", "e").replace("e0", "") if shape >= 1000 else str(shape)
    if case.grid == "classes":
        return f"{shape[0]}x{shape[1]}"
    return "T{}xN{}xC{} S{}".format(*shape)


def jax_args(arrays: list[np.ndarray]):
    """The arrays as JAX arrays, int64 targets as int32 (JAX's default integer)."""
    import jax.numpy as jnp

    return [jnp.asarray(a.astype(np.int32) if a.dtype == np.int64 else a) for a in arrays]


# ---------------------------------------------------------------- the Tudui step

_TUDUI_LAYERS = (
    ("conv5x5", 32, 3, 32),
    ("conv5x5", 16, 32, 32),
    ("conv5x5", 8, 32, 64),
    ("linear", 1, 1024, 64),
    ("linear", 1, 64, 10),
)


TUDUI_FORWARD_FLOPS = sum(
    2 * hw * hw * 25 * cin * cout if kind == "conv5x5" else 2 * cin * cout
    for kind, hw, cin, cout in _TUDUI_LAYERS
)  # 24.7 MFLOP (multiply-adds of the convolutions and linears; pooling and bias ignored)
# A training step is forward + two backward products (input and weight gradients):
# the usual 3x forward, ~74.1 MFLOP per image.
TUDUI_TRAIN_FLOPS = 3 * TUDUI_FORWARD_FLOPS
