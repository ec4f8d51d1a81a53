"""``jaxloss train``: train the lesson's Tudui on CIFAR-10 with optax.

The lesson ends with "choose an optimizer and update the parameters with the gradients so
the loss goes down"; this module does that, in the layout of flax's ``examples/mnist``:
the work is in :func:`train_and_evaluate` (callable from a test), the CLI stays thin.

* One jitted train step (:func:`make_train_step`): ``jax.value_and_grad`` of
  ``jaxloss.cross_entropy`` through ``nnx.merge``, then an optax update. SGD with lr 0.01 by
  default (the course's choice), Adam with ``optimizer="adam"``.
* Test-split loss and accuracy after every epoch; a tqdm bar per epoch (loss, images/s);
  ``metrics.jsonl`` (one line per epoch), ``steps.jsonl`` (one line per step) and
  ``metrics.png`` in the work dir; a final summary.
* Orbax checkpoints in ``<workdir>/checkpoints/<step>``, written atomically (orbax writes a
  temporary directory and renames it when complete): every ``checkpoint_every`` steps, at
  the end of every epoch and on Ctrl-C. A checkpoint holds the parameters, the optimizer
  state and the position in the data order (seed, epoch, batches done, the epoch's running
  metric sums); Tudui has no stochastic layers, so the data order -- a pure function of
  (seed, epoch) -- is the only random state after initialisation. ``resume=True`` continues
  from the latest complete checkpoint; a run killed at any moment and resumed ends with
  bit-identical parameters on CPU. An unreadable, corrupt (sha256 of the arrays) or
  mismatched (model, optimizer, learning rate, batch size, seed, data) checkpoint raises
  :class:`CheckpointError`; nothing ever silently starts afresh.
* Data-parallel over every visible device: a 1-D ``Mesh`` over ``jax.devices()``, the batch
  axis sharded (``NamedSharding(mesh, P("data"))``), parameters and optimizer state
  replicated; on one device no mesh is used at all. The batch size must be a multiple of
  the device count (:class:`ConfigError` otherwise). Training drops the last incomplete
  batch of each epoch (as flax's examples do), so every step has the same shape; the test
  split is evaluated in full (the last batch is padded and masked).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import hashlib
import itertools
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np

CHECKPOINT_FORMAT = 1


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, corrupt or belongs to a different run."""


class ConfigError(ValueError):
    """The training configuration cannot run on this machine or data."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on.

    Attributes:
      epochs: number of passes over the training split.
      batch_size: images per step, across all devices (a multiple of the device count).
      learning_rate: optax learning rate (the course: SGD with 0.01).
      optimizer: 'sgd' or 'adam'.
      seed: parameter initialisation and data order.
      data_dir, manual_dir, torchvision_dir: CIFAR-10 sources, as in
        ``jaxloss.tudui.cifar10.load_cifar10``.
      synthetic: train on a generated, learnable stand-in (class-dependent colour
        patterns) instead of CIFAR-10. Only ever used when asked for explicitly.
      synthetic_train_size, synthetic_test_size: sizes of the synthetic splits.
      max_train_examples, max_test_examples: use only the first N images of a split.
      eval_batch_size: test-split batch (rounded up to a multiple of the device count).
      checkpoint_every: steps between checkpoints (besides every epoch end and Ctrl-C).
      keep_checkpoints: how many recent checkpoints to keep.
      log_every: steps between fetching losses for the progress bar and steps.jsonl.
      resume: continue from the latest checkpoint in the work dir.
      progress: show tqdm progress bars.
    """

    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 0.01
    optimizer: str = "sgd"
    seed: int = 0
    data_dir: str | None = None
    manual_dir: str | None = None
    torchvision_dir: str | None = None
    synthetic: bool = False
    synthetic_train_size: int = 2048
    synthetic_test_size: int = 512
    max_train_examples: int | None = None
    max_test_examples: int | None = None
    eval_batch_size: int = 256
    checkpoint_every: int = 200
    keep_checkpoints: int = 3
    log_every: int = 20
    resume: bool = False
    progress: bool = True

    def validate(self) -> None:
        for name in (
            "epochs",
            "batch_size",
            "eval_batch_size",
            "checkpoint_every",
            "keep_checkpoints",
            "log_every",
            "synthetic_train_size",
            "synthetic_test_size",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (0 if name == "epochs" else 1):
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"optimizer must be one of {sorted(OPTIMIZERS)}, got {self.optimizer!r}"
            )
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate!r}")


