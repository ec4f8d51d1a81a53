"""Smoke test of the benchmarks: each runs end to end on a tiny grid (not timed).

Speed goals live in the benchmark output (benchmarks/RESULTS.md), never here. What is
checked: every entry point (the scripts, ``jaxloss bench``, the functions) runs, prints
its table and writes parseable JSON and a PNG; every loss of ``jaxloss.functional`` has
an input generator; and on those inputs every loss's value equals live torch 2.13's
(rtol 1e-4), so the timed calls compute the same thing in both frameworks.
"""

import json
import runpy
import sys
from pathlib import Path

import pytest

from jaxloss import bench
from jaxloss.cli import main as cli_main

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def tiny(out_dir, **kw) -> bench.BenchConfig:
    """The smallest grid: one size per loss kind, one round, no warm-up beyond compiling."""
    return bench.BenchConfig(
        quick=True, out_dir=str(out_dir), repeats=1, sizes=(3,), class_shapes=((2, 3),),
        ctc_shapes=((6, 2, 4, 2),), batches=(2,), **kw,
    )


def read_outputs(out_dir: Path, name: str) -> dict:
    png = (out_dir / f"{name}.png").read_bytes()
    assert png.startswith(PNG_MAGIC), f"{name}.png is not a PNG"
    assert (out_dir / f"{name}.md").read_text().startswith("### ")
    payload = json.loads((out_dir / f"{name}.json").read_text())
    assert payload["benchmark"] == name
    assert payload["machine"]["threads"] >= 1
    assert payload["machine"]["versions"]["torch"].startswith("2.")
    return payload


def test_roofline_script(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["roofline.py", "--quick", "--repeats", "1", "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(REPO / "benchmarks" / "roofline.py"), run_name="__main__")
    assert exit_.value.code == 0
    assert "fp32 matmul" in capsys.readouterr().out
    r = read_outputs(tmp_path, "roofline")["roofline"]
    for key in ("matmul_gflops", "bandwidth_gbps"):
        assert set(r[key]) == {"jax", "torch"} and all(v > 0 for v in r[key].values())
    assert r["peak_gflops"] == max(r["matmul_gflops"].values())


def test_every_loss_has_a_generator():
    missing = [n for n in bench.available_losses() if n not in bench.loss_cases()]
    assert not missing, f"add an input generator to jaxloss.bench.loss_cases() for {missing}"


def test_losses_benchmark_runs_every_loss_and_agrees_with_torch(tmp_path, capsys):
    bench.run(["losses"], tiny(tmp_path))
    out = capsys.readouterr().out
    assert "torch/jaxloss" in out and "Loss goals" in out
    payload = read_outputs(tmp_path, "losses")
    benchmarked = {r["loss"] for r in payload["rows"]}
    assert benchmarked == set(bench.available_losses())
    assert {r["mode"] for r in payload["rows"]} == {"value", "value+grad"}
    for r in payload["rows"]:
        assert r["values_agree_with_torch"], (r["loss"], r["shape"], r["values"])
        assert r["jaxloss_s"] > 0 and r["torch_s"] > 0
    ce = [r for r in payload["rows"] if r["loss"] == "cross_entropy"]
    assert ce and all(r["optax_s"] is not None for r in ce)
    assert payload["cross_entropy_in_step"]["jaxloss"] > 0


def test_tudui_benchmark_through_the_cli(tmp_path, capsys):
    code = cli_main(["bench", "tudui", "--quick", "--repeats", "1", "--batches", "2", "--out", str(tmp_path)])
    assert code == 0
    assert "images/s" in capsys.readouterr().out
    payload = read_outputs(tmp_path, "tudui")
    (row,) = payload["rows"]
    assert row["batch"] == 2
    assert set(row["images_per_s"]) == {"jaxloss", "torch eager"}  # torch.compile: not in --quick
    assert payload["train_flops_per_image"] == pytest.approx(74.1e6, rel=1e-3)


def test_cli_rejects_unknown_benchmark(capsys):
    assert cli_main(["bench", "nonsense"]) == 2
    assert "unknown benchmark" in capsys.readouterr().err
