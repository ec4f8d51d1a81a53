"""The ``jaxloss`` command: the flags of ``jaxloss demo`` and ``jaxloss train`` and how a
command ends; the work is in :mod:`jaxloss.tudui.demo` and :mod:`jaxloss.tudui.train`.

Parsing needs only the core install, so every flag is checked before JAX starts. A refused
flag and every ``AppError`` is one line, ``jaxloss COMMAND: error: ...``, exit status 2 (a
diverged run: 1); a run stopped by Ctrl-C or SIGTERM prints the command that resumes it
and exits with 130 or 143.
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import sys
from pathlib import Path
from typing import NoReturn

from jaxloss import __version__
from jaxloss.tudui import demo, distributed
from jaxloss.tudui.config import (
    DistributedConfig,
    TrainConfig,
    add_arguments,
    argument_type,
    from_args,
    int_range,
)
from jaxloss.tudui.errors import AppError, Stopped

TRAIN_EXTRA = ("flax", "optax", "orbax", "tqdm", "matplotlib")  # pip install 'jaxloss[train]'


class _Parser(argparse.ArgumentParser):
    """argparse, with its refusals in one line (no usage block)."""

    def error(self, message: str) -> NoReturn:
        # "argument --seed: must be ..." -> "--seed must be ..."
        if message.startswith("argument ") and ": " in message:
            name, _, rest = message[len("argument ") :].partition(": ")
            message = f"{name} {rest}"
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jaxloss", description="PyTorch's loss functions for JAX, torch-exact.")
    parser.add_argument("-V", "--version", action="version", version=f"jaxloss {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="walk through the lesson's losses and backprop in JAX")
    src = p.add_argument_group("CIFAR-10 (any one; without data the demo uses a synthetic batch)")
    add_arguments(src, TrainConfig, ("data_dir", "manual_dir", "torchvision_dir"))
    p.add_argument(
        "--limit",
        type=argument_type(int, int_range(1, demo.MAX_LIMIT)),
        default=8,
        help=f"images to run Tudui on, 1 to {demo.MAX_LIMIT} (default 8)",
    )
    add_arguments(p, TrainConfig, ("seed",))
    p.set_defaults(func=demo.run_demo)

    p = sub.add_parser(
        "train",
        help="train the lesson's Tudui on CIFAR-10 with optax (resumable, data-parallel)",
        description="Train Tudui on CIFAR-10: SGD lr 0.01 by default, checkpoints every "
        "--checkpoint-every steps, each epoch and on Ctrl-C or SIGTERM; --resume continues.",
    )
    p.add_argument(
        "--workdir",
        default="runs/tudui",
        help="metrics, plot and checkpoints of this run (default runs/tudui); one per run",
    )
    add_arguments(p, TrainConfig)
    add_arguments(p.add_argument_group("several processes (jax.distributed)"), DistributedConfig)
    p.set_defaults(func=_train)
    return parser


def _train(args: argparse.Namespace) -> int:
    config, launch = from_args(TrainConfig, args), from_args(DistributedConfig, args)
    launch.validate()
    config.validate()
    missing = [m for m in TRAIN_EXTRA if importlib.util.find_spec(m) is None]
    if missing:
        print(
            f"jaxloss train: needs {', '.join(missing)}, which are not installed; "
            "pip install 'jaxloss[train]'",
            file=sys.stderr,
        )
        return 2
    from jaxloss.tudui import train  # imports the train extra's packages

    if launch.distributed and not distributed.initialized():
        return distributed.launch(launch, args.argv, Path(args.workdir))
    train.train_and_evaluate(config, args.workdir)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, --version, or a refused flag (printed in one line)
        return int(e.code or 0)
    args.argv = argv  # the command line as given, for a command that relaunches itself
    try:
        return int(args.func(args) or 0)
    except AppError as e:  # bad settings, data or checkpoints: one line, no traceback
        print(f"jaxloss {args.command}: error: {e.command_line()}", file=sys.stderr)
        return e.status
    except Stopped as e:  # Ctrl-C or SIGTERM, the checkpoint saved
        resume = shlex.join(["jaxloss", *argv, *(() if "--resume" in argv else ("--resume",))])
        print(f"jaxloss {args.command}: {e}; resume with: {resume}", file=sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
