"""The Tudui training step at batch 1 .. 512: jaxloss/Flax (jit) vs torch eager vs torch.compile.

Prints the table (images/s) and writes tudui.json, tudui.md and tudui.png (images/s vs
batch size) to --out (default benchmarks/out). Same as `python -m benchmarks tudui`; the
method is benchmarks/timing.py's, the goals are benchmarks/goals.toml.

    .venv/bin/python -m benchmarks.bench_tudui [--quick] [--threads N] [--batches 64,256]

Three phases: :func:`measure_batch` times the step of each framework at one batch size,
:func:`sweep` runs every batch size (and the lowerings at the goal batches),
:func:`report` turns the rows into tables, notes and the JSON payload.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import numpy as np

from benchmarks import cases, goals, machine, timing
from benchmarks.config import BenchConfig
from benchmarks.report import Result, lowering_table, tudui_cells
from benchmarks.roofline import measure_roofline

STEP_SOURCE = "jaxloss.tudui.train.make_train_step"  # the very step `jaxloss train` runs
TABLE_HEADERS = [
    "batch",
    "jaxloss (jit)",
    "torch eager",
    "torch.compile",
    "jaxloss/eager",
    "jaxloss/compile",
    "jaxloss GFLOP/s (% peak)",
    "eager GFLOP/s (% peak)",
    "CPU ms/step jaxloss / eager",
    "plan",
]


def torch_tudui():
    """The lesson's model in torch (fresh weights)."""
    from torch import nn

    class TorchTudui(nn.Module):  # the lesson's model, verbatim
        def __init__(self):
            super().__init__()
            self.model1 = nn.Sequential(
                nn.Conv2d(3, 32, 5, padding=2),
                nn.MaxPool2d(2),
                nn.Conv2d(32, 32, 5, padding=2),
                nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 5, padding=2),
                nn.MaxPool2d(2),
                nn.Flatten(),
                nn.Linear(1024, 64),
                nn.Linear(64, 10),
            )

        def forward(self, x):
            return self.model1(x)

    return TorchTudui()


def jax_stepper(step, params0, opt_state0, images, labels) -> Callable[[], None]:
    import jax
    import jax.numpy as jnp

    state = [jax.tree.map(jnp.copy, params0), opt_state0]

    def jax_step() -> None:
        state[0], state[1], metrics = step(state[0], state[1], images, labels)
        jax.block_until_ready((state[0], metrics))

    return jax_step


def torch_stepper(module, images, labels) -> Callable[[], None]:
    import torch
    import torch.nn.functional as TF

    opt = torch.optim.SGD(module.parameters(), lr=0.01)

    def torch_step() -> None:
        opt.zero_grad()
        loss = TF.cross_entropy(module(images), labels)
        loss.backward()
        opt.step()

    return torch_step


def plan_label(batch: int) -> str:
    from jaxloss.tudui import lowering

    return lowering.plan_for(batch).describe(batch)


EIGEN_CONVOLUTIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}  # XLA's Eigen convs


def lowering_candidates(batch: int) -> dict[str, tuple[Any, dict]]:
    """The lowerings compared at a batch size: {label: (Plan, per-executable options)}."""
    from jaxloss.tudui import lowering

    rule = lowering.plan_for(batch)
    uniform = 4 if batch <= 64 else 8  # the rule before per-stage sizes
    other = lowering.Plan((8, 16, 32) if batch <= 256 else (4, 8, 16))  # the other base size
    return {
        f"rule: {rule.describe(batch)}": (rule, {}),
        f"uniform pieces of {uniform}": (lowering.Plan((uniform,) * 3), {}),
        other.describe(batch): (other, {}),
        "whole batch": (lowering.Plan((batch,) * 3), {}),
        "rule + Eigen convolutions (ynn_fusion_type='')": (rule, EIGEN_CONVOLUTIONS),
    }


def measure_lowerings(cfg: BenchConfig, batch: int, graphdef, params0, tx) -> dict:
    """The Tudui step compiled with each candidate lowering, timed interleaved."""
    import jax.numpy as jnp

    from jaxloss.tudui import lowering
    from jaxloss.tudui.train import make_train_step

    rng = np.random.default_rng(batch)
    images = jnp.asarray(rng.uniform(0, 1, size=(batch, 32, 32, 3)).astype(np.float32))
    labels = jnp.asarray(rng.integers(0, 10, size=(batch,)).astype(np.int32))
    opt_state = tx.init(params0)
    fns, compile_s = {}, {}
    for label, (plan, options) in lowering_candidates(batch).items():
        t0 = time.perf_counter()
        with lowering.override(plan):
            step = make_train_step(graphdef, tx)  # a fresh jit: traced under this plan
            lowered = step.lower(params0, opt_state, images, labels)  # type: ignore[attr-defined, unused-ignore]
        compiled = lowered.compile(compiler_options=options) if options else lowered.compile()
        compile_s[label] = time.perf_counter() - t0
        fns[label] = jax_stepper(compiled, params0, opt_state, images, labels)
    t = cfg.measure(fns, warmup_s=0.0 if cfg.quick else 0.5)
    base = next(iter(t))
    rows = [
        {
            "lowering": label,
            "images_per_s": batch / v["median_s"],
            "images_per_s_best": batch / v["min_s"],
            "cpu_ms_per_step": 1e3 * v["cpu_median_s"],
            "relative_to_rule": t[base]["median_s"] / v["median_s"],
            "relative_to_rule_best": t[base]["min_s"] / v["min_s"],
            "compile_s": compile_s[label],
            "timings": v,
        }
        for label, v in t.items()
    ]
    return {"batch": batch, "rows": rows}


