"""Stage 5, train: a resolved spec -> a run folder (see `builder.training.run_folder` for its layout).

Keras `fit` does the training; builder adds what a spec promises around it:
explicit optimizer, schedule, loss and metric objects from closed tables (no
`keras.*.get()` on user values), a data pipeline per backend, a checkpoint
written atomically, a backup of the training state so `--resume` (or a
restart after kill -9) continues from the last backed-up epoch, a clean stop on
Ctrl-C or a NaN loss that keeps the last good checkpoint, and a summary with
the metrics under their Keras names.

Training kinds live in `builder.training.kinds`, one module each, registered with
`@training_kind("name")`: a kind picks the model that trains and the
(inputs, targets) it sees, and may wrap it in a model with its own
`train_step` (GAN, WGAN-GP, diffusion).

Public entry points: `train(graph, spec_path, options)` and `resume(run, options)`, each -> `RunFolder`.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import signal
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

import builder
from builder.training import backends
from builder.training.backends.select import BackendError, check_distribute
from builder.training.backends import Distributed, SetupError, sample_count
from builder.model.compile import DEFAULT_MAX_PARAMS, CompiledModels, compile_graph
from builder.training.data import check_data_shapes, load_data
from builder.errors import Location, Problem, SpecError, show
from builder.training.kinds import KINDS
from builder.graph.ir import Graph
from builder.training.run_folder import RunFolder, plot_history, read_history, save_spec_models
from builder.language.spec import OptimizerSpec, ScheduleSpec, TrainSpec
from builder.training.transfer import apply_freeze


@dataclass
class TrainOptions:
    runs_root: Path = Path("runs")
    out: Path | None = None              # an exact run folder instead of runs/<name>-<time>
    epochs: int | None = None            # overrides train.epochs
    batch_size: int | None = None        # overrides train.batch_size
    data_path: Path | None = None        # overrides train.data.path
    init_path: Path | None = None        # overrides train.init.from (a run folder or a weights file)
    overrides: dict = field(default_factory=dict)
    max_params: int = DEFAULT_MAX_PARAMS
    verbose: int | None = None           # None: a progress bar on a terminal, one line per epoch otherwise
    diagram: bool = True
    distribute: str | None = None        # overrides train.distribute
    cluster: object = None               # builder.training.cluster.Cluster of a multi_worker run (else read from the
                                         # environment when the run needs it)
    callbacks: list = field(default_factory=list)  # extra Keras callbacks (builder.search.study: per-epoch pruning)


# --- optimizer, schedule, loss, metrics: closed tables, explicit constructors -------------------

OPTIMIZER_CLASSES = {name.lower(): name for name in (
    "SGD", "Adam", "AdamW", "Adamax", "Adagrad", "Adadelta", "Adafactor", "Ftrl", "Lamb", "Lion", "Nadam", "RMSprop")}


@keras.saving.register_keras_serializable(package="builder")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """Rises linearly from 0 to the wrapped schedule's value over `warmup_steps`, then follows it."""

    def __init__(self, schedule, warmup_steps: int):
        self.schedule = schedule
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        rate = self.schedule(keras.ops.maximum(step - self.warmup_steps, 0.0))
        return keras.ops.where(step < self.warmup_steps, rate * (step + 1.0) / self.warmup_steps, rate)

    def get_config(self):
        return {"schedule": keras.saving.serialize_keras_object(self.schedule), "warmup_steps": self.warmup_steps}

    @classmethod
    def from_config(cls, config):
        return cls(keras.saving.deserialize_keras_object(config["schedule"]), config["warmup_steps"])


