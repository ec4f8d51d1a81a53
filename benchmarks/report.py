"""The benchmarks' tables: plain text for the terminal, markdown for ``<name>.md``, and
the files a benchmark writes (``<name>.json``, ``<name>.md``, its charts)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.goals import LOSS as LOSS_GOALS

# nll_loss and cross_entropy at the training shapes: the class-index table
CLASS_INDEX_SHAPES = ((64, 10), (65536, 10), (4096, 1000))


def format_table(headers: list[str], rows: list[list[Any]], markdown: bool = False) -> str:
    cells = [[str(h) for h in headers]] + [
        ["" if c is None else str(c) for c in row] for row in rows
    ]
    if markdown:
        lines = ["| " + " | ".join(cells[0]) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in cells[1:]]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def fmt(r: list[str]) -> str:
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))

    return "\n".join(
        [fmt(cells[0]), "  ".join("-" * w for w in widths)] + [fmt(r) for r in cells[1:]]
    )


def fmt_time(s: float | None) -> str | None:
    if s is None:
        return None
    us = s * 1e6
    if us < 1000:
        return f"{us:.1f} us"
    if us < 1e6:
        return f"{us / 1000:.2f} ms"
    return f"{s:.2f} s"


def fmt_ratio(r: float | None) -> str | None:
    return None if r is None else f"{r:.2f}x"


def fmt_pct(f: float | None) -> str:
    return "" if f is None else f"{100 * f:.0f}%"


@dataclasses.dataclass
class Result:
    """One benchmark's output: its tables (title, headers, rows) and JSON payload."""

    name: str
    tables: list[tuple[str, list[str], list[list[Any]]]]
    payload: dict
    notes: list[str] = dataclasses.field(default_factory=list)

    def text(self, markdown: bool = False) -> str:
        parts = []
        for title, headers, rows in self.tables:
            parts.append(f"### {title}" if markdown else title)
            parts.append(format_table(headers, rows, markdown))
            parts.append("")
        for note in self.notes:
            parts.append(("- " if markdown else "  ") + note)
        return "\n".join(parts).rstrip() + "\n"


def write_result(result: Result, out_dir: Path) -> dict[str, Any]:
    """``<name>.json``, ``<name>.md`` and the benchmark's charts (``<name>.png`` first)."""
    from benchmarks import charts

    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Any] = {
        "json": out_dir / f"{result.name}.json",
        "md": out_dir / f"{result.name}.md",
    }
    paths["json"].write_text(json.dumps(result.payload, indent=1, default=_json_default) + "\n")
    paths["md"].write_text(result.text(markdown=True))
    payload = json.loads(paths["json"].read_text())
    paths["png"] = charts.draw(result.name, payload, out_dir)
    return paths


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


LOSS_HEADERS = [
    "loss",
    "shape",
    "mode",
    "jaxloss (jit)",
    "jaxloss min",
    "torch eager",
    "torch min",
    "optax",
    "torch/jaxloss",
    "(of minima)",
    "optax/jaxloss",
    "% of BW",
]


def loss_cells(r: dict) -> list:
    return [
        r["loss"],
        r["shape_label"],
        r["mode"],
        fmt_time(r["jaxloss_s"]),
        fmt_time(r["jaxloss_min_s"]),
        fmt_time(r["torch_s"]),
        fmt_time(r["torch_min_s"]),
        fmt_time(r["optax_s"]),
        fmt_ratio(r["torch_over_jaxloss"]),
        fmt_ratio(r["torch_over_jaxloss_min"]),
        fmt_ratio(r["optax_over_jaxloss"]),
        fmt_pct(r["fraction_of_bandwidth"]) if r["elements"] >= 100_000 else "",
    ]