@dataclasses.dataclass
class Setup:
    """What every batch size shares: the jaxloss model split for the step, its optimiser
    and step, the same weights for torch, and torch.compile's state (``compile_error``
    is set once it fails or is skipped, and later batches skip it)."""

    graphdef: Any
    params0: Any
    tx: Any
    step: Callable
    state_dict: dict
    compile_error: str | None
    failures: list[str] = dataclasses.field(default_factory=list)


def setup(cfg: BenchConfig) -> Setup:
    """The model, optimiser, jitted step and torch weights every batch size uses."""
    import optax  # type: ignore[import-untyped, unused-ignore]
    import torch
    from flax import nnx

    from jaxloss.tudui import torch_interop
    from jaxloss.tudui.model import Tudui
    from jaxloss.tudui.train import make_train_step

    model = Tudui(rngs=nnx.Rngs(0))
    graphdef, params0 = nnx.split(model, nnx.Param)
    tx = optax.sgd(0.01)
    state_dict = {
        k: torch.from_numpy(np.array(v)) for k, v in torch_interop.state_dict(model).items()
    }
    skipped = None if cfg.torch_compile else "skipped (--quick)" if cfg.quick else "skipped"
    return Setup(graphdef, params0, tx, make_train_step(graphdef, tx), state_dict, skipped)


def _torch_compile_step(s: Setup, timg, tlab) -> tuple[Callable[[], None], float] | None:
    """torch.compile's step and its first call's time, or None (``s.compile_error`` set)."""
    import torch

    try:
        # a fresh dynamo cache per batch size: the lesson's forward is one code object,
        # and past torch._dynamo.config.recompile_limit (8) shapes torch.compile
        # silently falls back to eager
        torch._dynamo.reset()
        module = torch_tudui()
        module.load_state_dict(s.state_dict)
        cstep = torch_stepper(torch.compile(module, dynamic=False), timg, tlab)
        t0 = time.perf_counter()
        cstep()
        return cstep, time.perf_counter() - t0
    except Exception as exc:
        s.compile_error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}"
        s.failures.append(f"torch.compile failed, not timed: {s.compile_error}")
        return None


def measure_batch(cfg: BenchConfig, s: Setup, batch: int, ref: dict) -> dict:
    """The training step of each framework at one batch size, timed interleaved."""
    import jax.numpy as jnp
    import torch

    rng = np.random.default_rng(batch)
    images = rng.uniform(0, 1, size=(batch, 32, 32, 3)).astype(np.float32)
    labels = rng.integers(0, 10, size=(batch,))
    jimages, jlabels = jnp.asarray(images), jnp.asarray(labels.astype(np.int32))
    t0 = time.perf_counter()
    jax_step = jax_stepper(s.step, s.params0, s.tx.init(s.params0), jimages, jlabels)
    jax_step()  # compiles
    jax_first_s = time.perf_counter() - t0
    timg = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    tlab = torch.from_numpy(labels)
    eager = torch_tudui()
    eager.load_state_dict(s.state_dict)
    fns = {"jaxloss": jax_step, "torch eager": torch_stepper(eager, timg, tlab)}
    compiled = None if s.compile_error is not None else _torch_compile_step(s, timg, tlab)
    if compiled is not None:
        fns["torch.compile"] = compiled[0]
    t = cfg.measure(fns, warmup_s=max(cfg.warmup_s, 1.0) if not cfg.quick else 0.0)
    row = tudui_row(batch, t, ref)
    row["jaxloss_first_call_s"] = jax_first_s
    row["torch_compile_first_call_s"] = None if compiled is None else compiled[1]
    row["plan"] = plan_label(batch)
    return row


