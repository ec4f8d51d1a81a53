"""``jaxloss train``: train the lesson's Tudui on CIFAR-10 with optax, in the layout of
flax's ``examples/mnist``: :func:`train_and_evaluate` runs :func:`train_epoch` and
:func:`evaluate` per epoch around one jitted step (:func:`make_train_step`).

Tudui has no stochastic layers, so the data order -- a pure function of (seed, epoch) -- is
the only random state after initialisation: a run killed at any moment and resumed from its
checkpoint ends with bit-identical parameters on CPU. Data-parallel over every visible
device (all processes' with ``jax.distributed``): the batch sharded over a 1-D ``Mesh``,
parameters and optimizer state replicated; on one device no mesh is used. Training drops
the last incomplete batch of each epoch (as flax's examples do), so every step has one
shape; the test split is evaluated in full (the last batch padded and masked).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import itertools
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TextIO

import jax
import jax.numpy as jnp
import numpy as np
import optax  # type: ignore[import-untyped]
import orbax.checkpoint as ocp
from flax import nnx
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm.auto import tqdm

from jaxloss import cross_entropy
from jaxloss.tudui import cifar10
from jaxloss.tudui.checkpoints import Checkpoints, saved_steps
from jaxloss.tudui.config import TrainConfig
from jaxloss.tudui.errors import (
    CheckpointError,
    ConfigError,
    Stopped,
    TrainingDivergedError,
    setting,
    signal_name,
)
from jaxloss.tudui.metrics import MetricsWriter
from jaxloss.tudui.model import Tudui

_ARRAYS = ("params", "opt_state")


@dataclasses.dataclass
class RunState:
    """Where a run stands: its arrays and its position in the data order. All but the
    arrays are plain numbers, a checkpoint's metadata, so a resumed run continues exactly
    where this one was."""

    params: Any  # nnx.State of the model's parameters
    opt_state: Any
    step: int = 0  # optimizer steps taken
    epoch: int = 0  # epochs completed
    batch_in_epoch: int = 0  # batches of the current epoch done
    loss_sum: float = 0.0  # the current epoch's running sums
    correct_sum: int = 0
    images_sum: int = 0
    history: list[dict] = dataclasses.field(default_factory=list)  # one record per epoch

    def counters(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in _ARRAYS}

    def end_epoch(self, record: dict) -> None:
        self.history.append(record)
        self.epoch, self.batch_in_epoch = self.epoch + 1, 0
        self.loss_sum, self.correct_sum, self.images_sum = 0.0, 0, 0


@dataclasses.dataclass
class TrainResult:
    """What :func:`train_and_evaluate` returns."""

    params: Any  # nnx.State of the model's parameters
    opt_state: Any
    history: list[dict]  # one record per epoch, as in metrics.jsonl
    step: int
    images_per_s: float | None  # training throughput of this process (compile excluded)


# ---------------------------------------------------------------- optimizer and steps


def make_optimizer(name: str, learning_rate: float):
    """optax.sgd (the course's torch.optim.SGD, no momentum) or optax.adam."""
    return {"sgd": optax.sgd, "adam": optax.adam}[name](learning_rate)


def _shardings(mesh):
    return NamedSharding(mesh, PartitionSpec()), NamedSharding(mesh, PartitionSpec("data"))


def make_train_step(graphdef, tx, mesh=None) -> Callable:
    """The jitted ``step(params, opt_state, images, labels) -> (params, opt_state,
    {"loss": batch-mean cross entropy, "correct": count})``: ``jax.value_and_grad`` through
    ``nnx.merge(graphdef, params)``, then the optax update ``tx``. With a ``mesh`` the batch
    is sharded over ``"data"`` and the rest replicated (XLA adds the gradient all-reduce).
    The benchmark times this very function."""

    def step(params, opt_state, images, labels):
        def loss_fn(p):
            logits = nnx.merge(graphdef, p)(images)
            return cross_entropy(logits, labels), logits

        (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        correct = jnp.sum(jnp.argmax(logits, axis=-1) == labels)
        return params, opt_state, {"loss": loss, "correct": correct}

    if mesh is None:
        return jax.jit(step)
    repl, data = _shardings(mesh)
    return jax.jit(step, in_shardings=(repl, repl, data, data), out_shardings=(repl, repl, repl))


def make_eval_step(graphdef, mesh=None) -> Callable:
    """Jitted ``eval_step(params, images, labels, mask) -> (loss sum, correct count)``
    over the examples where ``mask`` is 1 (padding has mask 0)."""

    def eval_step(params, images, labels, mask):
        logits = nnx.merge(graphdef, params)(images)
        losses = cross_entropy(logits, labels, reduction="none")
        correct = (jnp.argmax(logits, axis=-1) == labels) & (mask > 0)
        return jnp.sum(losses * mask), jnp.sum(correct)

    if mesh is None:
        return jax.jit(eval_step)
    repl, data = _shardings(mesh)
    return jax.jit(eval_step, in_shardings=(repl, data, data, data), out_shardings=repl)


@functools.lru_cache(maxsize=8)
def _steps_for(graphdef, optimizer: str, learning_rate: float, mesh):
    """(tx, train_step, eval_step), shared by runs with the same model, optimizer and mesh
    so that jax.jit's compilation cache serves repeated runs in one process."""
    tx = make_optimizer(optimizer, learning_rate)
    return tx, make_train_step(graphdef, tx, mesh), make_eval_step(graphdef, mesh)


def _to_device(x: np.ndarray, mesh):
    """A host batch -> a global array sharded over the mesh's batch axis (multi-process
    safe: each process materialises only its addressable shards)."""
    if mesh is None:
        return x
    _, data = _shardings(mesh)
    return jax.make_array_from_callback(x.shape, data, lambda index: x[index])


def _replicate(tree, mesh, device):
    """Host-equal arrays -> replicated over the mesh (or onto ``device`` without one)."""
    if mesh is None:
        return jax.device_put(tree, device)
    repl, _ = _shardings(mesh)
    return jax.tree.map(
        lambda a: jax.make_array_from_callback(a.shape, repl, lambda i: np.asarray(a)[i]), tree
    )


def _fetch(tree):
    """Replicated device values -> numpy, also when they span other processes' devices."""

    def local(a):
        return a.addressable_data(0) if isinstance(a, jax.Array) else a

    return jax.device_get(jax.tree.map(local, tree))


def _any_process(flag: bool) -> bool:
    """Whether ``flag`` is set in any process (a collective: every process must call it)."""
    if jax.process_count() == 1:
        return flag
    return bool(np.any(multihost_utils.process_allgather(np.int32(flag))))


def _fresh_arrays(seed: int, tx) -> dict:
    """Tudui's initial parameters and ``tx``'s state for them."""
    _, params = nnx.split(Tudui(rngs=nnx.Rngs(seed)), nnx.Param)
    return {"params": params, "opt_state": tx.init(params)}


def load_checkpoint(
    workdir, step: int | None = None, *, optimizer: str = "sgd", seed: int = 0
) -> tuple[Any, Any, dict]:
    """``(params, opt_state, meta)`` of a work dir's checkpoint (default: the latest).

    ``optimizer`` must be the run's (it fixes the optimizer state's structure). Raises
    CheckpointError like ``--resume`` does.
    """
    TrainConfig(optimizer=optimizer, seed=seed).validate()
    with Checkpoints(Path(workdir) / "checkpoints", primary=False) as ckpts:
        step = ckpts.manager.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(f"no checkpoint in {ckpts.directory}")
        arrays = _fresh_arrays(seed, make_optimizer(optimizer, 0.01))
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, arrays)
        state, meta = ckpts.restore(step, abstract, None)
    return state["params"], state["opt_state"], meta


# ---------------------------------------------------------------- one run


def _load_data(config: TrainConfig) -> tuple[cifar10.Split, cifar10.Split, str]:
    """(train, test, name): CIFAR-10, or the synthetic set when ``config.synthetic``. Data
    errors propagate: there is no silent fallback."""
    if config.synthetic:
        train = cifar10.synthetic_dataset(config.synthetic_train_size, config.seed * 2 + 1)
        test = cifar10.synthetic_dataset(config.synthetic_test_size, config.seed * 2 + 2)
    else:
        train, test = (
            cifar10.load_cifar10(
                split,
                data_dir=config.data_dir,
                manual_dir=config.manual_dir,
                torchvision_dir=config.torchvision_dir,
            )
            for split in cifar10.SPLITS
        )
    train = (train[0][: config.max_train_examples], train[1][: config.max_train_examples])
    test = (test[0][: config.max_test_examples], test[1][: config.max_test_examples])
    return train, test, "synthetic" if config.synthetic else "cifar10"


class _Run:
    """What stays fixed during a run (config, devices, compiled steps, data, outputs), its
    checkpoints, its signal handler and its throughput."""

    def __init__(self, config: TrainConfig, workdir: Path, devices, out: TextIO) -> None:
        self.config, self.workdir, self.out = config, workdir, out
        self.devices = list(jax.devices() if devices is None else devices)
        n_dev = len(self.devices)
        if config.batch_size % n_dev:
            raise ConfigError(
                f"{setting('batch_size')} {config.batch_size} is not divisible by the {n_dev} "
                f"visible devices; use a multiple of {n_dev} (e.g. "
                f"{math.ceil(config.batch_size / n_dev) * n_dev}) or limit the devices (e.g. "
                "CUDA_VISIBLE_DEVICES)"
            )
        self.train, self.test, self.data_name = _load_data(config)
        self.steps_per_epoch = len(self.train[1]) // config.batch_size
        if self.steps_per_epoch == 0:
            raise ConfigError(
                f"the training split has {len(self.train[1])} images, fewer than one batch of "
                f"{config.batch_size} ({setting('batch_size')})"
            )
        if len(self.test[1]) == 0:
            raise ConfigError("the test split is empty")
        self.eval_batch_size = math.ceil(config.eval_batch_size / n_dev) * n_dev
        self.mesh = None if n_dev == 1 else Mesh(np.array(self.devices), ("data",))
        graphdef, _ = nnx.split(Tudui(rngs=nnx.Rngs(config.seed)), nnx.Param)
        self.tx, self.train_step, self.eval_step = _steps_for(
            graphdef, config.optimizer, float(config.learning_rate), self.mesh
        )
        self.primary = jax.process_index() == 0
        self.writer = MetricsWriter(workdir, self.primary)
        self.stop = _StopOnSignal()
        self.first_step_s: float | None = None  # the compiling step, left out of the rest
        self.images, self.seconds = 0, 0.0  # of the timed training steps
        workdir.mkdir(parents=True, exist_ok=True)
        self.ckpts = Checkpoints(
            workdir / "checkpoints", config.keep_checkpoints, primary=self.primary
        )

    @functools.cached_property
    def fingerprint(self) -> dict:
        """What a checkpoint must share with this run to be resumed by it (computed once:
        it hashes the training split)."""
        config, (images, labels) = self.config, self.train
        sha256 = hashlib.sha256(np.ascontiguousarray(images).tobytes())
        sha256.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
        return {
            "model": "Tudui",
            "optimizer": config.optimizer,
            "learning_rate": float(config.learning_rate),
            "batch_size": config.batch_size,
            "seed": config.seed,
            "data": self.data_name,
            "train_examples": len(labels),
            "train_sha256": sha256.hexdigest(),
        }

    @property
    def images_per_s(self) -> float | None:
        return self.images / self.seconds if self.images and self.seconds > 0 else None

    def save(self, state: RunState) -> None:
        self.check_finite(state)
        meta = dict(state.counters(), fingerprint=self.fingerprint, devices=len(self.devices))
        self.ckpts.save(state.step, {"params": state.params, "opt_state": state.opt_state}, meta)

    def check_finite(self, state: RunState) -> None:
        """Raise TrainingDivergedError if a parameter is inf or nan (before a save)."""
        if not all(np.isfinite(leaf).all() for leaf in _fetch(jax.tree.leaves(state.params))):
            self.diverged(state, f"the parameters are not finite after step {state.step}")

    def diverged(self, state: RunState, what: str) -> NoReturn:
        kept = self.ckpts.saved_step
        self.ckpts.wait()
        last = (
            f"checkpoint step {kept} in {self.ckpts.directory} is the last good one and is kept"
            if kept is not None
            else "no checkpoint was saved"
        )
        raise TrainingDivergedError(
            f"{what} (epoch {state.epoch + 1}): training diverged, most likely because the "
            f"learning rate is too large for {self.config.optimizer} "
            f"({setting('learning_rate')} {self.config.learning_rate:g}); try a smaller one "
            f"(the course: sgd 0.01; adam usually 0.001); {last}"
        )


def _initial_state(run: _Run) -> RunState:
    """A fresh state, or (``resume``) the latest checkpoint's."""
    config, ckpts = run.config, run.ckpts
    arrays = _replicate(_fresh_arrays(config.seed, run.tx), run.mesh, run.devices[0])
    if not config.resume:  # _check_workdir: no checkpoint here
        run.writer.start(config)
        return RunState(**arrays)
    latest = saved_steps(ckpts.directory)[-1]  # _check_workdir: there is one
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, arrays)
    restored, meta = ckpts.restore(latest, abstract, run.fingerprint)
    counters = [f.name for f in dataclasses.fields(RunState) if f.name not in _ARRAYS]
    state = RunState(**restored, **{k: meta[k] for k in counters})
    if meta.get("devices") != len(run.devices):
        print(
            f"note: checkpoint written with {meta.get('devices')} device(s), resuming on "
            f"{len(run.devices)}: results match an uninterrupted run to rounding, not bit for "
            "bit",
            file=sys.stderr,
        )
    if state.epoch < config.epochs:
        print(
            f"resuming from {ckpts.directory / str(latest)}: epoch {state.epoch + 1}, "
            f"batch {state.batch_in_epoch}/{run.steps_per_epoch}, step {state.step}",
            file=sys.stderr,
        )
        run.writer.rewind(state.history, state.step)
    return state