@dataclasses.dataclass
class TrainResult:
    """What :func:`train_and_evaluate` returns."""

    params: Any  # nnx.State of the model's parameters
    opt_state: Any
    history: list[dict]  # one record per epoch, as in metrics.jsonl
    step: int
    images_per_s: float | None  # training throughput of this process (compile excluded)


# ---------------------------------------------------------------- model, optimizer, steps

OPTIMIZERS = ("sgd", "adam")


def make_optimizer(name: str, learning_rate: float):
    """optax.sgd (the course's torch.optim.SGD, no momentum) or optax.adam."""
    import optax

    if name == "sgd":
        return optax.sgd(learning_rate)
    if name == "adam":
        return optax.adam(learning_rate)
    raise ConfigError(f"optimizer must be one of {list(OPTIMIZERS)}, got {name!r}")


def make_mesh(devices=None):
    """A 1-D ``("data",)`` mesh over ``devices`` (default: all), or None for one device."""
    import jax
    from jax.sharding import Mesh

    devices = list(jax.devices() if devices is None else devices)
    if len(devices) == 1:
        return None
    return Mesh(np.array(devices), ("data",))


def _shardings(mesh):
    from jax.sharding import NamedSharding, PartitionSpec

    return NamedSharding(mesh, PartitionSpec()), NamedSharding(mesh, PartitionSpec("data"))


def make_train_step(graphdef, tx, mesh=None) -> Callable:
    """The jitted training step: ``step(params, opt_state, images, labels)``.

    Returns ``(params, opt_state, {"loss": batch-mean cross entropy, "correct": count})``.
    ``graphdef`` and ``params`` come from ``nnx.split(model, nnx.Param)``; ``tx`` is an
    optax transformation. With a ``mesh`` the batch is sharded over its ``"data"`` axis
    and parameters/optimizer state are replicated (XLA inserts the gradient all-reduce);
    without one it is the plain single-device step. The benchmark times this very function.
    """
    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx

    from jaxloss import cross_entropy

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
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from jaxloss import cross_entropy

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
    """A host batch -> a global array sharded over the mesh's batch axis (multi-host safe:
    each process materialises only its addressable shards)."""
    if mesh is None:
        return x
    import jax

    _, data = _shardings(mesh)
    return jax.make_array_from_callback(x.shape, data, lambda index: x[index])


# ---------------------------------------------------------------- data


