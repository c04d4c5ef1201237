"""Architecture and hyperparameter search over a spec's `search:` section, on Optuna.

Each trial samples a value for every dimension, places the values into the
spec (`builder.graph.search_space`), checks the concrete spec like any other, builds
it to count its parameters (a trial over `max_params` is pruned before it
trains), and trains it with `builder.training.run.train` into a normal run folder.
A Keras callback reports the objective's metric after every epoch, so the
pruner (median or Hyperband) stops a bad trial early. The study lives in
SQLite inside the search folder, so an interrupted search continues with
`resume`; `storage` may name a shared database instead (several machines on
one study, the way Optuna scales)::

    search/<name>-<YYYYmmdd-HHMMSS>/
      spec.yaml        the spec searched, as given
      search.json      how the search was started (sampler, pruner, budget, ...), for resume
      study.db         the Optuna study (SQLite)
      specs/           each trial's concrete spec, trial-NNN.yaml
      trials/NNN/      each trial's run folder (history.csv, summary.json, model.keras, ...)
      trials.csv       one row per trial: state, objective values, parameters, values chosen
      best.yaml        the best trial's concrete spec, no search section: `builder train best.yaml`
      report.md        what was searched, what was found, the best trials, the Pareto front
      history.png      the objective over trials; importance.png, pareto.png when they apply

Public entry point: `search(spec_path, options)` -> the search folder (`options.resume` continues one).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import shutil
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

import keras
import optuna

from builder.errors import CommandError, Location, SpecError, show
from builder.graph import load_graph
from builder.graph.ir import Graph
from builder.graph.search_space import concrete, dump, targets
from builder.language.loader import Document
from builder.language.spec import Choice, FloatRange, IntRange, Spec
from builder.model.compile import compile_graph
from builder.search import PRUNERS, SAMPLERS
from builder.search.folder import SearchFolder, SearchOptions, create_folder
from builder.search.report import write_outputs
from builder.training.run_folder import read_history, read_json, write_atomic

MAX_GRID = 100_000


class TrialFailed(Exception):
    """A trial whose spec does not build or whose training failed; the search goes on."""


# --- sampling -----------------------------------------------------------------------------------------------

def _suggest_int(trial: optuna.Trial, path: str, d: IntRange):
    return trial.suggest_int(path, d.low, d.high, step=d.step, log=d.log)


def _suggest_float(trial: optuna.Trial, path: str, d: FloatRange):
    return trial.suggest_float(path, d.low, d.high, step=d.step, log=d.log)


def _suggest_choice(trial: optuna.Trial, path: str, d: Choice):
    return trial.suggest_categorical(path, d.values)


SUGGEST = {IntRange: _suggest_int, FloatRange: _suggest_float, Choice: _suggest_choice}


def grid(space: dict) -> dict:
    """Every value of every dimension, for the grid sampler; float ranges need a step."""
    values = {}
    for path, d in space.items():
        if isinstance(d, Choice):
            values[path] = list(d.values)
        elif isinstance(d, IntRange) and not d.log:
            values[path] = list(range(d.low, d.high + 1, d.step))
        elif isinstance(d, FloatRange) and d.step is not None:
            count = int(math.floor((d.high - d.low) / d.step + 1e-9)) + 1
            values[path] = [round(d.low + i * d.step, 12) for i in range(count)]
        else:
            raise ValueError(f"grid search needs every dimension finite; {path!r} is a continuous or log range "
                             "(give it a step, or make it a choice)")
    if math.prod(len(v) for v in values.values()) > MAX_GRID:
        raise ValueError(f"the grid has more than {MAX_GRID:,} points; use --sampler tpe or random")
    return values


def make_sampler(name: str, spec: Spec, seed: int | None, trials: int) -> optuna.samplers.BaseSampler:
    """TPE (its random start-up: a third of the trials, 3 to 10), random, or grid."""
    startup = max(3, min(10, trials // 3))
    makers = {
        "tpe": lambda: optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, multivariate=True),
        "random": lambda: optuna.samplers.RandomSampler(seed=seed),
        "grid": lambda: optuna.samplers.GridSampler(grid(spec.search.space), seed=seed),
    }
    return makers[name]()


def make_pruner(name: str, epochs: int) -> optuna.pruners.BasePruner:
    """Median (after 3 trials, from a quarter of the epochs on), Hyperband (1 epoch to all), or none."""
    makers = {
        # the first quarter of the epochs is too noisy to judge a trial by
        "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=max(1, epochs // 4)),
        "hyperband": lambda: optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(1, epochs),
                                                            reduction_factor=3),
        "none": lambda: optuna.pruners.NopPruner(),
    }
    return makers[name]()


class ReportEpochs(keras.callbacks.Callback):
    """Reports the objective's metric to the trial after every epoch; stops training when the pruner says so."""

    def __init__(self, trial: optuna.Trial, metric: str):
        super().__init__()
        self.trial, self.metric = trial, metric
        self.pruned_at: int | None = None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.metric)
        if value is None or not math.isfinite(float(value)):
            return
        self.trial.report(float(value), epoch)
        if self.trial.should_prune():
            self.pruned_at = epoch
            self.model.stop_training = True


