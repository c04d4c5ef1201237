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

import json
import math
import shutil
import signal
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from builder import __version__
from builder.errors import Location, Problem, SpecError
from builder.graph.ir import Graph
from builder.language.spec import OptimizerSpec, TrainSpec, loss_name
from builder.model.compile import DEFAULT_MAX_PARAMS, CompiledModels, compile_graph
from builder.training import backends
from builder.training.backends import Distributed, sample_count
from builder.training.callbacks import (EpochCheckpoint, HistoryLog, KeepLearningRate, Progress, StopOnNonFinite,
                                        ThrottledBackup, Throughput)
from builder.training.data import check_data_shapes, load_data
from builder.training.distribution import check_sharded, device, distribution
from builder.training.kinds import KINDS, KindMismatch
from builder.training.objects import losses_and_metrics, make_optimizer
from builder.training.run_folder import (RunFolder, plot_history, read_history, read_json, save_model,
                                         save_spec_models)
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


# --- data pipelines -----------------------------------------------------------------------------------

def fit_arguments(x, y, x_val, y_val, batch_size: int, shuffle: bool, seed: int | None,
                  distributed: Distributed | None = None, weights: tuple = (None, None)) -> dict:
    """NumPy arrays -> what `fit` takes on this backend (`builder.training.backends`); `weights`: the training and
    validation sample weights, or None.

    On TensorFlow, a cached, shuffled, prefetched `tf.data` pipeline; on JAX and
    PyTorch, `ArrayBatches`, a `keras.utils.PyDataset` with the same seeded
    shuffling, batching and prefetching, that also splits batches over the
    devices and processes of a distributed run.
    """
    return backends.adapter().fit_arguments(x, y, x_val, y_val, batch_size, shuffle, seed, distributed, weights)


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
    """Train into an existing run folder; resumes from its backup when there is one. One process at a time:
    a second `--resume` of the same run is refused while the first trains."""
    with run.lock():
        return _train_into(graph, run, options, spec_dir, distributed)


