"""The settings of ``jaxloss train``, each written once.

:class:`TrainConfig` is what a run computes, :class:`DistributedConfig` how the processes of
a multi-process run find each other. Every field carries its help text (and, where it
applies, its choices, its smallest allowed value and extra flag spellings) in its metadata;
:func:`add_arguments` derives the command-line flags from the fields (``batch_size`` ->
``--batch-size``, type, default, help) and :func:`from_args` builds the config back from the
parsed namespace, so a new setting is one new field.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any

from jaxloss.tudui.errors import ConfigError, flag, setting

OPTIMIZERS = ("sgd", "adam")


def option(
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] | None = None,
    minimum: int | None = None,
    aliases: tuple[str, ...] = (),
) -> Any:
    """A config field: its default, and its flag's help, choices, minimum and aliases."""
    return dataclasses.field(
        default=default,
        metadata={"help": help, "choices": choices, "minimum": minimum, "aliases": aliases},
    )


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (``jaxloss train``'s flags, one per field)."""

    epochs: int = option(10, "passes over the training split", minimum=1)
    batch_size: int = option(
        64, "images per step over all devices (a multiple of the device count)", minimum=1
    )
    learning_rate: float = option(0.01, "optax learning rate (the course: 0.01)", aliases=("--lr",))
    optimizer: str = option("sgd", "the course's sgd (no momentum) or adam", choices=OPTIMIZERS)
    seed: int = option(0, "parameter initialisation and data order")
    data_dir: str | None = option(
        None, "TFDS data dir (default $TFDS_DATA_DIR or ~/tensorflow_datasets)"
    )
    manual_dir: str | None = option(None, "folder holding cifar-10-binary.tar.gz")
    torchvision_dir: str | None = option(
        None, "the lesson's torchvision folder (./dataset or ./dataset/cifar-10-batches-py)"
    )
    synthetic: bool = option(
        False,
        "train on a generated, learnable stand-in (a bright square whose position is the "
        "class, on noise) instead of CIFAR-10; never automatic",
    )
    synthetic_train_size: int = option(4096, "training images of the synthetic set", minimum=1)
    synthetic_test_size: int = option(512, "test images of the synthetic set", minimum=1)
    max_train_examples: int | None = option(None, "use only the first N training images", minimum=1)
    max_test_examples: int | None = option(None, "use only the first N test images", minimum=1)
    eval_batch_size: int = option(
        256, "test-split batch (rounded up to a multiple of the device count)", minimum=1
    )
    checkpoint_every: int = option(
        200, "steps between checkpoints, besides each epoch end and Ctrl-C", minimum=1
    )
    keep_checkpoints: int = option(3, "how many recent checkpoints to keep", minimum=1)
    log_every: int = option(
        20, "steps between fetching losses for the progress bar and steps.jsonl", minimum=1
    )
    resume: bool = option(False, "continue from the latest checkpoint in --workdir")
    progress: bool = option(True, "show progress bars")

    def validate(self) -> None:
        """Raise ConfigError naming the first setting that cannot run."""
        _check_minimums(self)
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"{setting('optimizer')} must be one of {', '.join(OPTIMIZERS)}, "
                f"got {self.optimizer!r}"
            )
        lr = self.learning_rate
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
            raise ConfigError(f"{setting('learning_rate')} must be > 0, got {lr!r}")


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
        None, "with --distributed: how many processes take part", minimum=1
    )
    process_id: int | None = option(
        None, "with --distributed: this process's id, 0 .. --num-processes - 1", minimum=0
    )
    heartbeat_timeout: int = option(
        60,
        "with --distributed: seconds without a heartbeat after which a process counts as "
        "dead and the others stop",
        minimum=1,
    )
    initialization_timeout: int = option(
        300, "with --distributed: seconds to wait for every process to join", minimum=1
    )

    def validate(self) -> None:
        _check_minimums(self)
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


def _check_minimums(config: Any) -> None:
    for f in dataclasses.fields(config):
        minimum = f.metadata.get("minimum")
        value = getattr(config, f.name)
        if minimum is None or (value is None and f.default is None):
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            raise ConfigError(f"{setting(f.name)} must be {what}, got {value!r}")


def _value_type(annotation: Any) -> type:
    """int for ``int`` and ``int | None``; likewise float, str, bool."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        (annotation,) = [a for a in typing.get_args(annotation) if a is not type(None)]
    return annotation


def add_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type) -> None:
    """Add one flag per field of the dataclass ``cls`` (``batch_size`` -> ``--batch-size``).

    A bool field that defaults to False is a switch (``--synthetic``), one that defaults to
    True gets a ``--no-`` form (``--no-progress``). Values are only parsed here; their
    ranges are checked by the config's ``validate()``, whose errors name the flag.
    """
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        meta = f.metadata
        kind = _value_type(hints[f.name])
        names = (flag(f.name), *meta.get("aliases", ()))
        if kind is bool:
            action: Any = argparse.BooleanOptionalAction if f.default else "store_true"
            parser.add_argument(
                *names, dest=f.name, action=action, default=f.default, help=meta["help"]
            )
            continue
        shown = "" if f.default is None else f" (default {f.default})"
        parser.add_argument(
            *names,
            dest=f.name,
            type=kind,
            default=f.default,
            choices=meta.get("choices"),
            metavar=None if meta.get("choices") else f.name.upper().split("_")[-1],
            help=meta["help"] + shown,
        )


def from_args(cls: type, args: argparse.Namespace) -> Any:
    """The ``cls`` config held by the parsed ``args`` (from :func:`add_arguments`)."""
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})