# ---------------------------------------------------------------- epoch and evaluation


def train_epoch(
    run: _Run, state: RunState, on_step: Callable[[int], None] | None = None
) -> float | None:
    """Run the rest of epoch ``state.epoch`` (from ``state.batch_in_epoch``), updating
    ``state`` in place; checkpoints every ``checkpoint_every`` steps; after a Ctrl-C or
    SIGTERM saves and raises :class:`Stopped`; raises :class:`TrainingDivergedError` at a
    non-finite loss, before anything of it is saved. Returns the epoch's images/s (None if
    unmeasured)."""
    config, mesh, ckpts = run.config, run.mesh, run.ckpts
    bs, per_epoch = config.batch_size, run.steps_per_epoch
    multi = jax.process_count() > 1
    pending: list[tuple[int, Any]] = []
    bar: Any = None

    def start_bar() -> Any:  # once the step is compiled: its rate and ETA leave that out
        return tqdm(
            total=per_epoch * bs,
            initial=state.batch_in_epoch * bs,
            unit="img",
            unit_scale=True,
            desc=f"epoch {state.epoch + 1}/{config.epochs}",
            disable=not (config.progress and run.primary),
            dynamic_ncols=True,
        )

    def flush() -> None:
        records: list[dict] = []
        for (step, _), m in zip(pending, _fetch([m for _, m in pending])):
            loss = float(m["loss"])
            if not math.isfinite(loss):
                run.writer.write_steps(records)
                run.diverged(state, f"the training loss is {loss} at step {step}")
            state.loss_sum += loss
            state.correct_sum += int(m["correct"])
            state.images_sum += bs
            records.append({"step": step, "epoch": state.epoch + 1, "loss": loss})
        pending.clear()
        run.writer.write_steps(records)
        if bar is not None:
            bar.set_postfix(loss=f"{state.loss_sum / max(state.images_sum // bs, 1):.4f}")

    batches = cifar10.iterate_batches(
        *run.train, bs, shuffle=True, seed=config.seed, epoch=state.epoch, drop_remainder=True
    )
    if run.first_step_s is not None:
        bar = start_bar()
    t_epoch, timed = time.perf_counter(), 0
    try:
        for images, labels in itertools.islice(batches, state.batch_in_epoch, None):
            t0 = time.perf_counter()
            state.params, state.opt_state, m = run.train_step(
                state.params, state.opt_state, _to_device(images, mesh), _to_device(labels, mesh)
            )
            state.step += 1
            state.batch_in_epoch += 1
            pending.append((state.step, m))
            if run.first_step_s is None:  # compilation: keep it out of the throughput
                jax.block_until_ready(m)
                run.first_step_s = time.perf_counter() - t0
                t_epoch = time.perf_counter()
                bar = start_bar()  # counts this step as done before it started
            else:
                timed += bs
                bar.update(bs)
            boundary = len(pending) >= config.log_every
            if boundary:
                flush()
            last_of_epoch = state.batch_in_epoch == per_epoch
            if not last_of_epoch and state.step % config.checkpoint_every == 0:
                flush()
                run.save(state)
            if on_step is not None:
                on_step(state.step)
            # every process must agree to stop at the same step: multi-process runs ask
            # each other at the log boundaries only (a collective), one process every step
            if not last_of_epoch and (boundary or not multi) and _any_process(run.stop.requested):
                flush()
                if ckpts.saved_step != state.step:
                    run.save(state)
                ckpts.wait()
                where = f"epoch {state.epoch + 1}, batch {state.batch_in_epoch}/{per_epoch}"
                raise run.stop.stopped(f"at step {state.step} ({where})", state.step)
        flush()
        run.check_finite(state)  # the last step's update, before it is evaluated
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t_epoch
    run.images += timed
    run.seconds += seconds
    return timed / seconds if timed and seconds > 0 else None