def _train_into(graph: Graph, run: RunFolder, options: TrainOptions, spec_dir: Path,
                distributed: Distributed | None) -> RunFolder:
    train = graph.spec.train or TrainSpec()
    phases = plan_phases(graph, train, options)
    epochs = phases[-1].end
    batch_size = options.batch_size or train.batch_size
    init_source = _init_source(train, options, spec_dir)
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
    data = load_data(train.data, spec_dir, graph.locate("train", "data"), data_seed, given_path=options.data_path,
                     locate=lambda *path: graph.locate("train", "data", *path))

    with distributed.scope():
        models = compile_graph(graph, options.max_params)
        if distributed.mode == "model_parallel":
            check_sharded(graph, distributed)
        try:
            plan = KINDS[train.kind](graph, models, data)
        except KindMismatch as exc:   # the spec's models or data do not fit the kind; anything else is a bug
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
        if train.augment and isinstance(plan.x, dict):
            raise SpecError.single(graph.locate("train", "augment"), "train.augment applies to the one input of a "
                                   "model; this model has several", "augment inside the model: put the layers "
                                   "after the input they change, under `layers:`")
        if train.augment:
            from builder.training.augment import augmentation

            augment = augmentation(train.augment, train.seed, lambda i: graph.locate("train", "augment", i, "type"))
            if augment.mixes_labels:   # MixUp, CutMix: the run trains and validates on one-hot labels
                plan.y, plan.y_val = augment.class_targets(plan.model, plan.x, plan.y, plan.y_val)
                plan.one_hot = True
        if train.kind == "supervised":   # (after MixUp and CutMix, which check their labels their own way)
            _check_targets(graph, train, plan)
        class_weights = _weigh_samples(graph, train, plan)

    verbose = options.verbose if options.verbose is not None else (1 if sys.stdout.isatty() else 2)
    if verbose:
        print(start_header(graph, train, plan, run, steps, batch_size, epochs, steps_per_execution, data), flush=True)
    if options.diagram:
        _write_diagram(graph, models, run)
    guard, clock, log = StopOnNonFinite(), Throughput(sample_count(plan.x)), HistoryLog(run.history)
    callbacks = [EpochCheckpoint(run.checkpoint), guard, clock]   # after [log, the phase's backup], see below
    if verbose:   # Keras draws a bar on a terminal; piped, its lines come once an epoch, so say more meanwhile
        callbacks.append(Progress(epochs, every_s=None if verbose == 1 else 30.0, hint=_smaller_run(graph)))
    from builder.training.tensorboard import tensorboard_log   # the same TensorBoard logs on every backend

    callbacks += adapter.callbacks(run) + tensorboard_log(run, graph, train, epochs, batch_size)
    callbacks += options.callbacks
    # the direction from the name (Keras guesses only for a few metrics, and refuses val_auc)
    if train.early_stopping:
        watcher = train.early_stopping
        callbacks.append(keras.callbacks.EarlyStopping(**watcher.model_dump(), mode=_direction(watcher.monitor)))
    if train.reduce_lr_on_plateau:
        watcher = train.reduce_lr_on_plateau
        callbacks.append(keras.callbacks.ReduceLROnPlateau(**watcher.model_dump(), mode=_direction(watcher.monitor)))

    status = "completed"
    started = time.perf_counter()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    done = _backup_epoch(run)   # epochs finished before an interruption (resume): their phases are done
    probe = None
    if (train.jit_compile == "auto" and train.kind == "supervised" and distributed.mode == "one_device"
            and adapter.probes_xla()):
        from builder.training.xla import XlaProbe

        probe = XlaProbe(steps, epochs - done,
                         say=print if verbose else (lambda line: None))
        callbacks.append(probe)   # last: its timing of a call includes no other callback's work
    freezing, first = [], None
    try:
        arguments = fit_arguments(plan.x, plan.y, plan.x_val, plan.y_val, batch_size, train.data.shuffle, data_seed,
                                  distributed, weights=(plan.sample_weight, plan.sample_weight_val))
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
            # the backup outlives the last epoch: it goes once summary.json is written (a kill in between resumes
            # at the end instead of starting over)
            backup = ThrottledBackup(str(run.backup), double_checkpoint=True, delete_checkpoint=False)
            with distributed.scope(), warnings.catch_warnings():
                # a backup from the phase before (this run's, or a resume's taken at the boundary) holds that
                # phase's optimizer, which this phase does not load
                if first is not None or done == phase.start:
                    warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
                # the history row before the backup: a kill between the two leaves a row that resume drops,
                # never a missing row
                plan.model.fit(**arguments, initial_epoch=phase.start, epochs=phase.end,
                               callbacks=[log] + KeepLearningRate().around(backup) + callbacks, verbose=verbose)
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
        save_model(plan.model, run.model)
        save_spec_models(models, run)
    plot_history(history, run.plot, f"{graph.name} ({train.kind})")
    from builder.graph.cost import training_summary   # MACs and memory per sample, achieved FLOP/s; no Keras

    summary = {
        "name": graph.name, "kind": train.kind, "status": status, "epochs": len(history),
        "epochs_requested": epochs, "batch_size": batch_size,
        "final": {k: v for k, v in (history[-1] if history else {}).items() if k not in ("epoch", "phase")},
        "wall_time_s": round(wall, 3), "samples_per_second": clock.samples_per_second(),
        "samples": {"train": sample_count(plan.x), "validation": sample_count(plan.x_val)},
        "parameters": int(plan.model.count_params()), "backend": keras.backend.backend(), "device": device(),
        "steps_per_execution": steps_per_execution,
        "jit_compile": _jit_choice(train, plan.model, probe),
        "distribute": distributed.summary(),
        "data": data.description, "classes": data.classes,
        # builder's own layers register on import: plain Keras cannot reopen the model without it
        "reopen": "import builder, keras; keras.models.load_model('model.keras')",
        "cost": training_summary(graph, plan.x, clock.samples_per_second(), device(), distributed.devices),
    }
    if guard.where is not None:
        summary["diverged_at"] = {"epoch": guard.where[0], "batch": guard.where[1]}
    if init_report is not None:
        summary["init"] = init_report.to_dict()
    if len(phases) > 1 or any(phase.frozen for phase in phases):
        summary["phases"] = freezing
    if train.augment:
        summary["augment"] = [node.type for node in train.augment]
    if class_weights is not None:
        summary["class_weight"] = class_weights
    if plan.report is not None and status in ("completed", "stopped_early"):
        summary.update(plan.report(history))   # e.g. sample diversity; mode collapse and divergence warnings
        for warning in summary.get("warnings", []):
            print(f"warning: {warning}", file=sys.stderr)
    run.write_json(run.path / "data.json", data.transform | {"classes": data.classes})
    run.write_json(run.summary, summary)   # the run's last word: a run with a summary is over
    if status in ("completed", "stopped_early"):
        shutil.rmtree(run.backup, ignore_errors=True)
    if status == "diverged":
        epoch, batch = guard.where
        kept = (f"the last good checkpoint is {run.checkpoint}" if run.checkpoint.exists()
                else "no epoch finished with finite losses, so there is no checkpoint")
        raise SpecError([Problem(graph.locate("train", "optimizer"),
                                 f"the loss became NaN or infinite at epoch {epoch}, batch {batch}; training stopped",
                                 f"lower the learning rate or clip gradients (clipnorm); {kept}")])
    if status == "interrupted":
        raise KeyboardInterrupt(str(run.path) if history else "")   # "": no epoch finished, nothing to resume
    return run