def make_schedule(spec: ScheduleSpec, default_rate: float, steps_per_epoch: int, epochs: int):
    s = keras.optimizers.schedules
    rate = spec.initial_learning_rate or default_rate
    decay_steps = spec.decay_steps or max(1, steps_per_epoch * epochs - spec.warmup_steps)
    if spec.type == "cosine":
        # CosineDecay has its own warmup: from `initial_learning_rate` up to `warmup_target`
        if spec.warmup_steps:
            return s.CosineDecay(0.0, decay_steps, alpha=spec.alpha or 0.0, warmup_target=rate,
                                 warmup_steps=spec.warmup_steps)
        return s.CosineDecay(rate, decay_steps, alpha=spec.alpha or 0.0)
    if spec.type == "exponential":
        schedule = s.ExponentialDecay(rate, decay_steps, spec.decay_rate or 0.5)
    elif spec.type == "polynomial":
        schedule = s.PolynomialDecay(rate, decay_steps, spec.end_learning_rate or 0.0)
    elif spec.type == "inverse_time":
        schedule = s.InverseTimeDecay(rate, decay_steps, spec.decay_rate or 0.5)
    else:
        schedule = s.PiecewiseConstantDecay(spec.boundaries or [], spec.values or [rate])
    return LinearWarmup(schedule, spec.warmup_steps) if spec.warmup_steps else schedule


def make_optimizer(spec: OptimizerSpec | str, steps_per_epoch: int, epochs: int):
    if isinstance(spec, str):
        spec = OptimizerSpec(type=spec)
    cls = getattr(keras.optimizers, OPTIMIZER_CLASSES[spec.type])
    kwargs = dict(spec.args)
    default_rate = 0.01 if spec.type == "sgd" else 0.001
    if isinstance(spec.learning_rate, ScheduleSpec):
        kwargs["learning_rate"] = make_schedule(spec.learning_rate, default_rate, steps_per_epoch, epochs)
    elif spec.learning_rate is not None:
        kwargs["learning_rate"] = spec.learning_rate
    return cls(**kwargs)


def _loss(name: str):
    return getattr(keras.losses, name)  # `name` is one of the catalogue's closed list of losses


_METRIC_CLASSES = {"accuracy": "Accuracy", "auc": "AUC", "precision": "Precision", "recall": "Recall"}

# Losses and metrics of integer labels -> their twins on one-hot labels: what a run whose labels MixUp or CutMix
# made one-hot compiles, logged under the spec's names (history.csv keeps its columns).
ONE_HOT_TWINS = {"sparse_categorical_crossentropy": "categorical_crossentropy",
                 "sparse_categorical_accuracy": "categorical_accuracy",
                 "sparse_top_k_categorical_accuracy": "top_k_categorical_accuracy"}


def _metric(name: str, loss: str | None, one_hot: bool = False):
    if one_hot and name in ONE_HOT_TWINS:
        return keras.metrics.MeanMetricWrapper(getattr(keras.metrics, ONE_HOT_TWINS[name]), name=name)
    if name == "accuracy":
        # what Keras' "accuracy" string means for this loss, built explicitly
        if loss == "sparse_categorical_crossentropy":
            return keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        if loss == "binary_crossentropy":
            return keras.metrics.BinaryAccuracy(name="accuracy")
        if loss == "categorical_crossentropy":
            return keras.metrics.CategoricalAccuracy(name="accuracy")
        return keras.metrics.Accuracy(name="accuracy")
    if name in _METRIC_CLASSES:
        return getattr(keras.metrics, _METRIC_CLASSES[name])(name=name)
    return getattr(keras.metrics, name)


def losses_and_metrics(train: TrainSpec, model: keras.Model, default_loss: str, one_hot: bool = False):
    """The loss and metric objects `compile` takes, by the spec's names.

    Args:
        train: the spec's `train` section (`loss`, `metrics`).
        model: the model that trains (its output names).
        default_loss: the kind's loss when the spec names none.
        one_hot: the labels were made one-hot (MixUp, CutMix): losses and metrics
            of integer labels become their `ONE_HOT_TWINS`, under the same names.
    """
    def twin(name):
        return ONE_HOT_TWINS.get(name, name) if one_hot else name

    outputs = model.output_names
    if isinstance(train.loss, dict):
        names = {out: twin(name) for out, name in train.loss.items()}
        loss = {out: _loss(names[out]) for out in outputs if out in names}
    else:
        name = twin(train.loss or default_loss)
        loss = _loss(name)
        names = {out: name for out in outputs}
    if isinstance(train.metrics, dict):
        metrics = {out: [_metric(m, names.get(out), one_hot) for m in ms] for out, ms in train.metrics.items()}
    else:
        first = names.get(outputs[0]) if outputs else None
        metrics = [_metric(m, first, one_hot) for m in train.metrics]
        if len(outputs) > 1:
            metrics = {out: [_metric(m, names.get(out), one_hot) for m in train.metrics] for out in outputs}
    return loss, metrics


