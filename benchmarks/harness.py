"""``python -m benchmarks``: jaxloss (JAX, jit) side by side with torch on this machine.

Three benchmarks; each prints its tables and writes ``<name>.json``, ``<name>.md`` and
charts (PNG, matplotlib Agg, drawn by :mod:`benchmarks.charts`) to an output directory
(default ``benchmarks/out``):

* ``roofline`` -- the machine's reference: fp32 matmul GFLOP/s and memory bandwidth,
  measured with both frameworks; the better of the two is the reference the other
  benchmarks express their results against.
* ``losses`` -- every loss of ``jaxloss.functional`` that has an input generator here,
  value and value+grad, over a grid of sizes: jaxloss (``jax.jit``) vs torch eager vs
  optax where optax has the same function; ``nll_loss`` and ``cross_entropy`` at the
  training shapes; each large case as a fraction of the measured memory bandwidth, with
  the bytes XLA's compiled program moves (its cost analysis) beside the bytes the call
  must move; ``cross_entropy`` at (64, 10) inside a jitted step (no per-call dispatch).
  Charts: speed-up vs size, and one log-log time-vs-size chart per loss family.
* ``tudui`` -- the lesson's CNN training step (forward, cross entropy, backward, SGD
  update), images/s at batch sizes 1 .. 512: jaxloss/Flax (the step users run,
  ``jaxloss.tudui.train.make_train_step``) vs torch eager vs ``torch.compile``.

Method (made for a shared, noisy machine): every callable blocks until its result is
ready (``jax.block_until_ready``; torch eager is synchronous). Each one is warmed up first
(compilation, allocator and oneDNN caches), then timed in ``repeats`` rounds; a round runs
every framework once, in a rotating order, so that load from other processes hits all of
them alike. A round times enough back-to-back calls to last ``min_repeat_s``. Reported per
callable: the median over rounds of the time per call, and the minimum (the least
disturbed round); ratios are of medians (and of minima) from the same run, never across
runs. The 1-minute load average is recorded at the start and end of every case. Both
frameworks use the same number of threads: XLA's CPU client sizes its pool by the CPUs
this process may run on, and ``torch.set_num_threads`` is set to that number
(``--threads N`` pins the process to N CPUs first). JAX dispatches to the CPU
synchronously by default here (``--jax-dispatch sync``), as torch eager runs: with
JAX's default asynchronous CPU dispatch, every call that is waited for also pays the
hand-over to XLA's worker thread and back (tens of microseconds on a 2-CPU VM), which
swamps calls under ~100 us; ``--jax-dispatch async`` measures that mode.

Entry points: ``python -m benchmarks`` (all three, or the ones named), and the scripts
``benchmarks/roofline.py``, ``benchmarks/bench_losses.py``, ``benchmarks/bench_tudui.py``;
``python -m benchmarks.charts DIR`` redraws the charts from saved JSON. torch (the
``test`` extra) must be installed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

import numpy as np

BENCHMARKS = ("roofline", "losses", "tudui")
DISPATCH_MODES = ("sync", "async")

# The lesson's Tudui: (kind, spatial size of the output, in features, out features).
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
TUDUI_GOAL_BATCHES = (64, 256)
TUDUI_GOALS = {"torch eager": 1.5, "torch.compile": 1.2}  # jaxloss images/s >= x times

# Losses whose value is a reduction of one elementwise term per input element: the
# bandwidth goal (value+grad >= 60% of the measured memory bandwidth) applies to these.
ELEMENTWISE_LOSSES = (
    "l1_loss",
    "mse_loss",
    "smooth_l1_loss",
    "huber_loss",
    "soft_margin_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "kl_div",
    "poisson_nll_loss",
    "gaussian_nll_loss",
    "hinge_embedding_loss",
    "margin_ranking_loss",
)
BANDWIDTH_GOAL = 0.60
LARGE_ELEMENTS = 1_000_000  # "large" cases: reported against the memory bandwidth
MID_ELEMENTS = 10_000  # from here on no loss may be slower than torch eager
NLL_GOAL_SHAPES = ("4096x1000", "65536x10")
CLASS_INDEX_SHAPES = ((64, 10), (65536, 10), (4096, 1000))  # nll / cross_entropy table


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
    out_dir: str = "benchmarks/out"
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


# ---------------------------------------------------------------- threads and machine


def set_threads(threads: int | None) -> int:
    """Make XLA and torch use the same number of threads; returns it.

    XLA's CPU client sizes its thread pool by the CPUs this process may run on when the
    client is created, so ``threads`` pins the process to that many CPUs, which must
    happen before JAX's first computation. torch gets the same number.
    """
    allowed = sorted(os.sched_getaffinity(0))
    if threads is not None:
        if not 1 <= threads <= len(allowed):
            raise ValueError(
                f"--threads must be between 1 and {len(allowed)} (CPUs available), got {threads}"
            )
        if threads != len(allowed):
            from jax._src import xla_bridge

            if xla_bridge.backends_are_initialized():
                raise RuntimeError(
                    "--threads: JAX's CPU backend is already initialised with "
                    f"{len(allowed)} threads; pin the process before JAX's first computation"
                )
            os.sched_setaffinity(0, allowed[:threads])
    return len(os.sched_getaffinity(0))


def dispatch_mode() -> str:
    """JAX's CPU dispatch mode in this process: 'sync' or 'async'."""
    import jax

    return "async" if jax.config.read("jax_cpu_enable_async_dispatch") else "sync"


def set_dispatch(mode: str) -> str:
    """Make JAX's CPU client dispatch synchronously ('sync') or asynchronously ('async');
    returns the mode in effect (recorded in every result file). The client reads
    ``jax_cpu_enable_async_dispatch`` when it is created, so this must happen before
    JAX's first computation; later, a different mode only warns and the mode in effect
    stays (e.g. in a test process)."""
    import warnings

    import jax
    from jax._src import xla_bridge

    now = dispatch_mode()
    if now != mode:
        if xla_bridge.backends_are_initialized():
            warnings.warn(
                f"--jax-dispatch {mode}: JAX's CPU backend is already initialised with "
                f"{now} dispatch, which stays in effect",
                stacklevel=2,
            )
        else:
            jax.config.update("jax_cpu_enable_async_dispatch", mode == "async")
    return dispatch_mode()


