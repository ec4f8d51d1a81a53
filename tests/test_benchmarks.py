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

from benchmarks import (
    bench_classification,
    bench_linear_cross_entropy,
    bench_tudui,
    cases,
    machine,
    timing,
)
from benchmarks import harness as bench
from benchmarks.config import BenchConfig
from benchmarks.harness import main as bench_main

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def tiny(out_dir, **kw) -> BenchConfig:
    """The smallest grid: one size per loss kind, one round, no warm-up beyond compiling."""
    return BenchConfig(
        quick=True,
        jax_dispatch=machine.dispatch_mode(),
        out_dir=str(out_dir),
        repeats=1,
        sizes=(3,),
        class_shapes=((2, 3),),
        ctc_shapes=((6, 2, 4, 2),),
        batches=(2,),
        **kw,
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
    monkeypatch.setattr(
        sys,
        "argv",
        ["roofline.py", "--quick", "--repeats", "1", "--out", str(tmp_path)]
        + ["--jax-dispatch", machine.dispatch_mode()],
    )
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(REPO / "benchmarks" / "roofline.py"), run_name="__main__")
    assert exit_.value.code == 0
    assert "fp32 matmul" in capsys.readouterr().out
    r = read_outputs(tmp_path, "roofline")["roofline"]
    for key in ("matmul_gflops", "bandwidth_gbps"):
        assert set(r[key]) == {"jax", "torch"} and all(v > 0 for v in r[key].values())
    assert r["peak_gflops"] == max(r["matmul_gflops"].values())


def test_every_loss_has_a_generator():
    missing = [n for n in cases.available_losses() if n not in cases.loss_cases()]
    assert not missing, f"add a LossCase to benchmarks/cases.py:LOSS_CASES for {missing}"


def test_losses_benchmark_runs_every_loss_and_agrees_with_torch(tmp_path, capsys):
    bench.run(["losses"], tiny(tmp_path))
    out = capsys.readouterr().out
    assert "torch/jaxloss" in out and "Loss goals" in out
    payload = read_outputs(tmp_path, "losses")
    benchmarked = {r["loss"] for r in payload["rows"]}
    assert benchmarked == set(cases.available_losses())
    assert {r["mode"] for r in payload["rows"]} == {"value", "value+grad"}
    for r in payload["rows"]:
        assert r["values_agree_with_torch"], (r["loss"], r["shape"], r["values"])
        assert r["jaxloss_s"] > 0 and r["torch_s"] > 0
    ce = [r for r in payload["rows"] if r["loss"] == "cross_entropy"]
    assert ce and all(r["optax_s"] is not None for r in ce)
    assert payload["cross_entropy_in_step"]["jaxloss"] > 0


@pytest.mark.parametrize("entry", ["script", "cli"])
def test_losses_script_and_cli_run_the_named_losses(entry, tmp_path, monkeypatch, capsys):
    """bench_losses.py and ``python -m benchmarks losses`` with --losses: only those."""
    args = ["--quick", "--repeats", "1", "--losses", "mse_loss", "--out", str(tmp_path)]
    args += ["--jax-dispatch", machine.dispatch_mode()]
    if entry == "script":
        monkeypatch.setattr(sys, "argv", ["bench_losses.py", *args])
        with pytest.raises(SystemExit) as exit_:
            runpy.run_path(str(REPO / "benchmarks" / "bench_losses.py"), run_name="__main__")
        assert exit_.value.code == 0
    else:
        assert bench_main(["losses", *args]) == 0
    assert "mse_loss" in capsys.readouterr().out
    payload = read_outputs(tmp_path, "losses")
    assert {r["loss"] for r in payload["rows"]} == {"mse_loss"}
    assert all(r["values_agree_with_torch"] and r["optax_s"] for r in payload["rows"])


