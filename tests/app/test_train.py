"""``jaxloss train``: a real run through the CIFAR loader, learning, checkpoints that lose
nothing (SIGKILL and Ctrl-C), refusal of damaged/mismatched checkpoints in one line, data
parallelism over 4 devices of one process and over 2 processes (jax.distributed).

References are independent of the code under test: ln(10) for the loss of an untrained
10-class classifier, a float64 numpy log-softmax for the test loss, an uninterrupted run
for a resumed one, the 1-device run for the 4-device one and the 1-process 4-device run for
the 2-process one. Everything runs on CPU.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from cifar_fixtures import random_cifar, write_torchvision_folder

from jaxloss.tudui import cli
from jaxloss.tudui.train import (
    CheckpointError,
    TrainConfig,
    load_checkpoint,
    train_and_evaluate,
)

REPO = Path(__file__).resolve().parents[2]  # the checkout: children import its jaxloss
CPU = jax.devices("cpu")[:1]

# 2 epochs of 10 steps (the first 160 synthetic images, batch 16, Adam so the optimizer
# state is more than empty); checkpoints every 3 steps and at each epoch end; 40 test
# images evaluated in batches of 16, the last one padded.
REF = TrainConfig(
    epochs=2,
    batch_size=16,
    optimizer="adam",
    learning_rate=1e-3,
    seed=3,
    synthetic=True,
    max_train_examples=160,
    max_test_examples=40,
    eval_batch_size=16,
    checkpoint_every=3,
    log_every=4,
    progress=False,
)
REF_FLAGS = [
    "--synthetic",
    "--epochs",
    "2",
    "--batch-size",
    "16",
    "--optimizer",
    "adam",
    "--lr",
    "0.001",
    "--seed",
    "3",
    "--max-train-examples",
    "160",
    "--max-test-examples",
    "40",
    "--eval-batch-size",
    "16",
    "--checkpoint-every",
    "3",
    "--no-progress",
]
REF_STEPS = 20

_CHILD = """
import json, os, signal, sys
from jaxloss.tudui.train import TrainConfig, train_and_evaluate
config = TrainConfig(**json.loads(sys.argv[1]))
kill_at = int(sys.argv[3])
def on_step(step):
    if step == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
train_and_evaluate(config, sys.argv[2], on_step=on_step)
"""

_FOUR_DEVICES = """
import json, sys
import jax
from jaxloss.tudui.train import ConfigError, TrainConfig, train_and_evaluate
assert jax.device_count() == 4, jax.devices()
config = TrainConfig(**json.loads(sys.argv[1]))
result = train_and_evaluate(config, sys.argv[2])
leaf = jax.tree.leaves(result.params)[0]
print("PARAM_SHARDING", leaf.sharding.is_fully_replicated, len(leaf.sharding.device_set))
try:
    config = TrainConfig(**dict(json.loads(sys.argv[1]), batch_size=18))
    train_and_evaluate(config, sys.argv[2] + "-18")
except ConfigError as e:
    print("CONFIG_ERROR", e)
