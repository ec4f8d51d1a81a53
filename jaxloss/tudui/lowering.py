"""How Tudui's convolution stack is lowered, chosen per batch size -- automatically.

On the CPU backend XLA runs each of Tudui's convolutions through YNNPACK on one thread.
The model therefore cuts the batch into independent pieces ("chunks"), which keeps each
piece's activations in the core's L2 cache and gives XLA's runtime independent work to
run on both cores. The best piece size differs per layer: conv1 (32x32 images, 4 input
channels) wants small pieces, while conv2's and conv3's weight gradients -- convolutions
whose contraction runs over the images of the piece -- get more efficient with more
images per piece. A :class:`Plan` holds one piece size per convolution; neighbouring
pieces are merged (concatenated) between layers, so sizes grow by whole factors.

:func:`plan_for` is the rule, derived from measurements on a 2-core AVX-512 CPU
(``python -m benchmarks tudui`` re-measures the candidates in its "lowerings" table):

* batch <= 256: pieces of 4 / 8 / 16 images for conv1 / conv2 / conv3;
* batch > 256: 8 / 16 / 32 (as fast at batch 512, and 1.6x quicker to compile: fewer
  pieces to unroll).

Measured in interleaved runs of the training step (images/s median, CPU time per step),
against the earlier uniform pieces (4 up to batch 64, else 8): batch 64 equal (945 vs 946
img/s; 8/16/32: 966), batch 128 1029 vs 904 (4/4/4), batch 256 1150 vs 1137 (8/8/8) and
714 vs 637 img/s for 8/16/32, CPU time 222-226 vs 225-246 ms; batch 512 1161 vs 1145
(8/16/32). Pinned to one core (CPU time = work), 4/8/16 did 6-10% less work than uniform
pieces at batch 64 and 256. Not adopted, measured in the same runs: whole-batch
convolutions (0.6-0.75x), XLA's multi-threaded Eigen convolutions (per-executable
``compiler_options={"xla_cpu_experimental_ynn_fusion_type": ""}``: 0.58x / 0.67x at batch
64 / 256, 1.5-1.7x the CPU time) and pieces of 2.

Other backends (GPU, TPU) run the whole batch in one piece. Values never depend on the
plan beyond float32 summation order (the weight gradients add the pieces' contributions).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterator

__all__ = ["Plan", "plan_for", "override", "active_plan"]


@dataclasses.dataclass(frozen=True)
class Plan:
    """Images per independent piece of the batch at conv1, conv2 and conv3.

    Each size must divide the next (pieces are merged by whole factors between layers);
    a size >= the batch means that layer runs on the whole batch at once.
    """

    chunks: tuple[int, int, int]

    def __post_init__(self) -> None:
        c = self.chunks
        if len(c) != 3 or any(not isinstance(v, int) or v < 1 for v in c):
            raise ValueError(f"Plan.chunks must be three positive ints, got {c!r}")
        if c[1] % c[0] or c[2] % c[1]:
            raise ValueError(f"Plan.chunks: each piece size must divide the next, got {c!r}")

    def for_batch(self, batch: int) -> tuple[int, int, int]:
        """The piece sizes at this batch size (capped at the batch)."""
        return (
            min(self.chunks[0], batch),
            min(self.chunks[1], batch),
            min(self.chunks[2], batch),
        )

    def describe(self, batch: int | None = None) -> str:
        c = self.chunks if batch is None else self.for_batch(batch)
        if batch is not None and c[0] >= batch:
            return "whole batch"
        return "pieces " + "/".join(str(v) for v in c)


_OVERRIDE: contextvars.ContextVar[Plan | None] = contextvars.ContextVar(
    "jaxloss_tudui_plan", default=None
)


def plan_for(batch: int, backend: str | None = None) -> Plan:
    """The plan Tudui uses for a batch of ``batch`` images on ``backend`` (default: JAX's).

    The rule is fixed (see the module docstring for the measurements behind it), so the
    same batch size always compiles to the same program.
    """
    if backend is None:
        import jax

        backend = jax.default_backend()
    if backend != "cpu":
        return Plan((batch, batch, batch)) if batch >= 1 else Plan((1, 1, 1))
    base = 4 if batch <= 256 else 8
    return Plan((base, 2 * base, 4 * base))


@contextlib.contextmanager
def override(plan: Plan | None) -> Iterator[None]:
    """Use ``plan`` for every Tudui traced inside the block (benchmarks compare plans).

    The plan is read when a function is traced: create and first call (or ``.lower``)
    the jitted function inside the block.
    """
    token = _OVERRIDE.set(plan)
    try:
        yield
    finally:
        _OVERRIDE.reset(token)


def active_plan(batch: int) -> Plan:
    """The override if one is active, else :func:`plan_for`."""
    plan = _OVERRIDE.get()
    return plan if plan is not None else plan_for(batch)
