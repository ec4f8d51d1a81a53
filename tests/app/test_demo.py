"""``jaxloss demo`` end to end, offline: the lesson's four numbers, Tudui's per-image
losses and a gradient for every parameter.

The numbers it prints are checked against live torch 2.13 running the lesson's Tudui
(tests/test_tudui.py) with the demo's weights, on the images the demo read. Printed
values have 4 decimals (losses) or 5 significant digits (gradients), which sets the
tolerances here.
"""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import cifar_fixtures as cf
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from flax import nnx
from test_tudui import TorchTudui

from jaxloss.tudui import torch_interop
from jaxloss.tudui.cli import main
from jaxloss.tudui.model import Tudui

REPO = Path(__file__).resolve().parents[2]
PARAMS = {
    f"{layer}.{p}": f"{prefix}.{t}"
    for layer, prefix, _ in torch_interop.LAYERS
    for p, t in (("kernel", "weight"), ("bias", "bias"))
}
LOSS_LINE = re.compile(r"image (\d+): target (\d) \((.+?)\)\s+# -> loss (\d+\.\d{4})")
GRAD_LINE = re.compile(r"^\s+(\w+\.\w+)\s+(model1\.\d\.\w+)\s+(\([\d, ]+\))\s+(\S+)\s+(\S+)$", re.M)


