"""cross_entropy and nll_loss, value and value+grad: jaxloss (jit) vs optax (jit) vs torch eager.

    .venv/bin/python -m benchmarks.bench_classification [--threads 2] [--rounds 15] [--json F]

Method (benchmarks/timing.py): float32 logits from a fixed seed, int32 targets (int64 for
torch); every callable is warmed up (compiled), then timed in ``--rounds`` rounds. A round runs
every callable of a shape once, in a rotating order, so that load from other processes hits all
of them alike; each timing is enough back-to-back calls (each blocking until its result is
ready: ``jax.block_until_ready``; torch eager is synchronous) to last ``--min-time`` seconds.
The table gives the median time per call over rounds and the ratios of those medians. torch
runs with ``torch.set_num_threads(--threads)``; XLA's CPU client uses the CPUs this process
may run on, so ``--threads N`` also pins the process to N CPUs where the OS allows it. The
medians go to ``--json`` (default benchmarks/out/classification.json).

The "optax" column is ``optax.softmax_cross_entropy_with_integer_labels(x, t).mean()`` for
cross_entropy and, for nll_loss (optax has none), the least any JAX nll reading only the
targets does: ``-jnp.mean(jnp.take_along_axis(logp, t[:, None], axis=1))``, differentiated
by autodiff (a scatter-add).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import machine, timing
from benchmarks.config import DEFAULT_OUT

SHAPES = ((64, 10), (4096, 1000), (65536, 10))


def _candidates(n: int, c: int) -> dict[str, dict[str, Callable[[], object]]]:
    """{case: {framework: zero-argument callable}} for one (N, C)."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    import torch
    import torch.nn.functional as F

    import jaxloss

    rng = np.random.default_rng(0)
    x_np = (3 * rng.normal(size=(n, c))).astype(np.float32)
    t_np = rng.integers(0, c, size=n).astype(np.int32)
    x, t = jnp.asarray(x_np), jnp.asarray(t_np)
    logp = jax.nn.log_softmax(x, axis=1)
    tx = torch.from_numpy(x_np)
    tt = torch.from_numpy(t_np.astype(np.int64))
    tlogp = torch.log_softmax(tx, 1)

    def ours_ce(a, b):
        return jaxloss.cross_entropy(a, b)

    def optax_ce(a, b):
        return optax.softmax_cross_entropy_with_integer_labels(a, b).mean()

    def ours_nll(a, b):
        return jaxloss.nll_loss(a, b)

    def gather_nll(a, b):
        return -jnp.mean(jnp.take_along_axis(a, b[:, None], axis=1))

    def jitted(f, grad):
        g = jax.jit(jax.value_and_grad(f) if grad else f)
        return lambda a, b: lambda: jax.block_until_ready(g(a, b))

    def torch_call(f, a, grad):
        if not grad:
            return lambda: f(a, tt)
        leaf = a.clone().requires_grad_(True)

        def run():
            leaf.grad = None
            loss = f(leaf, tt)
            loss.backward()
            return loss, leaf.grad

        return run

    cases: dict[str, dict[str, Callable[[], object]]] = {}
    for grad in (False, True):
        kind = "value+grad" if grad else "value"
        cases[f"cross_entropy {kind}"] = {
            "jaxloss": jitted(ours_ce, grad)(x, t),
            "optax": jitted(optax_ce, grad)(x, t),
            "torch": torch_call(F.cross_entropy, tx, grad),
        }
        cases[f"nll_loss {kind}"] = {
            "jaxloss": jitted(ours_nll, grad)(logp, t),
            "optax": jitted(gather_nll, grad)(logp, t),
            "torch": torch_call(F.nll_loss, tlogp, grad),
        }
    return cases


def measure(
    rounds: int, min_time: float, shapes: tuple[tuple[int, int], ...] = SHAPES
) -> list[dict[str, object]]:
    """Median seconds per call of every case and framework, per shape: every callable of
    a shape timed interleaved by :func:`benchmarks.timing.measure`."""
    rows = []
    for n, c in shapes:
        cases = _candidates(n, c)
        fns = {(case, fw): f for case, fws in cases.items() for fw, f in fws.items()}
        t = timing.measure(
            {f"{case} | {fw}": f for (case, fw), f in fns.items()},
            repeats=rounds,
            min_repeat_s=min_time,
        )
        for case, fws in cases.items():
            med = {fw: t[f"{case} | {fw}"]["median_s"] for fw in fws}
            rows.append({"shape": [n, c], "case": case, "seconds": med})
    return rows


def table(rows: list[dict[str, object]]) -> str:
    head = (
        "| shape | case | jaxloss µs | optax (nll: bare gather) µs | torch µs "
        "| jaxloss/optax | jaxloss/torch |"
    )
    lines = [head, "|---|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        s: dict[str, float] = row["seconds"]  # type: ignore[assignment]
        n, c = row["shape"]  # type: ignore[misc]
        ours = s["jaxloss"]
        opt = f"{s['optax'] * 1e6:.1f}" if "optax" in s else "-"
        ratio_opt = f"{ours / s['optax']:.2f}" if "optax" in s else "-"
        lines.append(
            f"| {n}x{c} | {row['case']} | {ours * 1e6:.1f} | {opt} | {s['torch'] * 1e6:.1f} "
            f"| {ratio_opt} | {ours / s['torch']:.2f} |"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--min-time", type=float, default=0.02)
    parser.add_argument(
        "--shape",
        action="append",
        default=None,
        help="N,C to run instead of 64,10 4096,1000 65536,10 (repeatable)",
    )
    parser.add_argument(
        "--json",
        default=str(DEFAULT_OUT / "classification.json"),
        help="where to write the medians (default benchmarks/out/classification.json)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    shapes = tuple(_shape(parser, s) for s in args.shape) if args.shape else SHAPES
    threads = machine.set_threads(min(args.threads, len(os.sched_getaffinity(0))))
    with machine.torch_threads(threads):
        rows = measure(args.rounds, args.min_time, shapes)
    print(table(rows))
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _shape(parser: argparse.ArgumentParser, text: str) -> tuple[int, int]:
    try:
        n, c = (int(x) for x in text.split(","))
    except ValueError:
        parser.error(f"--shape: expected N,C (two positive integers), got {text!r}")
    if n < 1 or c < 1:
        parser.error(f"--shape: expected N,C (two positive integers), got {text!r}")
    return n, c


if __name__ == "__main__":
    raise SystemExit(main())
