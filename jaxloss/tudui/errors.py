"""The application's errors. The ``jaxloss`` command reports each in one line on stderr, with
exit status 2 (1 for :class:`TrainingDivergedError`); :class:`Stopped` ends a run stopped by
Ctrl-C or SIGTERM once its checkpoint is saved.

``str(error)`` names config fields (``batch_size``); :meth:`AppError.command_line`, which the
command prints, names their flags (``--batch-size``).
"""

from __future__ import annotations

import pickle
import re
import signal

_FIELD = re.compile("\x1f([a-z_]+)\x1f")


def flag(name: str) -> str:
    """The command-line flag of a config field: ``batch_size`` -> ``--batch-size``."""
    return "--" + name.replace("_", "-")


def setting(name: str) -> str:
    """Marks config field ``name`` in a message: ``str()`` shows ``name``, the command line
    its flag."""
    return f"\x1f{name}\x1f"


def one_line(e: BaseException | str, limit: int = 200) -> str:
    """A message (a library's exception, say) as one line of at most ``limit`` characters."""
    text = " ".join(str(e).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def signal_name(signum: int) -> str:
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


class AppError(Exception):
    """An error the ``jaxloss`` command reports in one line, exit status ``status``."""

    status = 2

    def __init__(self, message: str) -> None:
        self.template = message
        super().__init__(_FIELD.sub(r"\1", message))

    def command_line(self) -> str:
        """The message as the command line shows it: flags instead of field names."""
        return _FIELD.sub(lambda m: flag(m[1]), self.template)


class ConfigError(AppError, ValueError):
    """The training configuration cannot run on this machine or data."""


class CheckpointError(AppError, RuntimeError):
    """A checkpoint is missing, unreadable, damaged or belongs to a different run."""


class DataError(AppError):
    """CIFAR-10 cannot be used: missing, damaged or unsafe."""


class DataUnavailableError(DataError, RuntimeError):
    """No source can provide CIFAR-10 here; the message names the three ways to provide it."""


class CorruptDataError(DataError, ValueError):
    """A CIFAR-10 file is empty, truncated or malformed; the message names it."""


class UnsafePickleError(CorruptDataError, pickle.UnpicklingError):
    """A CIFAR-10 pickle names a global other than numpy's array reconstruction."""


class TrainingDivergedError(AppError, FloatingPointError):
    """The training loss or the parameters became inf or nan; nothing non-finite was saved."""

    status = 1


class Stopped(KeyboardInterrupt):
    """Training stopped on Ctrl-C or SIGTERM after saving the checkpoint of step ``step``.

    A ``KeyboardInterrupt``, so code that stops on Ctrl-C stops on this too; the command
    exits with ``128 + signum`` (130 for Ctrl-C, 143 for SIGTERM), as a process killed by
    the signal would.
    """

    def __init__(self, signum: int, where: str, step: int) -> None:
        self.signum, self.step = signum, step
        super().__init__(f"stopped by {signal_name(signum)} {where}; checkpoint saved")
