"""The Keras callbacks every run has: checkpoint, backup for resume, history, NaN guard, throughput.

Public entry points: `EpochCheckpoint`, `ThrottledBackup`, `HistoryLog`, `StopOnNonFinite`,
`Throughput`, and `losses_finite(logs)`.
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import sys
import time
from pathlib import Path

import keras
import numpy as np

from builder.training.run_folder import save_model


def losses_finite(logs) -> bool:
    """Whether every loss in the logs is finite: `loss`, and the `*_loss` of kinds with several (g_loss, d_loss)."""
    for key, value in (logs or {}).items():
        if (key == "loss" or key.endswith("_loss")) and not key.startswith("val_") and value is not None:
            if not math.isfinite(float(value)):
                return False
    return True


class EpochCheckpoint(keras.callbacks.Callback):
    """The whole model, saved atomically after an epoch whose loss is finite: at most every `interval` s.

    A save costs tens of milliseconds, as much as a whole epoch of a small model, so fast epochs are
    not saved one by one: the weights of the last good epoch that was not saved are kept in memory
    (one copy; a model whose epochs take longer than `interval` is saved every epoch and never
    copied), and saved when training ends, so a loss that turns NaN later leaves the last good epoch
    on disk, not an older one. Resume does not need this file (it uses `ThrottledBackup`'s);
    `evaluate` and `predict` on an unfinished run do.
    """

    def __init__(self, path: Path, interval: float = 30.0):
        super().__init__()
        self.path = Path(path)
        self.interval = interval
        self.saved_at = -math.inf
        self.unsaved = None      # the weights of the last good epoch, when it was not saved

    def on_epoch_end(self, epoch, logs=None):
        if not losses_finite(logs):
            return               # the last good epoch stays what on_train_end saves
        if time.monotonic() - self.saved_at >= self.interval:
            self._save()
            self.unsaved = None
        else:
            self.unsaved = self.model.get_weights()

    def on_train_end(self, logs=None):
        if self.unsaved is not None:
            self.model.set_weights(self.unsaved)   # a NaN since the last good epoch is not what is kept
            self._save()
            self.unsaved = None

    def _save(self):
        save_model(self.model, self.path)   # e.g. a full disk: the earlier checkpoint stays, the partial file goes
        self.saved_at = time.monotonic()


class ThrottledBackup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` that spends at most about 1/`share` of the training time on backups.

    An epoch is backed up when the time since the last backup is at least `share` times what that
    backup took (the first epoch always is). A backup writes every weight and the optimizer's state,
    50-80 ms for a 100k-parameter model on a CPU, and on an H100 that cost about a fifth of a small
    ResNet's or transformer's epoch. So slow epochs are still backed up one by one and fast ones every
    few epochs; a kill loses at most one epoch or `share` backups' time, whichever is more, and resume
    continues from the last backed-up epoch (`HistoryLog` drops the rows after it).
    """

    def __init__(self, backup_dir: str, share: float = 20.0, **kwargs):
        super().__init__(backup_dir, **kwargs)
        self.share = share
        self.saved_at: float | None = None
        self.cost = 0.0
        self.pending = False    # an epoch finished and not backed up

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch, self._last_batch_seen = epoch + 1, 0
        self.pending = True
        if self.saved_at is None or time.monotonic() - self.saved_at >= self.share * self.cost:
            self._backup()

    def on_train_end(self, logs=None):
        if self.pending and not self.delete_checkpoint:   # a phase ends: the next one starts from here
            self._backup()
        super().on_train_end(logs)

    def on_train_begin(self, logs=None):
        try:
            super().on_train_begin(logs)   # (Keras falls back to the .bkp pair itself only for an OSError)
        except (OSError, ValueError, KeyError):
            if self._restore_previous():
                return
            # killed during the first backup: a half-written file and no earlier copy to fall back on.
            # Nothing finished was backed up, so the run starts over (HistoryLog drops its rows).
            shutil.rmtree(self.backup_dir, ignore_errors=True)
            self.model._initial_epoch = 0
            print(f"warning: the backup in {self.backup_dir} was cut short before it held an epoch; "
                  "starting from the first epoch", file=sys.stderr)

    def _restore_previous(self) -> bool:
        """The backup before the last (double_checkpoint's .bkp pair), when the last one cannot be read."""
        pairs = ((self._prev_weights_path, self._weights_path),
                 (self._prev_training_metadata_path, self._training_metadata_path))
        if not all(os.path.exists(previous) for previous, _ in pairs):
            return False
        for previous, latest in pairs:
            shutil.copyfile(previous, latest)
        try:
            self._load_model()
        except (OSError, ValueError, KeyError):
            return False
        print(f"warning: the last backup in {self.backup_dir} could not be read; resuming from the one before",
              file=sys.stderr)
        return True

    def _backup(self):
        started = time.monotonic()
        self._save_model()
        self.saved_at = time.monotonic()
        self.cost, self.pending = self.saved_at - started, False


class HistoryLog(keras.callbacks.Callback):
    """history.csv: one row per finished epoch, always consistent with the backup a resume starts from.

    The row of an epoch is written before its backup (the callback comes first), so a kill between
    the two leaves the history one row ahead, never behind; on the first epoch of every `fit` the
    rows of that epoch and later are dropped: a resumed run neither skips nor repeats an epoch.
    """

    def __init__(self, path: Path):
        super().__init__()
        self.path = Path(path)
        self.fields: list[str] | None = None
        self.started = False
        self.phase: int | None = None    # the phase of a multi-phase run (`train.phases`), 1-based

    def on_train_begin(self, logs=None):
        self.started = False

    def on_epoch_begin(self, epoch, logs=None):
        if self.started:
            return
        self.started = True
        if not self.path.exists():
            return
        with self.path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            self.fields = reader.fieldnames
            kept = [row for row in reader if _epoch_of(row) < epoch]
        tmp = self.path.with_name("partial-" + self.path.name)
        with tmp.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.fields)
            writer.writeheader()
            writer.writerows(kept)
        os.replace(tmp, self.path)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        new = not self.path.exists() or not self.fields
        if new:
            self.fields = ["epoch"] + (["phase"] if self.phase is not None else []) + sorted(logs)
        with self.path.open("a" if not new else "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.fields, restval="", extrasaction="ignore")
            if new:
                writer.writeheader()
            phase = {"phase": self.phase} if self.phase is not None else {}
            writer.writerow({"epoch": epoch} | phase | {key: _number(value) for key, value in logs.items()})


def _epoch_of(row: dict) -> float:
    try:
        return float(row.get("epoch", ""))
    except ValueError:
        return math.inf


def _number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


class StopOnNonFinite(keras.callbacks.Callback):
    """Stops at the first NaN or infinite loss and remembers where, instead of training on garbage."""

    def __init__(self):
        super().__init__()
        self.where: tuple[int, int] | None = None
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if not losses_finite(logs):
            self.where = (self.epoch + 1, batch + 1)
            self.model.stop_training = True


class Throughput(keras.callbacks.Callback):
    """Samples per second per epoch; the first epoch (tracing, compilation) is reported apart."""

    def __init__(self, samples: int):
        super().__init__()
        self.samples = samples
        self.epoch_seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.perf_counter() - self.start)

    def samples_per_second(self) -> float | None:
        times = self.epoch_seconds[1:] or self.epoch_seconds
        return self.samples / float(np.median(times)) if times else None
