"""Run folders: where a training run keeps everything needed to reopen, resume, evaluate and predict.

    runs/<name>-<YYYYmmdd-HHMMSS>/
      spec.yaml        the spec exactly as run
      run.json         how it was started: spec folder, overrides, backend, versions
      model.keras      the final model (the one `fit` trained)
      models/          each model of a several-model spec (generator, discriminator, ...)
      checkpoints/     last.keras, written atomically after an epoch with finite losses (at most
                       every 30 s, and when training ends)
      backup/          Keras BackupAndRestore state, for --resume
      history.csv      one row per epoch, metrics under their Keras names
      metrics.png      the history, plotted
      diagram.svg      the architecture (when Graphviz is installed)
      logs/            TensorBoard logs (TensorFlow backend)
      summary.json     final metrics, epochs done, wall time, samples/s, device, status
      data.json        the input transform the data source applied (scaling, vocabulary, classes)

`RunFolder` is the layout; the readers below reopen what a run wrote (its graph, data, models and
transform) for resume, transfer, and the commands in `builder.runs`.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from builder.errors import Location, SpecError
from builder.graph import Graph, load_graph
from builder.language.spec import TrainSpec

if TYPE_CHECKING:
    from builder.training.data import Dataset


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


# --- reading a run back -------------------------------------------------------------------------------

def save_spec_models(models: dict, run: RunFolder) -> None:
    """Every model of the spec on its own (generator, discriminator, encoder, ...), for `generate`."""
    if len(models) < 2:
        return
    run.models.mkdir(exist_ok=True)
    for name, model in models.items():
        model.save(run.models / f"{name}.keras")


def load_run_models(run: RunFolder) -> dict:
    """The trained spec models by name (one-model specs: the final model under the spec's model name)."""
    import keras

    from builder.training import backends

    if run.models.is_dir():
        return {path.stem: backends.adapter().reopened(keras.models.load_model(path))
                for path in sorted(run.models.glob("*.keras"))}
    model = load_run_model(run)
    return {model.name: model}


def load_run_model(run: RunFolder):
    """The run's final model, or its last checkpoint if it never finished (safe_mode stays on)."""
    import keras

    from builder.training import backends

    path = run.model if run.model.exists() else run.checkpoint
    if not path.exists():
        raise SpecError.single(Location(str(run.path)), "this run has no model yet (not even a checkpoint)")
    return backends.adapter().reopened(keras.models.load_model(path))


def run_graph(run: RunFolder) -> Graph:
    """The run's spec, resolved with the overrides it ran with."""
    return load_graph(run.spec, run.read_info().get("overrides") or {})


def run_data(run: RunFolder, data_path: Path | None = None) -> tuple[Graph, Dataset]:
    """The run's spec and its data, split exactly as in training (same seed)."""
    from builder.training.data import load_data

    info = run.read_info()
    graph = run_graph(run)
    train_spec = graph.spec.train or TrainSpec()
    data_spec = train_spec.data
    path = data_path or (Path(info["data_path"]) if info.get("data_path") else None)
    if path is not None and hasattr(data_spec, "path"):
        data_spec = data_spec.model_copy(update={"path": str(Path(path).resolve())})
    data = load_data(data_spec, Path(info["spec_dir"]), graph.locate("train", "data"), train_spec.seed)
    return graph, data


def read_transform(run: RunFolder) -> dict:
    """What the data source did to the inputs (data.json), for predict and the samplers; {} if nothing."""
    path = run.path / "data.json"
    return json.loads(path.read_text()) if path.exists() else {}
