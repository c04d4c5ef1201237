"""`builder runs [DIR]`: the run folders (and search folders) under a folder, one row each.

A row is read from the files a run leaves (`builder.training.run_folder`): run.json (spec, overrides,
backend, when), summary.json (status, epochs, wall time, device, final metrics), history.csv (the best
epoch) and spec.yaml (the metric that early stopping watches). A search folder's row comes from its
search.json, trials.csv and best.yaml. A folder that is damaged or cut short is a row that says what
is wrong, never an error. Nothing here imports Keras: the command reads files.

Public entry points: `list_runs(folder, metric=None)` -> [Row] (sorted by creation time),
`read_run(path)`, `read_search(path)`, `table(rows)` (text) and `Row.to_dict()` (JSON).
"""

from __future__ import annotations

import csv
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from builder import files
from builder.errors import SpecError, did_you_mean
from builder.training.run_folder import read_history, read_json

# A search folder's layout is `builder.search.folder.SearchFolder`'s (and a trial's run is trials/NNN);
# search is a later stage than runs, so the names it writes are named here again.
SEARCH_INFO, SEARCH_TABLE, SEARCH_BEST, SEARCH_TRIALS = "search.json", "trials.csv", "best.yaml", "trials"
RUN_FILES = ("run.json", "spec.yaml", "summary.json", "history.csv", "checkpoints")
NOT_METRICS = ("epoch", "phase")   # history.csv columns that are no metric (nor is learning_rate*)


@dataclass
class Row:
    """One run folder or search folder, as far as its files could be read; `problems` says what could not."""

    path: Path
    kind: str = "run"                     # "run" or "search"
    spec: str | None = None               # the spec file it was started with, as given
    overrides: dict = field(default_factory=dict)
    status: str = "unknown"               # completed, stopped_early, interrupted, diverged, running, unfinished,
                                          # damaged; "search" for a search folder
    epochs: int | None = None
    epochs_requested: int | None = None
    metric: str | None = None             # the metric `best` is of
    best: float | None = None
    best_epoch: int | None = None         # (a search: the best trial's number)
    final: dict = field(default_factory=dict)
    wall_time_s: float | None = None
    backend: str | None = None
    device: str | None = None
    created: str | None = None            # ISO time, local, as run.json writes it
    trials: dict | None = None            # a search: trials by state, and "total"
    problems: list[str] = field(default_factory=list)
    history: list[dict] = field(default_factory=list, repr=False)
    monitor: str | None = None            # the spec's own choice (early stopping / reduce_lr_on_plateau / search)

    @property
    def name(self) -> str:
        return self.path.name

    def metrics(self) -> list[str]:
        """The metrics the run logged, in history.csv's order (else summary.json's)."""
        source = self.history[0] if self.history else self.final
        return [k for k in source if k not in NOT_METRICS and not k.startswith("learning_rate")]

    def to_dict(self) -> dict:
        out = {"name": self.name, "path": str(self.path), "kind": self.kind, "spec": self.spec,
               "overrides": self.overrides, "status": self.status, "epochs": self.epochs,
               "epochs_requested": self.epochs_requested, "metric": self.metric, "best": self.best,
               ("best_trial" if self.kind == "search" else "best_epoch"): self.best_epoch,
               "final": self.final, "wall_time_s": self.wall_time_s, "backend": self.backend,
               "device": self.device, "created": self.created, "problems": self.problems}
        if self.kind == "search":
            out["trials"] = self.trials
        return out


# --- one run folder -------------------------------------------------------------------------------------------

def is_run(path: Path) -> bool:
    return path.is_dir() and any((path / name).exists() for name in RUN_FILES)


def is_search(path: Path) -> bool:
    return path.is_dir() and ((path / SEARCH_INFO).exists() or (path / SEARCH_TRIALS).is_dir())


def _problem(error: SpecError | files.FileProblem, name: str) -> str:
    if isinstance(error, files.FileProblem):
        return f"{name}: {error.reason}"
    first = error.errors[0] if error.errors else None
    return f"{name}: {first.message if first else error}"