def class_index_table(rows: list[dict]) -> tuple[str, list[str], list[list]]:
    """nll_loss and cross_entropy at the training shapes, against torch and optax."""
    shapes = [list(s) for s in CLASS_INDEX_SHAPES]
    sel = [r for r in rows if r["loss"] in ("cross_entropy", "nll_loss") and r["shape"] in shapes]
    sel.sort(key=lambda r: (r["loss"] != "nll_loss", shapes.index(r["shape"]), r["mode"]))
    body = [
        [
            r["loss"],
            r["shape_label"],
            r["mode"],
            f"{fmt_time(r['jaxloss_s'])} ({fmt_time(r['jaxloss_min_s'])})",
            f"{fmt_time(r['torch_s'])} ({fmt_time(r['torch_min_s'])})",
            "-"
            if r["optax_s"] is None
            else f"{fmt_time(r['optax_s'])} ({fmt_time(r['optax_min_s'])})",
            f"{fmt_ratio(r['torch_over_jaxloss'])} ({fmt_ratio(r['torch_over_jaxloss_min'])})",
            "-"
            if r["optax_s"] is None
            else f"{fmt_ratio(r['optax_over_jaxloss'])} "
            f"({fmt_ratio(r['optax_min_s'] / r['jaxloss_min_s'])})",
        ]
        for r in sel
    ]
    return (
        "nll_loss and cross_entropy at 64x10, 65536x10, 4096x1000: median (best round)",
        [
            "loss",
            "N x C",
            "mode",
            "jaxloss (jit)",
            "torch eager",
            "optax",
            "torch/jaxloss",
            "optax/jaxloss",
        ],
        body,
    )


def bandwidth_table(rows: list[dict], ref: dict) -> tuple[str, list[str], list[list]]:
    """Every large case (goals.toml's large_elements) against the memory bandwidth."""
    body = []
    for r in rows:
        if r["elements"] < LOSS_GOALS["large_elements"]:
            continue
        faults = r.get("minor_faults_per_call", {})
        xla = r["xla_bytes_accessed"]
        tri = r["triad_GBps_best"]
        body.append(
            [
                r["loss"],
                r["shape_label"],
                r["mode"],
                f"{r['bytes_must_move'] / 1e6:.0f}",
                "" if not xla else f"{xla / 1e6:.0f}",
                "" if r["xla_full_size_passes"] is None else r["xla_full_size_passes"],
                fmt_pct(r["bandwidth_bound_of_xla_program"]),
                "" if tri is None else f"{tri:.1f}",
                fmt_pct(r["fraction_of_triad_best"]),
                fmt_pct(r["fraction_of_triad_median"]),
                fmt_pct(r["torch_fraction_of_triad_best"]),
                fmt_pct(r["fraction_of_bandwidth_best"]),
                f"{faults.get('jaxloss', 0):.0f} / {faults.get('torch', 0):.0f}",
            ]
        )
    return (
        "Large cases against the memory bandwidth (triad at the same size, same rounds)",
        [
            "loss",
            "shape",
            "mode",
            "MB the call must move",
            "MB XLA's program moves",
            "full-size passes",
            "bound by XLA's bytes",
            "triad GB/s (best)",
            "jaxloss % of triad (best)",
            "(median)",
            "torch % of triad (best)",
            f"jaxloss % of {ref['peak_gbps']:.0f} GB/s",
            "page faults/call jaxloss / torch",
        ],
        body,
    )


def lowering_table(lowerings: list[dict]) -> tuple[str, list[str], list[list]]:
    body = [
        [
            m["batch"],
            r["lowering"],
            f"{r['images_per_s']:.0f} ({r['images_per_s_best']:.0f})",
            f"{r['relative_to_rule']:.2f}x ({r['relative_to_rule_best']:.2f}x)",
            f"{r['cpu_ms_per_step']:.1f}",
            f"{r['compile_s']:.1f}",
        ]
        for m in lowerings
        for r in m["rows"]
    ]
    return (
        "Tudui lowerings, jaxloss step only (interleaved): images/s median (best round)",
        [
            "batch",
            "lowering",
            "images/s",
            "vs the rule",
            "CPU ms per step (all threads)",
            "trace + compile (s)",
        ],
        body,
    )


def tudui_cells(row: dict) -> list:
    ips = row["images_per_s"]
    tc = ips.get("torch.compile")

    def ratio(key: str) -> str:
        if row[key] is None:
            return "-"
        return f"{fmt_ratio(row[key])} ({fmt_ratio(row[key + '_best'])})"

    peak = row["fraction_of_matmul_peak"]
    return [
        row["batch"],
        f"{ips['jaxloss']:.0f}",
        f"{ips['torch eager']:.0f}",
        "-" if tc is None else f"{tc:.0f}",
        ratio("jaxloss_over_torch_eager"),
        ratio("jaxloss_over_torch_compile"),
        f"{row['gflops']['jaxloss']:.0f} ({100 * peak['jaxloss']:.0f}%)",
        f"{row['gflops']['torch eager']:.0f} ({100 * peak['torch eager']:.0f}%)",
        f"{1e3 * row['timings']['jaxloss']['cpu_median_s']:.1f} / "
        f"{1e3 * row['timings']['torch eager']['cpu_median_s']:.1f}",
        row.get("plan", ""),
    ]
