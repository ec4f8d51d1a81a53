"""The ``jaxloss`` command. Thin: each subcommand lives in its own module, which provides
``add_parser(subparsers)`` and sets ``func`` on its parser. A command's module is imported
only when that command runs, after checking that the extra it needs is installed.

A flag the parser refuses, and every ``jaxloss.tudui.errors.AppError`` a command raises (bad
settings, damaged data or checkpoints), is printed as one line, ``jaxloss COMMAND: error:
...``, with exit status 2 (a diverged training run: 1). A run stopped by Ctrl-C or SIGTERM
(``jaxloss.tudui.errors.Stopped``) prints one line with the command that resumes it and
exits with 130 or 143."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import shlex
import sys
from typing import NamedTuple, NoReturn

from jaxloss.tudui.errors import AppError, Stopped


class Command(NamedTuple):
    module: str
    help: str
    needs: tuple[str, ...]  # top-level packages of the extra it needs
    extra: str


_TRAIN = ("flax", "optax", "orbax", "tqdm", "matplotlib")
COMMANDS = {
    "demo": Command(  # its Tudui part needs flax, and says so when it is missing
        "jaxloss.tudui.demo", "walk through the lesson's losses and backprop in JAX", (), "train"
    ),
    "train": Command(
        "jaxloss.tudui.train", "train the lesson's Tudui CNN on CIFAR-10", _TRAIN, "train"
    ),
}


def _version() -> str:
    from jaxloss import __version__

    return f"jaxloss {__version__}"


class _Parser(argparse.ArgumentParser):
    """argparse, with its refusals in one line (no usage block)."""

    def error(self, message: str) -> NoReturn:
        # "argument --seed: must be ..." -> "--seed must be ..."
        if message.startswith("argument ") and ": " in message:
            name, _, rest = message[len("argument ") :].partition(": ")
            message = f"{name} {rest}"
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported (the others get a stub)."""
    parser = _Parser(prog="jaxloss", description="PyTorch's loss functions for JAX, torch-exact.")
    parser.add_argument("-V", "--version", action="version", version=_version())
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
    try:
        args = build_parser(command).parse_args(argv)
    except SystemExit as e:  # --help, --version, or a refused flag (printed in one line)
        return int(e.code or 0)
    args.argv = argv  # the command line as given, for a command that relaunches itself
    try:
        return int(args.func(args) or 0)
    except AppError as e:  # bad settings, data or checkpoints: one line, no traceback
        print(f"jaxloss {args.command}: error: {e.command_line()}", file=sys.stderr)
        return e.status
    except Stopped as e:  # Ctrl-C or SIGTERM, the checkpoint saved
        print(f"jaxloss {args.command}: {e}; resume with: {resume_command(argv)}", file=sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def resume_command(argv: list[str]) -> str:
    """The command line ``argv`` with ``--resume``, as the user would type it."""
    return shlex.join(["jaxloss", *argv, *(() if "--resume" in argv else ("--resume",))])


if __name__ == "__main__":
    sys.exit(main())