def synthetic_dataset(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A learnable CIFAR-shaped stand-in: uint8 (n, 32, 32, 3) and int64 (n,) labels.

    Class c is a fixed colour (the same for every seed) modulated by stripes whose
    orientation and period depend on c, plus per-image noise and brightness jitter.
    Used only with ``synthetic=True`` (``--synthetic``), never as a fallback.
    """
    palette = np.random.default_rng(1234).integers(40, 216, size=(10, 3)).astype(np.float32)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 10).astype(np.int64)
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)
    patterns = []
    for c in range(10):
        coord = yy if c % 2 == 0 else xx
        patterns.append(0.5 + 0.5 * np.sin(2 * np.pi * coord / (4 + c)))
    patterns = np.stack(patterns)  # (10, 32, 32)
    images = palette[labels][:, None, None, :] * (0.6 + 0.4 * patterns[labels][..., None])
    images = images * rng.uniform(0.8, 1.2, size=(n, 1, 1, 1))
    images = images + rng.normal(0.0, 12.0, size=images.shape)
    return np.clip(np.rint(images), 0, 255).astype(np.uint8), labels


def load_data(
    config: TrainConfig,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], str]:
    """(train, test, name): CIFAR-10 through ``load_cifar10``, or the synthetic set when
    ``config.synthetic``. ``DataUnavailableError`` propagates: no silent fallback."""
    if config.synthetic:
        train = synthetic_dataset(config.synthetic_train_size, config.seed * 2 + 1)
        test = synthetic_dataset(config.synthetic_test_size, config.seed * 2 + 2)
        name = "synthetic"
    else:
        from jaxloss.tudui.cifar10 import load_cifar10

        sources = dict(
            data_dir=config.data_dir,
            manual_dir=config.manual_dir,
            torchvision_dir=config.torchvision_dir,
        )
        train = load_cifar10("train", **sources)
        test = load_cifar10("test", **sources)
        name = "cifar10"
    if config.max_train_examples is not None:
        train = (train[0][: config.max_train_examples], train[1][: config.max_train_examples])
    if config.max_test_examples is not None:
        test = (test[0][: config.max_test_examples], test[1][: config.max_test_examples])
    return train, test, name


def _data_sha256(images: np.ndarray, labels: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(images).tobytes())
    h.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return h.hexdigest()


def _eval_batches(
    images, labels, batch_size
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Unshuffled test batches, the last padded to ``batch_size`` with mask 0."""
    from jaxloss.tudui.cifar10 import iterate_batches

    for x, y in iterate_batches(images, labels, batch_size, shuffle=False):
        n = len(y)
        mask = np.ones((batch_size,), np.float32)
        if n < batch_size:
            x = np.concatenate([x, np.zeros((batch_size - n,) + x.shape[1:], x.dtype)])
            y = np.concatenate([y, np.zeros((batch_size - n,), y.dtype)])
            mask[n:] = 0.0
        yield x, y, mask


# ---------------------------------------------------------------- checkpoints


def _state_digest(tree) -> str:
    """sha256 over every array of ``tree`` (path, dtype, shape, bytes): detects any
    corrupted byte that the storage layer would hand back silently."""
    import jax

    h = hashlib.sha256()
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if hasattr(leaf, "addressable_data"):  # replicated: the local copy is the array
            leaf = leaf.addressable_data(0)
        arr = np.ascontiguousarray(np.asarray(leaf))
        h.update(f"{jax.tree_util.keystr(path)}|{arr.dtype.str}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


class Checkpoints:
    """Orbax checkpoints of one run: ``<directory>/<step>/{state,meta}``.

    ``state`` is ``{"params", "opt_state"}`` (orbax StandardSave, arrays), ``meta`` a JSON
    dict (position in the data order, running sums, history, run fingerprint, digest).
    Saves are asynchronous and atomic: a step directory appears only when complete.
    """

    def __init__(self, directory: Path, keep: int = 3) -> None:
        import orbax.checkpoint as ocp

        self.directory = Path(directory).resolve()
        self._ocp = ocp
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True),
            item_names=("state", "meta"),
        )

    def steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state: dict, meta: dict) -> None:
        ocp = self._ocp
        meta = dict(meta, format=CHECKPOINT_FORMAT, digest=_state_digest(state))
        self.manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)
            ),
            force=True,
        )

    def restore(
        self, step: int, abstract_state: dict, fingerprint: dict | None
    ) -> tuple[dict, dict]:
        """Restore ``step`` into the structure/shardings of ``abstract_state``.

        Raises CheckpointError when the checkpoint cannot be read, belongs to a run with a
        different ``fingerprint``, has other array shapes, or fails its sha256 digest.
        """
        import jax

        ocp = self._ocp
        path = self.directory / str(step)
        hint = self._hint(step)
        try:
            meta = self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))[
                "meta"
            ]
        except Exception as e:
            raise CheckpointError(
                f"checkpoint {path} is unreadable ({type(e).__name__}: {e}); {hint}"
            ) from e
        if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(
                f"checkpoint {path} has no valid jaxloss metadata (got {meta!r:.200}); {hint}"
            )
        if fingerprint is not None:
            saved = meta.get("fingerprint", {})
            diffs = [
                f"{k}: checkpoint {saved.get(k)!r}, this run {v!r}"
                for k, v in fingerprint.items()
                if saved.get(k) != v
            ]
            if diffs:
                raise CheckpointError(
                    f"checkpoint {path} belongs to a different run; mismatched "
                    + "; ".join(diffs)
                    + ". Resume with the original settings, or train without --resume in a new --workdir"
                )
        try:
            state = self.manager.restore(
                step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state))
            )["state"]
        except Exception as e:
            raise CheckpointError(
                f"checkpoint {path} cannot be restored into this model/optimizer "
                f"({type(e).__name__}: {str(e)[:500]}); {hint}"
            ) from e
        want = jax.tree.map(lambda a: (tuple(a.shape), str(a.dtype)), abstract_state)
        got = jax.tree.map(lambda a: (tuple(a.shape), str(a.dtype)), state)
        if jax.tree.structure(state) != jax.tree.structure(abstract_state) or want != got:
            raise CheckpointError(
                f"checkpoint {path} holds arrays of other shapes/dtypes than this model; {hint}"
            )
        if _state_digest(state) != meta.get("digest"):
            raise CheckpointError(
                f"checkpoint {path} is corrupt: its arrays fail the sha256 check; {hint}"
            )
        return state, meta

    def _hint(self, step: int) -> str:
        older = [s for s in self.steps() if s < step]
        if older:
            return (
                f"delete {self.directory / str(step)} to resume from the previous checkpoint "
                f"(step {older[-1]}), or start a new run in another --workdir"
            )
        return "start a new run in another --workdir (no older checkpoint exists)"

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()