"""


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def _spawn(code: str, *args: str, **env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env=_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _steps(workdir) -> list[dict]:
    return [json.loads(line) for line in (Path(workdir) / "steps.jsonl").read_text().splitlines()]


def _epochs(workdir) -> list[dict]:
    return [json.loads(line) for line in (Path(workdir) / "metrics.jsonl").read_text().splitlines()]


def _without_timing(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "images_per_s"} for r in records]


def _assert_bit_identical(a, b) -> None:
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(leaves_a, leaves_b):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes(), f"max |diff| {np.max(np.abs(x.astype(np.float64) - y))}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The uninterrupted reference run (in process) while two children run beside it:
    one killed with SIGKILL at step 16 (mid-epoch 2, between the checkpoints at 15 and 18)
    and one training the same config data-parallel over 4 host devices."""
    root = tmp_path_factory.mktemp("train")
    cfg = json.dumps(dataclasses.asdict(REF))
    killed = _spawn(_CHILD, cfg, str(root / "killed"), "16")
    four = _spawn(
        _FOUR_DEVICES, cfg, str(root / "four"), XLA_FLAGS="--xla_force_host_platform_device_count=4"
    )
    try:
        result = train_and_evaluate(REF, root / "ref", devices=CPU)
        yield {"root": root, "ref": result, "killed": killed, "four": four}
    finally:
        for proc in (killed, four):  # a failed test must not leave its child running
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def test_ctrl_c_saves_a_checkpoint_and_resume_is_bit_identical(runs, tmp_path):
    def press_ctrl_c(step):
        if step == 7:
            signal.raise_signal(signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(REF, tmp_path, on_step=press_ctrl_c, devices=CPU)
    assert load_checkpoint(tmp_path, optimizer="adam", seed=REF.seed)[2]["step"] == 7
    result = train_and_evaluate(dataclasses.replace(REF, resume=True), tmp_path, devices=CPU)
    _assert_bit_identical(result.params, runs["ref"].params)
    _assert_bit_identical(result.opt_state, runs["ref"].opt_state)
    assert _steps(tmp_path) == _steps(runs["root"] / "ref")


def test_sigterm_mid_epoch_saves_and_resume_is_bit_identical(runs, tmp_path, capsys):
    """`jaxloss train` (the real command) gets SIGTERM mid-epoch, as `docker stop`, Kubernetes
    and Slurm send it: it saves a checkpoint, prints one line with the command that resumes,
    and exits with 143; that command ends bit-identical to the uninterrupted run."""
    workdir = tmp_path / "run"
    argv = ["train", "--workdir", str(workdir), *REF_FLAGS, "--log-every", "1"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "jaxloss", *argv],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        steps, deadline = workdir / "steps.jsonl", time.monotonic() + 240
        while not (steps.is_file() and steps.read_text()):  # step 1 done: training now
            assert proc.poll() is None, _finish(proc)
            assert time.monotonic() < deadline, "no step within 240 s"
            time.sleep(0.002)
        proc.send_signal(signal.SIGSTOP)  # held where it is (mid-epoch 1) while it is signalled
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGCONT)
        rc, out, err = _finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert rc == 128 + signal.SIGTERM, err
    meta = load_checkpoint(workdir, optimizer="adam", seed=REF.seed)[2]
    assert 1 <= meta["step"] < REF_STEPS, meta  # stopped before the end, at a saved step
    where = (
        f"at step {meta['step']} (epoch {meta['epoch'] + 1}, batch {meta['batch_in_epoch']}/10)"
        if meta["batch_in_epoch"]
        else f"after epoch {meta['epoch']}"
    )
    *_, line = err.splitlines()
    resume = shlex.join(["jaxloss", *argv, "--resume"])
    assert line == (
        f"jaxloss train: stopped by SIGTERM {where}; checkpoint saved; resume with: {resume}"
    ), err
    # the printed command, run in this process (its compiled step is the reference run's)
    assert cli.main(shlex.split(resume)[1:]) == 0
    assert f"resuming from {workdir / 'checkpoints' / str(meta['step'])}" in capsys.readouterr().err
    params, opt_state, meta = load_checkpoint(workdir, optimizer="adam", seed=REF.seed)
    assert meta["step"] == REF_STEPS
    _assert_bit_identical(params, runs["ref"].params)
    _assert_bit_identical(opt_state, runs["ref"].opt_state)
    assert _steps(workdir) == _steps(runs["root"] / "ref")  # every step's loss, bit for bit
    assert _without_timing(_epochs(workdir)) == _without_timing(_epochs(runs["root"] / "ref"))