def _json(path: Path, row: Row) -> dict | None:
    """A JSON file of the folder, or None (with the reason in row.problems when it is there but unreadable)."""
    if not path.exists():
        return None
    try:
        return read_json(path)
    except SpecError as error:
        row.problems.append(_problem(error, path.name))
        return None


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _int(value) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _spec_settings(path: Path, row: Row) -> dict:
    """spec.yaml's train: mapping, read as YAML only (a spec an older builder wrote may not parse now)."""
    from builder.language.loader import load

    try:
        data = load(path).data
    except SpecError as error:
        row.problems.append(_problem(error, path.name))
        return {}
    train = data.get("train") if isinstance(data, dict) else None
    return train if isinstance(train, dict) else {}


def _monitor(train: dict) -> str | None:
    """The metric the spec itself watches: early stopping's, else reduce_lr_on_plateau's (val_loss by default)."""
    for key in ("early_stopping", "reduce_lr_on_plateau"):
        watcher = train.get(key)
        if isinstance(watcher, dict):
            monitor = watcher.get("monitor", "val_loss")
            return monitor if isinstance(monitor, str) else None
    return None


def direction(metric: str) -> str:
    """"min" for losses, errors and the parameter count, "max" for the rest (as training and search decide)."""
    return "min" if "loss" in metric or "error" in metric or metric == "params" else "max"


def _finite(value) -> bool:
    return isinstance(value, float) and math.isfinite(value)


def epochs_of(history: list[dict]) -> list[int]:
    """Each history row's epoch, counted from 1 (older histories count from 0; a row without one: its place)."""
    shift = 1 if history and history[0].get("epoch") == 0.0 else 0
    return [int(row["epoch"]) + shift if _finite(row.get("epoch")) else i + 1 for i, row in enumerate(history)]


def best_of(history: list[dict], metric: str) -> tuple[float | None, int | None]:
    """(best value, its epoch counted from 1) of `metric` over the history; (None, None) if never logged."""
    pick = min if direction(metric) == "min" else max
    points = [(row[metric], epoch) for row, epoch in zip(history, epochs_of(history)) if _finite(row.get(metric))]
    if not points:
        return None, None
    return pick(points, key=lambda p: p[0])


def choose_metric(row: Row, wanted: str | None = None) -> str | None:
    """The metric a row's `best` is of: the one asked for, else the spec's monitor, else val_accuracy,
    val_loss, another validation metric, the loss."""
    logged = row.metrics()
    if wanted is not None:
        return wanted
    for name in (row.monitor, "val_accuracy", "val_loss"):
        if name and name in logged:
            return name
    return next((k for k in logged if k.startswith("val_")), "loss" if "loss" in logged else None)


def _running(path: Path) -> bool:
    """Whether a process holds the run's lock (`RunFolder.lock`): a shared probe, let go at once."""
    lock = path / ".lock"
    try:
        import fcntl
    except ImportError:   # not on POSIX: no locks, so no way to tell
        return False
    try:
        with open(lock) as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
    except OSError:
        return False
    return False


_STAMP = re.compile(r"(\d{8})-(\d{6})")


def _created(path: Path, recorded) -> str:
    """When the folder was made: as recorded, else from the `<name>-YYYYmmdd-HHMMSS` folder name, else its mtime."""
    if isinstance(recorded, str) and recorded:
        return recorded
    match = _STAMP.search(path.name)
    if match:
        day, clock = match.groups()
        return f"{day[:4]}-{day[4:6]}-{day[6:]}T{clock[:2]}:{clock[2:4]}:{clock[4:]}"
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(path.stat().st_mtime))
    except OSError:
        return ""


