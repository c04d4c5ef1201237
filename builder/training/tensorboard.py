"""TensorBoard logs on every backend: the scalars of Keras' TensorBoard callback, and the run's hparams.

    logs/train/        epoch_loss, epoch_<metric>, epoch_learning_rate (epoch_learning_rate_<optimizer> when a
                       kind has one optimizer per network), one point per epoch
    logs/validation/   epoch_loss, epoch_<metric> on the validation data
    logs/              the hparams: the spec's params after --set, and the train settings under the dotted
                       names `--set` takes (train.batch_size, train.optimizer.learning_rate, ...)

The folders and tags are `keras.callbacks.TensorBoard`'s, but the files are written here, with
tensorboard's protobufs and its record writer on a plain file: Keras' callback writes through
`tf.summary`, so on JAX and PyTorch it imports TensorFlow (about 3 s) and fails where TensorFlow is
not installed, and tensorboard's own `EventFileWriter` imports TensorFlow too whenever it can (for
`tf.io.gfile`). One writer serves every backend.

No experiment config is written (TensorBoard expects one per --logdir, not one per run): the
HParams tab then gathers the hparams of every run under `tensorboard --logdir runs/`, and takes each
run's last train and validation scalars (the final metrics) as its metric columns.

Public entry point: `tensorboard_log(run, graph, train, epochs, batch_size)` -> [TensorBoardLog], or []
where the tensorboard package is not installed.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import socket
import time
from pathlib import Path

import keras

_file_numbers = itertools.count()   # two files of one process opened in the same second still differ


def tensorboard_log(run, graph, train, epochs: int, batch_size: int) -> list:
    """The run's TensorBoard callback; `epochs` and `batch_size` as the run uses them (after --epochs, --batch-size)."""
    if importlib.util.find_spec("tensorboard") is None:
        return []
    # the trial is the run folder's whole path: folder names repeat (a search's trial-0001 in every study)
    return [TensorBoardLog(run.logs, hparams(graph, train, epochs, batch_size), trial=str(run.path.resolve()))]


def hparams(graph, train, epochs: int, batch_size: int) -> dict:
    """The spec's params (after --set) and the train settings, as TensorBoard's HParams tab shows them."""
    optimizer = train.optimizer
    rate = None if isinstance(optimizer, str) else optimizer.learning_rate
    values = {"spec": graph.name} | dict(graph.params) | {
        "train.kind": train.kind,
        "train.optimizer.type": optimizer if isinstance(optimizer, str) else optimizer.type,
        "train.optimizer.learning_rate": rate.model_dump(exclude_none=True) if hasattr(rate, "model_dump") else rate,
        "train.loss": _plain(train.loss),
        "train.batch_size": batch_size,
        "train.epochs": epochs,
        "train.seed": train.seed,
    }
    return {name: _hparam_value(value) for name, value in values.items() if value is not None}


def _plain(value):
    """A loss as written: with arguments (a pydantic model), its mapping; per output, each."""
    if hasattr(value, "model_dump"):
        return value.model_dump()
    return {key: _plain(one) for key, one in value.items()} if isinstance(value, dict) else value


def _hparam_value(value):
    """A number, text or bool as it is; anything else (a schedule, a loss per output, a list) as JSON text."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, sort_keys=True, default=str)


class EventFile:
    """One TensorBoard event file in `folder`, written synchronously and flushed after every event."""

    def __init__(self, folder: Path):
        from tensorboard.summary.writer.record_writer import RecordWriter

        folder.mkdir(parents=True, exist_ok=True)
        # the name tensorboard's own writer gives: TensorBoard reads a folder's files in name order
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{next(_file_numbers)}"
        self.handle = (folder / name).open("wb")
        self.records = RecordWriter(self.handle)
        self.write(file_version="brain.Event:2")

    def write(self, **fields) -> None:
        from tensorboard.compat.proto import event_pb2

        self.records.write(event_pb2.Event(wall_time=time.time(), **fields).SerializeToString())
        self.handle.flush()   # a TensorBoard watching the run sees each epoch as it ends

    def close(self) -> None:
        self.handle.close()


class TensorBoardLog(keras.callbacks.Callback):
    """Per-epoch scalars under `folder`/train and `folder`/validation, and the hparams once under `folder`."""

    def __init__(self, folder: Path, hparams: dict, trial: str):
        super().__init__()
        self.folder = Path(folder)
        self.hparams = dict(hparams)
        self.trial = trial               # one row per run in the HParams tab, even where two runs' hparams agree
        self.hparams_written = False     # once per run: a run in phases calls fit once per phase
        self.files: dict[str, EventFile] = {}

    def on_train_begin(self, logs=None):
        if self.hparams_written:
            return
        from tensorboard.plugins.hparams.summary_v2 import hparams_pb

        values = dict(self.hparams)
        rates = _learning_rates(self.model)
        if "train.optimizer.learning_rate" not in values and list(rates) == ["learning_rate"]:
            # the optimizer's own default, at float32's precision (0.001, not 0.0010000000474974513)
            values["train.optimizer.learning_rate"] = float(f"{rates['learning_rate']:.7g}")
        self._file("").write(summary=hparams_pb(values, trial_id=self.trial, start_time_secs=time.time()))
        self.hparams_written = True

    def on_epoch_end(self, epoch, logs=None):
        from tensorboard.plugins.scalar.summary_v2 import scalar_pb

        logs = dict(logs or {})
        train = {key: value for key, value in logs.items() if not key.startswith("val_")} | _learning_rates(self.model)
        validation = {key[4:]: value for key, value in logs.items() if key.startswith("val_")}
        for group, values in (("train", train), ("validation", validation)):
            for name, value in values.items():
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    continue   # not a number (Keras logs only numbers; a kind's extra entry might not be)
                self._file(group).write(step=epoch, summary=scalar_pb(f"epoch_{name}", value))

    def on_train_end(self, logs=None):
        for file in self.files.values():
            file.close()
        self.files = {}   # the next phase's fit writes new files beside these

    def _file(self, group: str) -> EventFile:
        if group not in self.files:
            self.files[group] = EventFile(self.folder / group if group else self.folder)
        return self.files[group]


def _learning_rates(model) -> dict:
    """The optimizer's current learning rate, named as Keras' TensorBoard callback names it."""
    optimizer = getattr(model, "optimizer", None)
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)   # under mixed precision's LossScaleOptimizer
    try:
        if hasattr(optimizer, "optimizers"):   # one per network (builder.training.kinds.stepping.NetworkOptimizers)
            return {f"learning_rate_{each.name}": float(keras.ops.convert_to_numpy(each.learning_rate))
                    for each in optimizer.optimizers}
        if isinstance(optimizer, keras.optimizers.Optimizer):
            return {"learning_rate": float(keras.ops.convert_to_numpy(optimizer.learning_rate))}
    except (TypeError, ValueError, AttributeError):
        pass   # a learning rate that is no number: the scalars go on without it
    return {}
