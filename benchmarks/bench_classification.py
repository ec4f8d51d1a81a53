"""cross_entropy and nll_loss, value and value+grad: jaxloss (jit) vs optax (jit) vs torch eager.

    .venv/bin/python -m benchmarks.bench_classification [--threads 2] [--rounds 15] [--json F]

Method (as benchmarks/harness.py): float32 logits from a fixed seed, int32 targets (int64 for
torch); every callable is warmed up (compiled), then timed in ``--rounds`` rounds. A round runs
every callable of a shape once, in a rotating order, so that load from other processes hits all
of them alike; each timing is enough back-to-back calls (each blocking until its result is
ready: ``jax.block_until_ready``; torch eager is synchronous) to last ``--min-time`` seconds.
The table gives the median time per call over rounds and the ratios of those medians. torch
runs with ``torch.set_num_threads(--threads)``; XLA's CPU client uses the CPUs this process
may run on, so ``--threads N`` also pins the process to N CPUs where the OS allows it.

The "optax" column is ``optax.softmax_cross_entropy_with_integer_labels(x, t).mean()`` for
cross_entropy and, for nll_loss (optax has none), the least any JAX nll reading only the
targets does: ``-jnp.mean(jnp.take_along_axis(logp, t[:, None], axis=1))``, differentiated
by autodiff (a scatter-add).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

SHAPES = ((64, 10), (4096, 1000), (65536, 10))


def _pin(threads: int) -> None:
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) > threads:
            os.sched_setaffinity(0, cpus[:threads])


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


def _time(f: Callable[[], object], min_time: float) -> float:
    """Seconds per call of ``f``, over enough calls to last ``min_time``."""
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            f()
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return elapsed / calls
        calls *= 2 if elapsed <= 0 else max(2, min(int(min_time / elapsed * 1.2) + 1, 64))


def measure(rounds: int, min_time: float) -> list[dict[str, object]]:
    rows = []
    for n, c in SHAPES:
        cases = _candidates(n, c)
        callables = [(case, fw, f) for case, fws in cases.items() for fw, f in fws.items()]
        for _, _, f in callables:  # warm-up: compile, allocate
            for _ in range(3):
                f()
        times: dict[tuple[str, str], list[float]] = {(case, fw): [] for case, fw, _ in callables}
        for r in range(rounds):
            k = r % len(callables)
            for case, fw, f in callables[k:] + callables[:k]:
                times[(case, fw)].append(_time(f, min_time))
        for case, fws in cases.items():
            med = {fw: statistics.median(times[(case, fw)]) for fw in fws}
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--min-time", type=float, default=0.02)
    parser.add_argument("--json", default=None, help="also write the medians here")
    args = parser.parse_args(argv)
    _pin(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    rows = measure(args.rounds, args.min_time)
    print(table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