def load_checkpoint(
    workdir, step: int | None = None, *, optimizer: str = "sgd", seed: int = 0
) -> tuple[Any, Any, dict]:
    """``(params, opt_state, meta)`` of a work dir's checkpoint (default: the latest).

    ``optimizer`` must be the run's (it fixes the optimizer state's structure). Raises
    CheckpointError like ``--resume`` does.
    """
    import jax
    import orbax.checkpoint as ocp
    from flax import nnx

    from jaxloss.tudui.model import Tudui

    ckpts = Checkpoints(Path(workdir) / "checkpoints")
    try:
        step = ckpts.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(f"no checkpoint in {ckpts.directory}")
        _, params = nnx.split(Tudui(rngs=nnx.Rngs(seed)), nnx.Param)
        opt_state = make_optimizer(optimizer, 0.01).init(params)
        abstract = jax.tree.map(
            ocp.utils.to_shape_dtype_struct, {"params": params, "opt_state": opt_state}
        )
        state, meta = ckpts.restore(step, abstract, None)
    finally:
        ckpts.close()
    return state["params"], state["opt_state"], meta


# ---------------------------------------------------------------- metrics and plot


def _write_atomic(path: Path, text: str | bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    mode = "wb" if isinstance(text, bytes) else "w"
    with open(tmp, mode) as f:
        f.write(text)
    os.replace(tmp, path)


def plot_metrics(history: list[dict], path) -> None:
    """Write a PNG of train/test loss and accuracy per epoch (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import io

    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    ax_loss.plot(epochs, [r["test_loss"] for r in history], "s-", label="test")
    ax_loss.set(xlabel="epoch", ylabel="cross entropy", title="loss")
    ax_acc.plot(epochs, [100 * r["train_accuracy"] for r in history], "o-", label="train")
    ax_acc.plot(epochs, [100 * r["test_accuracy"] for r in history], "s-", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    _write_atomic(Path(path), buf.getvalue())


def _read_jsonl(path: Path) -> list[dict]:
    records = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut short by a kill: everything after it is gone too
    return records


# ---------------------------------------------------------------- Ctrl-C


class _StopOnSigint:
    """First Ctrl-C: finish the current step, save a checkpoint, stop. Second: abort."""

    def __init__(self, out: TextIO) -> None:
        self.requested = False
        self._out = out
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print(
            "\nCtrl-C: saving a checkpoint after this step (Ctrl-C again to abort without it)",
            file=sys.stderr,
            flush=True,
        )

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


# ---------------------------------------------------------------- training loop


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
      out: where the final summary goes (default stdout).
      devices: the devices to train on (default ``jax.devices()``, all of them).

    Raises:
      ConfigError: impossible settings (e.g. batch size not divisible by the devices).
      CheckpointError: resuming without, or from a corrupt/mismatched, checkpoint; or
        starting afresh over existing checkpoints.
      jaxloss.tudui.cifar10.DataUnavailableError: CIFAR-10 cannot be loaded.
      KeyboardInterrupt: after Ctrl-C, once the checkpoint is saved.
    """
    import jax
    import orbax.checkpoint as ocp
    from flax import nnx
    from tqdm.auto import tqdm

    from jaxloss.tudui.cifar10 import iterate_batches
    from jaxloss.tudui.model import Tudui

    out = sys.stdout if out is None else out
    config.validate()
    workdir = Path(workdir).resolve()
    devices = list(jax.devices() if devices is None else devices)
    n_dev = len(devices)
    if config.batch_size % n_dev:
        raise ConfigError(
            f"batch_size {config.batch_size} is not divisible by the {n_dev} visible devices; "
            f"use a multiple of {n_dev} (e.g. {math.ceil(config.batch_size / n_dev) * n_dev}) "
            "or limit the devices (e.g. CUDA_VISIBLE_DEVICES)"
        )
    mesh = make_mesh(devices)
    eval_bs = math.ceil(config.eval_batch_size / n_dev) * n_dev
    primary = jax.process_index() == 0

    (train_x, train_y), (test_x, test_y), data_name = load_data(config)
    steps_per_epoch = len(train_y) // config.batch_size
    if steps_per_epoch == 0:
        raise ConfigError(
            f"the training split has {len(train_y)} images, fewer than one batch "
            f"of {config.batch_size}"
        )
    if len(test_y) == 0:
        raise ConfigError("the test split is empty")

    model = Tudui(rngs=nnx.Rngs(config.seed))
    graphdef, params = nnx.split(model, nnx.Param)
    tx, train_step, eval_step = _steps_for(
        graphdef, config.optimizer, float(config.learning_rate), mesh
    )
    opt_state = tx.init(params)
    if mesh is not None:
        repl, _ = _shardings(mesh)
        params, opt_state = jax.device_put((params, opt_state), repl)
    else:  # host batches follow the parameters onto this device
        params, opt_state = jax.device_put((params, opt_state), devices[0])

    fingerprint = {
        "model": "Tudui",
        "optimizer": config.optimizer,
        "learning_rate": float(config.learning_rate),
        "batch_size": config.batch_size,
        "seed": config.seed,
        "data": data_name,
        "train_examples": int(len(train_y)),
        "train_sha256": _data_sha256(train_x, train_y),
    }

    workdir.mkdir(parents=True, exist_ok=True)
    metrics_path, steps_path, plot_path = (
        workdir / "metrics.jsonl",
        workdir / "steps.jsonl",
        workdir / "metrics.png",
    )
    ckpts = Checkpoints(workdir / "checkpoints", config.keep_checkpoints)
    with contextlib.ExitStack() as stack:
        stack.callback(ckpts.close)
        # ---- where to start
        epoch, batch_in_epoch, step = 0, 0, 0
        loss_sum, correct_sum, images_sum = 0.0, 0, 0
        history: list[dict] = []
        latest = ckpts.latest_step()
        if config.resume:
            if latest is None:
                raise CheckpointError(
                    f"--resume: no complete checkpoint in {ckpts.directory}; "
                    "train without --resume to start a new run"
                )
            abstract = jax.tree.map(
                ocp.utils.to_shape_dtype_struct, {"params": params, "opt_state": opt_state}
            )
            state, meta = ckpts.restore(latest, abstract, fingerprint)
            params, opt_state = state["params"], state["opt_state"]
            epoch, batch_in_epoch, step = meta["epoch"], meta["batch_in_epoch"], meta["step"]
            loss_sum, correct_sum, images_sum = (
                meta["loss_sum"],
                meta["correct_sum"],
                meta["images_sum"],
            )
            history = meta["history"]
            if meta.get("devices") != n_dev:
                print(
                    f"note: checkpoint written with {meta.get('devices')} device(s), resuming on "
                    f"{n_dev}: results match an uninterrupted run to rounding, not bit for bit",
                    file=sys.stderr,
                )
            print(
                f"resuming from {ckpts.directory / str(latest)}: epoch {epoch + 1}, "
                f"batch {batch_in_epoch}/{steps_per_epoch}, step {step}",
                file=sys.stderr,
            )
            if primary:  # drop what was logged after the checkpoint (it is redone now)
                _write_atomic(metrics_path, "".join(json.dumps(r) + "\n" for r in history))
                kept = [r for r in _read_jsonl(steps_path) if r["step"] <= step]
                _write_atomic(steps_path, "".join(json.dumps(r) + "\n" for r in kept))
        else:
            if latest is not None:
                raise CheckpointError(
                    f"{ckpts.directory} already holds checkpoints (latest step {latest}); pass "
                    "--resume to continue that run, or choose a new --workdir"
                )
            if primary:
                _write_atomic(metrics_path, "")
                _write_atomic(steps_path, "")
                (workdir / "config.json").write_text(
                    json.dumps(dataclasses.asdict(config), indent=2) + "\n"
                )

        def save(at_step, ep, b):
            ckpts.save(
                at_step,
                {"params": params, "opt_state": opt_state},
                {
                    "step": at_step,
                    "epoch": ep,
                    "batch_in_epoch": b,
                    "loss_sum": loss_sum,
                    "correct_sum": correct_sum,
                    "images_sum": images_sum,
                    "history": history,
                    "fingerprint": fingerprint,
                    "devices": n_dev,
                },
            )

        pending: list[tuple[int, Any]] = []
        bar = None
        steps_file = open(steps_path, "a") if primary else None
        stack.callback(lambda: steps_file and steps_file.close())

        def flush():
            nonlocal loss_sum, correct_sum, images_sum
            if not pending:
                return
            values = jax.device_get([m for _, m in pending])
            lines = []
            for (s, _), m in zip(pending, values):
                loss, correct = float(m["loss"]), int(m["correct"])
                loss_sum += loss
                correct_sum += correct
                images_sum += config.batch_size
                lines.append(json.dumps({"step": s, "epoch": epoch + 1, "loss": loss}) + "\n")
            pending.clear()
            if steps_file is not None:
                steps_file.write("".join(lines))
                steps_file.flush()
            if bar is not None:
                bar.set_postfix(loss=f"{loss_sum / max(images_sum // config.batch_size, 1):.4f}")

        timed_images, timed_seconds = 0, 0.0
        first_step_s = None
        last_saved = latest if config.resume else None
        t_run = time.perf_counter()
        with _StopOnSigint(out) as stop:
            while epoch < config.epochs:
                order = iterate_batches(
                    train_x,
                    train_y,
                    config.batch_size,
                    shuffle=True,
                    seed=config.seed,
                    epoch=epoch,
                    drop_remainder=True,
                )
                order = itertools.islice(order, batch_in_epoch, steps_per_epoch)
                bar = tqdm(
                    total=steps_per_epoch * config.batch_size,
                    initial=batch_in_epoch * config.batch_size,
                    unit="img",
                    unit_scale=True,
                    desc=f"epoch {epoch + 1}/{config.epochs}",
                    disable=not (config.progress and primary),
                    dynamic_ncols=True,
                    leave=True,
                )
                t_epoch = time.perf_counter()
                epoch_timed_images = 0
                for images, labels in order:
                    t0 = time.perf_counter()
                    params, opt_state, m = train_step(
                        params, opt_state, _to_device(images, mesh), _to_device(labels, mesh)
                    )
                    step += 1
                    batch_in_epoch += 1
                    pending.append((step, m))
                    if first_step_s is None:  # compilation: keep it out of the throughput
                        jax.block_until_ready(m)
                        first_step_s = time.perf_counter() - t0
                        t_epoch = time.perf_counter()
                    else:
                        epoch_timed_images += config.batch_size
                    bar.update(config.batch_size)
                    if len(pending) >= config.log_every:
                        flush()
                    last_of_epoch = batch_in_epoch == steps_per_epoch
                    if not last_of_epoch and step % config.checkpoint_every == 0:
                        flush()
                        save(step, epoch, batch_in_epoch)
                        last_saved = step
                    if on_step is not None:
                        on_step(step)
                    if stop.requested and not last_of_epoch:  # the epoch end saves anyway
                        flush()
                        if last_saved != step:
                            save(step, epoch, batch_in_epoch)
                        ckpts.wait()
                        bar.close()
                        print(
                            f"stopped at step {step} (epoch {epoch + 1}, batch {batch_in_epoch}/"
                            f"{steps_per_epoch}); checkpoint saved: rerun with --resume to continue",
                            file=sys.stderr,
                            flush=True,
                        )
                        raise KeyboardInterrupt
                flush()
                jax.block_until_ready(params)
                seconds = time.perf_counter() - t_epoch
                timed_images += epoch_timed_images
                timed_seconds += seconds
                bar.close()

                # ---- evaluate, record, checkpoint the finished epoch
                test_loss_sum, test_correct = 0.0, 0
                for x, y, mask in _eval_batches(test_x, test_y, eval_bs):
                    ls, c = eval_step(
                        params, _to_device(x, mesh), _to_device(y, mesh), _to_device(mask, mesh)
                    )
                    test_loss_sum += float(ls)
                    test_correct += int(c)
                n_batches = images_sum // config.batch_size
                record = {
                    "epoch": epoch + 1,
                    "step": step,
                    "train_loss": loss_sum / n_batches,
                    "train_accuracy": correct_sum / images_sum,
                    "test_loss": test_loss_sum / len(test_y),
                    "test_accuracy": test_correct / len(test_y),
                    "images_per_s": (epoch_timed_images / seconds)
                    if epoch_timed_images and seconds > 0
                    else None,
                }
                history.append(record)
                if primary:
                    with open(metrics_path, "a") as f:
                        f.write(json.dumps(record) + "\n")
                    plot_metrics(history, plot_path)
                if primary:
                    print(
                        f"epoch {epoch + 1}/{config.epochs}: train loss {record['train_loss']:.4f} "
                        f"acc {100 * record['train_accuracy']:.2f}% | test loss {record['test_loss']:.4f} "
                        f"acc {100 * record['test_accuracy']:.2f}%",
                        file=out,
                        flush=True,
                    )
                epoch, batch_in_epoch = epoch + 1, 0
                loss_sum, correct_sum, images_sum = 0.0, 0, 0
                if last_saved != step:
                    save(step, epoch, 0)
                    last_saved = step
                if stop.requested:
                    ckpts.wait()
                    print(
                        f"stopped after epoch {epoch}; checkpoint saved: rerun with --resume to continue",
                        file=sys.stderr,
                        flush=True,
                    )
                    raise KeyboardInterrupt
        ckpts.wait()
        images_per_s = timed_images / timed_seconds if timed_images and timed_seconds > 0 else None
        if primary:
            _summary(
                out,
                config,
                history,
                step,
                n_dev,
                devices[0].platform,
                images_per_s,
                first_step_s,
                time.perf_counter() - t_run,
                workdir,
                ckpts.latest_step(),
            )
        return TrainResult(
            params=params,
            opt_state=opt_state,
            history=history,
            step=step,
            images_per_s=images_per_s,
        )


def _summary(
    out, config, history, step, n_dev, platform, images_per_s, first_step_s, wall, workdir, latest
):
    out.write(
        f"\njaxloss train: {len(history)} epoch(s), {step} steps — {config.optimizer} lr "
        f"{config.learning_rate:g}, batch {config.batch_size}, {n_dev} {platform} device(s)\n"
    )
    if history:
        last = history[-1]
        best = max(history, key=lambda r: r["test_accuracy"])
        out.write(
            f"  final: train loss {last['train_loss']:.4f} acc {100 * last['train_accuracy']:.2f}% | "
            f"test loss {last['test_loss']:.4f} acc {100 * last['test_accuracy']:.2f}% "
            f"(best {100 * best['test_accuracy']:.2f}% at epoch {best['epoch']})\n"
        )
    if images_per_s:
        out.write(
            f"  throughput: {images_per_s:,.0f} images/s in training steps "
            f"(first step with compilation: {first_step_s:.2f} s); wall {wall:.1f} s\n"
        )
    out.write(
        f"  {workdir}: metrics.jsonl, steps.jsonl, metrics.png, checkpoints/ (latest step {latest})\n"
    )
    out.flush()


# ---------------------------------------------------------------- CLI


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train the lesson's Tudui on CIFAR-10 with optax (resumable, data-parallel)",
        description="Train Tudui on CIFAR-10: SGD lr 0.01 by default, checkpoints every "
        "--checkpoint-every steps, each epoch and on Ctrl-C; --resume continues.",
    )
    d = TrainConfig()
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"default {d.epochs}")
    p.add_argument(
        "--batch-size",
        type=int,
        default=d.batch_size,
        help=f"global batch, a multiple of the device count (default {d.batch_size})",
    )
    p.add_argument(
        "--lr",
        type=float,
        default=d.learning_rate,
        help=f"learning rate (default {d.learning_rate})",
    )
    p.add_argument(
        "--optimizer", choices=OPTIMIZERS, default=d.optimizer, help="default sgd (the course's)"
    )
    p.add_argument(
        "--seed", type=int, default=d.seed, help="initialisation and data order (default 0)"
    )
    p.add_argument(
        "--workdir", default="runs/tudui", help="metrics, plot and checkpoints (default runs/tudui)"
    )
    p.add_argument(
        "--resume", action="store_true", help="continue from the latest checkpoint in --workdir"
    )
    p.add_argument("--data-dir", help="TFDS data dir (as in `jaxloss demo`)")
    p.add_argument("--manual-dir", help="folder holding cifar-10-binary.tar.gz")
    p.add_argument("--torchvision-dir", help="folder holding torchvision's cifar-10-batches-py")
    p.add_argument(
        "--synthetic",
        action="store_true",
        help="train on a generated learnable stand-in instead of CIFAR-10 (never automatic)",
    )
    p.add_argument("--max-train-examples", type=int, help="use only the first N training images")
    p.add_argument("--max-test-examples", type=int, help="use only the first N test images")
    p.add_argument("--eval-batch-size", type=int, default=d.eval_batch_size)
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=d.checkpoint_every,
        help=f"steps between checkpoints, besides each epoch end (default {d.checkpoint_every})",
    )
    p.add_argument("--keep-checkpoints", type=int, default=d.keep_checkpoints)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument(
        "--distributed",
        action="store_true",
        help="multi-host: call jax.distributed.initialize() first (auto-detected on Cloud "
        "TPU, Slurm, Open MPI; otherwise give the three options below)",
    )
    p.add_argument("--coordinator-address", help="with --distributed: HOST:PORT of process 0")
    p.add_argument("--num-processes", type=int, help="with --distributed: number of processes")
    p.add_argument("--process-id", type=int, help="with --distributed: this process's id, 0..N-1")
    p.set_defaults(func=_run)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        optimizer=args.optimizer,
        seed=args.seed,
        data_dir=args.data_dir,
        manual_dir=args.manual_dir,
        torchvision_dir=args.torchvision_dir,
        synthetic=args.synthetic,
        max_train_examples=args.max_train_examples,
        max_test_examples=args.max_test_examples,
        eval_batch_size=args.eval_batch_size,
        checkpoint_every=args.checkpoint_every,
        keep_checkpoints=args.keep_checkpoints,
        resume=args.resume,
        progress=not args.no_progress,
    )


def _run(args: argparse.Namespace) -> int:
    from jaxloss.tudui.cifar10 import DataUnavailableError, UnsafePickleError

    if args.distributed:
        import jax

        jax.distributed.initialize(
            coordinator_address=args.coordinator_address,
            num_processes=args.num_processes,
            process_id=args.process_id,
        )
    try:
        train_and_evaluate(config_from_args(args), args.workdir)
    except (ConfigError, CheckpointError, DataUnavailableError, UnsafePickleError) as e:
        print(f"jaxloss train: error: {e}", file=sys.stderr)
        return 2
    return 0
