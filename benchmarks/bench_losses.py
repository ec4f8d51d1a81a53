"""Every jaxloss loss, value and value+grad, sizes 3 .. 1e7: jaxloss (jit) vs torch vs optax.

Prints the tables and writes losses.json, losses.md, losses.png (speed-up) and one
losses_<family>.png per loss family (log-log time vs size) to --out (default
benchmarks/out). Same as `python -m benchmarks losses`. What is timed is the list
benchmarks/cases.py:LOSS_CASES; the method is benchmarks/timing.py's; the goals are
benchmarks/goals.toml.

    .venv/bin/python -m benchmarks.bench_losses [--quick] [--threads N] [--out DIR]

Three phases: :func:`measure_case` times one loss at one shape (value and value+grad),
:func:`sweep` runs every case over the grid, :func:`report` turns the rows into tables,
notes and the JSON payload.
"""

from __future__ import annotations

import dataclasses
import sys
import zlib
from typing import Any, TextIO

import numpy as np

from benchmarks import cases, goals, machine, probes, timing
from benchmarks.cases import LossCase
from benchmarks.config import BenchConfig
from benchmarks.report import (
    LOSS_HEADERS,
    Result,
    bandwidth_table,
    class_index_table,
    fmt_ratio,
    fmt_time,
    format_table,
    loss_cells,
)
from benchmarks.roofline import measure_roofline

LARGE_ELEMENTS = goals.LOSS["large_elements"]


def _close(a: float, b: float, rtol: float = 1e-4) -> bool:
    return a == b or bool(abs(a - b) <= rtol * max(abs(a), abs(b), 1e-6))


def loss_callables(case: LossCase, arrays: list[np.ndarray], analyse: bool = False):
    """{mode: {framework: blocking callable}}, the values each framework computed, the
    bytes each mode must move, and (``analyse``) the bytes XLA's program moves."""
    import jax
    import torch

    import jaxloss

    jfn = getattr(jaxloss, case.name)
    tfn = case.torch_function()
    kw = case.kwargs
    jargs = cases.jax_args(arrays)
    targs = [torch.from_numpy(a) for a in arrays]

    def jloss(*a):
        return jfn(*a, **kw)

    jv = jax.jit(jloss)
    jg = jax.jit(jax.value_and_grad(jloss))
    tx = targs[0].clone().requires_grad_(True)
    trest = targs[1:]

    def t_value():
        with torch.no_grad():
            return tfn(*targs, **kw)

    def t_grad():
        tx.grad = None
        loss = tfn(tx, *trest, **kw)
        loss.backward()
        return loss

    fns = {
        "value": {"jaxloss": lambda: jv(*jargs).block_until_ready(), "torch": t_value},
        "value+grad": {"jaxloss": lambda: jax.block_until_ready(jg(*jargs)), "torch": t_grad},
    }
    values = {"jaxloss": float(jv(*jargs)), "torch": float(t_value())}
    if case.optax is not None:
        ov = jax.jit(case.optax)
        og = jax.jit(jax.value_and_grad(case.optax))
        values["optax"] = float(ov(*jargs))
        fns["value"]["optax"] = lambda: ov(*jargs).block_until_ready()
        fns["value+grad"]["optax"] = lambda: jax.block_until_ready(og(*jargs))
    nbytes = sum(a.nbytes for a in jargs)
    must_move = {"value": nbytes, "value+grad": nbytes + jargs[0].nbytes}
    xla: dict[str, dict] = {"value": {}, "value+grad": {}}
    if analyse:
        n = int(arrays[0].size)
        for mode, jitted in (("value", jv), ("value+grad", jg)):
            xla[mode] = {
                "bytes": probes.xla_bytes_accessed(jitted, *jargs),
                "passes": probes.xla_full_size_passes(jitted, *jargs, elements=n),
            }
    return fns, values, must_move, xla


def cross_entropy_in_step(cfg: BenchConfig, n: int = 64, c: int = 10) -> dict:
    """cross_entropy value+grad at (n, c) inside one jitted program: ``steps``
    dependent updates in a ``lax.fori_loop``, so no per-call dispatch is paid.
    Per-step time for jaxloss and optax; torch eager per call for comparison."""
    import jax
    import jax.numpy as jnp
    import optax  # type: ignore[import-untyped, unused-ignore]
    import torch
    import torch.nn.functional as TF

    import jaxloss

    steps = 10 if cfg.quick else 200
    rng = np.random.default_rng(1)
    x = cases.normal(rng, (n, c))
    y = cases.class_indices(rng, n, c)
    jx, jy = jnp.asarray(x), jnp.asarray(y.astype(np.int32))

    def looped(loss):
        def body(_, logits):
            g = jax.grad(loss)(logits, jy)
            return logits - 0.1 * g

        return jax.jit(lambda logits: jax.lax.fori_loop(0, steps, body, logits))

    j = looped(lambda a, b: jaxloss.cross_entropy(a, b))
    o = looped(lambda a, b: jnp.mean(optax.losses.softmax_cross_entropy_with_integer_labels(a, b)))
    tx = torch.from_numpy(x).requires_grad_(True)
    ty = torch.from_numpy(y)

    def t_step():
        tx.grad = None
        loss = TF.cross_entropy(tx, ty)
        loss.backward()
        return loss

    t = cfg.measure(
        {
            "jaxloss": lambda: j(jx).block_until_ready(),
            "optax": lambda: o(jx).block_until_ready(),
            "torch": lambda: [t_step() for _ in range(steps)],
        },
    )
    res: dict[str, Any] = {k: v["median_s"] / steps for k, v in t.items()}
    res["min"] = {k: v["min_s"] / steps for k, v in t.items()}
    return res | {"shape": [n, c], "steps": steps, "load": t["jaxloss"]["load"]}