@contextlib.contextmanager
def torch_threads(n: int):
    """torch.set_num_threads(n) for the block, restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _cpuinfo_field(prefix: str) -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _cpu_model() -> str:
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def _cpu_flags() -> list[str]:
    flags = set((_cpuinfo_field("flags") or "").split())
    return sorted(f for f in flags if f.startswith(("avx512", "amx", "avx2", "fma")))


def _gpu_line() -> str:
    """Which accelerators JAX sees (none on a CPU-only machine)."""
    import jax

    gpus = [d for d in jax.devices() if d.platform != "cpu"]
    return ", ".join(str(d) for d in gpus) if gpus else "none (JAX sees only the CPU)"


def machine_info(threads: int) -> dict:
    """CPU, thread count, JAX's dispatch mode, versions and load: the header of every
    result file."""
    import flax
    import jax
    import jaxlib
    import optax  # type: ignore[import-untyped, unused-ignore]
    import torch

    info = {
        "cpu": _cpu_model(),
        "cpu_flags": _cpu_flags(),
        "logical_cpus": os.cpu_count(),
        "threads": threads,
        "torch_threads": threads,
        "jax_dispatch": dispatch_mode(),
        "jax_backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "gpu": _gpu_line(),
        "versions": {
            "python": platform.python_version(),
            "jax": jax.__version__,
            "jaxlib": jaxlib.__version__,
            "flax": flax.__version__,
            "optax": optax.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
        },
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "load_average_at_start": list(os.getloadavg()),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    return info


def _machine_line(info: dict) -> str:
    v = info["versions"]
    return (
        f"{info['cpu']} ({info['logical_cpus']} logical CPUs), {info['threads']} threads "
        f"for XLA and torch; JAX {info.get('jax_dispatch', 'async')} CPU dispatch; "
        f"jax {v['jax']}, flax {v['flax']}, optax {v['optax']}, "
        f"torch {v['torch']}; GPU: {info.get('gpu', 'unknown')}; load average "
        f"{info['load_average_at_start'][0]:.2f} at start"
    )


# ---------------------------------------------------------------- timing


def measure(
    fns: dict[str, Callable[[], Any]], cfg: BenchConfig, warmup_s: float | None = None
) -> dict[str, dict]:
    """Median and minimum time per call of each callable (each must block until ready).

    Warm-up: one call (compilation), then calls until ``warmup_s`` has passed and at
    least two have run. Then ``cfg.repeats`` rounds, each timing ``k`` back-to-back calls
    of every callable (``k`` chosen per callable so a round lasts ``min_repeat_s``), in an
    order that rotates from round to round. The 1-minute load average is recorded before
    the first and after the last round (``load``), and the process's CPU time per call
    (``cpu_median_s``: all its threads, so spinning worker threads count too).
    """
    warmup = cfg.warmup_s if warmup_s is None else warmup_s
    per_call = {}
    for name, fn in fns.items():
        fn()
        start = time.perf_counter()
        best = math.inf
        calls = 0
        while calls < 2 or time.perf_counter() - start < warmup:
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
            calls += 1
        per_call[name] = best
    iters = {n: max(1, math.ceil(cfg.min_repeat_s / max(t, 1e-7))) for n, t in per_call.items()}
    samples: dict[str, list[float]] = {n: [] for n in fns}
    cpu: dict[str, list[float]] = {n: [] for n in fns}
    names = list(fns)
    load = [os.getloadavg()[0]]
    for r in range(cfg.repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
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
            "repeats": len(s),
            "calls_per_repeat": iters[n],
            "load": load,
        }
        for n, s in samples.items()
    }


def _loads(timings: Iterable[dict]) -> list[float]:
    return [x for t in timings for x in t.get("load", [])]


def load_summary(loads: list[float]) -> dict | None:
    """Load averages recorded over a benchmark: first, median, min, max."""
    if not loads:
        return None
    return {
        "first": loads[0],
        "median": statistics.median(loads),
        "min": min(loads),
        "max": max(loads),
    }


def _load_note(summary: dict | None, what: str) -> str:
    if summary is None:
        return f"{what}: load average not recorded."
    return (
        f"{what}: 1-minute load average during the timed rounds median {summary['median']:.1f} "
        f"(min {summary['min']:.1f}, max {summary['max']:.1f}) on "
        f"{os.cpu_count()} logical CPUs."
    )


# ---------------------------------------------------------------- output


def format_table(headers: list[str], rows: list[list[Any]], markdown: bool = False) -> str:
    cells = [[str(h) for h in headers]] + [
        ["" if c is None else str(c) for c in row] for row in rows
    ]
    if markdown:
        lines = ["| " + " | ".join(cells[0]) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in cells[1:]]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def fmt(r: list[str]) -> str:
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))

    return "\n".join(
        [fmt(cells[0]), "  ".join("-" * w for w in widths)] + [fmt(r) for r in cells[1:]]
    )


def _fmt_time(s: float | None) -> str | None:
    if s is None:
        return None
    us = s * 1e6
    if us < 1000:
        return f"{us:.1f} us"
    if us < 1e6:
        return f"{us / 1000:.2f} ms"
    return f"{s:.2f} s"


def _fmt_ratio(r: float | None) -> str | None:
    return None if r is None else f"{r:.2f}x"


def _fmt_pct(f: float | None) -> str:
    return "" if f is None else f"{100 * f:.0f}%"


@dataclasses.dataclass
class Result:
    """One benchmark's output: its tables (title, headers, rows) and JSON payload."""

    name: str
    tables: list[tuple[str, list[str], list[list[Any]]]]
    payload: dict
    notes: list[str] = dataclasses.field(default_factory=list)

    def text(self, markdown: bool = False) -> str:
        parts = []
        for title, headers, rows in self.tables:
            parts.append(f"### {title}" if markdown else title)
            parts.append(format_table(headers, rows, markdown))
            parts.append("")
        for note in self.notes:
            parts.append(("- " if markdown else "  ") + note)
        return "\n".join(parts).rstrip() + "\n"


def write_result(result: Result, out_dir: Path) -> dict[str, Any]:
    """``<name>.json``, ``<name>.md`` and the benchmark's charts (``<name>.png`` first)."""
    from benchmarks import charts

    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Any] = {
        "json": out_dir / f"{result.name}.json",
        "md": out_dir / f"{result.name}.md",
    }
    paths["json"].write_text(json.dumps(result.payload, indent=1, default=_json_default) + "\n")
    paths["md"].write_text(result.text(markdown=True))
    payload = json.loads(paths["json"].read_text())
    paths["png"] = charts.draw(result.name, payload, out_dir)
    return paths


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


# ---------------------------------------------------------------- roofline


_ROOFLINE_CACHE: dict[tuple, dict] = {}


def measure_roofline(cfg: BenchConfig) -> dict:
    """fp32 matmul GFLOP/s and memory bandwidth (GB/s), JAX and torch, same run.

    Matmul: (n, n) @ (n, n), 2 n^3 flops. Bandwidth: ``a = b + 2 c`` over float32
    vectors far larger than the caches, 3 x 4 bytes per element (two reads, one write;
    write-allocate traffic not counted), into an existing buffer. The reference is the
    better framework for each.
    """
    key = (cfg.quick, cfg.repeats)
    if key in _ROOFLINE_CACHE:
        return _ROOFLINE_CACHE[key]
    import jax
    import jax.numpy as jnp
    import torch

    n = 256 if cfg.quick else 2048
    m = (1 << 20) if cfg.quick else (1 << 25)  # 128 MiB per vector in the full run
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    ja, jb = jnp.asarray(a), jnp.asarray(b)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    jmm = jax.jit(lambda x, y: x @ y)
    with torch.inference_mode():
        t_mm = measure(
            {"jax": lambda: jmm(ja, jb).block_until_ready(), "torch": lambda: torch.mm(ta, tb)}, cfg
        )
    u = rng.standard_normal(m, dtype=np.float32)
    v = rng.standard_normal(m, dtype=np.float32)
    # XLA writes into the donated first operand (u <- u + 2 v), so no call pays for
    # faulting in a fresh output buffer; torch writes into a preallocated ``out``.
    jtriad = jax.jit(lambda x, y: x + 2.0 * y, donate_argnums=0)
    jstate = [jnp.asarray(u)]
    jv = jnp.asarray(v)
    tu, tv, tout = torch.from_numpy(u), torch.from_numpy(v), torch.empty(m)

    def jax_triad():
        jstate[0] = jtriad(jstate[0], jv)
        jstate[0].block_until_ready()

    with torch.inference_mode():
        t_bw = measure(
            {"jax": jax_triad, "torch": lambda: torch.add(tu, tv, alpha=2.0, out=tout)}, cfg
        )
    flops, nbytes = 2 * n**3, 3 * 4 * m
    res: dict[str, Any] = {
        "matmul_n": n,
        "triad_elements": m,
        "matmul_gflops": {k: flops / t["min_s"] / 1e9 for k, t in t_mm.items()},
        "bandwidth_gbps": {k: nbytes / t["min_s"] / 1e9 for k, t in t_bw.items()},
        "matmul_gflops_median": {k: flops / t["median_s"] / 1e9 for k, t in t_mm.items()},
        "bandwidth_gbps_median": {k: nbytes / t["median_s"] / 1e9 for k, t in t_bw.items()},
        "timings": {"matmul": t_mm, "triad": t_bw},
    }
    # The reference is the best round of the better framework: what the machine can do
    # when the other tenants leave it alone for 30 ms (the median is reported beside it).
    res["peak_gflops"] = max(res["matmul_gflops"].values())
    res["peak_gbps"] = max(res["bandwidth_gbps"].values())
    _ROOFLINE_CACHE[key] = res
    return res


def run_roofline(cfg: BenchConfig, threads: int, info: dict | None = None) -> Result:
    info = info or machine_info(threads)
    with torch_threads(threads):
        r = measure_roofline(cfg)
    mib = r["triad_elements"] * 4 >> 20
    rows = [
        [
            f"fp32 matmul {r['matmul_n']}x{r['matmul_n']} (GFLOP/s)",
            f"{r['matmul_gflops']['jax']:.0f} ({r['matmul_gflops_median']['jax']:.0f})",
            f"{r['matmul_gflops']['torch']:.0f} ({r['matmul_gflops_median']['torch']:.0f})",
            f"{r['peak_gflops']:.0f}",
        ],
        [
            f"memory bandwidth, a = b + 2c over {mib} MiB vectors (GB/s)",
            f"{r['bandwidth_gbps']['jax']:.1f} ({r['bandwidth_gbps_median']['jax']:.1f})",
            f"{r['bandwidth_gbps']['torch']:.1f} ({r['bandwidth_gbps_median']['torch']:.1f})",
            f"{r['peak_gbps']:.1f}",
        ],
    ]
    loads = load_summary(_loads(t for group in r["timings"].values() for t in group.values()))
    return Result(
        "roofline",
        [
            (
                "Roofline reference (same run): best round (median round)",
                ["measure", "jax (XLA)", "torch", "reference (best)"],
                rows,
            )
        ],
        {"benchmark": "roofline", "machine": info, "roofline": r, "load": loads},
        notes=[
            f"Tudui training: {TUDUI_TRAIN_FLOPS / 1e6:.1f} MFLOP per image (3x the forward's "
            f"{TUDUI_FORWARD_FLOPS / 1e6:.1f}); at the reference peak that is "
            f"{r['peak_gflops'] * 1e9 / TUDUI_TRAIN_FLOPS:.0f} images/s.",
            _load_note(loads, "Roofline"),
        ],
    )


