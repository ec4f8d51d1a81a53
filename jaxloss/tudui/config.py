"""The settings of ``jaxloss train``, each written once.

:class:`TrainConfig` is what a run computes, :class:`DistributedConfig` how the processes of
a multi-process run find each other. Each field's metadata holds its help text, choices,
check and extra flag spellings; :func:`add_arguments` derives the command-line flags from
the fields (``batch_size`` -> ``--batch-size``) and :func:`from_args` builds the config
back, so a new setting is one new field.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any

from jaxloss.tudui.cifar10 import check_sources
from jaxloss.tudui.errors import ConfigError, flag, setting

OPTIMIZERS = ("sgd", "adam")
SEED_MAX = 2**32 - 1  # a uint32, as jax.random.key and numpy take it

Check = Callable[[Any], str | None]  # what is wrong with a value ("must be ..."), or None


def int_range(minimum: int, maximum: int | None = None) -> Check:
    """A check: an integer from ``minimum`` to ``maximum`` (unbounded when None)."""

    def check(value: Any) -> str | None:
        integer = isinstance(value, int) and not isinstance(value, bool)
        if integer and minimum <= value and (maximum is None or value <= maximum):
            return None
        if maximum is not None:
            return f"must be an integer from {minimum} to {maximum}, got {value!r}"
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        return f"must be {what}, got {value!r}"

    return check


def finite_positive(value: Any) -> str | None:
    """A check: a finite number > 0."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and math.isfinite(value) and value > 0:
        return None
    return f"must be a finite number > 0, got {value!r}"


def one_of(choices: tuple[str, ...]) -> Check:
    """A check: one of ``choices``."""

    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}, got {value!r}"

    return check


