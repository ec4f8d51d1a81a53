"""The ``jaxloss`` command. Thin: each subcommand lives in its own module, which provides
``add_parser(subparsers)`` and sets ``func`` on its parser. A command's module is imported
only when that command runs, after checking that the extra it needs is installed. Every
``jaxloss.tudui.errors.AppError`` a command raises (bad settings, damaged data or
checkpoints) is printed as one line, ``jaxloss COMMAND: error: ...``, with exit status 2."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from typing import NamedTuple


class Command(NamedTuple):
    module: str
    help: str
    needs: tuple[str, ...]  # top-level packages of the extra it needs
    extra: str


_TRAIN = ("flax", "optax", "orbax", "tqdm", "matplotlib")
COMMANDS = {
    "demo": Command(
        "jaxloss.tudui.demo",
        "walk through the lesson's losses and backprop in JAX",
        _TRAIN,
        "train",
    ),
    "train": Command(
        "jaxloss.tudui.train", "train the lesson's Tudui CNN on CIFAR-10", _TRAIN, "train"
    ),
}


def _version() -> str:
    from jaxloss import __version__

    return f"jaxloss {__version__}"


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported (the others get a stub)."""
    parser = argparse.ArgumentParser(
        prog="jaxloss", description="PyTorch's loss functions for JAX, torch-exact."
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, cmd in COMMANDS.items():
        if name == command:
            importlib.import_module(cmd.module).add_parser(sub)
        else:
            sub.add_parser(name, help=cmd.help, add_help=False)
    return parser


def missing_packages(command: str) -> list[str]:
    return [m for m in COMMANDS[command].needs if importlib.util.find_spec(m) is None]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command in COMMANDS:
        missing = missing_packages(command)
        if missing:
            print(
                f"jaxloss {command}: needs {', '.join(missing)}, which are not installed; "
                f"pip install 'jaxloss[{COMMANDS[command].extra}]'",
                file=sys.stderr,
            )
            return 2
    else:
        command = None
    args = build_parser(command).parse_args(argv)
    args.argv = argv  # the command line as given, for a command that relaunches itself
    from jaxloss.tudui.errors import AppError

    try:
        return int(args.func(args) or 0)
    except AppError as e:  # bad settings, data or checkpoints: one line, no traceback
        print(f"jaxloss {args.command}: error: {e.command_line()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