def test_non_finite_loss_stops_in_one_line_and_saves_nothing_non_finite(tmp_path):
    """SGD at lr 1e6 overflows within a few steps. The command stops at the first non-finite
    loss with one line naming the step and the learning rate, exit status 1; every step
    before it is logged and every checkpoint holds finite parameters, the last one named as
    kept. (Before, it trained on to the end on nan and saved nan checkpoints, exit 0.)"""
    workdir = tmp_path / "run"
    flags = [f for f in REF_FLAGS if f not in ("--optimizer", "adam", "--lr", "0.001")]
    flags = [*flags, "--optimizer", "sgd", "--lr", "1e6", "--checkpoint-every", "1"]
    child = _spawn(
        "import sys; from jaxloss.tudui.cli import main; sys.exit(main(sys.argv[1:]))",
        "train",
        "--workdir",
        str(workdir),
        *flags,
        "--log-every",
        "1",
    )
    rc, out, err = _finish(child)
    assert rc == 1, err
    (line,) = err.splitlines()
    match = re.fullmatch(
        r"jaxloss train: error: the training loss is (nan|inf|-inf) at step (\d+) \(epoch 1\): "
        r"training diverged, most likely because the learning rate is too large for sgd "
        r"\(--learning-rate 1e\+06\); try a smaller one \(the course: sgd 0.01; adam usually "
        r"0.001\); checkpoint step (\d+) in (.+) is the last good one and is kept",
        line,
    )
    assert match, line
    bad, kept = int(match[2]), int(match[3])
    assert match[4] == str(workdir / "checkpoints")
    losses = [r["loss"] for r in _steps(workdir)]
    assert len(losses) == bad - 1 and all(math.isfinite(v) for v in losses)  # up to the bad step
    saved = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir())
    assert saved and saved[-1] == kept == bad - 1  # checkpoint-every 1: the step before
    for step in saved:
        params, _, _ = load_checkpoint(workdir, step, optimizer="sgd", seed=REF.seed)
        assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(params)), step
    assert "epoch 1/" not in out  # no epoch was reported on nan


def test_progress_rate_leaves_compilation_out(tmp_path, monkeypatch, capsys):
    """The bar's elapsed time, hence its rate and ETA, starts after the first (compiling)
    step. Here that step takes 2 s longer (as a compilation does); the bar must show no
    more time than the steps after it took, measured around the step function."""
    from jaxloss.tudui import train

    real, ends = train._steps_for, []

    def slow_first_step(*args):
        tx, step, eval_step = real(*args)

        def timed_step(*a):
            if not ends:
                time.sleep(2.0)
            result = jax.block_until_ready(step(*a))
            ends.append(time.perf_counter())
            return result

        return tx, timed_step, eval_step

    monkeypatch.setattr(train, "_steps_for", slow_first_step)
    config = dataclasses.replace(REF, epochs=1, progress=True, checkpoint_every=100)
    train_and_evaluate(config, tmp_path, devices=CPU)
    shown = [
        int(m) * 60 + int(s) for m, s in re.findall(r"\[(\d+):(\d\d)<", capsys.readouterr().err)
    ]
    assert len(ends) == 10 and shown, shown
    assert max(shown) <= ends[-1] - ends[0] + 1, (shown, ends[-1] - ends[0])