def sweep(
    cfg: BenchConfig, s: Setup, ref: dict, out: TextIO | None = None
) -> tuple[list[dict], list[dict]]:
    """Every batch size of ``cfg.batches``, then (``cfg.lowerings``) the lowerings at the
    goal batch sizes; progress printed to ``out``."""
    rows = []
    for batch in cfg.batches:
        rows.append(measure_batch(cfg, s, batch, ref))
        if out is not None:
            speeds = ", ".join(f"{k} {v:.0f} img/s" for k, v in rows[-1]["images_per_s"].items())
            load = rows[-1]["timings"]["jaxloss"]["load"][-1]
            out.write(f"  batch {batch}: {speeds} (load {load:.1f})\n")
            out.flush()
    lowerings = []
    for batch in cfg.batches if cfg.lowerings else ():
        if batch in goals.TUDUI["batches"]:
            lowerings.append(measure_lowerings(cfg, batch, s.graphdef, s.params0, s.tx))
            if out is not None:
                best = max(lowerings[-1]["rows"], key=lambda r: r["images_per_s"])
                out.write(f"  lowerings at batch {batch}: fastest {best['lowering']}\n")
                out.flush()
    return rows, lowerings


def run(
    cfg: BenchConfig, threads: int, info: dict | None = None, out: TextIO | None = None
) -> Result:
    """The Tudui benchmark: sweep the batch sizes, then report."""
    info = info or machine.machine_info(threads)
    with machine.torch_threads(threads):
        ref = measure_roofline(cfg)
        s = setup(cfg)
        rows, lowerings = sweep(cfg, s, ref, out)
    return report(cfg, info, ref, s, rows, lowerings)


def report(
    cfg: BenchConfig, info: dict, ref: dict, s: Setup, rows: list[dict], lowerings: list[dict]
) -> Result:
    """The tables, notes and JSON payload of a Tudui run."""
    met = goals.tudui_goals(rows)
    loads = timing.load_summary(timing.loads(t for r in rows for t in r["timings"].values()))
    first = {r["batch"]: r["torch_compile_first_call_s"] for r in rows}
    notes = [
        f"jaxloss step: {STEP_SOURCE} (Tudui from jaxloss.tudui.model, optax.sgd(0.01), "
        "fp32); torch: the lesson's model with the same weights, torch.optim.SGD(lr=0.01), "
        "zero_grad/backward/step; torch.compile(dynamic=False), recompiled per batch size.",
        "Images/s from the median round; ratios of medians, and in brackets of the best "
        "rounds, all from this run. 'plan': how jaxloss.tudui.lowering lowers the "
        "convolutions at that batch size (chosen automatically).",
        f"GFLOP/s counts {cases.TUDUI_TRAIN_FLOPS / 1e6:.1f} MFLOP per image; % is of the "
        f"measured fp32 matmul reference {ref['peak_gflops']:.0f} GFLOP/s.",
        timing.load_note(loads, "Tudui"),
        *s.failures,
    ]
    if any(v is not None for v in first.values()):
        notes.append(
            "torch.compile first call (compilation) per batch: "
            + ", ".join(f"{b}: {t:.1f} s" for b, t in first.items() if t is not None)
        )
    if s.compile_error and not s.failures:
        notes.append(f"torch.compile: {s.compile_error}")
    return Result(
        "tudui",
        [
            (
                "Tudui training step, images/s (higher is better)",
                TABLE_HEADERS,
                [tudui_cells(r) for r in rows],
            ),
            lowering_table(lowerings),
            ("Tudui goals", ["goal", "measured", "met"], goals.goal_rows(met)),
        ],
        {
            "benchmark": "tudui",
            "lowerings": lowerings,
            "machine": info,
            "config": dataclasses.asdict(cfg),
            "roofline": ref,
            "step": STEP_SOURCE,
            "train_flops_per_image": cases.TUDUI_TRAIN_FLOPS,
            "rows": rows,
            "goals": met,
            "load": loads,
            "torch_compile_error": s.compile_error
            if s.compile_error and cfg.torch_compile
            else None,
        },
        notes,
    )


def tudui_row(batch: int, t: dict, ref: dict) -> dict:
    ips = {k: batch / v["median_s"] for k, v in t.items()}
    best = {k: batch / v["min_s"] for k, v in t.items()}
    gflops = {k: v * cases.TUDUI_TRAIN_FLOPS / 1e9 for k, v in ips.items()}
    row: dict[str, Any] = {
        "batch": batch,
        "images_per_s": ips,
        "images_per_s_best": best,
        "gflops": gflops,
        "fraction_of_matmul_peak": {k: v / ref["peak_gflops"] for k, v in gflops.items()},
        "timings": t,
    }
    for other, key in (("torch eager", "torch_eager"), ("torch.compile", "torch_compile")):
        have = other in ips
        row[f"jaxloss_over_{key}"] = ips["jaxloss"] / ips[other] if have else None
        row[f"jaxloss_over_{key}_best"] = best["jaxloss"] / best[other] if have else None
    return row


if __name__ == "__main__":
    from benchmarks.harness import script_main

    sys.exit(script_main("tudui"))
