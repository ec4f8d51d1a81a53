"""The speed goals (the data is ``goals.toml``) checked against one run's rows.

Each goal becomes ``{"goal": text, "measured": text, "met": bool}`` (and ``failing``: the
cases that miss it) in the result JSON and the "goals" tables.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

GOALS: dict[str, Any] = tomllib.loads((Path(__file__).with_name("goals.toml")).read_text())
LOSS = GOALS["losses"]
TUDUI = GOALS["tudui"]


def goal_rows(goals: list[dict]) -> list[list[str]]:
    """The goals as table rows: goal, measured, met."""
    return [[g["goal"], g["measured"], "yes" if g["met"] else "NO"] for g in goals]


def _goal(goal: str, measured: str, met: bool, failing: list[str] | None = None) -> dict:
    g: dict[str, Any] = {"goal": goal, "measured": measured, "met": met}
    if failing is not None:
        g["failing"] = failing
    return g


def bandwidth_diagnosis(r: dict) -> str:
    """Why a case is under the bandwidth goal, from what the run measured."""
    bound = r["bandwidth_bound_of_xla_program"]
    faults = r.get("minor_faults_per_call", {}).get("jaxloss", 0.0)
    reasons = []
    if bound is not None and bound < LOSS["bandwidth_fraction"]:
        reasons.append(
            f"XLA's program moves {r['xla_bytes_accessed'] / r['bytes_must_move']:.2f}x the "
            f"minimal bytes in {r['xla_full_size_passes']} full-size passes (at most "
            f"{100 * bound:.0f}% attainable)"
        )
    if faults > 100:
        reasons.append(f"{faults:.0f} page faults per call (fresh output/temporary buffers)")
    if not reasons:
        reasons.append("time beyond its bytes: compute (transcendentals) or dispatch")
    return "; ".join(reasons)


def _every_case_goal(
    goal: str,
    rows: list[dict],
    score: Callable[[dict], float],
    need: float,
    show: Callable[[float], str],
    label: Callable[[dict], str],
    why: Callable[[dict], str] | None = None,
    counted: bool = True,
    worst_label: Callable[[dict], str] | None = None,
) -> list[dict]:
    """A goal every row must meet (``score(row) >= need``): the worst row, how many meet
    it (``counted``), and every failing row with its score (and ``why``)."""
    if not rows:
        return []
    worst = min(rows, key=score)
    failing = [r for r in rows if score(r) < need]
    measured = f"worst {show(score(worst))} ({(worst_label or label)(worst)})"
    if counted:
        measured = f"{len(rows) - len(failing)} of {len(rows)} cases; {measured}"
    return [
        _goal(
            goal,
            measured,
            not failing,
            [f"{label(r)}: {show(score(r))}" + (f" -- {why(r)}" if why else "") for r in failing],
        )
    ]


def _case(r: dict) -> str:
    return f"{r['loss']} {r['shape_label']}"


def _ratio(x: float) -> str:
    return f"{x:.2f}x"


def _percent(x: float) -> str:
    return f"{100 * x:.0f}%"


def _speedup(r: dict) -> float:
    return r["torch_over_jaxloss"]


def _bandwidth_fraction(r: dict) -> float:
    f = r["fraction_of_triad_best"]
    return r["fraction_of_bandwidth_best"] if f is None else f


def _large_value_grad(rows: list[dict]) -> list[dict]:
    return [
        r for r in rows if r["mode"] == "value+grad" and r["elements"] >= LOSS["large_elements"]
    ]


def _speedup_goal(rows: list[dict]) -> list[dict]:
    need, large = LOSS["large_speedup"], LOSS["large_elements"]
    return _every_case_goal(
        f"value+grad >= {need:g}x torch eager at >= {large:.0e} elements (every loss)".replace(
            "e+0", "e"
        ),
        _large_value_grad(rows),
        _speedup,
        need,
        _ratio,
        _case,
        counted=False,
    )


def _bandwidth_goal(rows: list[dict]) -> list[dict]:
    need = LOSS["bandwidth_fraction"]
    return _every_case_goal(
        f"elementwise losses' value+grad >= {100 * need:.0f}% of the memory bandwidth at 1e6 "
        "and 1e7 (triad at the same size, best rounds)",
        [r for r in _large_value_grad(rows) if r["loss"] in LOSS["elementwise"]],
        _bandwidth_fraction,
        need,
        _percent,
        _case,
        why=bandwidth_diagnosis,
    )


def _not_slower_goal(rows: list[dict]) -> list[dict]:
    return _every_case_goal(
        f"no loss slower than torch eager at >= {LOSS['mid_elements']:.0e} elements "
        "(value and value+grad)",
        [r for r in rows if r["elements"] >= LOSS["mid_elements"]],
        _speedup,
        1.0,
        _ratio,
        lambda r: f"{_case(r)} {r['mode']}",
        worst_label=lambda r: f"{_case(r)}, {r['mode']}",
    )


def _nll_goals(rows: list[dict]) -> list[dict]:
    within = LOSS["nll_value_within"]
    goals = []
    for r in rows:
        if r["loss"] != "nll_loss" or r["shape_label"] not in LOSS["nll_shapes"]:
            continue
        value = r["mode"] == "value"
        goals.append(
            _goal(
                f"nll_loss {r['shape_label']} {r['mode']}: "
                + (f"within {within:g}x of torch's time" if value else "faster than torch"),
                f"torch/jaxloss {r['torch_over_jaxloss']:.2f}x",
                r["torch_over_jaxloss"] >= (1 / within if value else 1.0),
            )
        )
    return goals


def _optax_goal(rows: list[dict]) -> list[dict]:
    limit = LOSS["cross_entropy_vs_optax"]
    ce = [r for r in rows if r["loss"] == "cross_entropy" and r["optax_s"] is not None]
    if not ce:
        return []
    worst = max(ce, key=lambda r: r["jaxloss_s"] / r["optax_s"])
    slow = worst["jaxloss_s"] / worst["optax_s"]
    return [
        _goal(
            f"cross_entropy within {100 * (limit - 1):.0f}% of optax "
            "softmax_cross_entropy_with_integer_labels (+mean)",
            f"worst: jaxloss takes {slow:.2f}x optax's time "
            f"({worst['shape_label']}, {worst['mode']})",
            slow <= limit,
        )
    ]


def loss_goals(rows: list[dict], in_step: dict) -> list[dict]:
    """Every loss goal of goals.toml on a losses run's rows, and the jitted-step goal."""
    step = _goal(
        "cross_entropy (64x10) inside a jitted step not slower than torch",
        f"{in_step['jaxloss'] * 1e6:.2f} us vs torch {in_step['torch'] * 1e6:.1f} us per step",
        in_step["jaxloss"] <= in_step["torch"],
    )
    return [
        *_speedup_goal(rows),
        *_bandwidth_goal(rows),
        *_not_slower_goal(rows),
        *_nll_goals(rows),
        *_optax_goal(rows),
        step,
    ]


def tudui_goals(rows: list[dict]) -> list[dict]:
    """jaxloss images/s against each other framework at the goal batch sizes."""
    goals = []
    for r in rows:
        if r["batch"] not in TUDUI["batches"]:
            continue
        for other, factor in TUDUI["speedup"].items():
            key = "jaxloss_over_" + other.replace(" ", "_").replace(".", "_")
            if r.get(key) is None:
                continue
            goals.append(
                _goal(
                    f"Tudui train step >= {factor}x {other} images/s at batch {r['batch']} (fp32)",
                    f"{r[key]:.2f}x (best rounds {r[key + '_best']:.2f}x)",
                    r[key] >= factor,
                )
            )
    return goals