# ---------------------------------------------------------------- losses


@dataclasses.dataclass(frozen=True)
class LossCase:
    """How to benchmark one loss.

    ``make(rng, shape)`` returns the positional arguments as numpy arrays (float32
    inputs; integer targets as int64) and ``kwargs`` the keyword arguments used for
    jaxloss and torch alike. The gradient is taken with respect to the first argument.
    ``optax`` (optional) computes the same value from the same JAX arguments. ``torch``:
    the reference where it is not torch.nn.functional's (torchvision.ops' losses).
    """

    grid: str  # "elements", "classes", "ctc"
    make: Callable[[np.random.Generator, Any], list[np.ndarray]]
    kwargs: dict = dataclasses.field(default_factory=dict)
    optax: Callable | None = None
    torch: Callable | None = None


def _vec(size: int) -> tuple[int, ...]:
    return (size,)


def _rows(size: int, width: int = 128) -> tuple[int, int]:
    """(N, D) embeddings with about ``size`` elements."""
    d = min(size, width)
    return (max(1, size // d), d)


def _n(rng, shape):
    return rng.standard_normal(shape, dtype=np.float32)


def _u(rng, shape, lo=0.0, hi=1.0):
    return rng.uniform(lo, hi, size=shape).astype(np.float32)


def _sign(rng, shape):
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0).astype(np.float32)


def _classes(rng, n, c):
    return rng.integers(0, c, size=(n,), dtype=np.int64)


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
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
    log_probs = _log_softmax(_n(rng, (t, n, c)), axis=2)
    targets = rng.integers(1, c, size=(n, s), dtype=np.int64)
    input_lengths = np.full((n,), t, dtype=np.int64)
    target_lengths = rng.integers(max(1, s // 2), s + 1, size=(n,), dtype=np.int64)
    return [log_probs, targets, input_lengths, target_lengths]


def _boxes(rng, size):
    """About ``size`` elements of (x1, y1, x2, y2) boxes: (size // 4, 4), positive sides."""
    xy = _u(rng, (max(1, size // 4), 2), 0.0, 10.0)
    return np.concatenate([xy, xy + _u(rng, xy.shape, 0.5, 5.0)], axis=1)


def _box_pair(rng, size):
    return [_boxes(rng, size), _boxes(rng, size)]


def _torchvision_ops() -> Any:
    """torchvision 0.28.0's losses, loaded from its files by tests/torchvision_ops.py
    (``import torchvision`` needs compiled operators a CPU build of torch may not load)."""
    import importlib.util

    if "torchvision_ops" not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "tests" / "torchvision_ops.py"
        spec = importlib.util.spec_from_file_location("torchvision_ops", path)
        assert spec is not None and spec.loader is not None
        sys.modules["torchvision_ops"] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules["torchvision_ops"].TORCHVISION_OPS


def _optax_cases() -> dict[str, Callable]:
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
    """Input generators for the losses of ``jaxloss.functional`` (torch's names) and
    ``jaxloss.ops`` (torchvision's, reduced with 'mean')."""
    ox = _optax_cases()
    tv = _torchvision_ops()
    e = "elements"
    mean = {"reduction": "mean"}
    cases = {
        "l1_loss": LossCase(e, lambda r, s: [_n(r, _vec(s)), _n(r, _vec(s))]),
        "mse_loss": LossCase(e, lambda r, s: [_n(r, _vec(s)), _n(r, _vec(s))]),
        "smooth_l1_loss": LossCase(e, lambda r, s: [_n(r, _vec(s)), _n(r, _vec(s))]),
        "huber_loss": LossCase(e, lambda r, s: [_n(r, _vec(s)), _n(r, _vec(s))]),
        "soft_margin_loss": LossCase(e, lambda r, s: [_n(r, _vec(s)), _sign(r, _vec(s))]),
        "binary_cross_entropy": LossCase(
            e, lambda r, s: [_u(r, _vec(s), 0.01, 0.99), _u(r, _vec(s))]
        ),
        "binary_cross_entropy_with_logits": LossCase(
            e, lambda r, s: [_n(r, _vec(s)), _u(r, _vec(s))]
        ),
        "kl_div": LossCase(
            e,
            lambda r, s: [np.log(_u(r, _vec(s), 0.01, 1.0)), _u(r, _vec(s))],
            {"reduction": "batchmean"},
        ),
        "poisson_nll_loss": LossCase(
            e, lambda r, s: [0.5 * _n(r, _vec(s)), r.poisson(1.0, _vec(s)).astype(np.float32)]
        ),
        "gaussian_nll_loss": LossCase(
            e, lambda r, s: [_n(r, _vec(s)), _n(r, _vec(s)), _u(r, _vec(s), 0.1, 2.0)]
        ),
        "hinge_embedding_loss": LossCase(e, lambda r, s: [_n(r, _vec(s)), _sign(r, _vec(s))]),
        "margin_ranking_loss": LossCase(
            e, lambda r, s: [_n(r, _vec(s)), _n(r, _vec(s)), _sign(r, _vec(s))]
        ),
        "cosine_embedding_loss": LossCase(
            e, lambda r, s: [_n(r, _rows(s)), _n(r, _rows(s)), _sign(r, _rows(s)[:1])]
        ),
        "triplet_margin_loss": LossCase(e, lambda r, s: [_n(r, _rows(s)) for _ in range(3)]),
        "triplet_margin_with_distance_loss": LossCase(
            e, lambda r, s: [_n(r, _rows(s)) for _ in range(3)]
        ),
        "cross_entropy": LossCase("classes", lambda r, s: [_n(r, s), _classes(r, *s)]),
        "nll_loss": LossCase("classes", lambda r, s: [_log_softmax(_n(r, s), 1), _classes(r, *s)]),
        "multi_margin_loss": LossCase("classes", lambda r, s: [_n(r, s), _classes(r, *s)]),
        "multilabel_margin_loss": LossCase(
            "classes", lambda r, s: [_n(r, s), _multilabel_targets(r, *s)]
        ),
        "multilabel_soft_margin_loss": LossCase(
            "classes", lambda r, s: [_n(r, s), (r.random(s) < 0.3).astype(np.float32)]
        ),
        "ctc_loss": LossCase("ctc", _ctc_inputs),
        # (N, C) logits from N tokens of width 64 and a (C, 64) head; the large shapes
        # (tokens x vocabulary past 2**22 logits) are benchmarks/bench_linear_cross_entropy.py
        "linear_cross_entropy": LossCase(
            "classes",
            lambda r, s: [_n(r, (s[0], 64)), 0.1 * _n(r, (s[1], 64)), _classes(r, *s)],
        ),
        "sigmoid_focal_loss": LossCase(
            e,
            lambda r, s: [_n(r, _vec(s)), (r.random(_vec(s)) < 0.1).astype(np.float32)],
            mean,
            torch=tv.sigmoid_focal_loss,
        ),
        "generalized_box_iou_loss": LossCase(e, _box_pair, mean, torch=tv.generalized_box_iou_loss),
        "distance_box_iou_loss": LossCase(e, _box_pair, mean, torch=tv.distance_box_iou_loss),
        "complete_box_iou_loss": LossCase(e, _box_pair, mean, torch=tv.complete_box_iou_loss),
    }
    return {name: dataclasses.replace(case, optax=ox.get(name)) for name, case in cases.items()}


# Exported by jaxloss.functional but not losses: nothing to benchmark.
NOT_LOSSES = ("pairwise_distance",)


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


def _grid(case: LossCase, cfg: BenchConfig) -> list[Any]:
    if case.grid == "elements":
        return list(cfg.sizes)
    if case.grid == "classes":
        return [tuple(s) for s in cfg.class_shapes]
    return [tuple(s) for s in cfg.ctc_shapes]


def _jax_args(arrays: list[np.ndarray]):
    import jax.numpy as jnp

    return [jnp.asarray(a.astype(np.int32) if a.dtype == np.int64 else a) for a in arrays]


def _close(a: float, b: float, rtol: float = 1e-4) -> bool:
    return a == b or bool(abs(a - b) <= rtol * max(abs(a), abs(b), 1e-6))


def xla_bytes_accessed(jitted: Callable, *args) -> float | None:
    """Bytes XLA's compiled program reads and writes (its cost analysis), or None."""
    try:
        cost = jitted.lower(*args).compile().cost_analysis()  # type: ignore[attr-defined, unused-ignore]
    except Exception:
        return None
    if isinstance(cost, list):
        cost = cost[0] if cost else {}
    value = (cost or {}).get("bytes accessed")
    return None if value is None else float(value)


def triad_callable(n: int) -> Callable[[], None]:
    """``u <- u + 2 v`` over n float32 (12 bytes per element) into a donated buffer: the
    bandwidth reference measured beside each large loss case, at the same size."""
    import jax
    import jax.numpy as jnp

    triad = jax.jit(lambda x, y: x + 2.0 * y, donate_argnums=0)
    state = [jnp.zeros(n, jnp.float32)]
    v = jnp.ones(n, jnp.float32)

    def run() -> None:
        state[0] = triad(state[0], v)
        state[0].block_until_ready()

    return run


def xla_full_size_passes(jitted: Callable, *args, elements: int) -> int | None:
    """Top-level operations of XLA's compiled program that read or write an array of at
    least ``elements`` elements: how many passes over memory the call makes."""
    import re

    try:
        text = jitted.lower(*args).compile().as_text()  # type: ignore[attr-defined, unused-ignore]
    except Exception:
        return None
    entry = text[text.index("\nENTRY") :]
    entry = entry[: entry.index("\n}")]
    big: dict[str, bool] = {}
    passes = 0
    for line in entry.splitlines()[1:]:
        m = re.match(r"\s+(?:ROOT )?%(\S+) = (.+?) ([\w-]+)\((.*?)\)", line)
        if not m:
            continue
        name, shape, op, operands = m.groups()
        dims = re.findall(r"\[([\d,]*)\]", shape)
        big[name] = any(math.prod(int(d) for d in ds.split(",") if d) >= elements for ds in dims)
        if op in ("parameter", "constant", "bitcast", "tuple", "get-tuple-element"):
            continue
        if big[name] or any(big.get(o, False) for o in re.findall(r"%([\w.\-]+)", operands)):
            passes += 1
    return passes


def minor_faults_per_call(fn: Callable[[], Any], calls: int = 3) -> float:
    """Minor page faults per call of ``fn`` (fresh pages the allocator had to map in)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        fn()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls


def _loss_fns(name: str, case: LossCase, arrays: list[np.ndarray], analyse: bool = False):
    """{mode: {framework: blocking callable}}, the values each framework computed, the
    bytes each mode must move, and (``analyse``) the bytes XLA's program moves."""
    import jax
    import torch
    import torch.nn.functional as TF

    import jaxloss

    jfn = getattr(jaxloss, name)
    tfn = case.torch or getattr(TF, name)
    kw = case.kwargs
    jargs = _jax_args(arrays)
    targs = [torch.from_numpy(a) for a in arrays]

    def jloss(*a):
        return jfn(*a, **kw)

    jv = jax.jit(jloss)
    jg = jax.jit(jax.value_and_grad(jloss))
    tx = targs[0].clone().requires_grad_(True)
    trest = targs[1:]

    def t_value():
        with torch.no_grad():
            return tfn(*targs, **kw)

    def t_grad():
        tx.grad = None
        loss = tfn(tx, *trest, **kw)
        loss.backward()
        return loss

    fns = {
        "value": {"jaxloss": lambda: jv(*jargs).block_until_ready(), "torch": t_value},
        "value+grad": {"jaxloss": lambda: jax.block_until_ready(jg(*jargs)), "torch": t_grad},
    }
    values = {"jaxloss": float(jv(*jargs)), "torch": float(t_value())}
    if case.optax is not None:
        ov = jax.jit(case.optax)
        og = jax.jit(jax.value_and_grad(case.optax))
        values["optax"] = float(ov(*jargs))
        fns["value"]["optax"] = lambda: ov(*jargs).block_until_ready()
        fns["value+grad"]["optax"] = lambda: jax.block_until_ready(og(*jargs))
    nbytes = sum(a.nbytes for a in jargs)
    must_move = {"value": nbytes, "value+grad": nbytes + jargs[0].nbytes}
    xla: dict[str, dict] = {"value": {}, "value+grad": {}}
    if analyse:
        n = int(arrays[0].size)
        for mode, jitted in (("value", jv), ("value+grad", jg)):
            xla[mode] = {
                "bytes": xla_bytes_accessed(jitted, *jargs),
                "passes": xla_full_size_passes(jitted, *jargs, elements=n),
            }
    return fns, values, must_move, xla


def _shape_label(case: LossCase, shape) -> str:
    if case.grid == "elements":
        return f"{shape:.0e}".replace("e+0", "e").replace("e0", "") if shape >= 1000 else str(shape)
    if case.grid == "classes":
        return f"{shape[0]}x{shape[1]}"
    return "T{}xN{}xC{} S{}".format(*shape)


def ce_in_step(cfg: BenchConfig, n: int = 64, c: int = 10) -> dict:
    """cross_entropy value+grad at (n, c) inside one jitted program: ``steps``
    dependent updates in a ``lax.fori_loop``, so no per-call dispatch is paid.
    Per-step time for jaxloss and optax; torch eager per call for comparison."""
    import jax
    import jax.numpy as jnp
    import optax  # type: ignore[import-untyped, unused-ignore]
    import torch
    import torch.nn.functional as TF

    import jaxloss

    steps = 10 if cfg.quick else 200
    rng = np.random.default_rng(1)
    x = _n(rng, (n, c))
    y = _classes(rng, n, c)
    jx, jy = jnp.asarray(x), jnp.asarray(y.astype(np.int32))

    def looped(loss):
        def body(_, logits):
            g = jax.grad(loss)(logits, jy)
            return logits - 0.1 * g

        return jax.jit(lambda logits: jax.lax.fori_loop(0, steps, body, logits))

    j = looped(lambda a, b: jaxloss.cross_entropy(a, b))
    o = looped(lambda a, b: jnp.mean(optax.losses.softmax_cross_entropy_with_integer_labels(a, b)))
    tx = torch.from_numpy(x).requires_grad_(True)
    ty = torch.from_numpy(y)

    def t_step():
        tx.grad = None
        loss = TF.cross_entropy(tx, ty)
        loss.backward()
        return loss

    t = measure(
        {
            "jaxloss": lambda: j(jx).block_until_ready(),
            "optax": lambda: o(jx).block_until_ready(),
            "torch": lambda: [t_step() for _ in range(steps)],
        },
        cfg,
    )
    res: dict[str, Any] = {k: v["median_s"] / steps for k, v in t.items()}
    res["min"] = {k: v["min_s"] / steps for k, v in t.items()}
    return res | {"shape": [n, c], "steps": steps, "load": t["jaxloss"]["load"]}


_MAIN_HEADERS = [
    "loss",
    "shape",
    "mode",
    "jaxloss (jit)",
    "jaxloss min",
    "torch eager",
    "torch min",
    "optax",
    "torch/jaxloss",
    "(of minima)",
    "optax/jaxloss",
    "% of BW",
]


def _loss_row(name: str, case: LossCase, shape, arrays, t: dict, mode: str, info: dict) -> dict:
    tj, tt = t["jaxloss"]["median_s"], t["torch"]["median_s"]
    mj, mt = t["jaxloss"]["min_s"], t["torch"]["min_s"]
    to = t["optax"]["median_s"] if "optax" in t else None
    must = info["must_move"][mode]
    xla = info["xla"][mode].get("bytes")
    peak = info["peak_gbps"]
    triad = t.get("triad")
    # bandwidth of the triad at this size, in the same rounds (12 bytes per element)
    tri_best = 12 * arrays[0].size / triad["min_s"] / 1e9 if triad else None
    tri_med = 12 * arrays[0].size / triad["median_s"] / 1e9 if triad else None
    return {
        "loss": name,
        "shape": list(shape) if isinstance(shape, tuple) else [shape],
        "shape_label": _shape_label(case, shape),
        "grid": case.grid,
        "elements": int(arrays[0].size),
        "mode": mode,
        "jaxloss_s": tj,
        "torch_s": tt,
        "optax_s": to,
        "jaxloss_min_s": mj,
        "torch_min_s": mt,
        "optax_min_s": t["optax"]["min_s"] if "optax" in t else None,
        "torch_over_jaxloss": tt / tj,
        "torch_over_jaxloss_min": mt / mj,
        "optax_over_jaxloss": None if to is None else to / tj,
        "values": info["values"],
        "values_agree_with_torch": info["agree"],
        "bytes_must_move": must,
        "xla_bytes_accessed": xla,
        "jaxloss_GBps": must / tj / 1e9,
        "fraction_of_bandwidth": must / tj / 1e9 / peak,
        "fraction_of_bandwidth_best": must / mj / 1e9 / peak,
        "torch_fraction_of_bandwidth_best": must / mt / 1e9 / peak,
        "bandwidth_bound_of_xla_program": None if not xla else min(1.0, must / xla),
        "xla_full_size_passes": info["xla"][mode].get("passes"),
        "triad_GBps_best": tri_best,
        "triad_GBps_median": tri_med,
        "fraction_of_triad_best": None if not tri_best else must / mj / 1e9 / tri_best,
        "fraction_of_triad_median": None if not tri_med else must / tj / 1e9 / tri_med,
        "torch_fraction_of_triad_best": None if not tri_best else must / mt / 1e9 / tri_best,
        "timings": t,
    }


def _main_cells(r: dict) -> list:
    return [
        r["loss"],
        r["shape_label"],
        r["mode"],
        _fmt_time(r["jaxloss_s"]),
        _fmt_time(r["jaxloss_min_s"]),
        _fmt_time(r["torch_s"]),
        _fmt_time(r["torch_min_s"]),
        _fmt_time(r["optax_s"]),
        _fmt_ratio(r["torch_over_jaxloss"]),
        _fmt_ratio(r["torch_over_jaxloss_min"]),
        _fmt_ratio(r["optax_over_jaxloss"]),
        _fmt_pct(r["fraction_of_bandwidth"]) if r["elements"] >= 100_000 else "",
    ]


def run_losses(
    cfg: BenchConfig, threads: int, info: dict | None = None, out: TextIO | None = None
) -> Result:
    info = info or machine_info(threads)
    cases = loss_cases()
    names = list(cfg.losses) if cfg.losses else available_losses()
    missing = [n for n in names if n not in cases]
    names = [n for n in names if n in cases]
    rows_json: list[dict] = []
    with torch_threads(threads):
        ref = measure_roofline(cfg)
        for name in names:
            case = cases[name]
            for shape in _grid(case, cfg):
                # each case's inputs depend only on (loss, shape): reproducible in any subset
                rng = np.random.default_rng(zlib.crc32(f"{name} {shape}".encode()))
                arrays = case.make(rng, shape)
                large = arrays[0].size >= LARGE_ELEMENTS
                fns, values, must_move, xla = _loss_fns(name, case, arrays, analyse=large)
                agree = _close(values["jaxloss"], values["torch"])
                optax_same = "optax" in values and _close(values["optax"], values["jaxloss"])
                case_info = {
                    "must_move": must_move,
                    "xla": xla,
                    "peak_gbps": ref["peak_gbps"],
                    "values": values,
                    "agree": agree,
                }
                for mode, mfns in fns.items():
                    if "optax" in mfns and not optax_same:
                        mfns = {k: v for k, v in mfns.items() if k != "optax"}
                    if large:  # the bandwidth reference at this size, interleaved
                        mfns = dict(mfns, triad=triad_callable(int(arrays[0].size)))
                    t = measure(mfns, cfg)
                    row = _loss_row(name, case, shape, arrays, t, mode, case_info)
                    if large:
                        row["minor_faults_per_call"] = {
                            fw: minor_faults_per_call(fn, 1 if cfg.quick else 3)
                            for fw, fn in mfns.items()
                            if fw in ("jaxloss", "torch")
                        }
                    rows_json.append(row)
                    if out is not None:
                        line = format_table(_MAIN_HEADERS, [_main_cells(row)]).splitlines()[-1]
                        out.write(line + ("" if agree else "  DIFFERS") + "\n")
                        out.flush()
        in_step = ce_in_step(cfg)
    goals = _loss_goals(rows_json, in_step)
    loads = load_summary(_loads(t for r in rows_json for t in r["timings"].values()))
    step_rows = [
        [
            f"cross_entropy {in_step['shape'][0]}x{in_step['shape'][1]}, value+grad",
            _fmt_time(in_step["jaxloss"]),
            _fmt_time(in_step["optax"]),
            _fmt_time(in_step["torch"]),
            _fmt_ratio(in_step["torch"] / in_step["jaxloss"]),
            _fmt_ratio(in_step["optax"] / in_step["jaxloss"]),
        ]
    ]
    notes = [
        "Times are per call: the median over rounds and the best round ('min'); ratios > 1 "
        "mean jaxloss is faster. '% of BW': the bytes the call must move (inputs read, plus "
        "the gradient written for value+grad) per second (median round), over the "
        f"roofline's bandwidth ({ref['peak_gbps']:.1f} GB/s, its best round). The large-case "
        "table compares each case with a triad (u = u + 2 v, 12 bytes per element) of the "
        "same size timed in the same rounds, which is what the bandwidth goal uses.",
        "optax is shown where it has the same function and its value agrees (mse = "
        "squared_error mean, huber/smooth_l1 = huber_loss(delta=1), cross_entropy = "
        "softmax_cross_entropy_with_integer_labels mean, bce_with_logits = "
        "sigmoid_binary_cross_entropy mean, kl_div(batchmean) = kl_divergence / n, "
        "triplet_margin_loss, sigmoid_focal_loss = sigmoid_focal_loss(alpha=0.25) mean). "
        "optax has no nll_loss (its softmax cross entropy on log-probabilities has nll's "
        "value but not its gradient), so nll_loss has no optax column.",
        _load_note(loads, "Losses"),
    ]
    for g in goals:
        if not g["met"] and g.get("failing"):
            notes.append(f"Not met -- {g['goal']}: " + "; ".join(g["failing"]) + ".")
    if missing:
        notes.append("No input generator (not benchmarked): " + ", ".join(missing))
    differs = sorted({r["loss"] for r in rows_json if not r["values_agree_with_torch"]})
    if differs:
        notes.append("Value differs from torch's by more than 1e-4 (check!): " + ", ".join(differs))
    tables = [
        ("Losses: time per call, jaxloss jit vs torch eager vs optax", _MAIN_HEADERS, []),
        _class_index_table(rows_json),
        _bandwidth_table(rows_json, ref),
        (
            "cross_entropy inside a jitted step (per step, no dispatch)",
            [
                "case",
                "jaxloss",
                "optax",
                "torch eager (per call)",
                "torch/jaxloss",
                "optax/jaxloss",
            ],
            step_rows,
        ),
        ("Loss goals", ["goal", "measured", "met"], _goal_rows(goals)),
    ]
    tables[0][2].extend(_main_cells(r) for r in rows_json)
    return Result(
        "losses",
        tables,
        {
            "benchmark": "losses",
            "machine": info,
            "config": dataclasses.asdict(cfg),
            "roofline": ref,
            "rows": rows_json,
            "cross_entropy_in_step": in_step,
            "goals": goals,
            "load": loads,
            "not_benchmarked": missing,
        },
        notes,
    )


def _class_index_table(rows: list[dict]) -> tuple[str, list[str], list[list]]:
    """nll_loss and cross_entropy at the training shapes, against torch and optax."""
    shapes = [list(s) for s in CLASS_INDEX_SHAPES]
    sel = [r for r in rows if r["loss"] in ("cross_entropy", "nll_loss") and r["shape"] in shapes]
    sel.sort(key=lambda r: (r["loss"] != "nll_loss", shapes.index(r["shape"]), r["mode"]))
    body = [
        [
            r["loss"],
            r["shape_label"],
            r["mode"],
            f"{_fmt_time(r['jaxloss_s'])} ({_fmt_time(r['jaxloss_min_s'])})",
            f"{_fmt_time(r['torch_s'])} ({_fmt_time(r['torch_min_s'])})",
            "-"
            if r["optax_s"] is None
            else f"{_fmt_time(r['optax_s'])} ({_fmt_time(r['optax_min_s'])})",
            f"{_fmt_ratio(r['torch_over_jaxloss'])} ({_fmt_ratio(r['torch_over_jaxloss_min'])})",
            "-"
            if r["optax_s"] is None
            else f"{_fmt_ratio(r['optax_over_jaxloss'])} "
            f"({_fmt_ratio(r['optax_min_s'] / r['jaxloss_min_s'])})",
        ]
        for r in sel
    ]
    return (
        "nll_loss and cross_entropy at 64x10, 65536x10, 4096x1000: median (best round)",
        [
            "loss",
            "N x C",
            "mode",
            "jaxloss (jit)",
            "torch eager",
            "optax",
            "torch/jaxloss",
            "optax/jaxloss",
        ],
        body,
    )


def _bandwidth_table(rows: list[dict], ref: dict) -> tuple[str, list[str], list[list]]:
    """Every case with >= LARGE_ELEMENTS elements as a fraction of the memory bandwidth."""
    body = []
    for r in rows:
        if r["elements"] < LARGE_ELEMENTS:
            continue
        faults = r.get("minor_faults_per_call", {})
        xla = r["xla_bytes_accessed"]
        tri = r["triad_GBps_best"]
        body.append(
            [
                r["loss"],
                r["shape_label"],
                r["mode"],
                f"{r['bytes_must_move'] / 1e6:.0f}",
                "" if not xla else f"{xla / 1e6:.0f}",
                "" if r["xla_full_size_passes"] is None else r["xla_full_size_passes"],
                _fmt_pct(r["bandwidth_bound_of_xla_program"]),
                "" if tri is None else f"{tri:.1f}",
                _fmt_pct(r["fraction_of_triad_best"]),
                _fmt_pct(r["fraction_of_triad_median"]),
                _fmt_pct(r["torch_fraction_of_triad_best"]),
                _fmt_pct(r["fraction_of_bandwidth_best"]),
                f"{faults.get('jaxloss', 0):.0f} / {faults.get('torch', 0):.0f}",
            ]
        )
    return (
        "Large cases against the memory bandwidth (triad at the same size, same rounds)",
        [
            "loss",
            "shape",
            "mode",
            "MB the call must move",
            "MB XLA's program moves",
            "full-size passes",
            "bound by XLA's bytes",
            "triad GB/s (best)",
            "jaxloss % of triad (best)",
            "(median)",
            "torch % of triad (best)",
            f"jaxloss % of {ref['peak_gbps']:.0f} GB/s",
            "page faults/call jaxloss / torch",
        ],
        body,
    )


def _goal_rows(goals: list[dict]) -> list[list[str]]:
    return [[g["goal"], g["measured"], "yes" if g["met"] else "NO"] for g in goals]


def _bandwidth_diagnosis(r: dict) -> str:
    """Why a case is under the bandwidth goal, from what the run measured."""
    bound = r["bandwidth_bound_of_xla_program"]
    faults = r.get("minor_faults_per_call", {}).get("jaxloss", 0.0)
    reasons = []
    if bound is not None and bound < BANDWIDTH_GOAL:
        reasons.append(
            f"XLA's program moves {r['xla_bytes_accessed'] / r['bytes_must_move']:.2f}x the "
            f"minimal bytes in {r['xla_full_size_passes']} full-size passes (at most "
            f"{100 * bound:.0f}% attainable)"
        )
    if faults > 100:
        reasons.append(f"{faults:.0f} page faults per call (fresh output/temporary buffers)")
    if not reasons:
        reasons.append("time beyond its bytes: compute (transcendentals) or dispatch")
    return "; ".join(reasons)


def _loss_goals(rows: list[dict], in_step: dict) -> list[dict]:
    goals = []
    big = [r for r in rows if r["mode"] == "value+grad" and r["elements"] >= LARGE_ELEMENTS]
    if big:
        worst = min(big, key=lambda r: r["torch_over_jaxloss"])
        goals.append(
            {
                "goal": "value+grad >= 3x torch eager at >= 1e6 elements (every loss)",
                "measured": f"worst {worst['torch_over_jaxloss']:.2f}x "
                f"({worst['loss']} {worst['shape_label']})",
                "met": worst["torch_over_jaxloss"] >= 3.0,
                "failing": [
                    f"{r['loss']} {r['shape_label']}: {r['torch_over_jaxloss']:.2f}x"
                    for r in big
                    if r["torch_over_jaxloss"] < 3.0
                ],
            }
        )
    ew = [
        r
        for r in rows
        if r["mode"] == "value+grad"
        and r["loss"] in ELEMENTWISE_LOSSES
        and r["elements"] >= LARGE_ELEMENTS
    ]
    if ew:

        def frac(r: dict) -> float:
            f = r["fraction_of_triad_best"]
            return r["fraction_of_bandwidth_best"] if f is None else f

        worst = min(ew, key=frac)
        failing = [r for r in ew if frac(r) < BANDWIDTH_GOAL]
        goals.append(
            {
                "goal": f"elementwise losses' value+grad >= {100 * BANDWIDTH_GOAL:.0f}% of the "
                "memory bandwidth at 1e6 and 1e7 (triad at the same size, best rounds)",
                "measured": f"{len(ew) - len(failing)} of {len(ew)} cases; worst "
                f"{100 * frac(worst):.0f}% ({worst['loss']} {worst['shape_label']})",
                "met": not failing,
                "failing": [
                    f"{r['loss']} {r['shape_label']}: {100 * frac(r):.0f}% -- "
                    f"{_bandwidth_diagnosis(r)}"
                    for r in failing
                ],
            }
        )
    mid = [r for r in rows if r["elements"] >= MID_ELEMENTS]
    if mid:
        slower = [r for r in mid if r["torch_over_jaxloss"] < 1.0]
        worst = min(mid, key=lambda r: r["torch_over_jaxloss"])
        goals.append(
            {
                "goal": f"no loss slower than torch eager at >= {MID_ELEMENTS:.0e} elements "
                "(value and value+grad)",
                "measured": f"{len(mid) - len(slower)} of {len(mid)} cases; worst "
                f"{worst['torch_over_jaxloss']:.2f}x ({worst['loss']} {worst['shape_label']}, "
                f"{worst['mode']})",
                "met": not slower,
                "failing": [
                    f"{r['loss']} {r['shape_label']} {r['mode']}: {r['torch_over_jaxloss']:.2f}x"
                    for r in slower
                ],
            }
        )
    nll = [r for r in rows if r["loss"] == "nll_loss" and r["shape_label"] in NLL_GOAL_SHAPES]
    for r in nll:
        # value: within 1.5x of torch's time; value+grad: faster than torch
        need = 1 / 1.5 if r["mode"] == "value" else 1.0
        goals.append(
            {
                "goal": f"nll_loss {r['shape_label']} {r['mode']}: "
                + ("within 1.5x of torch's time" if r["mode"] == "value" else "faster than torch"),
                "measured": f"torch/jaxloss {r['torch_over_jaxloss']:.2f}x",
                "met": r["torch_over_jaxloss"] >= need,
            }
        )
    ce = [r for r in rows if r["loss"] == "cross_entropy" and r["optax_s"] is not None]
    if ce:
        worst = max(ce, key=lambda r: r["jaxloss_s"] / r["optax_s"])
        slow = worst["jaxloss_s"] / worst["optax_s"]
        goals.append(
            {
                "goal": "cross_entropy within 10% of optax "
                "softmax_cross_entropy_with_integer_labels (+mean)",
                "measured": f"worst: jaxloss takes {slow:.2f}x optax's time "
                f"({worst['shape_label']}, {worst['mode']})",
                "met": slow <= 1.10,
            }
        )
    goals.append(
        {
            "goal": "cross_entropy (64x10) inside a jitted step not slower than torch",
            "measured": f"{in_step['jaxloss'] * 1e6:.2f} us vs torch "
            f"{in_step['torch'] * 1e6:.1f} us per step",
            "met": in_step["jaxloss"] <= in_step["torch"],
        }
    )
    return goals


# ---------------------------------------------------------------- Tudui


def _torch_tudui():
    from torch import nn

    class TorchTudui(nn.Module):  # the lesson's model, verbatim
        def __init__(self):
            super().__init__()
            self.model1 = nn.Sequential(
                nn.Conv2d(3, 32, 5, padding=2),
                nn.MaxPool2d(2),
                nn.Conv2d(32, 32, 5, padding=2),
                nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 5, padding=2),
                nn.MaxPool2d(2),
                nn.Flatten(),
                nn.Linear(1024, 64),
                nn.Linear(64, 10),
            )

        def forward(self, x):
            return self.model1(x)

    return TorchTudui()


def _jax_stepper(step, params0, opt_state0, images, labels) -> Callable[[], None]:
    import jax
    import jax.numpy as jnp

    state = [jax.tree.map(jnp.copy, params0), opt_state0]

    def jax_step() -> None:
        state[0], state[1], metrics = step(state[0], state[1], images, labels)
        jax.block_until_ready((state[0], metrics))

    return jax_step


def _torch_stepper(module, images, labels) -> Callable[[], None]:
    import torch
    import torch.nn.functional as TF

    opt = torch.optim.SGD(module.parameters(), lr=0.01)

    def torch_step() -> None:
        opt.zero_grad()
        loss = TF.cross_entropy(module(images), labels)
        loss.backward()
        opt.step()

    return torch_step


def _plan_label(batch: int) -> str:
    from jaxloss.tudui import lowering

    return lowering.plan_for(batch).describe(batch)


EIGEN_CONVOLUTIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}  # XLA's Eigen convs


def lowering_candidates(batch: int) -> dict[str, tuple[Any, dict]]:
    """The lowerings compared at a batch size: {label: (Plan, per-executable options)}."""
    from jaxloss.tudui import lowering

    rule = lowering.plan_for(batch)
    uniform = 4 if batch <= 64 else 8  # the rule before per-stage sizes
    other = lowering.Plan((8, 16, 32) if batch <= 256 else (4, 8, 16))  # the other base size
    return {
        f"rule: {rule.describe(batch)}": (rule, {}),
        f"uniform pieces of {uniform}": (lowering.Plan((uniform,) * 3), {}),
        other.describe(batch): (other, {}),
        "whole batch": (lowering.Plan((batch,) * 3), {}),
        "rule + Eigen convolutions (ynn_fusion_type='')": (rule, EIGEN_CONVOLUTIONS),
    }


def measure_lowerings(cfg: BenchConfig, batch: int, graphdef, params0, tx) -> dict:
    """The Tudui step compiled with each candidate lowering, timed interleaved."""
    import jax.numpy as jnp

    from jaxloss.tudui import lowering
    from jaxloss.tudui.train import make_train_step

    rng = np.random.default_rng(batch)
    images = jnp.asarray(rng.uniform(0, 1, size=(batch, 32, 32, 3)).astype(np.float32))
    labels = jnp.asarray(rng.integers(0, 10, size=(batch,)).astype(np.int32))
    opt_state = tx.init(params0)
    fns, compile_s = {}, {}
    for label, (plan, options) in lowering_candidates(batch).items():
        t0 = time.perf_counter()
        with lowering.override(plan):
            step = make_train_step(graphdef, tx)  # a fresh jit: traced under this plan
            lowered = step.lower(params0, opt_state, images, labels)  # type: ignore[attr-defined, unused-ignore]
        compiled = lowered.compile(compiler_options=options) if options else lowered.compile()
        compile_s[label] = time.perf_counter() - t0
        fns[label] = _jax_stepper(compiled, params0, opt_state, images, labels)
    t = measure(fns, cfg, warmup_s=0.0 if cfg.quick else 0.5)
    base = next(iter(t))
    rows = [
        {
            "lowering": label,
            "images_per_s": batch / v["median_s"],
            "images_per_s_best": batch / v["min_s"],
            "cpu_ms_per_step": 1e3 * v["cpu_median_s"],
            "relative_to_rule": t[base]["median_s"] / v["median_s"],
            "relative_to_rule_best": t[base]["min_s"] / v["min_s"],
            "compile_s": compile_s[label],
            "timings": v,
        }
        for label, v in t.items()
    ]
    return {"batch": batch, "rows": rows}


def run_tudui(
    cfg: BenchConfig, threads: int, info: dict | None = None, out: TextIO | None = None
) -> Result:
    import jax.numpy as jnp
    import optax  # type: ignore[import-untyped, unused-ignore]
    import torch
    from flax import nnx

    from jaxloss.tudui import torch_interop
    from jaxloss.tudui.model import Tudui
    from jaxloss.tudui.train import make_train_step

    info = info or machine_info(threads)
    step_source = "jaxloss.tudui.train.make_train_step"  # the very step `jaxloss train` runs
    rows_json: list[dict] = []
    table: list[list] = []
    notes: list[str] = []
    with torch_threads(threads):
        ref = measure_roofline(cfg)
        model = Tudui(rngs=nnx.Rngs(0))
        graphdef, params0 = nnx.split(model, nnx.Param)
        tx = optax.sgd(0.01)
        step = make_train_step(graphdef, tx)
        state_dict = {
            k: torch.from_numpy(np.array(v)) for k, v in torch_interop.state_dict(model).items()
        }
        compile_error = (
            None if cfg.torch_compile else "skipped (--quick)" if cfg.quick else "skipped"
        )
        for batch in cfg.batches:
            rng = np.random.default_rng(batch)
            images = rng.uniform(0, 1, size=(batch, 32, 32, 3)).astype(np.float32)
            labels = rng.integers(0, 10, size=(batch,))
            jimages, jlabels = jnp.asarray(images), jnp.asarray(labels.astype(np.int32))
            t0 = time.perf_counter()
            jax_step = _jax_stepper(step, params0, tx.init(params0), jimages, jlabels)
            jax_step()  # compiles
            jax_first_s = time.perf_counter() - t0
            timg = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
            tlab = torch.from_numpy(labels)
            eager = _torch_tudui()
            eager.load_state_dict(state_dict)
            fns = {"jaxloss": jax_step, "torch eager": _torch_stepper(eager, timg, tlab)}
            compile_s = None
            if compile_error is None:
                try:
                    # a fresh dynamo cache per batch size: the lesson's forward is one code
                    # object, and past torch._dynamo.config.recompile_limit (8) shapes
                    # torch.compile silently falls back to eager
                    torch._dynamo.reset()
                    compiled_module = _torch_tudui()
                    compiled_module.load_state_dict(state_dict)
                    compiled = torch.compile(compiled_module, dynamic=False)
                    cstep = _torch_stepper(compiled, timg, tlab)
                    t0 = time.perf_counter()
                    cstep()
                    compile_s = time.perf_counter() - t0
                    fns["torch.compile"] = cstep
                except Exception as exc:
                    compile_error = (
                        f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}"
                    )
                    notes.append(f"torch.compile failed, not timed: {compile_error}")
            t = measure(fns, cfg, warmup_s=max(cfg.warmup_s, 1.0) if not cfg.quick else 0.0)
            row = _tudui_row(batch, t, ref)
            row["jaxloss_first_call_s"] = jax_first_s
            row["torch_compile_first_call_s"] = compile_s
            row["plan"] = _plan_label(batch)
            rows_json.append(row)
            table.append(_tudui_cells(row))
            if out is not None:
                speeds = ", ".join(f"{k} {v:.0f} img/s" for k, v in row["images_per_s"].items())
                out.write(f"  batch {batch}: {speeds} (load {t['jaxloss']['load'][-1]:.1f})\n")
                out.flush()
        lowerings = []
        if cfg.lowerings:
            for batch in cfg.batches:
                if batch in TUDUI_GOAL_BATCHES:
                    lowerings.append(measure_lowerings(cfg, batch, graphdef, params0, tx))
                    if out is not None:
                        best = max(lowerings[-1]["rows"], key=lambda r: r["images_per_s"])
                        out.write(f"  lowerings at batch {batch}: fastest {best['lowering']}\n")
                        out.flush()
    goals = _tudui_goals(rows_json)
    loads = load_summary(_loads(t for r in rows_json for t in r["timings"].values()))
    first = {r["batch"]: r["torch_compile_first_call_s"] for r in rows_json}
    notes = [
        f"jaxloss step: {step_source} (Tudui from jaxloss.tudui.model, optax.sgd(0.01), "
        "fp32); torch: the lesson's model with the same weights, torch.optim.SGD(lr=0.01), "
        "zero_grad/backward/step; torch.compile(dynamic=False), recompiled per batch size.",
        "Images/s from the median round; ratios of medians, and in brackets of the best "
        "rounds, all from this run. 'plan': how jaxloss.tudui.lowering lowers the "
        "convolutions at that batch size (chosen automatically).",
        f"GFLOP/s counts {TUDUI_TRAIN_FLOPS / 1e6:.1f} MFLOP per image; % is of the measured "
        f"fp32 matmul reference {ref['peak_gflops']:.0f} GFLOP/s.",
        _load_note(loads, "Tudui"),
    ] + notes
    if any(v is not None for v in first.values()):
        notes.append(
            "torch.compile first call (compilation) per batch: "
            + ", ".join(f"{b}: {s:.1f} s" for b, s in first.items() if s is not None)
        )
    if compile_error and not any("torch.compile failed" in n for n in notes):
        notes.append(f"torch.compile: {compile_error}")
    return Result(
        "tudui",
        [
            (
                "Tudui training step, images/s (higher is better)",
                [
                    "batch",
                    "jaxloss (jit)",
                    "torch eager",
                    "torch.compile",
                    "jaxloss/eager",
                    "jaxloss/compile",
                    "jaxloss GFLOP/s (% peak)",
                    "eager GFLOP/s (% peak)",
                    "CPU ms/step jaxloss / eager",
                    "plan",
                ],
                table,
            ),
            _lowering_table(lowerings),
            ("Tudui goals", ["goal", "measured", "met"], _goal_rows(goals)),
        ],
        {
            "benchmark": "tudui",
            "lowerings": lowerings,
            "machine": info,
            "config": dataclasses.asdict(cfg),
            "roofline": ref,
            "step": step_source,
            "train_flops_per_image": TUDUI_TRAIN_FLOPS,
            "rows": rows_json,
            "goals": goals,
            "load": loads,
            "torch_compile_error": compile_error if compile_error and cfg.torch_compile else None,
        },
        notes,
    )


def _lowering_table(lowerings: list[dict]) -> tuple[str, list[str], list[list]]:
    body = [
        [
            m["batch"],
            r["lowering"],
            f"{r['images_per_s']:.0f} ({r['images_per_s_best']:.0f})",
            f"{r['relative_to_rule']:.2f}x ({r['relative_to_rule_best']:.2f}x)",
            f"{r['cpu_ms_per_step']:.1f}",
            f"{r['compile_s']:.1f}",
        ]
        for m in lowerings
        for r in m["rows"]
    ]
    return (
        "Tudui lowerings, jaxloss step only (interleaved): images/s median (best round)",
        [
            "batch",
            "lowering",
            "images/s",
            "vs the rule",
            "CPU ms per step (all threads)",
            "trace + compile (s)",
        ],
        body,
    )


def _tudui_row(batch: int, t: dict, ref: dict) -> dict:
    ips = {k: batch / v["median_s"] for k, v in t.items()}
    best = {k: batch / v["min_s"] for k, v in t.items()}
    gflops = {k: v * TUDUI_TRAIN_FLOPS / 1e9 for k, v in ips.items()}
    row: dict[str, Any] = {
        "batch": batch,
        "images_per_s": ips,
        "images_per_s_best": best,
        "gflops": gflops,
        "fraction_of_matmul_peak": {k: v / ref["peak_gflops"] for k, v in gflops.items()},
        "timings": t,
    }
    for other, key in (("torch eager", "torch_eager"), ("torch.compile", "torch_compile")):
        have = other in ips
        row[f"jaxloss_over_{key}"] = ips["jaxloss"] / ips[other] if have else None
        row[f"jaxloss_over_{key}_best"] = best["jaxloss"] / best[other] if have else None
    return row


def _tudui_cells(row: dict) -> list:
    ips = row["images_per_s"]
    tc = ips.get("torch.compile")

    def ratio(key: str) -> str:
        if row[key] is None:
            return "-"
        return f"{_fmt_ratio(row[key])} ({_fmt_ratio(row[key + '_best'])})"

    peak = row["fraction_of_matmul_peak"]
    return [
        row["batch"],
        f"{ips['jaxloss']:.0f}",
        f"{ips['torch eager']:.0f}",
        "-" if tc is None else f"{tc:.0f}",
        ratio("jaxloss_over_torch_eager"),
        ratio("jaxloss_over_torch_compile"),
        f"{row['gflops']['jaxloss']:.0f} ({100 * peak['jaxloss']:.0f}%)",
        f"{row['gflops']['torch eager']:.0f} ({100 * peak['torch eager']:.0f}%)",
        f"{1e3 * row['timings']['jaxloss']['cpu_median_s']:.1f} / "
        f"{1e3 * row['timings']['torch eager']['cpu_median_s']:.1f}",
        row.get("plan", ""),
    ]


def _tudui_goals(rows: list[dict]) -> list[dict]:
    goals = []
    for r in rows:
        if r["batch"] not in TUDUI_GOAL_BATCHES:
            continue
        for other, factor in TUDUI_GOALS.items():
            key = "jaxloss_over_" + other.replace(" ", "_").replace(".", "_")
            if r.get(key) is None:
                continue
            goals.append(
                {
                    "goal": f"Tudui train step >= {factor}x {other} images/s at batch "
                    f"{r['batch']} (fp32)",
                    "measured": f"{r[key]:.2f}x (best rounds {r[key + '_best']:.2f}x)",
                    "met": r[key] >= factor,
                }
            )
    return goals


# ---------------------------------------------------------------- entry points

RUNNERS: dict[str, Callable[..., Result]] = {
    "roofline": run_roofline,
    "losses": run_losses,
    "tudui": run_tudui,
}


def run(which: Iterable[str], cfg: BenchConfig, out: TextIO | None = None) -> dict[str, Result]:
    """Run the named benchmarks in one process; print their tables; write their files."""
    out = sys.stdout if out is None else out
    which = list(which) or list(BENCHMARKS)
    threads = set_threads(cfg.threads)
    set_dispatch(cfg.jax_dispatch)
    info = machine_info(threads)
    out_dir = Path(cfg.out_dir)
    out.write(_machine_line(info) + "\n\n")
    results = {}
    for name in which:
        runner = RUNNERS[name]
        out.write(f"== {name} ==\n")
        out.flush()
        kwargs = {"out": out} if name != "roofline" else {}
        result = runner(cfg, threads, info, **kwargs)
        paths = write_result(result, out_dir)
        pngs = ", ".join(str(p) for p in paths["png"])
        out.write(result.text() + f"  -> {paths['json']}, {pngs}\n\n")
        out.flush()
        results[name] = result
    if len(which) > 1:
        md = [f"Machine: {_machine_line(info)}\n"] + [results[n].text(markdown=True) for n in which]
        (out_dir / "tables.md").write_text("\n".join(md))
    return results


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="a tiny grid (seconds), no torch.compile")
    p.add_argument(
        "--out", default="benchmarks/out", help="output directory (default benchmarks/out)"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for XLA and torch (pins the process to that many CPUs; default: all)",
    )
    p.add_argument(
        "--jax-dispatch",
        choices=DISPATCH_MODES,
        default="sync",
        help="JAX's CPU dispatch: sync (default; each call runs on the calling thread, as "
        "torch eager) or async (JAX's default; adds a thread hand-over to every call)",
    )
    p.add_argument(
        "--repeats", type=int, default=0, help="timed rounds per case (median and min reported)"
    )
    p.add_argument("--losses", default=None, help="comma-separated loss names (default: all)")
    p.add_argument(
        "--batches",
        default=None,
        help="comma-separated Tudui batch sizes (default 1,2,4,...,512)",
    )
    p.add_argument(
        "--no-compile", action="store_true", help="skip torch.compile in the Tudui benchmark"
    )
    p.add_argument(
        "--no-lowerings",
        action="store_true",
        help="skip the comparison of Tudui lowerings at batch 64 and 256",
    )


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    return BenchConfig(
        quick=args.quick,
        out_dir=args.out,
        repeats=args.repeats,
        losses=tuple(args.losses.split(",")) if args.losses else None,
        batches=tuple(int(b) for b in args.batches.split(",")) if args.batches else (),
        torch_compile=False if args.no_compile else None,
        lowerings=False if args.no_lowerings else None,
        threads=args.threads,
        jax_dispatch=args.jax_dispatch,
    )


def build_parser(prog: str = "python -m benchmarks") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Roofline, losses and the Tudui training step, jaxloss vs torch, in one run.",
    )
    p.add_argument(
        "which",
        nargs="*",
        metavar="BENCHMARK",
        help=f"any of {', '.join(BENCHMARKS)} (default: all)",
    )
    add_arguments(p)
    return p


def _cli(args: argparse.Namespace) -> int:
    unknown = [w for w in args.which if w not in BENCHMARKS]
    if unknown:
        print(
            f"benchmarks: unknown benchmark {', '.join(unknown)}; "
            f"choose from {', '.join(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2
    try:
        import torch  # noqa: F401
    except ImportError:
        print(
            "the benchmarks need torch and the app: pip install -e '.[test,train]'", file=sys.stderr
        )
        return 2
    run(args.which, config_from_args(args))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks [BENCHMARK ...]``: all three benchmarks, or the ones named."""
    return _cli(build_parser().parse_args(argv))


def script_main(name: str, argv: list[str] | None = None) -> int:
    """Entry point of ``benchmarks/<name>.py``."""
    p = argparse.ArgumentParser(prog=f"benchmarks/{name}.py", description=f"benchmark {name}")
    add_arguments(p)
    args = p.parse_args(argv)
    args.which = [name]
    return _cli(args)