def loss_row(case: LossCase, shape, arrays, t: dict, mode: str, info: dict) -> dict:
    """One JSON row: the timings of one loss, shape and mode, and what they mean."""
    tj, tt = t["jaxloss"]["median_s"], t["torch"]["median_s"]
    mj, mt = t["jaxloss"]["min_s"], t["torch"]["min_s"]
    to = t["optax"]["median_s"] if "optax" in t else None
    must = info["must_move"][mode]
    xla = info["xla"][mode].get("bytes")
    peak = info["peak_gbps"]
    triad = t.get("triad")
    # bandwidth of the triad at this size, in the same rounds (12 bytes per element)
    tri_best = 12 * arrays[0].size / triad["min_s"] / 1e9 if triad else None
    tri_med = 12 * arrays[0].size / triad["median_s"] / 1e9 if triad else None
    return {
        "loss": case.name,
        "shape": list(shape) if isinstance(shape, tuple) else [shape],
        "shape_label": cases.shape_label(case, shape),
        "grid": case.grid,
        "elements": int(arrays[0].size),
        "mode": mode,
        "jaxloss_s": tj,
        "torch_s": tt,
        "optax_s": to,
        "jaxloss_min_s": mj,
        "torch_min_s": mt,
        "optax_min_s": t["optax"]["min_s"] if "optax" in t else None,
        "torch_over_jaxloss": tt / tj,
        "torch_over_jaxloss_min": mt / mj,
        "optax_over_jaxloss": None if to is None else to / tj,
        "values": info["values"],
        "values_agree_with_torch": info["agree"],
        "bytes_must_move": must,
        "xla_bytes_accessed": xla,
        "jaxloss_GBps": must / tj / 1e9,
        "fraction_of_bandwidth": must / tj / 1e9 / peak,
        "fraction_of_bandwidth_best": must / mj / 1e9 / peak,
        "torch_fraction_of_bandwidth_best": must / mt / 1e9 / peak,
        "bandwidth_bound_of_xla_program": None if not xla else min(1.0, must / xla),
        "xla_full_size_passes": info["xla"][mode].get("passes"),
        "triad_GBps_best": tri_best,
        "triad_GBps_median": tri_med,
        "fraction_of_triad_best": None if not tri_best else must / mj / 1e9 / tri_best,
        "fraction_of_triad_median": None if not tri_med else must / tj / 1e9 / tri_med,
        "torch_fraction_of_triad_best": None if not tri_best else must / mt / 1e9 / tri_best,
        "timings": t,
    }


def measure_case(cfg: BenchConfig, case: LossCase, shape, peak_gbps: float) -> list[dict]:
    """One loss at one shape: a row per mode (value, value+grad), each mode's frameworks
    timed interleaved; a large case also beside a triad of its size, with XLA's bytes
    and passes and the page faults per call."""
    # each case's inputs depend only on (loss, shape): reproducible in any subset
    rng = np.random.default_rng(zlib.crc32(f"{case.name} {shape}".encode()))
    arrays = case.make(rng, shape)
    large = arrays[0].size >= LARGE_ELEMENTS
    fns, values, must_move, xla = loss_callables(case, arrays, analyse=large)
    agree = _close(values["jaxloss"], values["torch"])
    optax_same = "optax" in values and _close(values["optax"], values["jaxloss"])
    case_info = {
        "must_move": must_move,
        "xla": xla,
        "peak_gbps": peak_gbps,
        "values": values,
        "agree": agree,
    }
    rows = []
    for mode, mfns in fns.items():
        if "optax" in mfns and not optax_same:
            mfns = {k: v for k, v in mfns.items() if k != "optax"}
        if large:  # the bandwidth reference at this size, interleaved
            mfns = dict(mfns, triad=probes.triad_callable(int(arrays[0].size)))
        row = loss_row(case, shape, arrays, cfg.measure(mfns), mode, case_info)
        if large:
            row["minor_faults_per_call"] = {
                fw: probes.minor_faults_per_call(fn, 1 if cfg.quick else 3)
                for fw, fn in mfns.items()
                if fw in ("jaxloss", "torch")
            }
        rows.append(row)
    return rows


