"""Memory and time of linear_cross_entropy value+grad on LLM-head shapes.

Rows, for each (N tokens, D in_features, V classes) float32 shape:
  jaxloss chunked   linear_cross_entropy(x, W, t)                (options=None: chunked)
  jaxloss dense     linear_cross_entropy(..., options=LinearCrossEntropyOptions(dense=True))
  optax dense       optax.softmax_cross_entropy_with_integer_labels(x @ W.T, t).mean()
  torch reference   torch.nn.functional.linear_cross_entropy(..., options=None)
  torch chunked     ... options=torch.nn.LinearCrossEntropyOptions()

Memory: for JAX, ``jax.jit(jax.value_and_grad(f, argnums=(0, 1))).lower(...).compile()
.memory_analysis().temp_size_in_bytes`` (scratch beyond inputs and outputs). For torch,
the peak resident-set growth of a fresh subprocess during one forward+backward
(``resource.getrusage(RUSAGE_SELF).ru_maxrss`` after, minus ``psutil`` RSS before, with
the inputs allocated and torch warmed up on a tiny problem): it includes the gradients
(outputs) and allocator slack, so it bounds torch's temporaries from above.
Time (benchmarks/timing.py): median wall time of value+grad over ``--reps`` repetitions,
the implementations interleaved within each repetition (so load changes hit all alike),
after one warm-up (torch chunked: one repetition, see SLOW); and the median CPU time of the
process (all its threads) over the same runs, the steadier number on a machine shared with
other work.

The JSON goes to ``--out`` (default benchmarks/out/linear_cross_entropy.json, or
linear_cross_entropy_memory.json with ``--compile-only``).

  python benchmarks/bench_linear_cross_entropy.py
  python benchmarks/bench_linear_cross_entropy.py --quick --out quick.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import timing
from benchmarks.config import DEFAULT_OUT
from jaxloss import LinearCrossEntropyOptions, linear_cross_entropy

FULL_SHAPES = [(2048, 256, 32768), (4096, 512, 32768), (8192, 512, 65536)]
QUICK_SHAPES = [(1024, 128, 8192), (2048, 64, 16384)]
MIB = 2**20


def _inputs(n: int, d: int, v: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    w = (rng.normal(size=(v, d)) / np.sqrt(d)).astype(np.float32)
    t = rng.integers(0, v, size=n).astype(np.int64)
    return x, w, t


def _jax_losses() -> dict[str, Callable[..., jax.Array]]:
    import optax

    dense = LinearCrossEntropyOptions(dense=True)
    return {
        "jaxloss chunked": lambda x, w, t: linear_cross_entropy(x, w, t),
        "jaxloss dense": lambda x, w, t: linear_cross_entropy(x, w, t, options=dense),
        "optax dense": lambda x, w, t: optax.softmax_cross_entropy_with_integer_labels(
            x @ w.T, t
        ).mean(),
    }


def _torch_loss(name: str) -> Callable[..., Any]:
    import torch
    import torch.nn.functional as F

    options = torch.nn.LinearCrossEntropyOptions() if name == "torch chunked" else None

    def step(x: Any, w: Any, t: Any) -> None:
        x.grad = w.grad = None
        F.linear_cross_entropy(x, w, t, options=options).backward()

    return step


def _torch_tensors(x: np.ndarray, w: np.ndarray, t: np.ndarray) -> tuple[Any, Any, Any]:
    import torch

    return (
        torch.from_numpy(x.copy()).requires_grad_(),
        torch.from_numpy(w.copy()).requires_grad_(),
        torch.from_numpy(t),
    )


TORCH_NAMES = ["torch reference", "torch chunked"]
# torch's chunked path on CPU float32 ("compact" policy, 2x-halved aspect-ratio chunks)
# adds each chunk's weight gradient into the full (V, D) buffer: ~10x slower, so it gets
# one timed repetition (inside the first round of the interleaving).
SLOW = {"torch chunked": 1}


def _torch_peak_child(name: str, n: int, d: int, v: int) -> None:
    """Run in a subprocess: print the peak RSS growth (bytes) of one value+grad."""
    import psutil

    step = _torch_loss(name)
    step(*_torch_tensors(*_inputs(64, d, 64)))  # load torch's kernels and thread pools first
    x, w, t = _torch_tensors(*_inputs(n, d, v))
    before = psutil.Process().memory_info().rss
    step(x, w, t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(json.dumps({"peak_delta_bytes": max(peak - before, 0)}))


def _torch_peak(name: str, n: int, d: int, v: int) -> float | None:
    proc = subprocess.run(
        [sys.executable, __file__, "--torch-peak-child", name, str(n), str(d), str(v)],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if proc.returncode != 0:
        print(f"  {name}: memory subprocess failed: {proc.stderr[-500:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])["peak_delta_bytes"]


def bench_shape(
    n: int, d: int, v: int, reps: int, torch_too: bool, only: list[str] | None = None
) -> list[dict[str, Any]]:
    """Memory and time rows of one shape; ``only`` limits the implementations run."""
    x, w, t = _inputs(n, d, v)
    xj, wj, tj = jnp.asarray(x), jnp.asarray(w), jnp.asarray(t.astype(np.int32))
    steps: dict[str, Callable[[], Any]] = {}
    memory: dict[str, float | None] = {}
    method: dict[str, str] = {}
    for name, fn in _jax_losses().items():
        if only is not None and name not in only:
            continue
        compiled = jax.jit(jax.value_and_grad(fn, argnums=(0, 1))).lower(xj, wj, tj).compile()
        analysis = compiled.memory_analysis()
        memory[name] = None if analysis is None else analysis.temp_size_in_bytes
        method[name] = "XLA memory_analysis temp_size_in_bytes"
        steps[name] = (lambda c: lambda: jax.block_until_ready(c(xj, wj, tj)))(compiled)
    if torch_too:
        tensors = _torch_tensors(x, w, t)
        for name in TORCH_NAMES:
            if only is not None and name not in only:
                continue
            memory[name] = _torch_peak(name, n, d, v)
            method[name] = "peak RSS growth of a subprocess (ru_maxrss - RSS before)"
            steps[name] = (lambda s: lambda: s(*tensors))(_torch_loss(name))
    t = timing.measure(steps, repeats=reps, warmup_calls=0, max_rounds=SLOW)
    times = {name: r["samples_s"] for name, r in t.items()}
    cpu = {name: r["cpu_samples_s"] for name, r in t.items()}
    has_ref = "jaxloss dense" in times  # the ratios' reference, unless --only left it out
    ref = statistics.median(times["jaxloss dense"]) if has_ref else float("nan")
    ref_cpu = statistics.median(cpu["jaxloss dense"]) if has_ref else float("nan")
    return [
        dict(
            N=n,
            D=d,
            V=v,
            impl=name,
            temp_bytes=memory[name],
            memory_method=method[name],
            time_s=statistics.median(ts),
            times_s=ts,
            time_vs_jaxloss_dense=statistics.median(ts) / ref,
            cpu_s=statistics.median(cpu[name]),
            cpu_times_s=cpu[name],
            cpu_vs_jaxloss_dense=statistics.median(cpu[name]) / ref_cpu,
        )
        for name, ts in times.items()
    ]


def _chunked_none(x: jax.Array, w: jax.Array, t: jax.Array) -> jax.Array:
    """'none' then a mean: the general (token x vocabulary) kernel, not the fused one."""
    loss = linear_cross_entropy(x, w, t, reduction="none")
    assert isinstance(loss, jax.Array)
    return jnp.mean(loss)


def compile_only(n: int, d: int, v: int) -> list[dict[str, Any]]:
    """temp memory of the JAX rows from memory_analysis, nothing allocated or run."""
    structs = (
        jax.ShapeDtypeStruct((n, d), jnp.float32),
        jax.ShapeDtypeStruct((v, d), jnp.float32),
        jax.ShapeDtypeStruct((n,), jnp.int32),
    )
    losses = dict(_jax_losses())
    losses["jaxloss chunked 'none'"] = _chunked_none
    out = []
    for name, fn in losses.items():
        start = time.perf_counter()
        compiled = jax.jit(jax.value_and_grad(fn, argnums=(0, 1))).lower(*structs).compile()
        analysis = compiled.memory_analysis()
        out.append(
            dict(
                N=n,
                D=d,
                V=v,
                impl=name,
                compile_s=time.perf_counter() - start,
                temp_bytes=None if analysis is None else analysis.temp_size_in_bytes,
            )
        )
    return out


def _ratio(r: float) -> str:
    return "n/a" if r != r else f"{r:.2f}"  # nan: jaxloss dense was not run (--only)


def _table(rows: list[dict[str, Any]], markdown: bool = False) -> str:
    """The rows as text (or a markdown table): memory, and time against jaxloss dense."""
    head = ["N x D x V", "implementation", "temp MiB", "x less", "wall s", "vs dense"]
    head += ["cpu s", "vs dense"]
    cells = []
    for row in rows:
        shape = (row["N"], row["D"], row["V"])
        dense = next(
            (r for r in rows if r["impl"] == "jaxloss dense" and (r["N"], r["D"], r["V"]) == shape),
            None,
        )
        mem, ref_mem = row["temp_bytes"], dense and dense["temp_bytes"]
        cells.append(
            [
                "x".join(map(str, shape)),
                row["impl"],
                "n/a" if mem is None else f"{mem / MIB:.1f}",
                "" if mem in (None, 0) or not ref_mem else f"{ref_mem / mem:.1f}",
                f"{row['time_s']:.3f}",
                _ratio(row["time_vs_jaxloss_dense"]),
                f"{row['cpu_s']:.3f}",
                _ratio(row["cpu_vs_jaxloss_dense"]),
            ]
        )
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(c) + " |" for c in cells])
    widths = [20, 16, 10, 7, 8, 8, 8, 8]
    fmt = [f">{w}" if i != 1 else f"<{w}" for i, w in enumerate(widths)]
    return "\n".join(" ".join(f"{c:{f}}" for c, f in zip(line, fmt)) for line in [head, *cells])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        default=None,
        help="where to write the JSON results (default benchmarks/out/linear_cross_entropy.json; "
        "with --compile-only, linear_cross_entropy_memory.json there)",
    )
    parser.add_argument("--quick", action="store_true", help="small shapes, a few seconds")
    parser.add_argument("--reps", type=int, default=None, help="timed repetitions (median)")
    parser.add_argument("--no-torch", action="store_true", help="skip the torch rows")
    parser.add_argument(
        "--shape",
        action="append",
        default=None,
        help="N,D,V to run instead of the defaults (repeatable)",
    )
    parser.add_argument(
        "--compile-only",
        action="store_true",
        help="JAX rows' temp memory from memory_analysis; nothing runs",
    )
    parser.add_argument("--chart", default=None, help="also draw the results into this PNG")
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated implementations to run (default: all), e.g. 'jaxloss chunked'",
    )
    parser.add_argument("--torch-peak-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.torch_peak_child:
        name, *dims = args.torch_peak_child
        _torch_peak_child(name, *map(int, dims))
        return
    default = (
        "linear_cross_entropy_memory.json" if args.compile_only else "linear_cross_entropy.json"
    )
    out = Path(args.out) if args.out else DEFAULT_OUT / default
    out.parent.mkdir(parents=True, exist_ok=True)
    shapes = (
        [tuple(map(int, s.split(","))) for s in args.shape]
        if args.shape
        else QUICK_SHAPES
        if args.quick
        else FULL_SHAPES
    )
    reps = args.reps or 3
    only = None if args.only is None else [s.strip() for s in args.only.split(",")]
    known = [*_jax_losses(), *TORCH_NAMES]
    if only is not None and (bad := [s for s in only if s not in known]):
        parser.error(f"--only: unknown implementation {bad[0]!r}; choose from {known}")
    if args.compile_only:
        compiled = [r for shape in shapes for r in compile_only(*shape)]
        for r in compiled:
            shape = f"{r['N']}x{r['D']}x{r['V']}"
            print(
                f"{shape:>18} {r['impl']:<24} {r['temp_bytes'] / MIB:10.1f} MiB temp "
                f"(compiled in {r['compile_s']:.1f} s)"
            )
        with open(out, "w") as f:
            json.dump(dict(rows=compiled), f, indent=1)
        return
    rows: list[dict[str, Any]] = []
    for n, d, v in shapes:
        print(f"N={n} D={d} V={v} ...", file=sys.stderr, flush=True)
        rows += bench_shape(n, d, v, reps, not args.no_torch, only)
        meta = dict(
            jax=jax.__version__,
            backend=jax.default_backend(),
            cpus=os.cpu_count(),
            machine=platform.machine(),
            load_average=os.getloadavg(),
            reps=reps,
        )
        with open(out, "w") as f:  # after every shape, so a long run keeps its results
            json.dump(
                dict(meta=meta, rows=rows, table=_table(rows), markdown=_table(rows, True)),
                f,
                indent=1,
            )
        print(_table([r for r in rows if (r["N"], r["D"], r["V"]) == (n, d, v)]), flush=True)
    print(_table(rows))
    print(f"wrote {out}", file=sys.stderr)
    if args.chart:
        from benchmarks.charts import linear_cross_entropy as chart

        print(f"wrote {chart(dict(rows=rows), Path(args.chart))}", file=sys.stderr)


if __name__ == "__main__":
    main()