def evaluate(run: _Run, params) -> dict:
    """Mean cross entropy and accuracy of ``params`` on the whole test split."""
    loss_sum, correct = 0.0, 0
    for batch in cifar10.eval_batches(run.test, run.eval_batch_size):
        ls, c = _fetch(run.eval_step(params, *(_to_device(a, run.mesh) for a in batch)))
        loss_sum += float(ls)
        correct += int(c)
    n = len(run.test[1])
    return {"test_loss": loss_sum / n, "test_accuracy": correct / n}


# ---------------------------------------------------------------- the whole run


def train_and_evaluate(
    config: TrainConfig,
    workdir,
    *,
    on_step: Callable[[int], None] | None = None,
    out: TextIO | None = None,
    devices=None,
) -> TrainResult:
    """Train Tudui per ``config``, writing metrics, plot and checkpoints to ``workdir``.

    Args:
      config: the run's settings.
      workdir: directory for ``metrics.jsonl``, ``steps.jsonl``, ``metrics.png`` and
        ``checkpoints/``. Without ``config.resume`` it must not hold checkpoints yet.
      on_step: called with the global step number after every step (and after any
        checkpoint of that step); for custom logging and tests.
      out: where the per-epoch lines and the final summary go (default stdout).
      devices: the devices to train on (default ``jax.devices()``, all of them).

    Raises:
      ConfigError: impossible settings (e.g. batch size not divisible by the devices).
      CheckpointError: resuming without, or from a damaged/mismatched, checkpoint; or
        starting afresh over existing checkpoints.
      jaxloss.tudui.errors.DataError: CIFAR-10 is unavailable or damaged.
      TrainingDivergedError: the loss or the parameters became inf or nan (nothing
        non-finite is saved; the earlier checkpoints stay).
      Stopped: after Ctrl-C or SIGTERM, once the checkpoint is saved (a KeyboardInterrupt).
    """
    config.validate()
    workdir = Path(workdir).resolve()
    _check_workdir(workdir, config.resume)  # before loading anything: refusals in seconds
    run = _Run(config, workdir, devices, sys.stdout if out is None else out)
    t_run = time.perf_counter()
    with run.ckpts, run.stop:
        state = _initial_state(run)
        if state.epoch >= config.epochs:
            last = state.history[-1] if state.history else {}
            accuracy = f", test accuracy {100 * last['test_accuracy']:.2f}%" if last else ""
            print(
                f"the run in {workdir} is already complete: {state.epoch} epoch(s), step "
                f"{state.step}{accuracy}; nothing to do. To train further, resume with a larger "
                f"--epochs (e.g. --epochs {state.epoch + 10} --resume)",
                file=sys.stderr,
            )
        while state.epoch < config.epochs:
            images_per_s = train_epoch(run, state, on_step)
            record = {
                "epoch": state.epoch + 1,
                "step": state.step,
                "train_loss": state.loss_sum / (state.images_sum // config.batch_size),
                "train_accuracy": state.correct_sum / state.images_sum,
                **evaluate(run, state.params),
                "images_per_s": images_per_s,
            }
            state.end_epoch(record)
            run.writer.write_epoch(record, state.history)
            if run.primary:
                print(
                    f"epoch {record['epoch']}/{config.epochs}: train loss "
                    f"{record['train_loss']:.4f} acc {100 * record['train_accuracy']:.2f}% | "
                    f"test loss {record['test_loss']:.4f} acc "
                    f"{100 * record['test_accuracy']:.2f}%",
                    file=run.out,
                    flush=True,
                )
            if run.ckpts.saved_step != state.step:
                run.save(state)
            if _any_process(run.stop.requested):
                run.ckpts.wait()
                raise run.stop.stopped(f"after epoch {state.epoch}", state.step)
        latest = run.ckpts.manager.latest_step()
    if run.first_step_s is not None and run.primary:
        _summary(run, state, time.perf_counter() - t_run, latest)
    return TrainResult(state.params, state.opt_state, state.history, state.step, run.images_per_s)


def _check_workdir(workdir: Path, resume: bool) -> None:
    """Refuse a work dir this run cannot use, from the file system alone, leaving nothing
    behind: a file; checkpoints of another run (without ``resume``) or none (with it); a
    folder that cannot be created."""
    checkpoints = workdir / "checkpoints"
    if workdir.exists() and not workdir.is_dir():
        raise ConfigError(
            f"{setting('workdir')} {workdir} is a file; give a folder (a new one for a new run)"
        )
    steps = saved_steps(checkpoints)
    if resume and not steps:
        raise CheckpointError(
            f"{setting('resume')}: no complete checkpoint in {checkpoints}; "
            f"train without {setting('resume')} to start a new run"
        )
    if not resume and steps:
        raise CheckpointError(
            f"{checkpoints} already holds checkpoints (latest step {steps[-1]}); pass "
            f"{setting('resume')} to continue that run, or choose a new {setting('workdir')}"
        )
    if workdir.exists():
        return
    created = [d for d in (workdir, *workdir.parents) if not d.exists()]  # deepest first
    try:
        workdir.mkdir(parents=True)
    except OSError as e:
        raise ConfigError(
            f"{setting('workdir')} {workdir} cannot be created ({e.strerror}); give a folder "
            "in a place you can write to"
        ) from None
    finally:
        for folder in created:  # created when the run starts, once its data is loaded
            with contextlib.suppress(OSError):
                folder.rmdir()


def _summary(run: _Run, state: RunState, wall: float, latest: int | None) -> None:
    config, out, history = run.config, run.out, state.history
    sizes = f"{len(run.train[1]):,} training / {len(run.test[1]):,} test images"
    if run.data_name == "synthetic":
        data = f"the synthetic set (generated images, not CIFAR-10), {sizes}"
    elif config.torchvision_dir is not None:
        data = f"CIFAR-10 from the torchvision folder {config.torchvision_dir}, {sizes}"
    elif config.manual_dir is not None:
        data = f"CIFAR-10 from the archive in {config.manual_dir}, {sizes}"
    else:
        tfds = "TFDS" + ("" if config.data_dir is None else f" in {config.data_dir}")
        data = f"CIFAR-10 from {tfds}, {sizes}"
    out.write(
        f"\njaxloss train: {len(history)} epoch(s), {state.step} steps — {config.optimizer} lr "
        f"{config.learning_rate:g}, batch {config.batch_size}, {len(run.devices)} "
        f"{run.devices[0].platform} device(s)\n  data: {data}\n"
    )
    if history:
        last = history[-1]
        best = max(history, key=lambda r: r["test_accuracy"])
        out.write(
            f"  final: train loss {last['train_loss']:.4f} acc "
            f"{100 * last['train_accuracy']:.2f}% | test loss {last['test_loss']:.4f} acc "
            f"{100 * last['test_accuracy']:.2f}% (best {100 * best['test_accuracy']:.2f}% at "
            f"epoch {best['epoch']})\n"
        )
    if run.images_per_s:
        out.write(
            f"  throughput: {run.images_per_s:,.0f} images/s in training steps (first step "
            f"with compilation: {run.first_step_s:.2f} s); wall {wall:.1f} s\n"
        )
    out.write(
        f"  {run.workdir}: metrics.jsonl, steps.jsonl, metrics.png, checkpoints/ (latest step "
        f"{latest})\n"
    )
    out.flush()


# ---------------------------------------------------------------- Ctrl-C and SIGTERM


class _StopOnSignal:
    """The first Ctrl-C or SIGTERM (what ``docker stop``, Kubernetes and Slurm send): finish
    the current step, save a checkpoint, stop. A second Ctrl-C aborts at once; a second
    SIGTERM ends the process as SIGTERM does."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def __enter__(self) -> _StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            signals = (signal.SIGINT, signal.SIGTERM)
            self._previous = {s: signal.signal(s, self._handle) for s in signals}
        return self

    def _handle(self, signum, frame):
        if self.signum is not None:
            if signum == signal.SIGTERM:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
            raise KeyboardInterrupt
        self.signum = signum
        name = signal_name(signum)
        print(
            f"\n{name}: saving a checkpoint after this step ({name} again to abort without it)",
            file=sys.stderr,
            flush=True,
        )

    def stopped(self, where: str, step: int) -> Stopped:
        """What to raise once the checkpoint of ``step`` is saved (a process that another
        process's signal stopped counts as terminated)."""
        return Stopped(self.signum or signal.SIGTERM, where, step)

    def __exit__(self, *exc) -> None:
        for s, previous in self._previous.items():
            signal.signal(s, previous)
