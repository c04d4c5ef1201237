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
      logs/            TensorBoard logs: train/ and validation/ scalars per epoch, the run's hparams
      summary.json     final metrics, epochs done, wall time, samples/s, device, status
      data.json        the input transform the data source applied (scaling, vocabulary, classes)

`RunFolder` is the layout; the readers below reopen what a run wrote (its graph, data, models and
transform) for resume, transfer, and the commands in `builder.runs`.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from builder import files
from builder.errors import Location, SpecError, show
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

    @contextlib.contextmanager
    def lock(self):
        """Hold the run folder for one process (an advisory lock on `.lock`, freed when the process ends)."""
        try:
            import fcntl
        except ImportError:   # not on POSIX: no lock, as before
            yield
            return
        with open(self.path / ".lock", "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise SpecError.single(Location(str(self.path)), f"this run is being trained by {holder}",
                                       "wait for it to finish (or stop it), then resume") from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"process {os.getpid()}")
            handle.flush()
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def read_info(self) -> dict:
        """run.json, checked: what the run was started with (spec folder, overrides, data path, ...)."""
        info = read_json(self.info)
        for key, kind in (("spec_dir", str), ("overrides", dict), ("data_path", str), ("init_path", str)):
            if info.get(key) is not None and not isinstance(info[key], kind):
                raise SpecError.single(Location(str(self.info)), f"damaged: {key} should be "
                                       f"{'a text' if kind is str else 'a mapping'}. Received: {show(info[key])}")
        info.setdefault("spec_dir", str(self.path))
        return info

    def write_json(self, path: Path, data: dict) -> None:
        write_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=_jsonable) + "\n")


def _jsonable(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file and rename, so a crash (or a full disk) never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def save_model(model, path: Path) -> None:
    """`model.save` through a partial file and a rename: a kill or a full disk never leaves half a model."""
    tmp = path.with_name("partial-" + path.name)
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None


def read_json(path: Path) -> dict:
    """A JSON object that builder wrote (run.json, summary.json, data.json, search.json), or a located error."""
    try:
        value = json.loads(files.read_text(path, files.MAX_JSON_BYTES))
    except files.FileProblem as problem:
        raise SpecError.single(Location(str(path)), problem.reason, problem.hint) from None
    except json.JSONDecodeError as exc:
        raise SpecError.single(Location(str(path), exc.lineno, exc.colno), f"damaged: not JSON ({exc.msg})",
                               "the run folder was edited or cut short; train again, or restore the file") from None
    if not isinstance(value, dict):
        raise SpecError.single(Location(str(path)), "damaged: expected a JSON object")
    return value


def open_model(path: Path):
    """`keras.models.load_model` on a file of a run folder, with safe_mode on, its archive checked first.

    A damaged, truncated or tampered file (or one that safe_mode refuses, such as a Lambda layer) is a
    located error naming it, never a traceback.
    """
    import zipfile

    import keras

    from builder.training import backends

    try:
        files.regular_file(path)
        with zipfile.ZipFile(path) as archive:   # a zip bomb says so before anything inflates
            unpacked = sum(info.file_size for info in archive.infolist())
            if unpacked > files.MAX_DATA_BYTES:
                raise SpecError.single(Location(str(path)), f"damaged: it unpacks to {unpacked:,} bytes, over the "
                                                            f"limit of {files.MAX_DATA_BYTES:,}")
    except files.FileProblem as problem:
        raise SpecError.single(Location(str(path)), problem.reason) from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise SpecError.single(Location(str(path)), f"damaged: not a Keras model file ({exc})",
                               "train again, or restore the file") from None
    try:
        model = keras.models.load_model(path)   # safe_mode=True: no Lambda, no arbitrary code
    except Exception as exc:   # the file is untrusted input: whatever Keras raises on it is the file's fault
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise SpecError.single(Location(str(path)), f"cannot open this model: {first}",
                               "the file is damaged, was edited, or holds code that safe_mode refuses") from None
    return backends.adapter().reopened(model)


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
    epochs = [int(row.get("epoch", i + 1)) for i, row in enumerate(history)]   # counted from 1
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
        save_model(model, run.models / f"{name}.keras")


def load_run_models(run: RunFolder) -> dict:
    """The trained spec models by name (one-model specs: the final model under the spec's model name)."""
    if run.models.is_dir():
        return {path.stem: open_model(path) for path in sorted(run.models.glob("*.keras"))}
    model = load_run_model(run)
    return {model.name: model}


def load_run_model(run: RunFolder):
    """The run's final model, or its last checkpoint if it never finished (safe_mode stays on)."""
    path = run.model if run.model.exists() else run.checkpoint
    if not path.exists():
        raise SpecError.single(Location(str(run.path)), "this run has no model yet (not even a checkpoint)")
    return open_model(path)


def run_graph(run: RunFolder) -> Graph:
    """The run's spec, resolved with the overrides it ran with."""
    return load_graph(run.spec, run.read_info().get("overrides") or {})


def run_data(run: RunFolder, data_path: Path | None = None) -> tuple[Graph, Dataset]:
    """The run's spec and its data, split exactly as in training (same seed)."""
    from builder.training.data import load_data

    info = run.read_info()
    graph = run_graph(run)
    train_spec = graph.spec.train or TrainSpec()
    path = data_path or (Path(info["data_path"]) if info.get("data_path") else None)
    given = path if hasattr(train_spec.data, "path") else None   # (a builtin set ignores --data, as it did)
    data = load_data(train_spec.data, Path(info["spec_dir"]), graph.locate("train", "data"), train_spec.seed,
                     given_path=given)
    return graph, data


def read_transform(run: RunFolder) -> dict:
    """What the data source did to the inputs (data.json), for predict and the samplers; {} if nothing."""
    path = run.path / "data.json"
    return read_json(path) if path.exists() else {}