def test_tudui_benchmark_through_the_cli(tmp_path, capsys):
    code = bench_main(
        ["tudui", "--quick", "--repeats", "1", "--batches", "2", "--out", str(tmp_path)]
        + ["--jax-dispatch", machine.dispatch_mode()]
    )
    assert code == 0
    assert "images/s" in capsys.readouterr().out
    payload = read_outputs(tmp_path, "tudui")
    (row,) = payload["rows"]
    assert row["batch"] == 2
    assert set(row["images_per_s"]) == {"jaxloss", "torch eager"}  # torch.compile: not in --quick
    assert payload["train_flops_per_image"] == pytest.approx(74.1e6, rel=1e-3)


def test_jax_dispatch_is_recorded_and_a_late_change_only_warns(tmp_path):
    import jax

    jax.numpy.zeros(1).block_until_ready()  # the CPU client exists from here on
    now = machine.dispatch_mode()
    assert machine.set_dispatch(now) == now
    other = "sync" if now == "async" else "async"
    with pytest.warns(UserWarning, match=f"--jax-dispatch {other}: .* {now} dispatch"):
        assert machine.set_dispatch(other) == now
    assert machine.machine_info(1)["jax_dispatch"] == now
    with pytest.raises(ValueError, match="jax_dispatch must be 'sync' or 'async', got 'eager'"):
        BenchConfig(jax_dispatch="eager")


def test_cli_rejects_unknown_benchmark(capsys):
    assert bench_main(["nonsense"]) == 2
    assert "unknown benchmark" in capsys.readouterr().err


# ---- the computation the Tudui benchmark times equals torch's -------------------------
# tests/test_tudui.py checks parity at batch 6; the benchmark's batches take the CPU path
# that splits the conv stack into chunks (jaxloss.tudui.model.cpu_chunk_size), checked
# here at a batch with a partial last chunk.