def sweep(
    cfg: BenchConfig, names: list[str], peak_gbps: float, out: TextIO | None = None
) -> list[dict]:
    """Every named loss over its grid; each row printed to ``out`` as it is measured."""
    by_name = cases.loss_cases()
    rows: list[dict] = []
    for name in names:
        case = by_name[name]
        for shape in cases.grid(case, cfg):
            for row in measure_case(cfg, case, shape, peak_gbps):
                rows.append(row)
                if out is not None:
                    line = format_table(LOSS_HEADERS, [loss_cells(row)]).splitlines()[-1]
                    out.write(line + ("" if row["values_agree_with_torch"] else "  DIFFERS") + "\n")
                    out.flush()
    return rows


def run(
    cfg: BenchConfig, threads: int, info: dict | None = None, out: TextIO | None = None
) -> Result:
    """The losses benchmark: sweep every loss (or ``cfg.losses``), then report."""
    info = info or machine.machine_info(threads)
    known = cases.loss_cases()
    names = list(cfg.losses) if cfg.losses else cases.available_losses()
    missing = [n for n in names if n not in known]
    with machine.torch_threads(threads):
        ref = measure_roofline(cfg)
        rows = sweep(cfg, [n for n in names if n in known], ref["peak_gbps"], out)
        in_step = cross_entropy_in_step(cfg)
    return report(cfg, info, ref, rows, in_step, missing)


def report(
    cfg: BenchConfig,
    info: dict,
    ref: dict,
    rows_json: list[dict],
    in_step: dict,
    missing: list[str],
) -> Result:
    """The tables, notes and JSON payload of a losses run."""
    met = goals.loss_goals(rows_json, in_step)
    loads = timing.load_summary(timing.loads(t for r in rows_json for t in r["timings"].values()))
    step_rows = [
        [
            f"cross_entropy {in_step['shape'][0]}x{in_step['shape'][1]}, value+grad",
            fmt_time(in_step["jaxloss"]),
            fmt_time(in_step["optax"]),
            fmt_time(in_step["torch"]),
            fmt_ratio(in_step["torch"] / in_step["jaxloss"]),
            fmt_ratio(in_step["optax"] / in_step["jaxloss"]),
        ]
    ]
    notes = [
        "Times are per call: the median over rounds and the best round ('min'); ratios > 1 "
        "mean jaxloss is faster. '% of BW': the bytes the call must move (inputs read, plus "
        "the gradient written for value+grad) per second (median round), over the "
        f"roofline's bandwidth ({ref['peak_gbps']:.1f} GB/s, its best round). The large-case "
        "table compares each case with a triad (u = u + 2 v, 12 bytes per element) of the "
        "same size timed in the same rounds, which is what the bandwidth goal uses.",
        "optax is shown where it has the same function and its value agrees (mse = "
        "squared_error mean, huber/smooth_l1 = huber_loss(delta=1), cross_entropy = "
        "softmax_cross_entropy_with_integer_labels mean, bce_with_logits = "
        "sigmoid_binary_cross_entropy mean, kl_div(batchmean) = kl_divergence / n, "
        "triplet_margin_loss, sigmoid_focal_loss = sigmoid_focal_loss(alpha=0.25) mean). "
        "optax has no nll_loss (its softmax cross entropy on log-probabilities has nll's "
        "value but not its gradient), so nll_loss has no optax column.",
        timing.load_note(loads, "Losses"),
    ]
    for g in met:
        if not g["met"] and g.get("failing"):
            notes.append(f"Not met -- {g['goal']}: " + "; ".join(g["failing"]) + ".")
    if missing:
        notes.append("No input generator (not benchmarked): " + ", ".join(missing))
    differs = sorted({r["loss"] for r in rows_json if not r["values_agree_with_torch"]})
    if differs:
        notes.append("Value differs from torch's by more than 1e-4 (check!): " + ", ".join(differs))
    tables = [
        ("Losses: time per call, jaxloss jit vs torch eager vs optax", LOSS_HEADERS, []),
        class_index_table(rows_json),
        bandwidth_table(rows_json, ref),
        (
            "cross_entropy inside a jitted step (per step, no dispatch)",
            [
                "case",
                "jaxloss",
                "optax",
                "torch eager (per call)",
                "torch/jaxloss",
                "optax/jaxloss",
            ],
            step_rows,
        ),
        ("Loss goals", ["goal", "measured", "met"], goals.goal_rows(met)),
    ]
    tables[0][2].extend(loss_cells(r) for r in rows_json)
    return Result(
        "losses",
        tables,
        {
            "benchmark": "losses",
            "machine": info,
            "config": dataclasses.asdict(cfg),
            "roofline": ref,
            "rows": rows_json,
            "cross_entropy_in_step": in_step,
            "goals": met,
            "load": loads,
            "not_benchmarked": missing,
        },
        notes,
    )


if __name__ == "__main__":
    from benchmarks.harness import script_main

    sys.exit(script_main("losses"))
