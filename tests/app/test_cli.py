"""The ``jaxloss`` command itself: ``--version``, ``python -m jaxloss``, the train flags
derived from ``TrainConfig``, the README's commands, and the command-line mistakes that are
refused in one line before JAX starts.

The version is compared with ``jaxloss.__version__`` read in another process; the flags with
the dataclass fields (names and defaults); the README's ``jaxloss train`` lines are parsed
from the file as a reader would copy them. The mistakes run the real command in a process
whose JAX backend cannot start (``JAX_PLATFORMS`` names none): a refusal that started JAX,
loaded data or built the model would fail there with a traceback instead.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import jaxloss
from jaxloss.tudui import cli
from jaxloss.tudui.config import DistributedConfig, TrainConfig, from_args

REPO = Path(__file__).resolve().parents[2]


def _python(*args: str, cwd: Path = REPO, platforms: str = "cpu") -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS=platforms)
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_python_dash_m_jaxloss_version():
    done = _python("-m", "jaxloss", "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"jaxloss {jaxloss.__version__}"


def test_short_version_flag():
    done = _python("-m", "jaxloss", "-V")
    assert (done.returncode, done.stdout.strip()) == (0, f"jaxloss {jaxloss.__version__}")


def test_console_script_entry_point_version():
    # what pip's `jaxloss` script runs: sys.exit(jaxloss.tudui.cli.main()) with argv[0] jaxloss
    code = "import sys; sys.argv = ['jaxloss', '--version']; from jaxloss.tudui.cli import main; "
    done = _python("-c", code + "sys.exit(main())")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"jaxloss {jaxloss.__version__}"
    assert jaxloss.__file__.startswith(str(REPO))  # the version compared is this checkout's


def test_train_flags_are_the_config_fields(capsys):
    args = cli.build_parser().parse_args(["train"])
    assert from_args(TrainConfig, args) == TrainConfig()  # every default, from the one declaration
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["train", "--help"])
    help_text = capsys.readouterr().out
    for cls in (TrainConfig, DistributedConfig):
        for f in dataclasses.fields(cls):
            assert hasattr(args, f.name), f.name
            assert f"--{f.name.replace('_', '-')}" in help_text, f.name
    assert "--no-progress" in help_text and "--lr" in help_text  # True default's off; alias
    args = cli.build_parser().parse_args(
        ["train", "--batch-size", "8", "--lr", "0.5", "--no-progress", "--synthetic"]
    )
    config = from_args(TrainConfig, args)
    assert (config.batch_size, config.learning_rate, config.progress) == (8, 0.5, False)
    assert config.synthetic is True


def test_course_defaults():
    config = TrainConfig()
    assert (config.optimizer, config.learning_rate, config.batch_size) == ("sgd", 0.01, 64)
    assert config.synthetic is False and config.resume is False


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--epochs", "0"], "--epochs must be a positive integer, got 0"),
        (["--batch-size", "-4"], "--batch-size must be a positive integer, got -4"),
        (["--checkpoint-every", "0"], "--checkpoint-every must be a positive integer, got 0"),
        (["--log-every", "0"], "--log-every must be a positive integer, got 0"),
        (["--max-train-examples", "0"], "--max-train-examples must be a positive integer"),
        (["--lr", "0"], "--learning-rate/--lr must be a finite number > 0, got 0.0"),
        (["--lr", "nan"], "--learning-rate/--lr must be a finite number > 0, got nan"),
        (["--lr", "-0.1"], "--learning-rate/--lr must be a finite number > 0, got -0.1"),
        (["--epochs", "two"], "--epochs must be an integer, got 'two'"),
        (["--seed", "4294967296"], "--seed must be an integer from 0 to 4294967295"),
        (["--num-processes", "2"], "--num-processes needs --distributed"),
        (["--data-dir", "."], "--synthetic trains on generated images and cannot be combined"),
    ],
)
def test_bad_settings_are_one_line_naming_the_flag(tmp_path, capsys, flags, message):
    workdir = tmp_path / "run"
    assert cli.main(["train", "--synthetic", "--workdir", str(workdir), *flags]) == 2
    err = capsys.readouterr().err
    assert err == f"jaxloss train: error: {message}\n" or (
        err.startswith(f"jaxloss train: error: {message}") and err.count("\n") == 1
    ), err
    assert "_" not in err.split("error: ")[1].split(" ")[0]  # a flag, not a field name
    assert not workdir.exists()  # nothing ran, nothing written


def _readme_train_commands() -> list[list[str]]:
    text = (REPO / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line.split("#")[0].replace("$i", "0"))
            words = [w for w in words if "=" not in w or w.startswith("-")]  # env assignments
            words = [w for w in words if w not in ("&", ";")]
            if words[:2] == ["jaxloss", "train"]:
                commands.append(words[2:])
    return commands


def test_readme_train_examples_do_not_share_a_workdir():
    """Run one after another, README's new runs (those without --resume) must not collide
    in a work dir: the second would be refused ("already holds checkpoints")."""
    parser = cli.build_parser()
    fresh = []
    for words in _readme_train_commands():
        args = parser.parse_args(["train", *words])
        if not args.resume and not args.distributed:
            fresh.append(args.workdir)
    assert len(fresh) >= 4, fresh
    assert len(set(fresh)) == len(fresh), fresh


SEED = "must be an integer from 0 to 4294967295"
MISTAKES = {
    "workdir is a file": (
        ["train", "--synthetic", "--workdir", "afile"],
        "--workdir {cwd}/afile is a file",
    ),
    "workdir cannot be created": (
        ["train", "--synthetic", "--workdir", "/proc/nope/run"],
        "--workdir /proc/nope/run cannot be created (No such file or directory)",
    ),
    "negative seed": (["train", "--synthetic", "--seed", "-1"], f"--seed {SEED}, got -1"),
    "huge seed": (
        ["train", "--synthetic", "--seed", "99999999999999999999"],
        f"--seed {SEED}, got 99999999999999999999",
    ),
    "demo negative seed": (["demo", "--seed", "-1"], f"--seed {SEED}, got -1"),
    "synthetic and a CIFAR-10 folder": (
        ["train", "--synthetic", "--torchvision-dir", "garbage"],
        "--synthetic trains on generated images and cannot be combined with --torchvision-dir",
    ),
    "missing manual dir": (
        ["demo", "--manual-dir", "/nonexistent"],
        "--manual-dir '/nonexistent' does not exist; give the folder that holds "
        "cifar-10-binary.tar.gz",
    ),
    "infinite lr": (["train", "--lr", "inf"], "--learning-rate/--lr must be a finite number > 0"),
    "demo limit": (["demo", "--limit", "100000"], "--limit must be an integer from 1 to 100"),
    "a new run over checkpoints": (
        ["train", "--synthetic", "--workdir", "done"],
        "{cwd}/done/checkpoints already holds checkpoints (latest step 20); pass --resume",
    ),
    "resume without a checkpoint": (
        ["train", "--synthetic", "--resume", "--workdir", "fresh"],
        "--resume: no complete checkpoint in {cwd}/fresh/checkpoints",
    ),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_mistakes_are_one_line_naming_the_flag_before_jax_starts(tmp_path, mistake):
    argv, message = MISTAKES[mistake]
    (tmp_path / "afile").write_text("")
    (tmp_path / "afolder").mkdir()
    (tmp_path / "done" / "checkpoints" / "20").mkdir(parents=True)  # a finished save's name
    before = sorted(tmp_path.rglob("*"))
    done = _python("-m", "jaxloss", *argv, cwd=tmp_path, platforms="none-at-all")
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""  # nothing printed before the refusal (the demo's lesson)
    assert done.stderr.count("\n") == 1, done.stderr
    expected = f"jaxloss {argv[0]}: error: {message.format(cwd=tmp_path)}"
    assert done.stderr.startswith(expected), done.stderr
    assert sorted(tmp_path.rglob("*")) == before  # nothing created, nothing left behind


def test_data_folders_that_conflict_or_do_not_exist(tmp_path, capsys):
    both = ["--torchvision-dir", str(tmp_path), "--data-dir", str(tmp_path)]
    assert cli.main(["demo", *both]) == 2
    assert capsys.readouterr().err == (
        "jaxloss demo: error: --torchvision-dir cannot be combined with --data-dir: CIFAR-10 is "
        "read from one source; give one\n"
    )
    missing = tmp_path / "dataset"
    workdir = tmp_path / "run"
    assert cli.main(["train", "--torchvision-dir", str(missing), "--workdir", str(workdir)]) == 2
    assert capsys.readouterr().err == (
        f"jaxloss train: error: --torchvision-dir '{missing}' does not exist; give the folder "
        "that holds cifar-10-batches-py (e.g. ./dataset)\n"
    )
    assert not workdir.exists()
