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
from typing import Any

# train and test in every chart: the same two colours (matplotlib's tab:blue and
# tab:orange, distinct also for red-green colour blindness) and two marker shapes.
COLOURS = {"train": "#1f77b4", "test": "#ff7f0e"}
MARKERS = {"train": "o", "test": "s"}
LABELS = {"train": "train (mean over the epoch)", "test": "test (after the epoch)"}


def _write_atomic(path: Path, data: str | bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    os.replace(tmp, path)


def read_jsonl(path) -> list[dict]:
    """The records of a JSON-lines file, up to the first line cut short by a kill."""
    records = []
    path = Path(path)
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut short by a kill: everything after it is gone too
    return records


def metrics_figure(history: list[dict]):
    """A matplotlib Figure of train/test loss and accuracy per epoch (Agg backend).

    Two panels, loss (nats) and accuracy (%), over epochs; train and test in the colours
    and markers of :data:`COLOURS` and :data:`MARKERS`; one legend below both panels,
    outside the data.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    epochs = [r["epoch"] for r in history]
    fig = Figure(figsize=(10, 4.4), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    for split in ("train", "test"):
        style = dict(color=COLOURS[split], marker=MARKERS[split], label=LABELS[split])
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
        self.workdir = Path(workdir)
        self.primary = primary
        self.metrics_path = self.workdir / "metrics.jsonl"
        self.steps_path = self.workdir / "steps.jsonl"
        self.plot_path = self.workdir / "metrics.png"
        self._steps_file: Any = None

    def start(self, config) -> None:
        """A new run: empty metrics, the config as JSON."""
        if self.primary:
            _write_atomic(self.metrics_path, "")
            _write_atomic(self.steps_path, "")
            _write_atomic(
                self.workdir / "config.json",
                json.dumps(dataclasses.asdict(config), indent=2) + "\n",
            )

    def rewind(self, history: list[dict], step: int) -> None:
        """A resumed run: drop what was logged after the checkpoint (it is redone now)."""
        if self.primary:
            _write_atomic(self.metrics_path, "".join(json.dumps(r) + "\n" for r in history))
            kept = [r for r in read_jsonl(self.steps_path) if r["step"] <= step]
            _write_atomic(self.steps_path, "".join(json.dumps(r) + "\n" for r in kept))

    def write_steps(self, records: list[dict]) -> None:
        if self.primary and records:
            if self._steps_file is None:
                self._steps_file = open(self.steps_path, "a")
            self._steps_file.write("".join(json.dumps(r) + "\n" for r in records))
            self._steps_file.flush()

    def write_epoch(self, record: dict, history: list[dict]) -> None:
        """Append the epoch's record and redraw the chart of ``history``."""
        if self.primary:
            with open(self.metrics_path, "a") as f:
                f.write(json.dumps(record) + "\n")
            plot_metrics(history, self.plot_path)

    def __enter__(self) -> MetricsWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._steps_file is not None:
            self._steps_file.close()
            self._steps_file = None