def read_run(path: str | Path, metric: str | None = None) -> Row:
    """A run folder's row; whatever cannot be read is said in `problems`, and a damaged summary is `damaged`."""
    path = Path(path)
    row = Row(path)
    info = _json(path / "run.json", row)
    if info is None and not (path / "run.json").exists():
        row.problems.append("no run.json")
    info = info or {}
    if not (path / "spec.yaml").exists():
        row.problems.append("no spec.yaml")
        train = {}
    else:
        train = _spec_settings(path / "spec.yaml", row)
    row.monitor = _monitor(train)
    row.spec = info.get("spec") if isinstance(info.get("spec"), str) else None
    row.overrides = info.get("overrides") if isinstance(info.get("overrides"), dict) else {}
    row.backend = info.get("backend") if isinstance(info.get("backend"), str) else None
    row.created = _created(path, info.get("created"))
    try:
        row.history = read_history(path / "history.csv")
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        row.problems.append(f"history.csv: cannot be read ({exc})")
    summary_there = (path / "summary.json").exists()
    summary = _json(path / "summary.json", row)
    if summary is not None:
        row.status = str(summary.get("status", "unknown"))
        row.epochs, row.epochs_requested = _int(summary.get("epochs")), _int(summary.get("epochs_requested"))
        row.wall_time_s = _number(summary.get("wall_time_s"))
        row.backend = summary.get("backend") if isinstance(summary.get("backend"), str) else row.backend
        row.device = summary.get("device") if isinstance(summary.get("device"), str) else None
        final = summary.get("final")
        row.final = {k: v for k, v in final.items() if _number(v) is not None} if isinstance(final, dict) else {}
    elif summary_there:
        row.status = "damaged"
    else:
        row.status = "running" if _running(path) else "unfinished"
        if row.status == "unfinished" and row.history:
            row.problems.append(f"no summary.json: stopped after epoch {len(row.history)}; "
                                f"`builder train --resume {path}` continues it")
        elif row.status == "unfinished":
            row.problems.append("no summary.json and no epoch in history.csv: stopped before its first epoch")
    if row.epochs is None and row.history:
        row.epochs = len(row.history)
    if row.epochs_requested is None:
        row.epochs_requested = _int(info.get("epochs")) or _int(train.get("epochs"))
    if not row.final and row.history:
        row.final = {k: v for k, v in row.history[-1].items() if k not in NOT_METRICS and _finite(v)}
    row.metric = choose_metric(row, metric)
    if row.metric is not None:
        row.best, row.best_epoch = best_of(row.history, row.metric)
        if row.best is None and _finite(row.final.get(row.metric)):
            row.best = row.final[row.metric]   # no history left: the final value is all there is
    return row


# --- one search folder ----------------------------------------------------------------------------------------

def _search_goals(path: Path, row: Row) -> list[tuple[str, str]]:
    """[(metric, "min"|"max")] of the search, from its spec's search: section (the names and rule search uses)."""
    from pydantic import ValidationError

    from builder.language.loader import load
    from builder.language.spec.search import SearchSpec

    try:
        data = load(path / "spec.yaml").data
        return [(g.metric, "min" if g.goal == "minimize" else "max")
                for g in SearchSpec.model_validate(data["search"]).goals]
    except SpecError as error:
        row.problems.append(_problem(error, "spec.yaml"))
        return []
    except (ValidationError, KeyError, TypeError):   # no search: section, or a bad one: the names decide
        return []


