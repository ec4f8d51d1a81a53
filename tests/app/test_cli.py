"""The ``jaxloss`` command itself: ``--version``, ``python -m jaxloss``, the train flags
derived from ``TrainConfig`` and the README's commands.

The version is compared with ``jaxloss.__version__`` read in another process; the flags with
the dataclass fields (names and defaults); the README's ``jaxloss train`` lines are parsed
from the file as a reader would copy them.
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
from jaxloss.tudui.config import DistributedConfig, TrainConfig
from jaxloss.tudui.train import config_from_args

REPO = Path(__file__).resolve().parents[2]


def _python(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu")
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def test_python_dash_m_jaxloss_version():
    done = _python("-m", "jaxloss", "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"jaxloss {jaxloss.__version__}"


def test_console_script_entry_point_version():
    # what pip's `jaxloss` script runs: sys.exit(jaxloss.tudui.cli.main()) with argv[0] jaxloss
    code = "import sys; sys.argv = ['jaxloss', '--version']; from jaxloss.tudui.cli import main; "
    done = _python("-c", code + "sys.exit(main())")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"jaxloss {jaxloss.__version__}"
    assert jaxloss.__file__.startswith(str(REPO))  # the version compared is this checkout's


def test_train_flags_are_the_config_fields(capsys):
    args = cli.build_parser("train").parse_args(["train"])
    assert config_from_args(args) == TrainConfig()  # every default, from the one declaration
    with pytest.raises(SystemExit):
        cli.build_parser("train").parse_args(["train", "--help"])
    help_text = capsys.readouterr().out
    for cls in (TrainConfig, DistributedConfig):
        for f in dataclasses.fields(cls):
            assert hasattr(args, f.name), f.name
            assert f"--{f.name.replace('_', '-')}" in help_text, f.name
    assert "--no-progress" in help_text and "--lr" in help_text  # True default's off; alias
    args = cli.build_parser("train").parse_args(
        ["train", "--batch-size", "8", "--lr", "0.5", "--no-progress", "--synthetic"]
    )
    config = config_from_args(args)
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
        (["--lr", "0"], "--learning-rate must be > 0, got 0.0"),
        (["--num-processes", "2"], "--num-processes needs --distributed"),
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
    parser = cli.build_parser("train")
    fresh = []
    for words in _readme_train_commands():
        args = parser.parse_args(["train", *words])
        if not args.resume and not args.distributed:
            fresh.append(args.workdir)
    assert len(fresh) >= 4, fresh
    assert len(set(fresh)) == len(fresh), fresh
