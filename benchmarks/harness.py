"""``python -m benchmarks``: jaxloss (JAX, jit) side by side with torch on this machine.

Three benchmarks, one script each; each prints its tables and writes ``<name>.json``,
``<name>.md`` and charts (PNG, :mod:`benchmarks.charts`) to an output directory (default
``benchmarks/out``):

* ``roofline`` (``roofline.py``) -- the machine's reference: fp32 matmul GFLOP/s and
  memory bandwidth, measured with both frameworks; the better of the two is the reference
  the other benchmarks express their results against.
* ``losses`` (``bench_losses.py``) -- every loss of ``jaxloss.functional`` in
  ``cases.LOSS_CASES``, value and value+grad, over a grid of sizes: jaxloss (``jax.jit``)
  vs torch eager vs optax where optax has the same function; each large case against the
  memory bandwidth, with the bytes XLA's compiled program moves beside the bytes the call
  must move; ``cross_entropy`` at (64, 10) inside a jitted step.
* ``tudui`` (``bench_tudui.py``) -- the lesson's CNN training step, images/s at batch
  sizes 1 .. 512: jaxloss/Flax (``jaxloss.tudui.train.make_train_step``) vs torch eager
  vs ``torch.compile``.

How the time is taken is :mod:`benchmarks.timing` (warm-up, interleaved rounds, median and
best round, load average); threads and JAX's dispatch mode are :mod:`benchmarks.machine`;
the goals are the table ``goals.toml``. This module is the command line: it runs the named
benchmarks in one process and writes their files. torch (the ``test`` extra) and the
``train`` extra must be installed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

from benchmarks import bench_losses, bench_tudui, machine, roofline
from benchmarks.config import DEFAULT_OUT, BenchConfig
from benchmarks.report import Result, write_result

RUNNERS: dict[str, Callable[..., Result]] = {
    "roofline": roofline.run,
    "losses": bench_losses.run,
    "tudui": bench_tudui.run,
}
BENCHMARKS = tuple(RUNNERS)


def run(which: Iterable[str], cfg: BenchConfig, out: TextIO | None = None) -> dict[str, Result]:
    """Run the named benchmarks in one process; print their tables; write their files."""
    out = sys.stdout if out is None else out
    which = list(which) or list(BENCHMARKS)
    threads = machine.set_threads(cfg.threads)
    machine.set_dispatch(cfg.jax_dispatch)
    info = machine.machine_info(threads)
    out_dir = Path(cfg.out_dir)
    out.write(machine.machine_line(info) + "\n\n")
    results = {}
    for name in which:
        out.write(f"== {name} ==\n")
        out.flush()
        kwargs = {"out": out} if name != "roofline" else {}
        result = RUNNERS[name](cfg, threads, info, **kwargs)
        paths = write_result(result, out_dir)
        pngs = ", ".join(str(p) for p in paths["png"])
        out.write(result.text() + f"  -> {paths['json']}, {pngs}\n\n")
        out.flush()
        results[name] = result
    if len(which) > 1:
        md = [f"Machine: {machine.machine_line(info)}\n"] + [
            results[n].text(markdown=True) for n in which
        ]
        (out_dir / "tables.md").write_text("\n".join(md))
    return results


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="a tiny grid (seconds), no torch.compile")
    p.add_argument(
        "--out", default=str(DEFAULT_OUT), help="output directory (default benchmarks/out)"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for XLA and torch (pins the process to that many CPUs; default: all)",
    )
    p.add_argument(
        "--jax-dispatch",
        choices=machine.DISPATCH_MODES,
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