def read_trials(path: Path, row: Row | None = None) -> list[dict]:
    """trials.csv's rows: {"trial", "state", "values" {objective: value}, "run", "epochs", "wall_time_s", ...}."""
    row = row or Row(path, kind="search")
    table = path / SEARCH_TABLE
    if not table.exists():
        row.problems.append(f"no {SEARCH_TABLE} yet: no trial has finished")
        return []
    try:
        lines = list(csv.reader(files.read_text(table, files.MAX_JSON_BYTES).splitlines()))
    except files.FileProblem as problem:
        row.problems.append(_problem(problem, SEARCH_TABLE))
        return []
    header, rows = (lines[0], lines[1:]) if lines else ([], [])
    if "epochs" not in header or header[:2] != ["trial", "state"]:
        row.problems.append(f"{SEARCH_TABLE}: damaged: its header is not a search's")
        return []
    names = header[2:header.index("epochs") - 1]   # trial, state, <objectives>, params, epochs, ...
    out = []
    for cells in rows:
        if len(cells) != len(header):
            row.problems.append(f"{SEARCH_TABLE}: damaged: a row of {len(cells)} cells under {len(header)} columns")
            continue
        record = dict(zip(header, cells))
        values = {}
        for name in names:
            try:
                values[name] = float(record[name])
            except ValueError:
                pass
        try:
            number = int(record["trial"])
        except ValueError:
            row.problems.append(f"{SEARCH_TABLE}: damaged: trial {record['trial']!r} is no number")
            continue
        out.append({"trial": number, "state": record["state"], "values": values, "run": record.get("run") or None,
                    "wall_time_s": _float(record.get("wall_time_s")), "note": record.get("note") or ""})
    return out


def _float(text) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def ranked_trials(path: Path, row: Row | None = None, trials: list[dict] | None = None
                  ) -> tuple[list[dict], str | None]:
    """The complete trials, best first by the (first) objective, and that objective's name."""
    row = row or Row(path, kind="search")
    trials = read_trials(path, row) if trials is None else trials
    goals = _search_goals(path, row)
    complete = [t for t in trials if t["state"] == "complete" and t["values"]]
    if not complete:
        return [], goals[0][0] if goals else None
    metric = goals[0][0] if goals else next(iter(complete[0]["values"]))
    way = goals[0][1] if goals else direction(metric)
    complete = [t for t in complete if metric in t["values"]]
    complete.sort(key=lambda t: (t["values"][metric] if way == "min" else -t["values"][metric], t["trial"]))
    best = _best_number(path)   # what the search itself chose wins a tie (or a goal read otherwise)
    if best is not None:
        complete.sort(key=lambda t: t["trial"] != best)
    return complete, metric


def _best_number(path: Path) -> int | None:
    """The trial best.yaml says it is (its first line: `# the best trial (N: ...`)."""
    try:
        first = files.read_text(path / SEARCH_BEST, files.MAX_JSON_BYTES).partition("\n")[0]
    except files.FileProblem:
        return None
    match = re.match(r"# the best trial \((\d+):", first)
    return int(match[1]) if match else None


def trial_run(path: Path, trial: dict) -> Path:
    """A trial's run folder: as trials.csv names it, else trials/NNN."""
    relative = trial.get("run") or f"{SEARCH_TRIALS}/{trial['trial']:03d}"
    return path / relative


def read_search(path: str | Path) -> Row:
    """A search folder's row: its trials by state, and the best trial's objective value and run details."""
    path = Path(path)
    row = Row(path, kind="search", status="search")
    info = _json(path / SEARCH_INFO, row)
    if info is None and not (path / SEARCH_INFO).exists():
        row.problems.append(f"no {SEARCH_INFO}")
    info = info or {}
    row.spec = info.get("spec") if isinstance(info.get("spec"), str) else None
    options = info.get("options") if isinstance(info.get("options"), dict) else {}
    row.overrides = options.get("overrides") if isinstance(options.get("overrides"), dict) else {}
    row.created = _created(path, info.get("created"))
    trials = read_trials(path, row)
    counts: dict = {"total": len(trials)}
    for trial in trials:
        counts[trial["state"]] = counts.get(trial["state"], 0) + 1
    if not trials and (path / SEARCH_TRIALS).is_dir():   # killed before trials.csv: count the trial folders
        counts["total"] = sum(1 for p in (path / SEARCH_TRIALS).iterdir() if p.is_dir())
    row.trials = counts
    ranked, metric = ranked_trials(path, row, trials)
    row.metric = metric
    times = [t["wall_time_s"] for t in trials if t["wall_time_s"] is not None]
    row.wall_time_s = round(sum(times), 3) if times else None
    if ranked:
        best = ranked[0]
        row.best, row.best_epoch = best["values"][metric], best["trial"]
        run = read_run(trial_run(path, best))
        row.backend, row.device, row.final = run.backend, run.device, run.final
        row.epochs = run.epochs
    return row