# --- callbacks -------------------------------------------------------------------------------------

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
    not saved one by one; the last good epoch is saved when training ends. Resume does not need this
    file (it uses `ThrottledBackup`'s); `evaluate` and `predict` on an unfinished run do.
    """

    def __init__(self, path: Path, interval: float = 30.0):
        super().__init__()
        self.path = Path(path)
        self.interval = interval
        self.saved_at = -math.inf
        self.pending = False     # an epoch with finite losses not saved yet

    def on_epoch_end(self, epoch, logs=None):
        self.pending = losses_finite(logs)
        if self.pending and time.monotonic() - self.saved_at >= self.interval:
            self._save()

    def on_train_end(self, logs=None):
        if self.pending:
            self._save()

    def _save(self):
        tmp = self.path.with_name("partial-" + self.path.name)
        self.model.save(tmp)
        os.replace(tmp, self.path)
        self.saved_at, self.pending = time.monotonic(), False


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


# --- data pipelines -----------------------------------------------------------------------------------

def fit_arguments(x, y, x_val, y_val, batch_size: int, shuffle: bool, seed: int | None,
                  distributed: Distributed | None = None) -> dict:
    """NumPy arrays -> what `fit` takes on this backend (`builder.training.backends`).

    On TensorFlow, a cached, shuffled, prefetched `tf.data` pipeline; on JAX and
    PyTorch, `ArrayBatches`, a `keras.utils.PyDataset` with the same seeded
    shuffling, batching and prefetching, that also splits batches over the
    devices and processes of a distributed run.
    """
    return backends.adapter().fit_arguments(x, y, x_val, y_val, batch_size, shuffle, seed, distributed)


# --- the run -----------------------------------------------------------------------------------------------

def _device() -> str:
    return backends.adapter().device()


def distribution(graph: Graph, options: TrainOptions) -> Distributed:
    """Set up `train.distribute` (or `--distribute`) on this backend; before any computation, since a
    multi-process JAX run must join its cluster first."""
    train = graph.spec.train or TrainSpec()
    mode = options.distribute or train.distribute
    try:
        check_distribute(keras.backend.backend(), mode)
        if mode == "multi_worker" and options.cluster is None:
            from builder.training.cluster import resolve_cluster

            options.cluster = resolve_cluster()
    except BackendError as error:
        raise SpecError.single(graph.locate("train", "distribute"), str(error)) from None
    parallel = None
    if mode == "model_parallel":
        if train.model_parallel is None:
            raise SpecError.single(graph.locate("train", "distribute"), "distribute: model_parallel needs "
                                   "`model_parallel: {mesh: [data, model], shard: [node ids]}` under train")
        parallel = ModelParallelPlan(tuple(train.model_parallel.mesh), shard_targets(graph))
    try:
        return backends.adapter().distribute(mode, options.cluster, parallel, train.seed)
    except SetupError as error:
        raise SpecError.single(graph.locate("train", *error.where), str(error), error.hint) from None


@dataclass
class ModelParallelPlan:
    mesh: tuple
    targets: dict                 # each `shard` entry -> the node ids (Keras layer names) it selects

    @property
    def nodes(self) -> set:
        return set().union(*self.targets.values())


def shard_targets(graph: Graph) -> dict:
    """`train.model_parallel.shard` entries -> node ids: a node, a block instance, or every repeat of a block use."""
    from builder.errors import did_you_mean

    names: dict[str, set] = {}
    for mgraph in graph.models.values():
        for node in mgraph.nodes.values():
            if node.op == "layer":
                for name in (node.id, *(s.id for s in node.scopes), *(s.group for s in node.scopes if s.group)):
                    names.setdefault(name, set()).add(node.id)
    targets = {}
    for i, target in enumerate(graph.spec.train.model_parallel.shard):
        if target not in names:
            raise SpecError.single(graph.locate("train", "model_parallel", "shard", i),
                                   f"model_parallel.shard names {show(target)}, which is no layer node or block "
                                   f"instance of this spec", did_you_mean(target, list(names)))
        targets[target] = names[target]
    return targets


def _check_sharded(graph: Graph, distributed: Distributed) -> None:
    """Every `shard` entry split at least one weight (a Flatten has none; an odd last axis cannot split)."""
    handle = distributed.handle
    plan_targets = shard_targets(graph)
    for i, (target, nodes) in enumerate(plan_targets.items()):
        if not any(node in handle.sharded for node in nodes):
            raise SpecError.single(graph.locate("train", "model_parallel", "shard", i),
                                   f"{show(target)} has no weight whose last axis splits over the mesh's model "
                                   f"axis ({handle.model_size} devices)",
                                   "list nodes with weights (Dense, Conv, Embedding, ...) whose units or filters "
                                   "divide by the model axis")
    distributed.details["sharded_weights"] = sum(len(paths) for paths in handle.sharded.values())
    distributed.details["sharded_nodes"] = sorted(handle.sharded)


def resolve_steps_per_execution(train: TrainSpec, adapter, distributed: Distributed) -> int:
    """`steps_per_execution: auto`: the backend's measured default for plain `fit` steps on one device, else 1.

    Several batches per compiled call pay off on a CPU for small models (bench/RESULTS.md). Kinds with
    a step of their own (GANs, VAE, diffusion) keep 1, so their per-batch bookkeeping stays exact, and
    so do distributed runs: Keras 3.15's multi-step loop fails under tf.distribute.MirroredStrategy
    ("You must feed a value for placeholder tensor").
    """
    if train.steps_per_execution != "auto":
        return train.steps_per_execution
    plain = train.kind == "supervised" and distributed.mode == "one_device"
    return adapter.STEPS_PER_EXECUTION if plain else 1


class _Interrupted(Exception):
    pass


def run_training(graph: Graph, run: RunFolder, options: TrainOptions, spec_dir: Path,
                 distributed: Distributed | None = None) -> RunFolder:
    """Train into an existing run folder; resumes from its backup when there is one."""
    train = graph.spec.train or TrainSpec()
    phases = plan_phases(graph, train, options)
    epochs = phases[-1].end
    batch_size = options.batch_size or train.batch_size
    init_source = _init_source(train, options, spec_dir)
    if train.kind not in KINDS:
        raise SpecError.single(graph.locate("train", "kind"), f"training kind {train.kind!r} is not available "
                                                              "yet in this version of builder",
                               f"available: {', '.join(sorted(KINDS))}")
    if distributed is None:
        distributed = distribution(graph, options)
    adapter = backends.adapter()
    if distributed.even_batches and batch_size % distributed.data_parallel:
        n = distributed.data_parallel
        raise SpecError.single(graph.locate("train", "batch_size"), f"batch_size {batch_size} does not split "
                               f"evenly over {n} devices", f"use a multiple of {n}, e.g. {batch_size // n * n or n}")
    if (train.steps_per_execution not in ("auto", 1) and distributed.mode == "mirrored"
            and keras.backend.backend() == "tensorflow"):
        raise SpecError.single(graph.locate("train", "steps_per_execution"),
                               f"steps_per_execution {train.steps_per_execution} fails under "
                               "tf.distribute.MirroredStrategy in Keras 3.15 (its multi-step loop)",
                               "use steps_per_execution: 1 (or auto) with distribute: mirrored, or --backend jax")
    if train.seed is not None:
        adapter.set_seed(train.seed)
    # the validation split and the shuffling: every process of a multi-process run draws the same
    data_seed = train.seed if train.seed is not None else distributed.data_seed
    if train.mixed_precision != "off":
        keras.mixed_precision.set_global_policy(f"mixed_{train.mixed_precision}")
    data_spec = train.data
    if options.data_path is not None:
        if not hasattr(data_spec, "path"):
            raise SpecError.single(graph.locate("train", "data"), f"--data replaces train.data.path, but source "
                                                                  f"{data_spec.source!r} has no path")
        data_spec = data_spec.model_copy(update={"path": str(Path(options.data_path).resolve())})
    data = load_data(data_spec, spec_dir, graph.locate("train", "data"), data_seed)

    with distributed.scope():
        models = compile_graph(graph, options.max_params)
        if distributed.mode == "model_parallel":
            _check_sharded(graph, distributed)
        try:
            plan = KINDS[train.kind](graph, models, data)
        except ValueError as exc:
            raise SpecError.single(graph.locate("train", "kind"), str(exc)) from None
        if not plan.checked:
            check_data_shapes(graph, plan.model, plan.x)
        steps = max(1, math.ceil(sample_count(plan.x) / batch_size))
        steps_per_execution = resolve_steps_per_execution(train, adapter, distributed)
        init_report = None
        if init_source is not None:
            from builder.training.transfer import load_initial_weights

            init_report = load_initial_weights(graph, models[graph.main], train.init, init_source,
                                               lambda *path: graph.locate("train", *path), options.max_params)
            for line in init_report.lines():
                print(line)
        augment = None
        if train.augment:
            from builder.training.augment import augmentation

            augment = augmentation(train.augment, train.seed, lambda i: graph.locate("train", "augment", i, "type"))
            if augment.mixes_labels:   # MixUp, CutMix: the run trains and validates on one-hot labels
                plan.y, plan.y_val = augment.class_targets(plan.model, plan.x, plan.y, plan.y_val)
                plan.one_hot = True

    if options.diagram:
        _write_diagram(graph, models, run)
    guard, clock, log = StopOnNonFinite(), Throughput(sample_count(plan.x)), HistoryLog(run.history)
    callbacks = [EpochCheckpoint(run.checkpoint), guard, clock]   # after [log, the phase's backup], see below
    callbacks += adapter.callbacks(run)   # TensorBoard on TensorFlow
    callbacks += options.callbacks
    if train.early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(**train.early_stopping.model_dump()))
    if train.reduce_lr_on_plateau:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(**train.reduce_lr_on_plateau.model_dump()))
    verbose = options.verbose if options.verbose is not None else (1 if sys.stdout.isatty() else 2)

    status = "completed"
    started = time.perf_counter()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    done = _backup_epoch(run)   # epochs finished before an interruption (resume): their phases are done
    freezing, first = [], None
    try:
        arguments = fit_arguments(plan.x, plan.y, plan.x_val, plan.y_val, batch_size, data_spec.shuffle, data_seed,
                                  distributed)
        if augment is not None:
            arguments = adapter.augment_training(arguments, augment)
        for phase in phases:
            if phase.end <= done and phase is not phases[-1]:
                continue
            with distributed.scope():
                rate = phase.learning_rate if isinstance(phase.learning_rate, float) else None
                freezing.append({"phase": phase.number, "epochs": [phase.start, phase.end], "learning_rate": rate}
                                | apply_freeze(graph, models[graph.main], phase.frozen))
                _compile(plan, train, phase, steps, steps_per_execution)
            log.phase = phase.number if len(phases) > 1 else None
            plan.model._initial_epoch = None   # BackupAndRestore sets it, and Keras never clears it
            # keep the backup between phases (a resume picks the phase up); the last phase deletes it
            backup = ThrottledBackup(str(run.backup), double_checkpoint=True, delete_checkpoint=phase is phases[-1])
            with distributed.scope(), warnings.catch_warnings():
                # a backup from the phase before (this run's, or a resume's taken at the boundary) holds that
                # phase's optimizer, which this phase does not load
                if first is not None or done == phase.start:
                    warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
                # the history row before the backup: a kill between the two leaves a row that resume drops,
                # never a missing row
                plan.model.fit(**arguments, initial_epoch=phase.start, epochs=phase.end,
                               callbacks=[log, backup] + callbacks, verbose=verbose)
            first = first or phase
            if guard.where is not None:
                break
    except (KeyboardInterrupt, _Interrupted):
        status = "interrupted"
    finally:
        signal.signal(signal.SIGTERM, previous)
    wall = time.perf_counter() - started
    history = read_history(run.history)
    if guard.where is not None:
        status = "diverged"
    elif status == "completed":
        if len(history) < epochs:
            status = "stopped_early"
        plan.model.save(run.model)
        save_spec_models(models, run)
        shutil.rmtree(run.backup, ignore_errors=True)
    plot_history(history, run.plot, f"{graph.name} ({train.kind})")
    summary = {
        "name": graph.name, "kind": train.kind, "status": status, "epochs": len(history),
        "epochs_requested": epochs, "batch_size": batch_size,
        "final": {k: v for k, v in (history[-1] if history else {}).items() if k not in ("epoch", "phase")},
        "wall_time_s": round(wall, 3), "samples_per_second": clock.samples_per_second(),
        "samples": {"train": sample_count(plan.x), "validation": sample_count(plan.x_val)},
        "parameters": int(plan.model.count_params()), "backend": keras.backend.backend(), "device": _device(),
        "steps_per_execution": steps_per_execution,
        "distribute": distributed.summary(),
        "data": data.description, "classes": data.classes,
    }
    if guard.where is not None:
        summary["diverged_at"] = {"epoch": guard.where[0], "batch": guard.where[1]}
    if init_report is not None:
        summary["init"] = init_report.to_dict()
    if len(phases) > 1 or any(phase.frozen for phase in phases):
        summary["phases"] = freezing
    if train.augment:
        summary["augment"] = [node.type for node in train.augment]
    if plan.report is not None and status in ("completed", "stopped_early"):
        summary.update(plan.report(history))   # e.g. sample diversity; mode collapse and divergence warnings
        for warning in summary.get("warnings", []):
            print(f"warning: {warning}", file=sys.stderr)
    run.write_json(run.summary, summary)
    run.write_json(run.path / "data.json", data.transform | {"classes": data.classes})
    if status == "diverged":
        epoch, batch = guard.where
        raise SpecError([Problem(graph.locate("train", "optimizer"),
                                 f"the loss became NaN or infinite at epoch {epoch}, batch {batch}; training stopped",
                                 f"lower the learning rate or clip gradients (clipnorm); the last good checkpoint "
                                 f"is {run.checkpoint}")])
    if status == "interrupted":
        raise KeyboardInterrupt(str(run.path))
    return run


@dataclass
class Phase:
    """One `fit` of a run: global epochs [start, end), the frozen nodes, and its learning rate (None: the spec's)."""

    number: int
    start: int
    end: int
    frozen: set
    learning_rate: object = None


def plan_phases(graph: Graph, train: TrainSpec, options: TrainOptions) -> list[Phase]:
    """`train.phases` (or the whole run as one phase), with `--epochs` setting every phase's epochs."""
    from builder.training.transfer import frozen_nodes

    def frozen(freeze):
        return frozen_nodes(graph, freeze.until) if freeze else set()

    if not train.phases:
        return [Phase(1, 0, options.epochs or train.epochs, frozen(train.freeze))]
    out, start = [], 0
    for i, spec in enumerate(train.phases):
        epochs = options.epochs or spec.epochs
        out.append(Phase(i + 1, start, start + epochs, frozen(spec.freeze), spec.learning_rate))
        start += epochs
    return out


def _compile(plan, train: TrainSpec, phase: Phase, steps: int, steps_per_execution: int) -> None:
    """Compile (again, for every phase: Keras reads `trainable` when it compiles) with fresh optimizers."""
    epochs = phase.end - phase.start
    loss, metrics = losses_and_metrics(train, plan.model, plan.default_loss, plan.one_hot)
    if plan.optimizers:   # one optimizer per network (GAN kinds), each stepping `updates` times a batch
        optimizer = {role: make_optimizer(_with_rate(spec, phase.learning_rate), steps * updates, epochs)
                     for role, (spec, updates) in plan.optimizers.items()}
    else:
        optimizer = make_optimizer(_with_rate(train.optimizer, phase.learning_rate), steps, epochs)
    plan.model.compile(optimizer=optimizer, loss=loss, metrics=metrics,
                       jit_compile=train.jit_compile, steps_per_execution=steps_per_execution)


def _with_rate(spec: OptimizerSpec | str, rate) -> OptimizerSpec | str:
    if rate is None:
        return spec
    if isinstance(spec, str):
        return OptimizerSpec(type=spec, learning_rate=rate)
    return spec.model_copy(update={"learning_rate": rate})


def _backup_epoch(run: RunFolder) -> int:
    """The epochs a run's BackupAndRestore state has finished (0 without one)."""
    path = run.backup / "training_metadata.json"
    try:
        return int(json.loads(path.read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _init_source(train: TrainSpec, options: TrainOptions, spec_dir: Path) -> Path | None:
    """Where `train.init` loads from: `--init PATH`, else `train.init.from` against the spec's folder."""
    if options.init_path is not None:
        return Path(options.init_path)
    if train.init is None:
        return None
    return Path(spec_dir) / train.init.from_


def _raise_interrupt(signum, frame):
    raise _Interrupted()


def _write_diagram(graph: Graph, models: CompiledModels, run: RunFolder) -> None:
    from builder.graph import render

    try:
        render.write_diagram(graph, run.diagram, models)
    except render.RenderError as error:  # a diagram is a courtesy; a missing `dot` must not stop training
        print(f"note: no diagram: {error}", file=sys.stderr)


def train(graph: Graph, spec_path: str | Path, options: TrainOptions) -> RunFolder:
    """Start a new run of a resolved spec."""
    spec_path = Path(spec_path)
    distributed = distribution(graph, options)
    if distributed.chief:
        run = RunFolder(Path(options.out)) if options.out else RunFolder.create(options.runs_root, graph.name)
    else:   # every process keeps a run folder of its own: process 0's, and <that>-process<k> for process k
        path = Path(options.out or Path(options.runs_root) / f"{graph.name}-{time.strftime('%Y%m%d-%H%M%S')}")
        run = RunFolder(worker_folder(path, distributed.process_id))
    run.path.mkdir(parents=True, exist_ok=True)
    (run.path / "checkpoints").mkdir(exist_ok=True)
    shutil.copyfile(spec_path, run.spec)
    run.write_json(run.info, {
        "spec": str(spec_path), "spec_dir": str(spec_path.resolve().parent), "overrides": options.overrides,
        "epochs": options.epochs, "batch_size": options.batch_size,
        "data_path": str(Path(options.data_path).resolve()) if options.data_path else None,
        "init_path": str(Path(options.init_path).resolve()) if options.init_path else None,
        "distribute": options.distribute, "backend": keras.backend.backend(), "builder": builder.__version__, "keras": keras.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    })
    return run_training(graph, run, options, spec_path.resolve().parent, distributed)


def worker_folder(path: Path, process_id: int) -> Path:
    """The run folder of process `process_id` of a multi-process run whose process 0 writes `path`."""
    path = Path(path)
    return path if process_id == 0 else path.with_name(f"{path.name}-process{process_id}")


def resume(run: RunFolder, options: TrainOptions) -> RunFolder:
    """Continue an interrupted run from its last finished epoch, with the settings it started with."""
    from builder.language.loader import load
    from builder.language.parser import parse
    from builder.graph import resolve

    info = run.read_info()
    if run.summary.exists() and json.loads(run.summary.read_text()).get("status") == "completed":
        raise SpecError.single(Location(str(run.path)), "this run already completed; there is nothing to resume",
                               "start a new run, or evaluate this one with `builder evaluate`")
    document = load(run.spec)
    graph = resolve(parse(document), document, info.get("overrides") or {})
    options.overrides = info.get("overrides") or {}
    options.epochs = options.epochs or info.get("epochs")
    options.batch_size = options.batch_size or info.get("batch_size")
    if options.data_path is None and info.get("data_path"):
        options.data_path = Path(info["data_path"])
    if options.init_path is None and info.get("init_path"):
        options.init_path = Path(info["init_path"])
    options.distribute = options.distribute or info.get("distribute")
    return run_training(graph, run, options, Path(info["spec_dir"]))