def start_header(graph: Graph, train: TrainSpec, plan, run: RunFolder, steps: int, batch_size: int, epochs: int,
                 steps_per_execution: int, data) -> str:
    """What starts, before the first (possibly long) step: the model, the data, the device and the folder."""
    model = plan.model
    total = int(model.count_params())
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    validation = sample_count(plan.x_val)
    return "\n".join([
        f"training {graph.name} ({train.kind}): {total:,} parameters ({trainable:,} trainable)",
        f"  data: {data.description}: {sample_count(plan.x):,} samples to train on, {validation:,} to validate",
        f"  {epochs} epoch{'s' * (epochs != 1)} of {steps:,} step{'s' * (steps != 1)} of {batch_size} samples"
        + (f", {steps_per_execution} steps a call" if steps_per_execution > 1 else ""),
        f"  on {keras.backend.backend()}, {device()}",
        f"  run folder: {run.path}",
    ])


def _smaller_run(graph: Graph) -> str:
    """How to a run that is quick on this device: the spec's `small:` version, or fewer epochs."""
    small = graph.spec.small or {}
    if small and any(graph.overrides.get(name) != value for name, value in small.items()):
        flags = " ".join(f"--set {name}={value}" for name, value in small.items())
        return f"for a version that trains on a CPU in minutes: --small ({flags})"
    return "for a quick try: --epochs 1, or smaller values of the spec's params with --set"


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
    # every output weighed (1 where loss_weights does not name it)
    weights = {out: train.loss_weights.get(out, 1.0) for out in plan.model.output_names} if train.loss_weights else None
    plan.model.compile(optimizer=optimizer, loss=loss, metrics=metrics, loss_weights=weights,
                       jit_compile=train.jit_compile, steps_per_execution=steps_per_execution)


def _jit_choice(train: TrainSpec, model, probe) -> dict:
    """summary.json's `jit_compile`: the setting the run trained with, and why."""
    if probe is not None:
        return probe.choice
    why = "set in the spec" if train.jit_compile != "auto" else f"Keras' auto on {keras.backend.backend()}"
    return {"jit_compile": bool(model.jit_compile), "why": why}


def _with_rate(spec: OptimizerSpec | str, rate) -> OptimizerSpec | str:
    if rate is None:
        return spec
    if isinstance(spec, str):
        return OptimizerSpec(type=spec, learning_rate=rate)
    return spec.model_copy(update={"learning_rate": rate})


def _check_targets(graph: Graph, train: TrainSpec, plan) -> None:
    """The labels fit each output's loss and shape, before the first step: a located error at train.loss."""
    outputs, names = plan.model.outputs, plan.model.output_names
    targets = plan.y if isinstance(plan.y, list) else [plan.y]
    if plan.y is None or plan.one_hot or len(targets) != len(outputs):
        return   # (one_hot: MixUp/CutMix made them one-hot for the categorical twin of the loss)
    for output, name, y in zip(outputs, names, targets):
        if isinstance(train.loss, dict):
            if name not in train.loss:
                continue
            loss, where = train.loss[name], graph.locate("train", "loss", name)
        else:
            loss, where = train.loss, graph.locate("train", "loss")
        default = plan.default_loss[name] if isinstance(plan.default_loss, dict) else plan.default_loss
        if hasattr(y, "shape"):
            _check_target(loss_name(loss) or default, y, tuple(output.shape[1:]), where)


