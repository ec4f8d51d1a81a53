"""The one timing engine every benchmark script calls.

:func:`measure` takes ``{name: callable}`` (each call must block until its result is
ready: ``jax.block_until_ready``; torch eager is synchronous) and returns, per name, the
median and the best round's time per call, the process's CPU time per call and the
1-minute load average before the first and after the last round.

Method (made for a shared, noisy machine): every callable is warmed up first (one call
for compilation, then calls until ``warmup_s`` has passed and ``warmup_calls`` more have
run: allocator and oneDNN caches), then timed in ``repeats`` rounds. A round runs every
callable once, in an order that rotates from round to round, so that load from other
processes hits all of them alike; each timing is ``k`` back-to-back calls, ``k`` chosen
per callable so that it lasts ``min_repeat_s``. Ratios are taken of medians (and of
minima) from the same call of :func:`measure`, never across runs.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def measure(
    fns: Mapping[str, Callable[[], Any]],
    *,
    repeats: int,
    min_repeat_s: float = 0.0,
    warmup_s: float = 0.0,
    warmup_calls: int = 2,
    max_rounds: Mapping[str, int] | None = None,
) -> dict[str, dict]:
    """Median and minimum time per call of each callable, timed interleaved.

    Args:
      fns: ``{name: callable}``; each call blocks until its result is ready.
      repeats: timed rounds.
      min_repeat_s: a round times back-to-back calls of a callable until it has lasted
        this long (0: one call per round).
      warmup_s: after the first (compiling) call, each callable runs at least this long
        and at least ``warmup_calls`` times before timing.
      max_rounds: ``{name: n}`` times that callable in its first ``n`` rounds only (one
        far slower than the rest).

    Returns:
      ``{name: {"median_s", "min_s", "max_s", "samples_s", "cpu_median_s",
      "cpu_samples_s", "repeats", "calls_per_repeat", "load"}}``; ``cpu_*`` is the
      process's CPU time per call (all its threads, so spinning workers count too) and
      ``load`` the 1-minute load average before the first and after the last round.
    """
    limit = dict(max_rounds or {})
    per_call = {name: _warm_up(fn, warmup_s, warmup_calls) for name, fn in fns.items()}
    iters = {n: max(1, math.ceil(min_repeat_s / max(t, 1e-7))) for n, t in per_call.items()}
    samples: dict[str, list[float]] = {n: [] for n in fns}
    cpu: dict[str, list[float]] = {n: [] for n in fns}
    names = list(fns)
    load = [os.getloadavg()[0]]
    for r in range(repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            if r >= limit.get(name, repeats):
                continue
            fn, k = fns[name], iters[name]
            c = time.process_time()
            t = time.perf_counter()
            for _ in range(k):
                fn()
            samples[name].append((time.perf_counter() - t) / k)
            cpu[name].append((time.process_time() - c) / k)
    load.append(os.getloadavg()[0])
    return {
        n: {
            "median_s": statistics.median(s),
            "min_s": min(s),
            "max_s": max(s),
            "samples_s": s,
            "cpu_median_s": statistics.median(cpu[n]),
            "cpu_samples_s": cpu[n],
            "repeats": len(s),
            "calls_per_repeat": iters[n],
            "load": load,
        }
        for n, s in samples.items()
    }


def _warm_up(fn: Callable[[], Any], warmup_s: float, calls: int) -> float:
    """One call (compilation), then calls until ``warmup_s`` and ``calls`` are reached;
    returns the fastest warm call (inf if none ran), which sizes a round."""
    fn()
    start = time.perf_counter()
    best = math.inf
    done = 0
    while done < calls or time.perf_counter() - start < warmup_s:
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
        done += 1
    return best


def loads(timings: Iterable[dict]) -> list[float]:
    """Every load average recorded by the given :func:`measure` entries."""
    return [x for t in timings for x in t.get("load", [])]


def load_summary(values: list[float]) -> dict | None:
    """Load averages recorded over a benchmark: first, median, min, max."""
    if not values:
        return None
    return {
        "first": values[0],
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def load_note(summary: dict | None, what: str) -> str:
    """One sentence on the load average a benchmark ran under."""
    if summary is None:
        return f"{what}: load average not recorded."
    return (
        f"{what}: 1-minute load average during the timed rounds median {summary['median']:.1f} "
        f"(min {summary['min']:.1f}, max {summary['max']:.1f}) on "
        f"{os.cpu_count()} logical CPUs."
    )