class EpochLines(keras.callbacks.Callback):
    """A line per epoch of a trial (`trial 4, epoch 3/10: loss 0.4100, val_loss 0.5200`), so a search shows life."""

    def __init__(self, number: int, say):
        super().__init__()
        self.number, self.say = number, say

    def on_epoch_end(self, epoch, logs=None):
        shown = ", ".join(f"{key} {float(value):.4f}" for key, value in sorted((logs or {}).items())
                          if key != "learning_rate" and getattr(value, "ndim", 0) == 0)
        self.say(f"trial {self.number}, epoch {epoch + 1}/{self.params.get('epochs', '?')}: {shown}")


# --- one trial --------------------------------------------------------------------------------------------

class _Objective:
    """Runs one trial: sample, write the concrete spec, check it, count parameters, train, score."""

    def __init__(self, folder: SearchFolder, spec: Spec, document: Document, options: SearchOptions, spec_dir: Path):
        self.folder, self.spec, self.document, self.options, self.spec_dir = folder, spec, document, options, spec_dir
        self.found, _ = targets(spec, document)
        self.goals = spec.search.goals
        self.single = len(self.goals) == 1

    def __call__(self, trial: optuna.Trial):
        values = {path: SUGGEST[type(d)](trial, path, d) for path, d in self.spec.search.space.items()}
        data = concrete(self.document.data, values, self.found, self.options.overrides, self.options.epochs,
                        self.spec_dir)
        path = self.folder.trial_spec(trial.number)
        chosen = ", ".join(f"{k}={show(v)}" for k, v in values.items())
        path.write_text(dump(data, f"trial {trial.number} of search {self.folder.path.name}: {chosen}\n"
                                   "a concrete spec, generated by `builder search`"))
        try:
            graph = load_graph(path)
        except SpecError as error:
            return self.fail(trial, "the trial's spec is invalid: " + error.errors[0].message)
        params = self.count_params(trial, graph)
        position = min(_counted(trial.study) + 1, self.options.trials)
        self.say(f"trial {trial.number} ({position} of {self.options.trials}): {chosen} ({params:,} parameters)")
        metric_goals = [g for g in self.goals if g.metric != "params"]
        reporter = ReportEpochs(trial, metric_goals[0].metric) if self.single and metric_goals else None
        if not metric_goals:
            return params
        epochs_said = [EpochLines(trial.number, self.say)] if self.options.verbose else []
        from builder.training import run as training

        run_path = self.folder.trial_run(trial.number)
        options = training.TrainOptions(out=run_path, overrides={}, max_params=self.options.max_params,
                                        verbose=0, diagram=False,
                                        callbacks=([reporter] if reporter else []) + epochs_said)
        trial.set_user_attr("run", str(run_path.relative_to(self.folder.path)))
        try:
            training.train(graph, path, options)
        except KeyboardInterrupt:
            trial.set_user_attr("interrupted", True)
            raise
        except SpecError as error:   # e.g. the loss became NaN: a bad trial, not a bad search
            return self.fail(trial, error.errors[0].message if error.errors else str(error))
        finally:
            keras.backend.clear_session()
        summary = json.loads((run_path / "summary.json").read_text())
        history = read_history(run_path / "history.csv")
        trial.set_user_attr("epochs", summary["epochs"])
        trial.set_user_attr("wall_time_s", summary["wall_time_s"])
        if reporter is not None and reporter.pruned_at is not None:
            self.say(f"trial {trial.number}: pruned after epoch {reporter.pruned_at + 1}")
            trial.set_user_attr("note", f"pruned after epoch {reporter.pruned_at + 1}")
            raise optuna.TrialPruned()
        scores = []
        for goal in self.goals:
            if goal.metric == "params":
                scores.append(params)
                continue
            if not history or goal.metric not in history[-1]:
                logged = ", ".join(k for k in (history[-1] if history else {}) if k != "epoch")
                raise SpecError.single(self.document.locate(("search",)), f"the runs log no {show(goal.metric)}; "
                                       f"they log: {logged}")
            scores.append(float(history[-1][goal.metric]))
        self.say(f"trial {trial.number}: " + ", ".join(f"{g.metric} {s:.4g}" for g, s in zip(self.goals, scores))
                 + (self.best_so_far(trial, scores[0]) if self.single else ""))
        return scores[0] if self.single else tuple(scores)

    def best_so_far(self, trial: optuna.Trial, score: float) -> str:
        """`; best so far: trial 3, val_loss 0.3100`, counting this trial (not yet complete in the study)."""
        goal = self.goals[0]
        done = [(t.value, t.number) for t in trial.study.get_trials(deepcopy=False)
                if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None]
        pick = max if goal.goal == "maximize" else min
        value, number = pick(done + [(score, trial.number)], key=lambda pair: pair[0])
        return f"; best so far: trial {number}, {goal.metric} {value:.4g}"

    def count_params(self, trial: optuna.Trial, graph: Graph) -> int:
        """Builds the models (no training) to count parameters; a trial over the budget is pruned here."""
        try:
            models = compile_graph(graph, self.options.max_params)
        except SpecError as error:
            message = error.errors[0].message
            if "over the budget" in message:
                trial.set_user_attr("note", f"over --max-params {self.options.max_params:,}: not trained")
                self.say(f"trial {trial.number}: over --max-params {self.options.max_params:,}, pruned before training")
                keras.backend.clear_session()
                raise optuna.TrialPruned() from None
            keras.backend.clear_session()
            self.fail(trial, message)
        params = int(models[graph.main].count_params())
        keras.backend.clear_session()
        trial.set_user_attr("params", params)
        return params

    def fail(self, trial: optuna.Trial, reason: str):
        trial.set_user_attr("note", reason)
        self.say(f"trial {trial.number}: failed: {reason}")
        raise TrialFailed(reason)

    def say(self, text: str) -> None:
        if self.options.verbose:
            print(text, flush=True)