def test_max_pool_gradient_is_torchs_on_ties_and_nan():
    """Exact ties go to the first element of the window, NaN to the last NaN (torch)."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import torch

    from jaxloss.tudui.model import max_pool_2x2

    x = np.array(
        [
            [1.0, 1.0, 0.5, 2.0],  # window (0,0): tie between the two top elements
            [1.0, 0.0, 2.0, 2.0],  # window (0,1): three-way tie at 2.0
            [np.nan, 3.0, 4.0, 4.0],  # window (1,0): NaN among values
            [5.0, np.nan, 4.0, 4.0],
        ],  # window (1,1): four-way tie
        dtype=np.float32,
    )[None, :, :, None]  # NHWC (1, 4, 4, 1)
    ct = np.array([[[[1.0], [2.0]], [[3.0], [4.0]]]], dtype=np.float32)  # (1, 2, 2, 1)
    value, vjp = jax.vjp(max_pool_2x2, jnp.asarray(x))
    (grad,) = vjp(jnp.asarray(ct))
    tx = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_(True)
    tout = torch.nn.functional.max_pool2d(tx, 2)
    tout.backward(torch.from_numpy(ct.transpose(0, 3, 1, 2).copy()))
    np.testing.assert_array_equal(np.asarray(value), tout.detach().numpy().transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(np.asarray(grad), tx.grad.numpy().transpose(0, 2, 3, 1))
    # forward-mode too (custom_jvp): the tangent of the picked element
    _, tangent = jax.jvp(max_pool_2x2, (jnp.asarray(x),), (jnp.ones_like(jnp.asarray(x)),))
    np.testing.assert_array_equal(np.asarray(tangent), np.ones((1, 2, 2, 1), np.float32))


def test_chunked_tudui_step_matches_torch(rng):
    """Batch 70 (chunks of 8, the last of 6): logits equal torch's within 1e-5 of their
    scale in float32, and every gradient equals torch's in float64 (1e-10 of its scale).
    The gradients are compared in float64 because a pooling window whose top two values
    lie within float32 rounding of each other is resolved differently by any two float32
    implementations (torch's own on two CPUs included), which moves that window's
    gradient; 70 images hold about 570,000 windows, so some CPU always meets one."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import torch
    import torch.nn.functional as F
    from flax import nnx
    from torch_parity import precision

    import jaxloss
    from jaxloss.tudui import torch_interop
    from jaxloss.tudui.model import Tudui, cpu_chunk_size, nchw_to_nhwc

    batch = 70
    assert batch % cpu_chunk_size(batch) != 0 and batch > cpu_chunk_size(batch)
    images = rng.uniform(0.0, 1.0, size=(batch, 3, 32, 32))
    labels = rng.integers(0, 10, size=batch)
    for dtype in (np.float32, np.float64):
        with precision(dtype):
            torch.manual_seed(7)
            tmodel = bench_tudui.torch_tudui().to(getattr(torch, np.dtype(dtype).name))
            model = torch_interop.load_state_dict(Tudui(rngs=nnx.Rngs(1)), tmodel.state_dict())
            x = images.astype(dtype)
            t_logits = tmodel(torch.from_numpy(x))
            F.cross_entropy(t_logits, torch.from_numpy(labels)).backward()
            graphdef, params = nnx.split(model, nnx.Param)
            params = jax.tree.map(lambda p: jnp.asarray(p, dtype), params)

            def loss_fn(p):
                logits = nnx.merge(graphdef, p)(nchw_to_nhwc(x))
                return jaxloss.cross_entropy(logits, jnp.asarray(labels)), logits

            (_, logits), grads = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(params)
            assert logits.dtype == dtype
            e = t_logits.detach().numpy()
            tol = 1e-5 if dtype == np.float32 else 1e-10
            np.testing.assert_allclose(np.asarray(logits), e, rtol=tol, atol=tol * np.abs(e).max())
            if dtype == np.float64:
                j_grads = torch_interop.state_dict(nnx.merge(graphdef, grads))
                for key, p in tmodel.named_parameters():
                    expected = p.grad.numpy()
                    np.testing.assert_allclose(
                        j_grads[key],
                        expected,
                        rtol=tol,
                        atol=tol * np.abs(expected).max(),
                        err_msg=key,
                    )


# ---- the stand-alone scripts ----------------------------------------------------------


def test_every_script_writes_under_benchmarks_out_by_default():
    out = REPO / "benchmarks" / "out"
    assert Path(bench.build_parser().parse_args([]).out) == out
    assert Path(bench_classification.build_parser().parse_args([]).json).parent == out
    assert BenchConfig().out_dir == str(out)


def test_classification_script_at_a_tiny_shape(tmp_path, capsys):
    dest = tmp_path / "classification.json"
    argv = ["--shape", "8,3", "--rounds", "1", "--min-time", "0", "--json", str(dest)]
    assert bench_classification.main(argv) == 0
    assert "| 8x3 | cross_entropy value+grad |" in capsys.readouterr().out
    rows = json.loads(dest.read_text())
    cases_run = {r["case"] for r in rows}
    assert cases_run == {
        f"{loss} {kind}"
        for loss in ("cross_entropy", "nll_loss")
        for kind in ("value", "value+grad")
    }
    for r in rows:
        assert r["shape"] == [8, 3]
        assert set(r["seconds"]) == {"jaxloss", "optax", "torch"}
        assert all(t > 0 for t in r["seconds"].values())


def test_classification_script_refuses_a_bad_shape(capsys):
    with pytest.raises(SystemExit) as exit_:
        bench_classification.main(["--shape", "8"])
    assert exit_.value.code == 2
    assert "--shape: expected N,C" in capsys.readouterr().err


def test_linear_cross_entropy_script_writes_under_benchmarks_out(tmp_path, monkeypatch):
    """Both modes write under benchmarks/out (here redirected), never into the cwd."""
    out = tmp_path / "out"
    monkeypatch.setattr(bench_linear_cross_entropy, "DEFAULT_OUT", out)
    monkeypatch.chdir(tmp_path)
    shape = ["--shape", "8,4,16"]
    bench_linear_cross_entropy.main([*shape, "--reps", "1", "--no-torch"])
    bench_linear_cross_entropy.main([*shape, "--compile-only"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    timed = json.loads((out / "linear_cross_entropy.json").read_text())["rows"]
    assert {r["impl"] for r in timed} == {"jaxloss chunked", "jaxloss dense", "optax dense"}
    assert all(r["time_s"] > 0 and len(r["times_s"]) == 1 for r in timed)
    memory = json.loads((out / "linear_cross_entropy_memory.json").read_text())["rows"]
    assert "jaxloss chunked 'none'" in {r["impl"] for r in memory}


# ---- the timing engine ----------------------------------------------------------------


def test_timing_interleaves_rounds_and_honours_max_rounds():
    calls: list[str] = []
    fns = {name: (lambda n=name: calls.append(n)) for name in ("a", "b", "c")}
    t = timing.measure(fns, repeats=3, warmup_calls=0, max_rounds={"c": 1})
    timed = calls[3:]  # after one warm-up call each
    assert timed == ["a", "b", "c", "b", "a", "a", "b"]  # rotating order; c in round 0 only
    assert [t[n]["repeats"] for n in "abc"] == [3, 3, 1]
    assert all(len(t[n]["load"]) == 2 and t[n]["min_s"] <= t[n]["median_s"] for n in "abc")


# ---- the charts -----------------------------------------------------------------------
# Shown on the docs site 736 px wide: at most ~7.7 inches, so a font's points are its
# size there; saved at >= 150 dpi; every legend outside the panels that hold data.

RESULTS = REPO / "benchmarks" / "results"
MAX_CHART_BYTES = 300_000


def test_committed_charts_are_sharp_and_small():
    from PIL import Image

    pngs = sorted(RESULTS.glob("*.png"))
    assert {p.name for p in pngs} >= {"losses.png", "tudui.png", "roofline.png"}
    for png in pngs:
        dpi = Image.open(png).info.get("dpi", (0, 0))
        assert min(dpi) >= 149.5, (png.name, dpi)
        assert png.stat().st_size < MAX_CHART_BYTES, (png.name, png.stat().st_size)


def _chart_figures():
    from benchmarks import charts

    losses = json.loads((RESULTS / "losses.json").read_text())
    yield "losses.png", charts.speedup_figure(losses)
    yield "losses_sequence.png", charts.family_figure(losses, "sequence")
    for name in ("tudui", "roofline", "linear_cross_entropy"):
        yield from charts.FIGURES[name](json.loads((RESULTS / f"{name}.json").read_text())).items()


def test_chart_legends_sit_outside_the_data_and_read_at_8_points():
    import matplotlib.pyplot as plt

    for name, fig in _chart_figures():
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        panels = [ax.get_window_extent(renderer) for ax in fig.axes if ax.axison]
        legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
        assert legends or name == "roofline.png", name
        assert fig.get_figwidth() <= 7.7, name
        for legend in legends:
            box = legend.get_window_extent(renderer)
            for panel in panels:
                overlap_x = min(box.x1, panel.x1) - max(box.x0, panel.x0)
                overlap_y = min(box.y1, panel.y1) - max(box.y0, panel.y0)
                assert overlap_x <= 1 or overlap_y <= 1, f"{name}: legend over a panel"
            assert all(t.get_fontsize() >= 8 for t in legend.get_texts()), name
        plt.close(fig)


def test_llm_head_cost_script_at_a_tiny_head(tmp_path, capsys):
    """Compile-only cost model: FLOPs of 3 products (4 for the chunked kernel), XLA's
    numbers and the exact temporary memory, written as JSON."""
    from benchmarks import llm_head_cost

    dest = tmp_path / "cost.json"
    assert llm_head_cost.main(["--small", "--out", str(dest)]) == 0
    assert "| tiny (256, 64, 32768) | dense |" in capsys.readouterr().out
    rows = json.loads(dest.read_text())["rows"]
    n, d, v = 256, 64, 32768
    assert {r["path"] for r in rows} == set(llm_head_cost.paths(n, v))
    for r in rows:
        products = 4 if r["kernel"] == "chunked" else 3
        assert r["flops"] == products * 2 * n * v * d
        assert r["temp_bytes"] > 0 and r["xla_flops_loop_bodies_once"] > 0
        assert r["roofline_ms"] > 0
    assert [r["kernel"] for r in rows] == ["dense", "fused", "fused", "chunked"]
    assert llm_head_cost.build_parser().parse_args([]).out == str(
        REPO / "benchmarks" / "out" / "llm_head_cost.json"
    )