# --- a folder of them -----------------------------------------------------------------------------------------

def list_runs(folder: str | Path, metric: str | None = None) -> tuple[list[Row], list[Path]]:
    """The rows for `folder`'s run and search folders, oldest first, and the folders skipped as neither.

    `folder` may itself be a run folder (its one row) or a search folder (a row per trial).
    """
    folder = Path(folder)
    if is_search(folder):
        goals = _search_goals(folder, Row(folder))
        metric = metric or (goals[0][0] if goals and goals[0][0] != "params" else None)   # the trials' objective
        children = sorted(p for p in (folder / SEARCH_TRIALS).iterdir() if p.is_dir()) \
            if (folder / SEARCH_TRIALS).is_dir() else []
    elif is_run(folder) and not any(is_run(p) or is_search(p) for p in _subfolders(folder)):
        children = [folder]
    else:
        children = _subfolders(folder)
    rows, skipped = [], []
    for child in children:
        if is_search(child):
            rows.append(read_search(child))
        elif is_run(child):
            rows.append(read_run(child, metric))
        else:
            skipped.append(child)
    rows.sort(key=lambda r: (r.created or "", r.name))
    return rows, skipped


def _subfolders(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def check_metric(rows: list[Row], metric: str) -> str | None:
    """A hint when no run logged `metric` (did you mean ...?), else None."""
    logged = {name for row in rows for name in row.metrics()}
    if metric in logged or not logged:
        return None
    return did_you_mean(metric, sorted(logged)) or f"the runs log: {', '.join(sorted(logged))}"


# --- the text table ---------------------------------------------------------------------------------------------

def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.1f} s"
    if value < 3600:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def _value(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def spec_cell(row: Row, short: bool = False) -> str:
    """The spec as started: its file (relative to here when under it) and its --set values (`short`: one
    `--set` before all of them)."""
    spec = row.spec or "-"
    if os.path.isabs(spec):
        try:
            spec = os.path.relpath(spec)
        except ValueError:
            pass
        if spec.startswith(".."):
            spec = Path(row.spec).name
    sets = " ".join(f"{'' if short else '--set '}{k}={v}" for k, v in row.overrides.items())
    return f"{spec} {'--set ' if short and sets else ''}{sets}".strip()


def _epochs(row: Row) -> str:
    if row.kind == "search":
        counts = row.trials or {}
        others = ", ".join(f"{n} {state}" for state, n in counts.items() if state not in ("total", "complete"))
        return f"{counts.get('total', 0)} trials" + (f" ({others})" if others else "")
    if row.epochs is None:
        return "-"
    if row.epochs_requested and row.epochs_requested != row.epochs:
        return f"{row.epochs}/{row.epochs_requested}"
    return str(row.epochs)


def _best(row: Row) -> str:
    if row.metric is None:
        return "-"
    if row.best is None:
        return f"{row.metric} -"
    where = f"trial {row.best_epoch}" if row.kind == "search" else f"epoch {row.best_epoch}" \
        if row.best_epoch is not None else "final"
    return f"{row.metric} {_value(row.best)} ({where})"


COLUMNS = ("name", "spec", "status", "epochs", "best", "wall time", "backend", "device")


def table(rows: list[Row]) -> str:
    """One line per row, columns aligned; a row's problems on the lines under it, marked `!`."""
    cells = [(row.name, _cut(spec_cell(row, short=True), 72), row.status, _epochs(row), _best(row), _seconds(row.wall_time_s),
              row.backend or "-", row.device or "-") for row in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(COLUMNS)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(COLUMNS, widths)).rstrip()]
    for row, line in zip(rows, cells):
        lines.append("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip())
        lines += [f"  ! {problem}" for problem in row.problems]
    return "\n".join(lines) + "\n"
