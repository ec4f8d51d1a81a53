"""How Tudui's convolution stack is lowered, chosen per batch size.

On the CPU backend XLA runs each of Tudui's convolutions through YNNPACK on one thread, so
the model cuts the batch into independent pieces: each piece's activations stay in the
core's L2 cache and XLA's runtime gets independent work for every core. conv1 (4 input
channels) wants small pieces, while conv2's and conv3's weight gradients (contractions over
the images of a piece) get more efficient with more images per piece. A :class:`Plan` holds
one piece size per convolution; neighbouring pieces are merged between layers.

:func:`plan_for` is the rule, measured on a 2-core AVX-512 CPU against uniform pieces,
whole-batch convolutions, XLA's multi-threaded Eigen convolutions and pieces of 2 (``python
-m benchmarks tudui`` re-measures the candidates; benchmarks/RESULTS.md has one run's
"Tudui lowerings"): pieces of 4 / 8 / 16 images for conv1 / conv2 / conv3 up to batch 256,
8 / 16 / 32 above (as fast at batch 512, and 1.6x quicker to compile). Other backends run
the whole batch in one piece. Values never depend on the plan beyond float32 summation
order (the weight gradients add the pieces' contributions).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterator


@dataclasses.dataclass(frozen=True)
class Plan:
    """Images per independent piece of the batch at conv1, conv2 and conv3.

    Each size must divide the next; a size >= the batch runs that layer on the whole batch.
    """

    chunks: tuple[int, int, int]

    def __post_init__(self) -> None:
        c = self.chunks
        if len(c) != 3 or any(not isinstance(v, int) or v < 1 for v in c):
            raise ValueError(f"Plan.chunks must be three positive ints, got {c!r}")
        if c[1] % c[0] or c[2] % c[1]:
            raise ValueError(f"Plan.chunks: each piece size must divide the next, got {c!r}")

    def for_batch(self, batch: int) -> tuple[int, ...]:
        """The piece sizes at this batch size (capped at the batch)."""
        return tuple(min(c, batch) for c in self.chunks)

    def describe(self, batch: int | None = None) -> str:
        c = self.chunks if batch is None else self.for_batch(batch)
        if batch is not None and c[0] >= batch:
            return "whole batch"
        return "pieces " + "/".join(str(v) for v in c)


_OVERRIDE: contextvars.ContextVar[Plan | None] = contextvars.ContextVar(
    "jaxloss_tudui_plan", default=None
)


def plan_for(batch: int, backend: str | None = None) -> Plan:
    """The plan for a batch of ``batch`` images on ``backend`` (default: JAX's). The rule
    is fixed, so the same batch size always compiles to the same program."""
    if backend is None:
        import jax

        backend = jax.default_backend()
    if backend != "cpu":
        whole = max(batch, 1)
        return Plan((whole, whole, whole))
    base = 4 if batch <= 256 else 8
    return Plan((base, 2 * base, 4 * base))


@contextlib.contextmanager
def override(plan: Plan | None) -> Iterator[None]:
    """Use ``plan`` for every Tudui traced inside the block (benchmarks compare plans): create
    and first call (or ``.lower``) the jitted function inside it."""
    token = _OVERRIDE.set(plan)
    try:
        yield
    finally:
        _OVERRIDE.reset(token)


def active_plan(batch: int) -> Plan:
    """The override if one is active, else :func:`plan_for`."""
    plan = _OVERRIDE.get()
    return plan if plan is not None else plan_for(batch)