@pytest.fixture
def no_network(monkeypatch):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise socket.gaierror(socket.EAI_NONAME, "network disabled by the test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    for var in ("https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    return attempts


def run(capsys, *argv):
    assert main(["demo", *argv]) == 0
    return capsys.readouterr().out


def check_common(out, limit):
    for number in ("# -> 0.6667", "# -> 2.0", "# -> 1.3333", "# -> 1.1019"):  # the lesson's
        assert number in out, number
    assert "145,578 parameters" in out
    losses = LOSS_LINE.findall(out)
    assert [int(i) for i, *_ in losses] == list(range(limit))
    before = out.index("before jax.grad: no gradients")
    rows = GRAD_LINE.findall(out)
    assert out.index(rows[0][0]) > before  # the table comes after "no gradients"
    assert {r[0] for r in rows} == set(PARAMS) and len(rows) == 10  # every parameter, once
    for name, torch_name, _shape, norm, mean_abs in rows:
        assert torch_name == PARAMS[name]
        assert float(norm) > 0 and float(mean_abs) > 0 and np.isfinite(float(norm)), name
    return losses, rows


def test_demo_offline_without_data(tmp_path, capsys, no_network):
    out = run(capsys, "--data-dir", str(tmp_path / "empty"), "--limit", "3")
    lines = [line for line in out.splitlines() if "not available" in line]
    assert len(lines) == 1 and "SYNTHETIC" in lines[0] and "--manual-dir" in lines[0], lines
    losses, _ = check_common(out, limit=3)
    assert all(name.startswith("synthetic class") for _, _, name, _ in losses)


def test_demo_synthetic_images_each_have_their_own_loss(tmp_path, capsys, no_network):
    """The synthetic batch is `jaxloss train --synthetic`'s images (a square whose place is
    the class, random colours, noise): different images give different losses, also when
    their targets are equal (uniform noise images gave 2.1578 twice)."""
    out = run(capsys, "--data-dir", str(tmp_path / "empty"), "--limit", "8")
    losses, _ = check_common(out, limit=8)
    printed = [loss for *_, loss in losses]
    assert len(set(printed)) == 8, printed
    targets = [target for _, target, _, _ in losses]
    assert len(set(targets)) < 8  # some targets repeat, and their losses still differ
    from jaxloss.tudui.cifar10 import synthetic_dataset

    assert [int(t) for t in targets] == synthetic_dataset(256, seed=0)[1][:8].tolist()


def test_demo_numbers_match_torch(tmp_path, capsys, no_network):
    """On a torchvision-format folder: each printed loss and the gradient table equal
    torch's for the same weights (Tudui(rngs=nnx.Rngs(seed)), exported) and images."""
    train, test = cf.random_cifar(5, seed=5), cf.random_cifar(6, seed=6)
    cf.write_torchvision_folder(tmp_path, train, test)
    out = run(capsys, "--torchvision-dir", str(tmp_path), "--limit", "4", "--seed", "3")
    assert "CIFAR-10 test split: 6 images" in out and "SYNTHETIC" not in out
    losses, rows = check_common(out, limit=4)

    tmodel = TorchTudui()
    tmodel.load_state_dict(torch_interop.torch_state_dict(Tudui(rngs=nnx.Rngs(3))))
    images = torch.from_numpy(test[0].transpose(0, 3, 1, 2).astype(np.float32) / 255)
    targets = torch.from_numpy(test[1])
    for i, target, name, printed in losses:
        i = int(i)
        assert int(target) == test[1][i] and name == cf.LABEL_NAMES[test[1][i]]
        expected = F.cross_entropy(tmodel(images[i : i + 1]), targets[i : i + 1]).item()
        assert abs(float(printed) - expected) <= 5.1e-5, (i, printed, expected)

    F.cross_entropy(tmodel(images[:1]), targets[:1]).backward()  # image 0, as the demo
    grads = dict(tmodel.named_parameters())
    model = Tudui(rngs=nnx.Rngs(0))
    for name, torch_name, shape, norm, mean_abs in rows:
        g = grads[torch_name].grad.double()
        layer, param = name.split(".")
        assert shape == str(tuple(getattr(getattr(model, layer), param).shape)), name
        np.testing.assert_allclose(float(norm), g.norm().item(), rtol=2e-4, err_msg=name)
        np.testing.assert_allclose(float(mean_abs), g.abs().mean().item(), rtol=2e-4, err_msg=name)
    assert no_network == []


def test_demo_with_manual_dir(tmp_path, capsys, no_network, monkeypatch):
    """`jaxloss demo --manual-dir`: TFDS builds the (tiny, registered) archive offline."""
    from tensorflow_datasets.core.download.checksums import UrlInfo
    from tensorflow_datasets.image_classification.cifar import Cifar10

    archive = cf.write_binary_archive(
        tmp_path / "manual", cf.random_cifar(5, seed=7), cf.random_cifar(4, seed=8)
    )
    size, sha256 = cf.size_and_sha256(archive)
    monkeypatch.setitem(
        Cifar10.url_infos,
        cf.ARCHIVE_URL,
        UrlInfo(size=size, checksum=sha256, filename=cf.ARCHIVE_NAME),
    )
    out = run(
        capsys,
        "--data-dir",
        str(tmp_path / "tfds"),
        "--manual-dir",
        str(tmp_path / "manual"),
        "--limit",
        "8",
    )
    assert "CIFAR-10 test split: 4 images" in out and "SYNTHETIC" not in out
    check_common(out, limit=4)  # --limit 8 stops at the split's end
    assert no_network == []


def test_limit_must_be_positive(capsys):
    assert main(["demo", "--limit", "0"]) == 2
    assert capsys.readouterr().err == (
        "jaxloss demo: error: --limit must be an integer from 1 to 100, got 0 "
        "(see jaxloss demo --help)\n"
    )


def test_demo_on_the_core_install(tmp_path):
    """`pip install jaxloss` without the train extra: `jaxloss demo` runs the lesson's loss
    steps (parts 1-3 need only jaxloss) and says in one line what the extra adds. The extra's
    packages are made missing in the child: `sys.modules[name] = None` makes `import name`
    raise ImportError and `importlib.util.find_spec(name)` return None, as when not
    installed."""
    blocked = ("flax", "optax", "orbax", "tqdm", "matplotlib")
    (tmp_path / "sitecustomize.py").write_text(
        f"import sys\nfor name in {blocked!r}:\n    sys.modules[name] = None\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO)]))
    env["JAX_PLATFORMS"] = "cpu"

    def jaxloss_command(*argv):
        return subprocess.run(
            [sys.executable, "-m", "jaxloss", *argv],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    train = jaxloss_command("train", "--synthetic")  # the blocker is in force
    assert train.returncode == 2
    assert train.stderr.startswith(f"jaxloss train: needs {', '.join(blocked)}, which are not")
    demo = jaxloss_command("demo")
    assert demo.returncode == 0, demo.stderr
    assert demo.stderr == ""
    for number in ("# -> 0.6667", "# -> 2.0", "# -> 1.3333", "# -> 1.1019"):  # the lesson's
        assert number in demo.stdout, number
    # d/dx of mean |x - y| over 3 elements: sign(x - y) / 3 = [0, 0, -1/3] (x = [1, 2, 3],
    # y = [1, 2, 5]); d/dx of the cross entropy: softmax(x) - onehot(1), x = [0.1, 0.2, 0.3]
    assert "# -> [0.0000, 0.0000, -0.3333]" in demo.stdout
    p = np.exp([0.1, 0.2, 0.3]) / np.exp([0.1, 0.2, 0.3]).sum() - [0, 1, 0]
    assert "# -> [" + ", ".join(f"{v:.4f}" for v in p) + "]" in demo.stdout
    assert demo.stdout.splitlines()[-1] == (
        "4-5. Tudui on CIFAR-10 and its gradients need flax, which is not installed: "
        "pip install 'jaxloss[train]' adds them, and `jaxloss train`"
    )
