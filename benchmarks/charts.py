"""The benchmark charts (matplotlib, Agg backend), one function per PNG.

Every function takes the JSON payload a benchmark wrote (``benchmarks/out/<name>.json``)
and a path, so a chart can be redrawn from a saved run without timing anything again::

    .venv/bin/python -m benchmarks.charts benchmarks/out    # redraw every chart there
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Which chart a loss goes into. A loss missing here (a new one) lands in "other".
LOSS_FAMILIES: dict[str, tuple[str, ...]] = {
    "regression": ("l1_loss", "mse_loss", "smooth_l1_loss", "huber_loss"),
    "probabilistic": (
        "binary_cross_entropy",
        "binary_cross_entropy_with_logits",
        "kl_div",
        "poisson_nll_loss",
        "gaussian_nll_loss",
    ),
    "classification": (
        "cross_entropy",
        "nll_loss",
        "multi_margin_loss",
        "multilabel_margin_loss",
        "multilabel_soft_margin_loss",
        "soft_margin_loss",
        "linear_cross_entropy",
    ),
    "embedding": (
        "cosine_embedding_loss",
        "triplet_margin_loss",
        "triplet_margin_with_distance_loss",
        "hinge_embedding_loss",
        "margin_ranking_loss",
    ),
    "sequence": ("ctc_loss",),
    "detection": (
        "sigmoid_focal_loss",
        "generalized_box_iou_loss",
        "distance_box_iou_loss",
        "complete_box_iou_loss",
    ),
}

# The docs site shows a chart 736 px wide, about 7.7 inches at 96 px per inch: a figure
# this wide is shown at its own scale, so a font's size in points is its size there.
WIDTH_IN = 7.6
DPI = 160
FONTS = {
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "figure.titlesize": 10,
}
# Okabe & Ito's colour-blind-safe palette; a line's colour, line style and marker all
# change from one line to the next, so lines stay apart in grey or for a colour-blind reader.
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999")
LINE_STYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 2)), (0, (8, 2)))
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
FRAMEWORKS = ("jaxloss", "torch", "optax")
MODE_STYLE = {"value+grad": "-", "value": "--"}


def line_style(i: int) -> dict[str, Any]:
    """The i-th line of a panel: its colour, line style and marker."""
    return {
        "color": COLORS[i % len(COLORS)],
        "ls": LINE_STYLES[i % len(LINE_STYLES)],
        "marker": MARKERS[i % len(MARKERS)],
    }


def family_of(loss: str) -> str:
    for family, members in LOSS_FAMILIES.items():
        if loss in members:
            return family
    return "other"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(FONTS)
    return plt


def _figure(height_in: float, **kw):
    return _pyplot().figure(figsize=(WIDTH_IN, height_in), layout="constrained", **kw)


def save(fig, path: Path) -> Path:
    """The figure as a PNG at :data:`DPI`, in a 256-colour palette (a third of the bytes
    of full colour, the same to the eye for line and bar charts); closes the figure."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, dpi=DPI, format="png")
    _pyplot().close(fig)
    image = Image.open(buf).convert("RGB").quantize(colors=256)
    image.save(path, optimize=True, dpi=(DPI, DPI))
    return path


def _log_x(ax, xs: list[float], label: str) -> None:
    """A log x axis over whole decades, labelled at each power of ten only (the minor
    ticks' labels collide when the data spans less than a decade)."""
    from matplotlib.ticker import LogLocator, NullFormatter

    lo, hi = min(xs), max(xs)
    ax.set_xscale("log")
    ax.set_xlim(10 ** math.floor(math.log10(lo) + 1e-9), 10 ** math.ceil(math.log10(hi) - 1e-9))
    if ax.get_xlim()[0] == ax.get_xlim()[1]:
        ax.set_xlim(lo / 10, hi * 10)
    ax.xaxis.set_major_locator(LogLocator(base=10, numticks=12))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(label)


def _families(rows: list[dict]) -> list[str]:
    present = {family_of(r["loss"]) for r in rows}
    return [f for f in [*LOSS_FAMILIES, "other"] if f in present]


