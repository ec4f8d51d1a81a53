"""What a run of ``python -m benchmarks`` measures and how: :class:`BenchConfig`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from benchmarks import timing
from benchmarks.machine import DISPATCH_MODES

# Where every benchmark script writes its files unless told otherwise.
DEFAULT_OUT = Path(__file__).resolve().parent / "out"


@dataclasses.dataclass
class BenchConfig:
    """What a benchmark run measures and how.

    Attributes:
      quick: a tiny grid (for ``--quick`` and the smoke test); torch.compile is skipped.
      out_dir: where the JSON, PNG and markdown tables go.
      repeats: timed rounds per case (median and minimum reported).
      min_repeat_s: a round times back-to-back calls until it has lasted this long.
      warmup_s: each callable runs at least this long (and twice) before timing.
      sizes: element counts for elementwise losses (default 3 .. 1e7).
      class_shapes: (N, C) for class-index losses (default 1x3 .. 65536x10, 4096x1000).
      ctc_shapes: (T, N, C, S) for ctc_loss.
      batches: Tudui batch sizes (default 1, 2, 4, ..., 512).
      losses: only these loss names (default: every loss that has a generator).
      torch_compile: also time ``torch.compile`` in the Tudui benchmark.
      lowerings: at batch 64 and 256, also time the jaxloss step under each candidate
        lowering of :func:`lowering_candidates` (the measurement behind the rule).
      threads: pin the process to this many CPUs (XLA) and torch threads (default: all
        CPUs this process may use).
      jax_dispatch: 'sync' (default: each call runs on the calling thread, as torch eager)
        or 'async' (JAX's default: calls are handed to a worker thread); set before
        JAX's first computation (``jax_cpu_enable_async_dispatch``).
    """

    quick: bool = False
    out_dir: str = str(DEFAULT_OUT)
    repeats: int = 0
    min_repeat_s: float = -1.0
    warmup_s: float = -1.0
    sizes: tuple[int, ...] = ()
    class_shapes: tuple[tuple[int, int], ...] = ()
    ctc_shapes: tuple[tuple[int, int, int, int], ...] = ()
    batches: tuple[int, ...] = ()
    losses: tuple[str, ...] | None = None
    torch_compile: bool | None = None
    lowerings: bool | None = None
    threads: int | None = None
    jax_dispatch: str = "sync"

    def __post_init__(self) -> None:
        if self.jax_dispatch not in DISPATCH_MODES:
            raise ValueError(
                f"jax_dispatch must be {' or '.join(map(repr, DISPATCH_MODES))}, "
                f"got {self.jax_dispatch!r}"
            )
        q = self.quick
        if not self.repeats:
            self.repeats = 2 if q else 7
        if self.min_repeat_s < 0:
            self.min_repeat_s = 0.0 if q else 0.03
        if self.warmup_s < 0:
            self.warmup_s = 0.0 if q else 0.2
        if not self.sizes:
            self.sizes = (3, 1000) if q else (3, 1_000, 100_000, 1_000_000, 10_000_000)
        if not self.class_shapes:
            self.class_shapes = (
                ((1, 3), (64, 10))
                if q
                else ((1, 3), (64, 10), (1024, 10), (65536, 10), (4096, 1000))
            )
        if not self.ctc_shapes:
            self.ctc_shapes = ((8, 2, 5, 3),) if q else ((50, 16, 20, 10), (100, 64, 40, 30))
        if not self.batches:
            self.batches = (1, 4) if q else tuple(2**i for i in range(10))  # 1 .. 512
        if self.torch_compile is None:
            self.torch_compile = not q
        if self.lowerings is None:
            self.lowerings = not q

    def measure(
        self, fns: Mapping[str, Callable[[], Any]], warmup_s: float | None = None
    ) -> dict[str, dict]:
        """:func:`benchmarks.timing.measure` with this run's rounds and warm-up."""
        return timing.measure(
            fns,
            repeats=self.repeats,
            min_repeat_s=self.min_repeat_s,
            warmup_s=self.warmup_s if warmup_s is None else warmup_s,
        )