def test_short_run_on_tiny_cifar_through_the_real_loader(tmp_path, capsys):
    # 64 train / 20 test random images in torchvision's on-disk format, read by load_cifar10
    folder = write_torchvision_folder(
        tmp_path / "data", random_cifar(64, seed=1), random_cifar(20, seed=2)
    )
    workdir = tmp_path / "run"
    rc = cli.main(
        [
            "train",
            "--torchvision-dir",
            str(folder),
            "--workdir",
            str(workdir),
            "--epochs",
            "1",
            "--batch-size",
            "16",
            "--eval-batch-size",
            "16",
            "--no-progress",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "1 epoch(s), 4 steps" in out and "images/s" in out
    assert f"data: CIFAR-10 from the torchvision folder {folder}, 64 training / 20 test" in out
    (record,) = _epochs(workdir)
    assert record["epoch"] == 1 and record["step"] == 4
    assert [r["step"] for r in _steps(workdir)] == [1, 2, 3, 4]
    assert (workdir / "metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the test loss/accuracy over all 20 images (last eval batch padded 4 -> 16), against a
    # float64 numpy log-softmax of the checkpointed model's logits
    from flax import nnx

    from jaxloss.tudui.model import Tudui

    params, _, meta = load_checkpoint(workdir, optimizer="sgd")
    assert meta["step"] == 4 and meta["epoch"] == 1 and meta["batch_in_epoch"] == 0
    graphdef, _ = nnx.split(Tudui(rngs=nnx.Rngs(0)), nnx.Param)
    images, labels = random_cifar(20, seed=2)
    logits = np.asarray(nnx.merge(graphdef, params)(images.astype(np.float32) / 255), np.float64)
    logp = logits - logits.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    assert record["test_loss"] == pytest.approx(-logp[np.arange(20), labels].mean(), rel=1e-5)
    assert record["test_accuracy"] == np.mean(logits.argmax(1) == labels)


def test_missing_data_is_an_error_never_synthetic(tmp_path, capsys):
    workdir = tmp_path / "run"
    (tmp_path / "nothing-here").mkdir()
    rc = cli.main(
        ["train", "--torchvision-dir", str(tmp_path / "nothing-here"), "--workdir", str(workdir)]
    )
    assert rc == 2
    assert "jaxloss train: error: CIFAR-10 is not available" in capsys.readouterr().err
    assert not workdir.exists()  # nothing trained, nothing written


def test_loss_falls_on_a_learnable_synthetic_set(tmp_path):
    # 10 classes of colour + stripe patterns; 60 Adam steps of 16 images (REF's shapes)
    config = dataclasses.replace(
        REF, epochs=3, seed=0, max_train_examples=320, max_test_examples=160
    )
    result = train_and_evaluate(config, tmp_path, devices=CPU)
    losses = [r["loss"] for r in _steps(tmp_path)]
    assert len(losses) == 60
    # untrained: close to ln(10), the loss of uniform predictions over 10 classes
    assert losses[0] == pytest.approx(math.log(10), abs=0.1)
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    last = result.history[-1]
    assert last["test_loss"] < 0.6 and last["test_accuracy"] > 0.8


def test_synthetic_smoke_run_learns_at_its_documented_flags(tmp_path):
    """README: `jaxloss train --synthetic --epochs 3` -- the defaults (SGD lr 0.01, batch 64,
    4096 synthetic images, seed 0) -- reaches 34.4% test accuracy after epoch 1 and 100% after
    epoch 2 (10% is chance; the first two epochs of a 3-epoch run are these)."""
    result = train_and_evaluate(
        TrainConfig(synthetic=True, epochs=2, progress=False), tmp_path, devices=CPU
    )
    first, second = result.history
    assert first["test_accuracy"] == pytest.approx(0.344, abs=0.05)
    assert second["test_accuracy"] >= 0.99 and second["test_loss"] < 0.5
    assert _steps(tmp_path)[0]["loss"] == pytest.approx(math.log(10), abs=0.15)  # untrained


def test_metrics_chart_is_readable():
    """Distinct colours per series, the legend outside both panels, units on the axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from jaxloss.tudui.metrics import metrics_figure

    history = [
        {"epoch": e, "train_loss": 2.3 / e, "test_loss": 2.2 / e, "train_accuracy": 0.1 * e,
         "test_accuracy": 0.12 * e}
        for e in (1, 2, 3)
    ]  # fmt: skip
    fig = metrics_figure(history)
    FigureCanvasAgg(fig).draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    axes = fig.get_axes()
    assert len(axes) == 2
    for ax in axes:
        colours = [line.get_color() for line in ax.get_lines()]
        assert len(colours) == 2 and len(set(colours)) == 2, colours
        assert ax.get_xlabel() == "epoch"
        assert ax.get_legend() is None  # no legend drawn over the data
    assert [ax.get_ylabel() for ax in axes] == ["cross-entropy loss (nats)", "accuracy (%)"]
    (legend,) = fig.legends
    box = legend.get_window_extent(renderer)
    for ax in axes:
        assert not box.overlaps(ax.get_window_extent(renderer))
    assert [t.get_text() for t in legend.get_texts()] == [
        "train (mean over the epoch)",
        "test (after the epoch)",
    ]


def _copy_run(runs, tmp_path) -> Path:
    workdir = tmp_path / "copy"
    shutil.copytree(runs["root"] / "ref", workdir)
    return workdir


def _largest_array_file(step_dir: Path) -> Path:
    return max(
        (p for p in (step_dir / "state").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size
    )


def test_corrupt_checkpoint_is_refused(runs, tmp_path):
    resume = dataclasses.replace(REF, resume=True)
    workdir = _copy_run(runs, tmp_path)
    ckpts = workdir / "checkpoints"
    assert sorted(int(p.name) for p in ckpts.iterdir()) == [15, 18, REF_STEPS]
    # arrays from another step under step 20's name: the file list of step 20 names what
    # differs; without the file list (a kill between orbax's rename and writing it) orbax
    # reads the arrays happily and the digest stored with step 20 does not match
    shutil.rmtree(ckpts / str(REF_STEPS) / "state")
    shutil.copytree(ckpts / "18" / "state", ckpts / str(REF_STEPS) / "state")
    with pytest.raises(CheckpointError, match=r"step 20 \(.*\) is damaged: state/.*\(step 18\)"):
        train_and_evaluate(resume, workdir, devices=CPU)
    (ckpts / str(REF_STEPS) / "jaxloss_files.json").unlink()
    with pytest.raises(
        CheckpointError,
        match=r"is corrupt: its arrays fail the sha256 check; delete .* \(step 18\)",
    ):
        train_and_evaluate(resume, workdir, devices=CPU)
    # one flipped byte in the middle of the largest array file (zstd chunks carry no
    # checksum: orbax may hand back wrong numbers, or fail to decode)
    workdir = _copy_run(runs, tmp_path / "flip")
    latest = workdir / "checkpoints" / str(REF_STEPS)
    largest = _largest_array_file(latest)
    raw = bytearray(largest.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    largest.write_bytes(bytes(raw))
    rel = largest.relative_to(latest).as_posix()
    with pytest.raises(CheckpointError, match=f"step 20 .* is damaged: {rel} has changed"):
        train_and_evaluate(resume, workdir, devices=CPU)
    (latest / "jaxloss_files.json").unlink()  # orbax then decodes it, or the digest fails
    with pytest.raises(
        CheckpointError, match=r"checkpoint step 20 .*(is corrupt|cannot be restored)"
    ):
        train_and_evaluate(resume, workdir, devices=CPU)
    # unreadable metadata, with and without the file list
    workdir = _copy_run(runs, tmp_path / "meta")
    latest = workdir / "checkpoints" / str(REF_STEPS)
    (latest / "meta" / "metadata").write_text("{not json")
    with pytest.raises(CheckpointError, match="is damaged: meta/metadata is truncated"):
        train_and_evaluate(resume, workdir, devices=CPU)
    (latest / "jaxloss_files.json").unlink()
    with pytest.raises(CheckpointError, match="its metadata is unreadable"):
        train_and_evaluate(resume, workdir, devices=CPU)


def test_truncated_or_deleted_checkpoint_file_is_one_line(runs, tmp_path, capsys):
    """Through the command: one line naming the step and the file, exit 2 -- no storage
    library dump, no asyncio noise at exit (checked in a fresh process for the first)."""
    workdir = _copy_run(runs, tmp_path)
    latest = workdir / "checkpoints" / str(REF_STEPS)
    largest = _largest_array_file(latest)
    size = largest.stat().st_size
    with open(largest, "r+b") as f:
        f.truncate(size // 2)
    rel = largest.relative_to(latest).as_posix()
    child = _spawn(
        "import sys; from jaxloss.tudui.cli import main; sys.exit(main(sys.argv[1:]))",
        "train",
        "--resume",
        "--workdir",
        str(workdir),
        *REF_FLAGS,
    )
    rc, out, err = _finish(child)
    assert rc == 2, err
    assert err == (
        f"jaxloss train: error: checkpoint step 20 ({latest}) is damaged: {rel} is truncated: "
        f"{size // 2} bytes, written with {size}; delete {latest} to resume from the previous "
        "checkpoint (step 18), or start a new run in another --workdir\n"
    )
    largest.unlink()
    assert cli.main(["train", "--resume", "--workdir", str(workdir), *REF_FLAGS]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"step 20 ({latest}) is damaged: {rel} is missing" in err


def test_resuming_a_finished_run_says_so_and_a_larger_epochs_extends_it(runs, tmp_path, capsys):
    workdir = _copy_run(runs, tmp_path)
    before = _steps(workdir)
    assert cli.main(["train", "--resume", "--workdir", str(workdir), *REF_FLAGS]) == 0
    captured = capsys.readouterr()
    assert "already complete: 2 epoch(s), step 20" in captured.err
    assert "resume with a larger --epochs (e.g. --epochs 12 --resume)" in captured.err
    assert "resuming from" not in captured.err and captured.out == ""
    assert _steps(workdir) == before  # nothing was redone or dropped
    flags = [f if f != "2" else "3" for f in REF_FLAGS]  # --epochs 2 -> 3
    assert flags[flags.index("--epochs") + 1] == "3"
    assert cli.main(["train", "--resume", "--workdir", str(workdir), *flags]) == 0
    assert "epoch 3, batch 0/10, step 20" in capsys.readouterr().err
    steps = _steps(workdir)
    assert [r["step"] for r in steps] == list(range(1, 31)) and steps[:20] == before
    assert [r["epoch"] for r in _epochs(workdir)] == [1, 2, 3]


def test_mismatched_or_missing_checkpoint_is_refused(runs, tmp_path, capsys):
    workdir = _copy_run(runs, tmp_path)
    for change, field in [
        ({"optimizer": "sgd"}, "optimizer"),
        ({"learning_rate": 0.01}, "learning_rate"),
        ({"seed": 4}, "seed"),
        ({"batch_size": 8}, "batch_size"),
    ]:
        with pytest.raises(CheckpointError, match=f"different run.*{field}: checkpoint"):
            train_and_evaluate(
                dataclasses.replace(REF, resume=True, **change), workdir, devices=CPU
            )
    # on the command line the settings are named as flags
    sgd = [f if f != "adam" else "sgd" for f in REF_FLAGS]
    assert cli.main(["train", "--resume", "--workdir", str(workdir), *sgd]) == 2
    err = capsys.readouterr().err
    assert "belongs to a different run; mismatched --optimizer: checkpoint 'adam', this run " in err
    assert err.count("\n") == 1
    with pytest.raises(CheckpointError, match="already holds checkpoints"):  # no silent restart
        train_and_evaluate(REF, workdir, devices=CPU)
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        train_and_evaluate(dataclasses.replace(REF, resume=True), tmp_path / "empty", devices=CPU)


def test_four_devices_match_one_device(runs):
    rc, out, err = _finish(runs["four"])
    assert rc == 0, err
    assert "PARAM_SHARDING True 4" in out  # parameters replicated over the 4 devices
    assert "CONFIG_ERROR batch_size 18 is not divisible by the 4 visible devices" in out
    one = np.array([r["loss"] for r in _steps(runs["root"] / "ref")])
    four = np.array([r["loss"] for r in _steps(runs["root"] / "four")])
    assert len(one) == len(four) == REF_STEPS
    # the first epoch (10 steps) within 1e-5 relative; float32 sums in another order drift
    # under Adam's normalised updates to ~2e-5 by step 20 (measured), hence 1e-4 after
    np.testing.assert_allclose(four[:10], one[:10], rtol=1e-5, atol=0)
    np.testing.assert_allclose(four, one, rtol=1e-4, atol=0)
    (four_1, four_2), (one_1, one_2) = _epochs(runs["root"] / "four"), _epochs(runs["root"] / "ref")
    assert four_1["test_loss"] == pytest.approx(
        one_1["test_loss"], rel=1e-5
    )  # padded, sharded eval
    assert four_2["test_loss"] == pytest.approx(one_2["test_loss"], rel=1e-4)


def test_sigkill_mid_epoch_then_resume_is_bit_identical(runs, capsys):
    rc, _, err = _finish(runs["killed"])
    assert rc == -signal.SIGKILL, err
    killed = runs["root"] / "killed"
    # 15, or 12 if the kill cut off the asynchronous save of 15 (orbax finishes one save
    # before starting the next, so 12 is complete): either way mid-epoch 2
    meta = load_checkpoint(killed, optimizer="adam", seed=REF.seed)[2]
    left = meta["step"]
    assert (left, meta["epoch"], meta["batch_in_epoch"]) in ((15, 1, 5), (12, 1, 2)), meta
    # resume through the CLI, in this process (its compiled step is the reference run's)
    assert cli.main(["train", "--resume", "--workdir", str(killed), *REF_FLAGS]) == 0
    assert f"resuming from {killed / 'checkpoints' / str(left)}" in capsys.readouterr().err
    params, opt_state, meta = load_checkpoint(killed, optimizer="adam", seed=REF.seed)
    ref = runs["ref"]
    assert meta["step"] == ref.step == REF_STEPS
    _assert_bit_identical(params, ref.params)
    _assert_bit_identical(opt_state, ref.opt_state)
    assert _steps(killed) == _steps(runs["root"] / "ref")  # every step's loss, bit for bit
    assert _without_timing(_epochs(killed)) == _without_timing(_epochs(runs["root"] / "ref"))


# ---------------------------------------------------------------- two processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


HEARTBEAT_S = 15


def _two_processes(workdir: Path, cache: Path, *extra: str) -> list[subprocess.Popen]:
    """`python -m jaxloss train --distributed` twice on localhost, 2 CPU devices each,
    sharing jax's persistent compilation cache ``cache`` (the same executables, compiled
    once: the later runs start in seconds instead of compiling again)."""
    address = f"127.0.0.1:{_free_port()}"
    env = _env(
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
        JAX_COMPILATION_CACHE_DIR=str(cache),
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
    )
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jaxloss",
                "train",
                "--workdir",
                str(workdir),
                *REF_FLAGS,
                *extra,
                "--distributed",
                "--coordinator-address",
                address,
                "--num-processes",
                "2",
                "--process-id",
                str(i),
                "--heartbeat-timeout",
                str(HEARTBEAT_S),
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in (0, 1)
    ]


def test_two_processes_match_four_devices_and_resume_bit_identically(runs, tmp_path):
    """2 processes x 2 CPU devices (jax.distributed, gloo) against 1 process x 4 devices;
    SIGKILL of one process stops the other in bounded time with one line; --resume then
    ends bit-identical to an uninterrupted 2-process run."""
    full, cut, cache = tmp_path / "full", tmp_path / "cut", tmp_path / "jax-cache"

    def wait_for_checkpoint(workdir: Path, step: int, procs: list[subprocess.Popen]) -> None:
        deadline = time.monotonic() + 300
        while not (workdir / "checkpoints" / str(step)).is_dir():
            assert all(p.poll() is None for p in procs), _finish(procs[0])
            assert time.monotonic() < deadline, f"no checkpoint {step} within 300 s"
            time.sleep(0.02)

    procs = _two_processes(full, cache)
    try:
        wait_for_checkpoint(full, 3, procs)  # compiled (and cached) by now
        procs += _two_processes(cut, cache)
        # kill process 1 of `cut` once its first checkpoint (step 3 of 20) is complete
        wait_for_checkpoint(cut, 3, procs[2:])
        procs[3].send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        rc, _, err = _finish(procs[2], timeout=HEARTBEAT_S + 60)
        waited = time.monotonic() - killed_at
        assert rc == 1, err
        assert waited < HEARTBEAT_S + 30, (waited, err)  # no hang: heartbeat or closed sockets
        lines = err.splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("jaxloss train: error: process 0 of 2: ") and (
            "start every process again with --resume" in lines[0]
        ), lines[0]
        procs[3].communicate()
        assert len(_steps(cut)) < REF_STEPS  # it really stopped mid-run

        (rc0, out0, err0), (rc1, out1, err1) = _finish(procs[0]), _finish(procs[1])
        assert rc0 == 0 and rc1 == 0, err0 + err1
        assert "epoch 2/2" in out0 and "4 cpu device(s)" in out0, out0 + err0
        assert out1 == "", out1  # only process 0 reports and writes the metrics
        two = [r["loss"] for r in _steps(full)]
        assert len(two) == REF_STEPS  # one line per step: not written twice
        rc, _, err = _finish(runs["four"])
        assert rc == 0, err
        four = [r["loss"] for r in _steps(runs["root"] / "four")]
        # the same mesh; gloo's all-reduce sums in another order than XLA's in-process one:
        # measured 1e-7 relative (one float32 ulp) over the first 10 steps, 2e-6 by step 17
        np.testing.assert_allclose(two[:10], four[:10], rtol=1e-6, atol=0)
        np.testing.assert_allclose(two, four, rtol=2e-5, atol=0)
        assert _epochs(full)[1]["test_loss"] == pytest.approx(
            _epochs(runs["root"] / "four")[1]["test_loss"], rel=1e-4
        )

        procs = _two_processes(cut, cache, "--resume")
        (rc0, _, err0), (rc1, _, err1) = _finish(procs[0]), _finish(procs[1])
        assert rc0 == 0 and rc1 == 0, err0 + err1
        assert "resuming from" in err0, err0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    # the resumed run equals the uninterrupted one bit for bit
    assert _steps(cut) == _steps(full)
    assert _without_timing(_epochs(cut)) == _without_timing(_epochs(full))
    params, opt_state, meta = load_checkpoint(cut, optimizer="adam", seed=REF.seed)
    ref_params, ref_opt_state, ref_meta = load_checkpoint(full, optimizer="adam", seed=REF.seed)
    assert meta["step"] == ref_meta["step"] == REF_STEPS
    _assert_bit_identical(params, ref_params)
    _assert_bit_identical(opt_state, ref_opt_state)