def option(
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] | None = None,
    check: Check | None = None,
    aliases: tuple[str, ...] = (),
) -> Any:
    """A config field: its default, and its flag's help, choices, check and aliases. The
    check runs when the flag is parsed and in the config's ``validate()``."""
    if choices is not None:
        check = one_of(choices)
    return dataclasses.field(
        default=default,
        metadata={"help": help, "choices": choices, "check": check, "aliases": aliases},
    )


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (``jaxloss train``'s flags, one per field)."""

    epochs: int = option(10, "passes over the training split", check=int_range(1))
    batch_size: int = option(
        64, "images per step over all devices (a multiple of the device count)", check=int_range(1)
    )
    learning_rate: float = option(
        0.01, "optax learning rate (the course: 0.01)", check=finite_positive, aliases=("--lr",)
    )
    optimizer: str = option("sgd", "the course's sgd (no momentum) or adam", choices=OPTIMIZERS)
    seed: int = option(
        0, "parameter initialisation, data order and synthetic images", check=int_range(0, SEED_MAX)
    )
    data_dir: str | None = option(
        None, "TFDS data dir (default $TFDS_DATA_DIR or ~/tensorflow_datasets)"
    )
    manual_dir: str | None = option(
        None, "folder holding cifar-10-binary.tar.gz, built through TFDS offline"
    )
    torchvision_dir: str | None = option(
        None, "the lesson's torchvision folder (./dataset or ./dataset/cifar-10-batches-py)"
    )
    synthetic: bool = option(
        False,
        "train on a generated, learnable stand-in (a bright square whose position is the "
        "class, on noise) instead of CIFAR-10; never automatic",
    )
    synthetic_train_size: int = option(
        4096, "training images of the synthetic set", check=int_range(1)
    )
    synthetic_test_size: int = option(512, "test images of the synthetic set", check=int_range(1))
    max_train_examples: int | None = option(
        None, "use only the first N training images", check=int_range(1)
    )
    max_test_examples: int | None = option(
        None, "use only the first N test images", check=int_range(1)
    )
    eval_batch_size: int = option(
        256, "test-split batch (rounded up to a multiple of the device count)", check=int_range(1)
    )
    checkpoint_every: int = option(
        200,
        "steps between checkpoints, besides each epoch end, Ctrl-C and SIGTERM",
        check=int_range(1),
    )
    keep_checkpoints: int = option(3, "how many recent checkpoints to keep", check=int_range(1))
    log_every: int = option(
        20, "steps between fetching losses for the progress bar and steps.jsonl", check=int_range(1)
    )
    resume: bool = option(False, "continue from the latest checkpoint in --workdir")
    progress: bool = option(True, "show progress bars")

    def validate(self) -> None:
        """Raise ConfigError naming the first setting that cannot run."""
        _check_fields(self)
        sources = ("data_dir", "manual_dir", "torchvision_dir")
        given = [name for name in sources if getattr(self, name) is not None]
        if self.synthetic and given:
            raise ConfigError(
                f"{setting('synthetic')} trains on generated images and cannot be combined "
                f"with {setting(given[0])}; give one data source"
            )
        check_sources(self.data_dir, self.manual_dir, self.torchvision_dir)


@dataclasses.dataclass(frozen=True)
class DistributedConfig:
    """How the processes of one run meet (``jax.distributed.initialize``)."""

    distributed: bool = option(
        False,
        "several processes, one run: call jax.distributed.initialize() first (it detects "
        "Cloud TPU, Slurm and Open MPI; elsewhere give the three flags below)",
    )
    coordinator_address: str | None = option(
        None, "with --distributed: HOST:PORT where process 0 serves the coordinator"
    )
    num_processes: int | None = option(
        None, "with --distributed: how many processes take part", check=int_range(1)
    )
    process_id: int | None = option(
        None, "with --distributed: this process's id, 0 .. --num-processes - 1", check=int_range(0)
    )
    heartbeat_timeout: int = option(
        60,
        "with --distributed: seconds without a heartbeat after which a process counts as "
        "dead and the others stop",
        check=int_range(1),
    )
    initialization_timeout: int = option(
        300, "with --distributed: seconds to wait for every process to join", check=int_range(1)
    )

    def validate(self) -> None:
        _check_fields(self)
        launch = ("coordinator_address", "num_processes", "process_id")
        given = [name for name in launch if getattr(self, name) is not None]
        if given and not self.distributed:
            raise ConfigError(f"{setting(given[0])} needs {setting('distributed')}")
        if self.process_id is not None and self.num_processes is not None:
            if self.process_id >= self.num_processes:
                raise ConfigError(
                    f"{setting('process_id')} must be below {setting('num_processes')} "
                    f"({self.num_processes}), got {self.process_id}"
                )


def _check_fields(config: Any) -> None:
    for f in dataclasses.fields(config):
        check, value = f.metadata["check"], getattr(config, f.name)
        if check is None or (value is None and f.default is None):
            continue
        problem = check(value)
        if problem is not None:
            raise ConfigError(f"{setting(f.name)} {problem}")


def argument_type(kind: type, check: Check | None) -> Callable[[str], Any]:
    """An argparse ``type``: the text as ``kind`` (int, float, str), refused unless
    ``check`` accepts it (argparse then names the flag)."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            what = {int: "an integer", float: "a number"}.get(kind, kind.__name__)
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        problem = None if check is None else check(value)
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        return value

    return parse


def add_arguments(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    names: Iterable[str] | None = None,
) -> None:
    """Add one flag per field of the dataclass ``cls`` (or per field in ``names``).

    A bool field that defaults to False is a switch (``--synthetic``), one that defaults to
    True gets a ``--no-`` form (``--no-progress``). A value the field's check refuses is
    refused as it is parsed; settings that depend on each other are checked by the
    config's ``validate()``.
    """
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if names is not None and f.name not in names:
            continue
        meta, kind = f.metadata, hints[f.name]
        if isinstance(kind, types.UnionType):  # int | None -> int
            (kind,) = [a for a in typing.get_args(kind) if a is not type(None)]
        flags = (flag(f.name), *meta["aliases"])
        if kind is bool:
            action: Any = argparse.BooleanOptionalAction if f.default else "store_true"
            parser.add_argument(
                *flags, dest=f.name, action=action, default=f.default, help=meta["help"]
            )
            continue
        shown = "" if f.default is None else f" (default {f.default})"
        parser.add_argument(
            *flags,
            dest=f.name,
            type=argument_type(kind, meta["check"]),
            default=f.default,
            choices=meta["choices"],
            metavar=None if meta["choices"] else f.name.upper().split("_")[-1],
            help=meta["help"] + shown,
        )


def from_args(cls: type, args: argparse.Namespace) -> Any:
    """The ``cls`` config held by the parsed ``args`` (from :func:`add_arguments`)."""
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})