def _check_target(name: str, y, out: tuple, where: Location) -> None:
    from builder.model.losses import LOSSES

    if name in LOSSES and not getattr(LOSSES[name], "reads_targets", True):
        return
    got = tuple(y.shape[1:])

    def same(a, b):   # None (a size the model leaves open) matches any size
        return len(a) == len(b) and all(d is None or e is None or d == e for d, e in zip(a, b))

    if name.startswith("sparse_"):
        whole = y.dtype.kind in "iu" or (y.dtype.kind == "f" and bool(np.all(np.mod(y, 1) == 0)))
        fits = same(got, out[:-1]) and whole
        if fits and out and out[-1] is not None and len(y) and int(y.max()) >= out[-1]:
            raise SpecError.single(where, f"the labels run to {int(y.max())}, but the model "
                                   f"outputs {out[-1]} class scores (classes 0 to {out[-1] - 1})",
                                   f"give the output layer {int(y.max()) + 1} units")
        need = f"integer labels of shape {list(out[:-1])}"
    else:
        fits = same(got, out) or (got == () and out == (1,))
        need = f"targets of the output's shape {list(out)}"
    if not fits:
        hint = None
        if y.dtype.kind in "iu" and got == () and len(out) == 1 and out[0] and out[0] > 1:
            hint = (f"integer labels of {out[0]} classes go with loss: sparse_categorical_crossentropy"
                    if not name.startswith("sparse_") else None)
        raise SpecError.single(where, f"loss {name} takes {need}; the data gives "
                               f"{y.dtype} targets of shape {list(got)} for a model output of shape {list(out)}",
                               hint)


def _weigh_samples(graph: Graph, train: TrainSpec, plan) -> dict | None:
    """`train.class_weight` and the data's sample weights as one weight per training sample (and the data's per
    validation sample), set on the plan in the structure of its targets, as Keras takes them. Returns the class
    weights applied ({label: weight}, for summary.json), or None."""
    weights, applied = plan.sample_weight, None
    if train.class_weight is not None:
        where = graph.locate("train", "class_weight")
        if isinstance(plan.y, list):
            raise SpecError.single(where, f"class_weight weighs the classes of one output; this model has "
                                   f"{len(plan.y)} outputs", "weigh samples with train.data.sample_weight instead")
        labels = np.asarray(plan.y)
        if labels.ndim == 2 and labels.shape[1] > 1:   # one-hot rows (MixUp, CutMix, or the data's own)
            labels = labels.argmax(axis=1)
        labels = labels.reshape(len(labels), -1)[:, 0] if labels.ndim > 1 else labels
        if labels.dtype.kind not in "iu" and not (labels.dtype.kind == "f" and np.all(np.mod(labels, 1) == 0)):
            raise SpecError.single(where, f"class_weight weighs integer class labels; this data's targets are "
                                   f"{labels.dtype} numbers", "weigh samples with train.data.sample_weight instead")
        labels = labels.astype("int64")
        applied = class_weights(train.class_weight, labels, where)
        table = np.ones(int(labels.max()) + 1, dtype="float32")
        for label, weight in applied.items():
            table[int(label)] = weight
        by_class = table[labels]
        weights = by_class if weights is None else weights * by_class
    if weights is None:
        return applied
    outputs = len(plan.y) if isinstance(plan.y, list) else 1   # Keras wants one weight array per output

    def each(w):
        return None if w is None else [w] * outputs if outputs > 1 else w

    plan.sample_weight = each(weights)
    plan.sample_weight_val = each(plan.sample_weight_val) if plan.y_val is not None else None
    return applied


def class_weights(spec, labels: np.ndarray, where: Location) -> dict:
    """{label: weight} from `train.class_weight`: `balanced` (samples / (classes x the class's samples), the
    training labels counted) or the spec's mapping, whose labels must occur in the data."""
    present = np.unique(labels)
    if spec == "balanced":
        counts = np.bincount(labels)
        return {str(int(c)): round(float(len(labels) / (len(present) * counts[c])), 6) for c in present}
    absent = [label for label in spec if int(label) not in set(present.tolist())]
    if absent:
        raise SpecError.single(where, f"class_weight names class {absent[0]}, which no training label has (the "
                               f"labels: {', '.join(map(str, present[:20].tolist()))})")
    return {str(int(label)): float(weight) for label, weight in spec.items()}


def _direction(metric: str) -> str:
    """"min" for losses and errors, "max" for the rest (accuracy, auc, precision, ...)."""
    return "min" if "loss" in metric or "error" in metric else "max"


