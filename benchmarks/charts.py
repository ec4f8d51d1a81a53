"""The benchmark charts (matplotlib, Agg backend), one function per PNG.

Every function takes the JSON payload a benchmark wrote (``benchmarks/out/<name>.json``)
and a path, so a chart can be redrawn from a saved run without timing anything again::

    .venv/bin/python -m benchmarks.charts benchmarks/out    # redraw every chart there
"""

from __future__ import annotations

import json
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
}
FRAMEWORK_STYLE = {"jaxloss": "-", "torch": "--", "optax": ":"}
MAX_CHART_BYTES = 200_000  # charts are committed next to RESULTS.md


def family_of(loss: str) -> str:
    for family, members in LOSS_FAMILIES.items():
        if loss in members:
            return family
    return "other"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    _pyplot().close(fig)
    return path


def loss_speedup(payload: dict, path: Path) -> Path:
    """torch eager time / jaxloss time per loss vs elements (value | value+grad)."""
    plt = _pyplot()
    rows = payload["rows"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
    for ax, mode in zip(axes, ("value", "value+grad")):
        for name in dict.fromkeys(r["loss"] for r in rows):
            pts = sorted(
                (r["elements"], r["torch_over_jaxloss"])
                for r in rows
                if r["loss"] == name and r["mode"] == mode
            )
            if pts:
                ax.plot(*zip(*pts), marker="o", ms=3, lw=1, label=name)
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("elements of the input")
        ax.set_title(f"{mode}: torch eager time / jaxloss time (median)")
    axes[0].set_ylabel("speed-up of jaxloss (> 1: faster)")
    axes[1].legend(fontsize=6, ncol=2, loc="best")
    return _save(fig, path)


def loss_family(payload: dict, family: str, path: Path) -> Path:
    """Log-log time per call vs elements for one loss family: jaxloss solid, torch dashed
    (optax dotted where it has the function), median with the min as a lower whisker."""
    plt = _pyplot()
    rows = [r for r in payload["rows"] if family_of(r["loss"]) == family]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
    names = list(dict.fromkeys(r["loss"] for r in rows))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    bw = payload.get("roofline", {}).get("peak_gbps")
    for ax, mode in zip(axes, ("value", "value+grad")):
        for i, name in enumerate(names):
            sel = sorted(
                (r for r in rows if r["loss"] == name and r["mode"] == mode),
                key=lambda r: r["elements"],
            )
            if not sel:
                continue
            for fw, style in FRAMEWORK_STYLE.items():
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
                    ls=style,
                    marker="o" if fw == "jaxloss" else ".",
                    ms=3,
                    lw=1,
                    capsize=0,
                    color=colors[i % len(colors)],
                    label=f"{name} ({fw})",
                )
        if bw and family != "sequence" and any(r["elements"] >= 10_000 for r in rows):
            # time to move the bytes of the inputs (and the gradient) at the measured bandwidth
            grid = sorted({r["elements"] for r in rows if r["elements"] >= 10_000})
            per = 12.0 if mode == "value+grad" else 8.0
            ax.plot(
                grid,
                [x * per / (bw * 1e9) for x in grid],
                color="0.6",
                lw=2,
                alpha=0.5,
                label=f"{per:.0f} B/element at {bw:.0f} GB/s",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("elements of the (first) input")
        ax.set_title(f"{family}: {mode}")
        ax.grid(True, which="major", lw=0.3)
    axes[0].set_ylabel("time per call (s): median, whisker to min")
    axes[1].legend(fontsize=6, ncol=2, loc="upper left")
    fig.suptitle("jaxloss (jit, solid) vs torch eager (dashed) vs optax (dotted)", fontsize=9)
    return _save(fig, path)


def tudui_scaling(payload: dict, path: Path) -> Path:
    """Tudui training images/s vs batch size, one line per framework (median, min band)."""
    plt = _pyplot()
    rows = sorted(payload["rows"], key=lambda r: r["batch"])
    frameworks = list(dict.fromkeys(k for r in rows for k in r["images_per_s"]))
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for fw in frameworks:
        pts = [
            (r["batch"], r["images_per_s"][fw], r["batch"] / r["timings"][fw]["min_s"])
            for r in rows
            if fw in r["images_per_s"]
        ]
        xs, med, best = zip(*pts)
        (line,) = ax.plot(xs, med, marker="o", ms=4, label=f"{fw} (median)")
        ax.plot(xs, best, ls=":", color=line.get_color(), lw=1, label=f"{fw} (best round)")
    peak = payload.get("roofline", {}).get("peak_gflops")
    if peak:
        ax.axhline(
            peak * 1e9 / payload["train_flops_per_image"],
            color="0.5",
            lw=0.8,
            ls="--",
            label=f"fp32 matmul peak ({peak:.0f} GFLOP/s)",
        )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("training images/s")
    ax.set_title("Tudui training step (fp32, forward + backward + SGD)")
    ax.grid(True, which="major", lw=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)


def roofline(payload: dict, path: Path) -> Path:
    plt = _pyplot()
    r = payload["roofline"]
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.5))
    panels = (("matmul_gflops", "fp32 matmul GFLOP/s"), ("bandwidth_gbps", "triad GB/s"))
    for ax, (key, label) in zip(axes, panels):
        names = list(r[key])
        ax.bar(names, [r[key][n] for n in names], color=["tab:blue", "tab:orange"][: len(names)])
        ax.set_title(label)
        for i, n in enumerate(names):
            ax.annotate(f"{r[key][n]:.0f}", (i, r[key][n]), ha="center", va="bottom")
    fig.suptitle("Roofline reference")
    return _save(fig, path)