# --- the study ----------------------------------------------------------------------------------------------

def _counted(study: optuna.Study) -> int:
    """Trials toward the target: complete, pruned, or failed by their own spec (not interrupted ones)."""
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)
    return sum(1 for t in study.get_trials(deepcopy=False) if t.state in done and not t.user_attrs.get("interrupted"))


def _retry_interrupted(study: optuna.Study) -> int:
    """On resume: a trial left running (the process was killed) fails; each interrupted trial runs again."""
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study._storage.set_trial_user_attr(t._trial_id, "interrupted", True)
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    again = [t for t in trials if t.user_attrs.get("interrupted") and t.number not in retried]
    for t in again:
        study.enqueue_trial(t.params, user_attrs={"retry_of": t.number}, skip_if_exists=False)
    return len(again)


def _load_spec(path: Path, overrides: dict) -> tuple[Spec, Document]:
    graph = load_graph(path, overrides)   # the base spec and every dimension's values check out
    spec, document = graph.spec, graph.document
    if spec.search is None:
        raise SpecError.single(Location(str(path), 1, 1), "the spec has no `search:` section",
                               "add one: search: {space: {params.NAME: {type: int, low: 4, high: 32}}}")
    return spec, document


def _epochs(spec: Spec, options: SearchOptions) -> int:
    return options.epochs or (spec.train.epochs if spec.train else 10)


def _study(folder: SearchFolder, spec: Spec, options: SearchOptions, name: str, worker: int = 0) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)   # multivariate TPE
    seed = None if options.seed is None else options.seed + worker
    storage = options.storage or folder.storage_url
    directions = [g.goal for g in spec.search.goals]
    try:
        return optuna.create_study(study_name=name, storage=storage, directions=directions, load_if_exists=True,
                                   sampler=make_sampler(options.sampler, spec, seed, options.trials),
                                   pruner=make_pruner(options.pruner, _epochs(spec, options)))
    except ValueError as error:   # the grid of a continuous range
        raise SpecError.single(Location(str(folder.spec)), str(error)) from None
    except Exception as error:   # the storage URL is the user's: SQLAlchemy's errors name what is wrong with it
        if storage == folder.storage_url:
            raise
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        raise CommandError(f"--storage {storage}: cannot open the study there: {first}") from None