def _backup_epoch(run: RunFolder) -> int:
    """The epochs a run's BackupAndRestore state has finished (0 without one)."""
    path = run.backup / "training_metadata.json"
    try:
        return int(json.loads(path.read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _init_source(train: TrainSpec, options: TrainOptions, spec_dir: Path) -> Path | None:
    """Where `train.init` loads from: `--init PATH`, else `train.init.from` against the spec's folder (a run
    folder or a model file anywhere: transfer learning starts from another run; it is opened with safe_mode)."""
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
    if options.out:
        _check_new_folder(Path(options.out))
    distributed = distribution(graph, options)
    if distributed.chief:
        run = RunFolder(Path(options.out)) if options.out else RunFolder.create(options.runs_root, graph.name)
    else:   # every process keeps a run folder of its own: process 0's, and <that>-process<k> for process k
        path = Path(options.out or Path(options.runs_root) / f"{graph.name}-{time.strftime('%Y%m%d-%H%M%S')}")
        run = RunFolder(worker_folder(path, distributed.process_id))
    created = not run.path.exists()
    run.path.mkdir(parents=True, exist_ok=True)
    # a start that failed (a shape mismatch, a missing init file) or was stopped before its first epoch ended
    # leaves no run folder behind: nothing in it could be resumed or read. A run that diverged keeps its own.
    try:
        return _start(graph, spec_path, options, run, distributed)
    except BaseException as error:
        stopped_early = isinstance(error, KeyboardInterrupt) and not (error.args and error.args[0])
        if created and not run.history.exists() and (stopped_early or not run.summary.exists()):
            shutil.rmtree(run.path, ignore_errors=True)
        raise


def _check_new_folder(path: Path) -> None:
    """--out names a new run folder: never one holding a run (finished or not) or other files."""
    if (path / "run.json").exists():
        summary = path / "summary.json"
        status = read_json(summary).get("status") if summary.exists() else None
        if status == "completed":
            raise SpecError.single(Location(str(path)), "this folder holds a completed run; a new run needs a "
                                   "new folder", "give another --out (or delete the folder to train again)")
        raise SpecError.single(Location(str(path)), "this folder already holds a run",
                               f"resume it with `builder train --resume {path}`, or give another --out")
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise SpecError.single(Location(str(path)), "--out must be a new or empty folder; this one holds other "
                               "files, which a run would mix with its own", "give another --out")


def _start(graph: Graph, spec_path: Path, options: TrainOptions, run: RunFolder, distributed) -> RunFolder:
    (run.path / "checkpoints").mkdir(exist_ok=True)
    shutil.copyfile(spec_path, run.spec)
    run.write_json(run.info, {
        "spec": str(spec_path), "spec_dir": str(spec_path.resolve().parent), "overrides": options.overrides,
        "epochs": options.epochs, "batch_size": options.batch_size,
        "data_path": str(Path(options.data_path).resolve()) if options.data_path else None,
        "init_path": str(Path(options.init_path).resolve()) if options.init_path else None,
        "distribute": options.distribute, "backend": keras.backend.backend(), "builder": __version__,
        "keras": keras.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    })
    return run_training(graph, run, options, spec_path.resolve().parent, distributed)


def worker_folder(path: Path, process_id: int) -> Path:
    """The run folder of process `process_id` of a multi-process run whose process 0 writes `path`."""
    path = Path(path)
    return path if process_id == 0 else path.with_name(f"{path.name}-process{process_id}")


def resume(run: RunFolder, options: TrainOptions) -> RunFolder:
    """Continue an interrupted run from its last finished epoch, with the settings it started with."""
    from builder.training.run_folder import run_graph

    info = run.read_info()
    if run.summary.exists() and read_json(run.summary).get("status") == "completed":
        raise SpecError.single(Location(str(run.path)), "this run already completed; there is nothing to resume",
                               "start a new run, or evaluate this one with `builder evaluate`")
    graph = run_graph(run)
    options.overrides = info.get("overrides") or {}
    options.epochs = options.epochs or info.get("epochs")
    options.batch_size = options.batch_size or info.get("batch_size")
    if options.data_path is None and info.get("data_path"):
        options.data_path = Path(info["data_path"])
    if options.init_path is None and info.get("init_path"):
        options.init_path = Path(info["init_path"])
    options.distribute = options.distribute or info.get("distribute")
    return run_training(graph, run, options, Path(info["spec_dir"]))
