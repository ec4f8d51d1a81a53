"""What a training run writes beside its checkpoints: ``metrics.jsonl`` (one JSON line per
epoch), ``steps.jsonl`` (the loss of every step), ``config.json`` and ``metrics.png``.

Only the primary process (process 0) writes; the others hold a writer that does nothing.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from pathlib import Path

# train and test in every chart: matplotlib's tab:blue and tab:orange (distinct also for
# red-green colour blindness) and two marker shapes
STYLES = {
    "train": dict(color="#1f77b4", marker="o", label="train (mean over the epoch)"),
    "test": dict(color="#ff7f0e", marker="s", label="test (after the epoch)"),
}


def _write_atomic(path: Path, data: str | bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    os.replace(tmp, path)


def _jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def metrics_figure(history: list[dict]):
    """A matplotlib Figure of train/test loss (nats) and accuracy (%) per epoch, in two
    panels, with one legend below both, outside the data (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    epochs = [r["epoch"] for r in history]
    fig = Figure(figsize=(10, 4.4), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    for split, style in STYLES.items():
        ax_loss.plot(epochs, [r[f"{split}_loss"] for r in history], **style)
        ax_acc.plot(epochs, [100 * r[f"{split}_accuracy"] for r in history], **style)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss (nats)", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    handles, labels = ax_loss.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False)
    return fig


def plot_metrics(history: list[dict], path) -> None:
    """Write :func:`metrics_figure` of ``history`` (metrics.jsonl's records) as a PNG."""
    buf = io.BytesIO()
    metrics_figure(history).savefig(buf, format="png", dpi=100)
    _write_atomic(Path(path), buf.getvalue())


class MetricsWriter:
    """The files of one work dir; does nothing unless ``primary``."""

    def __init__(self, workdir: Path, primary: bool) -> None:
        self.workdir, self.primary = Path(workdir), primary
        self.metrics_path = self.workdir / "metrics.jsonl"
        self.steps_path = self.workdir / "steps.jsonl"

    def start(self, config) -> None:
        """A new run: empty metrics, the config as JSON."""
        if self.primary:
            _write_atomic(self.metrics_path, "")
            _write_atomic(self.steps_path, "")
            config_json = json.dumps(dataclasses.asdict(config), indent=2) + "\n"
            _write_atomic(self.workdir / "config.json", config_json)

    def rewind(self, history: list[dict], step: int) -> None:
        """A resumed run: drop what was logged after the checkpoint (it is redone now)."""
        if self.primary:
            _write_atomic(self.metrics_path, _jsonl(history))
            kept = []
            lines = self.steps_path.read_text().splitlines() if self.steps_path.exists() else []
            for line in lines:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    break  # a line cut short by a kill: everything after it is gone too
                if record["step"] <= step:
                    kept.append(record)
            _write_atomic(self.steps_path, _jsonl(kept))

    def write_steps(self, records: list[dict]) -> None:
        if self.primary and records:
            with open(self.steps_path, "a") as f:
                f.write(_jsonl(records))

    def write_epoch(self, record: dict, history: list[dict]) -> None:
        """Append the epoch's record and redraw the chart of ``history``."""
        if self.primary:
            with open(self.metrics_path, "a") as f:
                f.write(_jsonl([record]))
            plot_metrics(history, self.workdir / "metrics.png")