def speedup_figure(payload: dict):
    """torch eager time / jaxloss time vs elements: one row of panels per loss family
    (value | value+grad) with its legend beside it; each loss its own colour, line style
    and marker."""
    rows = payload["rows"]
    families = _families(rows)
    fig = _figure(1.75 * len(families) + 0.6)
    grid = fig.subplots(len(families), 3, squeeze=False, width_ratios=(1, 1, 0.9))
    lo = min(r["torch_over_jaxloss"] for r in rows)
    hi = max(r["torch_over_jaxloss"] for r in rows)
    for (*axes, key), family in zip(grid, families):
        names = list(dict.fromkeys(r["loss"] for r in rows if family_of(r["loss"]) == family))
        for ax, mode in zip(axes, ("value", "value+grad")):
            for i, name in enumerate(names):
                pts = sorted(
                    (r["elements"], r["torch_over_jaxloss"])
                    for r in rows
                    if r["loss"] == name and r["mode"] == mode
                )
                if pts:
                    ax.plot(*zip(*pts), ms=3.5, lw=1.2, label=name, **line_style(i))
            ax.axhline(1.0, color="k", lw=0.8)
            _log_x(ax, [r["elements"] for r in rows], "")
            ax.set_yscale("log")
            ax.set_ylim(lo / 1.3, hi * 1.3)
            ax.grid(True, which="major", lw=0.3)
            ax.set_title(f"{family}: {mode}")
        axes[1].tick_params(labelleft=False)
        axes[0].set_ylabel("speed-up (×)")
        key.axis("off")
        key.legend(*axes[0].get_legend_handles_labels(), loc="center left", frameon=False)
    for ax in grid[-1][:2]:
        ax.set_xlabel("input size (elements)")
    fig.suptitle("jaxloss (jit) speed-up over torch eager: torch's median time / jaxloss's")
    return fig


def loss_speedup(payload: dict, path: Path) -> Path:
    return save(speedup_figure(payload), path)


def _framework_lines(ax, rows: list[dict], bandwidth: float | None) -> None:
    """One loss's time per call vs elements: a line per framework and mode (colour and
    marker: the framework; line style: the mode), whiskers down to the best round; grey:
    the time to move the call's bytes at the measured memory bandwidth."""
    for mode, ls in MODE_STYLE.items():
        sel = sorted((r for r in rows if r["mode"] == mode), key=lambda r: r["elements"])
        for i, fw in enumerate(FRAMEWORKS):
            pts = [
                (r["elements"], r["timings"][fw]["median_s"], r["timings"][fw]["min_s"])
                for r in sel
                if fw in r["timings"]
            ]
            if not pts:
                continue
            xs, med, low = zip(*pts)
            ax.errorbar(
                xs,
                med,
                yerr=[[m - lo for m, lo in zip(med, low)], [0.0] * len(med)],
                ls=ls,
                color=COLORS[i],
                marker=MARKERS[i],
                ms=3.5,
                lw=1.2,
                capsize=0,
                label=f"{fw}, {mode}",
            )
        big = [r["elements"] for r in sel if r["elements"] >= 10_000]
        if bandwidth and len(big) > 1:
            per = 12.0 if mode == "value+grad" else 8.0
            ax.plot(
                big,
                [x * per / (bandwidth * 1e9) for x in big],
                color="0.55",
                ls=ls,
                lw=2.5,
                alpha=0.5,
                label=f"{per:.0f} B/element at {bandwidth:.0f} GB/s, {mode}",
            )


def family_figure(payload: dict, family: str):
    """Log-log time per call vs elements for one loss family: a panel per loss, with
    jaxloss, torch eager and optax (where it has the function), value and value+grad."""
    rows = [r for r in payload["rows"] if family_of(r["loss"]) == family]
    names = list(dict.fromkeys(r["loss"] for r in rows))
    bw = payload.get("roofline", {}).get("peak_gbps") if family != "sequence" else None
    ncols = 1 if len(names) == 1 else 2
    nrows = math.ceil(len(names) / ncols)
    fig = _figure(2.1 * nrows + 1.1)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, name in zip(axes, names):
        mine = [r for r in rows if r["loss"] == name]
        _framework_lines(ax, mine, bw)
        _log_x(ax, [r["elements"] for r in mine], "input size (elements of the first input)")
        ax.set_yscale("log")
        ax.set_ylabel("time per call (s)")
        ax.set_title(name)
        ax.grid(True, which="major", lw=0.3)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    handles: dict[str, Any] = {}
    for ax in axes[: len(names)]:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    order = sorted(handles, key=lambda k: (k[0] == "8" or k[:2] == "12", k))  # frameworks first
    fig.legend(
        [handles[k] for k in order], order, loc="outside lower center", ncol=2, frameon=False
    )
    fig.suptitle(f"{family} losses: time per call (median; whisker down to the best round)")
    return fig


def loss_family(payload: dict, family: str, path: Path) -> Path:
    return save(family_figure(payload, family), path)


def tudui_figure(payload: dict):
    """Tudui training images/s vs batch size, one line per framework (median, and the
    best round dotted), the fp32 matmul peak dashed."""
    rows = sorted(payload["rows"], key=lambda r: r["batch"])
    frameworks = list(dict.fromkeys(k for r in rows for k in r["images_per_s"]))
    fig = _figure(4.6)
    ax = fig.subplots()
    for i, fw in enumerate(frameworks):
        pts = [
            (r["batch"], r["images_per_s"][fw], r["batch"] / r["timings"][fw]["min_s"])
            for r in rows
            if fw in r["images_per_s"]
        ]
        xs, med, best = zip(*pts)
        style = line_style(i)
        ax.plot(xs, med, ms=4, lw=1.4, label=f"{fw} (median)", **style)
        ax.plot(xs, best, ls=":", color=style["color"], lw=1, label=f"{fw} (best round)")
    peak = payload.get("roofline", {}).get("peak_gflops")
    if peak:
        ax.axhline(
            peak * 1e9 / payload["train_flops_per_image"],
            color="0.4",
            lw=1,
            ls="--",
            label=f"fp32 matmul peak ({peak:.0f} GFLOP/s)",
        )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size (images)")
    ax.set_ylabel("training throughput (images/s)")
    ax.set_title("Tudui training step (fp32, forward + backward + SGD)")
    ax.grid(True, which="major", lw=0.3)
    fig.legend(loc="outside right center", frameon=False)
    return fig