def _optimize(folder: SearchFolder, options: SearchOptions, name: str, worker: int) -> None:
    """One worker: trials until the study has `options.trials` finished ones, or the time is up."""
    info = read_json(folder.info)
    spec, document = _load_spec(folder.spec, options.overrides)
    study = _study(folder, spec, options, name, worker)
    objective = _Objective(folder, spec, document, options, Path(info["spec_dir"]))
    deadline = time.monotonic() + options.timeout if options.timeout else None
    grid_size = math.prod(len(v) for v in grid(spec.search.space).values()) if options.sampler == "grid" else None
    running = (optuna.trial.TrialState.RUNNING,)
    while _counted(study) + len(study.get_trials(deepcopy=False, states=running)) < options.trials:  # other workers
        if grid_size is not None and len([t for t in study.trials if not t.user_attrs.get("interrupted")]) >= grid_size:
            break
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            break
        study.optimize(objective, n_trials=1, timeout=remaining, catch=(TrialFailed,), gc_after_trial=True)


def _worker(folder: str, options: dict, name: str, worker: int) -> None:
    """A --jobs worker process (spawned: a fresh Keras of its own)."""
    options = SearchOptions(**{**options, "out": None, "root": Path(options["root"]), "resume": None})
    _optimize(SearchFolder(Path(folder)), options, name, worker)


def search(spec_path: str | Path | None, options: SearchOptions) -> SearchFolder:
    """Run a search over a spec's `search:` section (or continue `options.resume`); returns its folder."""
    if options.resume is not None:
        folder = SearchFolder(Path(options.resume))
        if not folder.info.exists():
            raise SpecError.single(Location(str(folder.path)), "not a search folder (no search.json)",
                                   "give a folder that `builder search` created under search/")
        info = read_json(folder.info)
        saved = info.get("options")
        missing = [k for k in ("sampler", "pruner", "max_params", "overrides", "epochs", "seed")
                   if not isinstance(saved, dict) or k not in saved]
        if missing or not isinstance(info.get("study"), str) or not isinstance(info.get("spec_dir"), str):
            raise SpecError.single(Location(str(folder.info)), "damaged: search.json lacks "
                                   + (", ".join(missing) if missing else "its study name or spec folder"))
        if saved["sampler"] not in SAMPLERS or saved["pruner"] not in PRUNERS:
            raise SpecError.single(Location(str(folder.info)), f"damaged: unknown sampler or pruner "
                                   f"{show(saved['sampler'])}, {show(saved['pruner'])}")
        for key in ("sampler", "pruner", "max_params", "overrides", "epochs", "seed"):
            setattr(options, key, saved[key])
        if options.seed is not None:   # a new stream: the resumed sampler does not repeat the first values
            options.seed += 1000 * (info.get("resumes", 0) + 1)
        info["resumes"] = info.get("resumes", 0) + 1
        if info.get("external_storage") and not options.storage:
            raise SpecError.single(Location(str(folder.path)), "this search keeps its study in an external "
                                   "database", "give the same --storage URL again")
        write_atomic(folder.info, json.dumps(info, indent=2) + "\n")
        spec, document = _load_spec(folder.spec, options.overrides)
        name = info["study"]
        study = _study(folder, spec, options, name)
        again = _retry_interrupted(study)
        if again and options.verbose:
            print(f"resuming: {again} interrupted trial{'s' * (again != 1)} will run again", flush=True)
    else:
        spec_path = Path(spec_path)
        spec, document = _load_spec(spec_path, options.overrides)
        name = spec.name or spec_path.stem
        folder = create_folder(options, name)
        shutil.copyfile(spec_path, folder.spec)
        saved = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items()
                 if k not in ("storage", "out", "resume", "timeout", "jobs", "verbose", "trials")}
        write_atomic(folder.info, json.dumps({
            "spec": str(spec_path), "spec_dir": str(spec_path.resolve().parent), "study": name,
            "external_storage": options.storage is not None, "options": saved,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "keras": keras.__version__, "optuna": optuna.__version__,
        }, indent=2) + "\n")
        _study(folder, spec, options, name)
    try:
        if options.jobs > 1:
            saved = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items()}
            with ProcessPoolExecutor(options.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = [pool.submit(_worker, str(folder.path), saved, name, k) for k in range(options.jobs)]
                for future in futures:
                    future.result()
        else:
            _optimize(folder, options, name, 0)
    finally:
        write_outputs(folder, spec, _study(folder, spec, options, name))
    return folder
