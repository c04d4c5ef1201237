"""Run folders: where a training run keeps everything needed to reopen, resume, evaluate and predict.

    runs/<name>-<YYYYmmdd-HHMMSS>/
      spec.yaml        the spec exactly as run
      run.json         how it was started: spec folder, overrides, backend, versions
      model.keras      the final model (the one `fit` trained)
      models/          each model of a several-model spec (generator, discriminator, ...)
      checkpoints/     last.keras, written atomically after every epoch
      backup/          Keras BackupAndRestore state, for --resume
      history.csv      one row per epoch, metrics under their Keras names
      metrics.png      the history, plotted
      diagram.svg      the architecture (when Graphviz is installed)
      logs/            TensorBoard logs (TensorFlow backend)
      summary.json     final metrics, epochs done, wall time, samples/s, device, status
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

from builder.errors import Location, SpecError


@dataclass(frozen=True)
class RunFolder:
    path: Path

    spec = property(lambda self: self.path / "spec.yaml")
    info = property(lambda self: self.path / "run.json")
    model = property(lambda self: self.path / "model.keras")
    models = property(lambda self: self.path / "models")
    checkpoint = property(lambda self: self.path / "checkpoints" / "last.keras")
    backup = property(lambda self: self.path / "backup")
    history = property(lambda self: self.path / "history.csv")
    plot = property(lambda self: self.path / "metrics.png")
    diagram = property(lambda self: self.path / "diagram.svg")
    logs = property(lambda self: self.path / "logs")
    summary = property(lambda self: self.path / "summary.json")

    @classmethod
    def create(cls, root: Path, name: str) -> "RunFolder":
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path(root) / f"{name}-{stamp}"
        suffix = 1
        while path.exists():
            suffix += 1
            path = Path(root) / f"{name}-{stamp}-{suffix}"
        (path / "checkpoints").mkdir(parents=True)
        return cls(path)

    @classmethod
    def open(cls, path: str | Path) -> "RunFolder":
        run = cls(Path(path))
        if not run.info.exists() or not run.spec.exists():
            raise SpecError.single(Location(str(path)), "not a run folder (no run.json and spec.yaml)",
                                   "give a folder that `builder train` created under runs/")
        return run

    def read_info(self) -> dict:
        return json.loads(self.info.read_text())

    def write_json(self, path: Path, data: dict) -> None:
        write_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=_jsonable) + "\n")


def _jsonable(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file and rename, so a crash never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_history(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    out = []
    for row in rows:
        parsed = {}
        for key, value in row.items():
            try:
                parsed[key] = float(value)
            except (TypeError, ValueError):
                parsed[key] = value
        out.append(parsed)
    return out


def plot_history(history: list[dict], path: Path, title: str) -> Path | None:
    """One panel per metric, training and validation curves together."""
    if not history:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in history[0] if k not in ("epoch", "learning_rate") and not k.startswith("val_")]
    if not keys:
        return None
    epochs = [int(row.get("epoch", i)) + 1 for i, row in enumerate(history)]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for name, style in ((key, "-"), (f"val_{key}", "--")):
            values = [row.get(name) for row in history]
            if all(isinstance(v, float) and math.isfinite(v) for v in values):
                ax.plot(epochs, values, style, marker="o", markersize=3, label=name)
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