def linear_cross_entropy(payload: dict, path: Path) -> Path:
    """linear_cross_entropy value+grad per LLM-head shape: temporary memory and wall time,
    one bar per implementation (benchmarks/bench_linear_cross_entropy.py's JSON)."""
    plt = _pyplot()
    rows = payload["rows"]
    shapes = list(dict.fromkeys((r["N"], r["D"], r["V"]) for r in rows))
    impls = list(dict.fromkeys(r["impl"] for r in rows))
    by = {(r["N"], r["D"], r["V"], r["impl"]): r for r in rows}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    width = 0.8 / len(impls)
    panels = (
        ("temp_bytes", 2**-20, "temporary memory (MiB, log)", "memory of value+grad"),
        ("time_s", 1.0, "wall time per call (s, log)", "time of value+grad"),
    )
    for ax, (key, scale, ylabel, title) in zip(axes, panels):
        for j, impl in enumerate(impls):
            xs, ys = [], []
            for i, shape in enumerate(shapes):
                r = by.get((*shape, impl))
                if r is not None and r.get(key):
                    xs.append(i + (j - (len(impls) - 1) / 2) * width)
                    ys.append(r[key] * scale)
            ax.bar(xs, ys, width, label=impl, color=f"C{j}")
        ax.set_xticks(range(len(shapes)), [f"{n}x{d}x{v}" for n, d, v in shapes], fontsize=7)
        ax.set_xlabel("N tokens x D in_features x V classes (float32)")
        ax.set_yscale("log")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, axis="y", which="major", lw=0.3)
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle("linear_cross_entropy (torch memory: peak RSS growth, incl. gradients)")
    return _save(fig, path)


def _losses(payload: dict, out: Path) -> list[Path]:
    paths = [loss_speedup(payload, out / "losses.png")]
    families = dict.fromkeys(family_of(r["loss"]) for r in payload["rows"])
    for family in families:
        paths.append(loss_family(payload, family, out / f"losses_{family}.png"))
    return paths


PLOTTERS: dict[str, Callable[[dict, Path], Any]] = {
    "roofline": lambda p, out: [roofline(p, out / "roofline.png")],
    "losses": _losses,
    "tudui": lambda p, out: [tudui_scaling(p, out / "tudui.png")],
    "linear_cross_entropy": lambda p, out: [
        linear_cross_entropy(p, out / "linear_cross_entropy.png")
    ],
}


def draw(name: str, payload: dict, out_dir: Path) -> list[Path]:
    """Every chart of benchmark ``name``; returns the PNG paths (``<name>.png`` first)."""
    return list(PLOTTERS[name](payload, out_dir))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "benchmarks/out")
    for name in PLOTTERS:
        src = out / f"{name}.json"
        if src.exists():
            for path in draw(name, json.loads(src.read_text()), out):
                print(path, f"{path.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
