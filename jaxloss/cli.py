"""The ``jaxloss`` command. Thin: each subcommand lives in its own module, which
provides ``add_parser(subparsers)`` and sets ``func`` on its parser."""

from __future__ import annotations

import argparse
import importlib
import sys

# module -> subcommand; each module's add_parser() registers the command
COMMANDS = ("jaxloss.demo", "jaxloss.train", "jaxloss.bench")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxloss", description="PyTorch's loss functions for JAX, torch-exact."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
