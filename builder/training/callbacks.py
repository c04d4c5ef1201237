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

    Epochs are numbered from 1, as the console, the plot and summary.json count them (Keras' callbacks
    count from 0). The row of an epoch is written before its backup (the callback comes first), so a
    kill between the two leaves the history one row ahead, never behind; on the first epoch of every
    `fit` the rows of that epoch and later are dropped: a resumed run neither skips nor repeats an epoch.
    A history written before epochs counted from 1 (its first row is epoch 0) is renumbered then.
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
            rows = list(reader)
        if rows and _epoch_of(rows[0]) == 0:   # written when builder counted from 0: renumber
            rows = [row | {"epoch": str(int(_epoch_of(row)) + 1)} for row in rows if _epoch_of(row) < math.inf]
        kept = [row for row in rows if _epoch_of(row) <= epoch]   # epochs 1..epoch are done
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
            writer.writerow({"epoch": epoch + 1} | phase | {key: _number(value) for key, value in logs.items()})


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


class Progress(keras.callbacks.Callback):
    """What a long run says while it trains, beside Keras' own bar or epoch lines.

    - Piped (no terminal, `every_s` set): a line every `every_s` seconds inside an epoch, so a log shows a
      run that is alive (`epoch 1/12: step 120/1,240, loss 3.2100, 2.10 s a step, 39 min left in the epoch`).
    - Once, after the first steps (compilation excluded): a warning when the whole run would take longer
      than `warn_after_s` at the pace measured, with `hint`, the way to a smaller run.
    """

    def __init__(self, epochs: int, every_s: float | None = 30.0, warn_after_s: float = 3600.0,
                 hint: str = "", say=None, warn=None):
        super().__init__()
        self.epochs, self.every_s, self.warn_after_s, self.hint = epochs, every_s, warn_after_s, hint
        self.say = say or (lambda line: print(line, flush=True))
        self.warn = warn or (lambda line: print(f"warning: {line}", file=sys.stderr, flush=True))
        self.warned = False
        self.clock = time.perf_counter
        self.origin: tuple[float, int] | None = None   # (time, global step) after the first step

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.last_line = self.clock()

    def on_train_batch_end(self, batch, logs=None):
        steps = self.params.get("steps") or 0
        done = self.epoch * steps + batch + 1
        now = self.clock()
        if self.origin is None:   # the first step traces and compiles: the pace starts after it
            self.origin = (now, done)
            return
        seconds_a_step = (now - self.origin[0]) / max(1, done - self.origin[1])
        if not self.warned and steps and done - self.origin[1] >= 3 and now - self.origin[0] >= 2.0:
            self.warned = True
            left = seconds_a_step * (self.epochs * steps - done)
            if left > self.warn_after_s:
                self.warn(f"at this pace ({_duration(seconds_a_step)} a step) the run needs about "
                          f"{_duration(left)} more for {self.epochs} epoch{'s' * (self.epochs != 1)} of "
                          f"{steps:,} steps{'; ' + self.hint if self.hint else ''}")
        if self.every_s is not None and now - self.last_line >= self.every_s and steps:
            self.last_line = now
            loss = f", loss {float(logs['loss']):.4f}" if logs and "loss" in logs else ""
            self.say(f"epoch {self.epoch + 1}/{self.epochs}: step {batch + 1:,}/{steps:,}{loss}, "
                     f"{_duration(seconds_a_step)} a step, {_duration(seconds_a_step * (steps - batch - 1))} "
                     "left in the epoch")


def _duration(seconds: float) -> str:
    """3.2 ms, 2.10 s, 39 min, 5.3 h."""
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class KeepLearningRate:
    """A phase's own learning rate survives the backup's restore.

    Restoring a backup (BackupAndRestore, at the start of every `fit`) loads the optimizer's variables,
    its learning rate among them: at the start of a phase that is the rate of the phase before, and
    `train.phases[].learning_rate` would have no effect. `around(backup)` reads the rate the phase
    compiled with before the restore and sets it again after. A schedule is no variable and needs none.
    """

    def __init__(self):
        self.rate = None

    def around(self, backup) -> list:
        keeper = self

        class Before(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                keeper.rate = _rate_variable(self.model)
                keeper.rate = None if keeper.rate is None else float(keras.ops.convert_to_numpy(keeper.rate))

        class After(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                variable = _rate_variable(self.model)
                if variable is not None and keeper.rate is not None:
                    variable.assign(keeper.rate)

        return [Before(), backup, After()]


def _rate_variable(model):
    optimizer = getattr(model, "optimizer", None)
    rate = getattr(optimizer, "_learning_rate", None)
    return rate if isinstance(rate, keras.Variable) else None