def tudui_scaling(payload: dict, path: Path) -> Path:
    return save(tudui_figure(payload), path)


def roofline_figure(payload: dict):
    """The roofline reference: fp32 matmul GFLOP/s and triad GB/s per framework."""
    r = payload["roofline"]
    fig = _figure(3.2)
    axes = fig.subplots(1, 2)
    panels = (
        ("matmul_gflops", "fp32 matmul", "GFLOP/s (best round)"),
        ("bandwidth_gbps", "memory bandwidth (triad)", "GB/s (best round)"),
    )
    for ax, (key, title, unit) in zip(axes, panels):
        names = list(r[key])
        ax.bar(names, [r[key][n] for n in names], color=COLORS[: len(names)])
        ax.set_title(title)
        ax.set_ylabel(unit)
        ax.set_xlabel("framework")
        ax.margins(y=0.15)
        for i, n in enumerate(names):
            ax.annotate(f"{r[key][n]:.0f}", (i, r[key][n]), ha="center", va="bottom")
    fig.suptitle("Roofline reference")
    return fig


def roofline(payload: dict, path: Path) -> Path:
    return save(roofline_figure(payload), path)


def linear_cross_entropy_figure(payload: dict):
    """linear_cross_entropy value+grad per LLM-head shape: temporary memory and wall time,
    one bar per implementation (benchmarks/bench_linear_cross_entropy.py's JSON)."""
    rows = payload["rows"]
    shapes = list(dict.fromkeys((r["N"], r["D"], r["V"]) for r in rows))
    impls = list(dict.fromkeys(r["impl"] for r in rows))
    by = {(r["N"], r["D"], r["V"], r["impl"]): r for r in rows}
    fig = _figure(3.9)
    axes = fig.subplots(1, 2)
    width = 0.8 / len(impls)
    panels = (
        ("temp_bytes", 2**-20, "temporary memory (MiB)", "memory of value+grad"),
        ("time_s", 1.0, "wall time per call (s)", "time of value+grad"),
    )
    hatches = ("", "//", "..", "xx", "\\\\", "oo", "--", "++")
    for ax, (key, scale, ylabel, title) in zip(axes, panels):
        for j, impl in enumerate(impls):
            xs, ys = [], []
            for i, shape in enumerate(shapes):
                r = by.get((*shape, impl))
                if r is not None and r.get(key):
                    xs.append(i + (j - (len(impls) - 1) / 2) * width)
                    ys.append(r[key] * scale)
            ax.bar(
                xs,
                ys,
                width,
                label=impl,
                color=COLORS[j % len(COLORS)],
                hatch=hatches[j % len(hatches)],
                edgecolor="white",
                lw=0,
            )
        ax.set_xticks(range(len(shapes)), ["x".join(map(str, s)) for s in shapes], rotation=20)
        ax.set_xlabel("N tokens x D features x V classes")
        ax.set_yscale("log")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, axis="y", which="major", lw=0.3)
    fig.legend(
        *axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=3, frameon=False
    )
    fig.suptitle("linear_cross_entropy, float32 (torch memory: peak RSS growth, incl. gradients)")
    return fig


def linear_cross_entropy(payload: dict, path: Path) -> Path:
    return save(linear_cross_entropy_figure(payload), path)


def _loss_figures(payload: dict) -> dict[str, Any]:
    figs = {"losses.png": speedup_figure(payload)}
    for family in _families(payload["rows"]):
        figs[f"losses_{family}.png"] = family_figure(payload, family)
    return figs


FIGURES: dict[str, Callable[[dict], dict[str, Any]]] = {
    "roofline": lambda p: {"roofline.png": roofline_figure(p)},
    "losses": _loss_figures,
    "tudui": lambda p: {"tudui.png": tudui_figure(p)},
    "linear_cross_entropy": lambda p: {"linear_cross_entropy.png": linear_cross_entropy_figure(p)},
}


def draw(name: str, payload: dict, out_dir: Path) -> list[Path]:
    """Every chart of benchmark ``name``; returns the PNG paths (``<name>.png`` first)."""
    return [save(fig, out_dir / file) for file, fig in FIGURES[name](payload).items()]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "benchmarks/out")
    for name in FIGURES:
        src = out / f"{name}.json"
        if src.exists():
            for path in draw(name, json.loads(src.read_text()), out):
                print(path, f"{path.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
