"""`builder compare RUN RUN...`: runs side by side, their final and best metrics, their curves and their specs' differences.

Each run is a run folder (a search trial's `trials/NNN` too). A search folder stands for its best trial
(or its `top` best); given alone, its trials are compared with the spec the search started from. The
first run (or that base spec) is the reference the others' spec differences are taken against.

The spec differences are `builder diff`'s (`builder.graph.diff`, on the specs as the runs resolved
them, their `--set` values included): `spec_changes` is the one place that calls it. Where a side's
spec no longer loads (a damaged spec.yaml, a spec an older builder wrote), it falls back to the
differing `--set` values (run.json) and `train:` settings read as plain YAML, and says so.

Nothing here imports Keras: the runs' files are read (`builder.runs.listing`), and the plot is matplotlib's.

Public entry point: `compare_runs(paths, top=1)` -> `Comparison` (`.text()`, `.json()`, `.plot(path)`).
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.errors import Location, SpecError, show
from builder.runs.listing import (Row, best_of, epochs_of, is_run, is_search, ranked_trials, read_run, spec_cell,
                                  trial_run)
from builder.training.run_folder import read_json


@dataclass
class Side:
    """One side of a spec comparison: what to call it, a run folder or spec file, and --set values it adds."""

    label: str
    path: Path
    overrides: dict = field(default_factory=dict)


@dataclass
class Entry:
    """One run of the comparison: its letter, what the user gave (or the trial it stands for), its row."""

    letter: str
    title: str
    row: Row


@dataclass
class Comparison:
    entries: list[Entry]
    metrics: list[str]
    base: Side | None = None                       # a search's base spec, the reference of the differences
    differences: list[dict] = field(default_factory=list)

    # -- text
    def text(self) -> str:
        lines = []
        if self.base is not None:
            sets = " ".join(f"--set {k}={v}" for k, v in self.base.overrides.items())
            lines.append(f"base: {self.base.label}" + (f" ({sets})" if sets else ""))
        head = ("", "run", "spec", "status", "epochs", "wall time", "backend", "device")
        cells = [(e.letter, e.title, spec_cell(e.row), e.row.status, _epochs(e.row), _seconds(e.row.wall_time_s),
                  e.row.backend or "-", e.row.device or "-") for e in self.entries]
        lines += _aligned(head, cells)
        for entry in self.entries:
            lines += [f"  ! {entry.letter}: {problem}" for problem in entry.row.problems]
        lines.append("")
        lines += _aligned(("metric",) + tuple(f"{e.letter} {what}" for e in self.entries for what in ("final", "best")),
                          [(metric,) + tuple(cell for e in self.entries for cell in _metric_cells(e.row, metric))
                           for metric in self.metrics])
        if not self.metrics:
            lines.append("(no metrics logged)")
        lines.append("best: the best epoch's value (its epoch); lower is better for losses, higher for the rest")
        for changes in self.differences:
            lines += ["", f"spec differences, {changes['letters']} ({changes['by']}):"]
            if changes.get("note"):
                lines.append(f"  ({changes['note']})")
            lines.append(changes["text"].rstrip("\n"))
        return "\n".join(lines) + "\n"

    def json(self) -> dict:
        runs = []
        for e in self.entries:
            best = {}
            for metric in self.metrics:
                value, epoch = best_of(e.row.history, metric)
                best[metric] = {"value": value, "epoch": epoch}
            runs.append({"letter": e.letter, "title": e.title} | e.row.to_dict() | {"best_by_metric": best})
        base = None if self.base is None else {"path": str(self.base.path), "overrides": self.base.overrides}
        return {"base": base, "runs": runs, "metrics": self.metrics,
                "differences": [{k: v for k, v in c.items() if k != "text"} for c in self.differences]}

    # -- the plot
    def plot(self, path: str | Path) -> Path:
        """One panel per metric, each run in its colour: training solid, validation dashed."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D

        path = Path(path)
        panels = _panels(self.metrics)
        columns = min(3, max(1, len(panels)))
        rows = max(1, math.ceil(len(panels) / columns))
        fig, axes = plt.subplots(rows, columns, figsize=(4.4 * columns, 3.3 * rows + 0.6), squeeze=False)
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for ax, metric in zip(axes.flat, panels):
            for i, entry in enumerate(self.entries):
                history = entry.row.history
                epochs = epochs_of(history)
                for name, style in ((metric, "-"), (f"val_{metric}", "--")):
                    values = [row.get(name) for row in history]
                    if any(_finite(v) for v in values):
                        ax.plot(epochs, [v if _finite(v) else math.nan for v in values], style,
                                color=colours[i % len(colours)], marker="o", markersize=2.5)
            ax.set_title(metric)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(panels):]:
            ax.axis("off")
        handles = [Line2D([], [], color=colours[i % len(colours)], label=f"{e.letter}: {e.title}")
                   for i, e in enumerate(self.entries)]
        handles += [Line2D([], [], color="grey", linestyle="-", label="training"),
                    Line2D([], [], color="grey", linestyle="--", label="validation")]
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 3), fontsize=8, frameon=False)
        fig.tight_layout(rect=(0, 0.04 + 0.035 * math.ceil(len(handles) / 3), 1, 1))
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path


def _finite(value) -> bool:
    return isinstance(value, float) and math.isfinite(value)


def _panels(metrics: list[str]) -> list[str]:
    """A panel per metric, its validation twin drawn in it: `loss` for loss and val_loss."""
    panels = []
    for metric in metrics:
        name = metric.removeprefix("val_")
        if name not in panels:
            panels.append(name)
    return panels


def _aligned(head: tuple, rows: list[tuple]) -> list[str]:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(head)]
    return ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in [head, *rows]]


def _value(value) -> str:
    return "-" if value is None else f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}"


def _metric_cells(row: Row, metric: str) -> tuple[str, str]:
    final = row.final.get(metric)
    value, epoch = best_of(row.history, metric)
    return _value(final if _finite(final) else None), ("-" if value is None else f"{_value(value)} ({epoch})")


def _epochs(row: Row) -> str:
    if row.epochs is None:
        return "-"
    if row.epochs_requested and row.epochs_requested != row.epochs:
        return f"{row.epochs}/{row.epochs_requested}"
    return str(row.epochs)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s" if value < 60 else f"{value / 60:.1f} min"


def metric_order(rows: list[Row]) -> list[str]:
    """Every metric any run logged, each followed by its validation twin: loss, val_loss, accuracy, ..."""
    seen: list[str] = []
    for row in rows:
        for metric in row.metrics():
            if metric not in seen:
                seen.append(metric)
    ordered: list[str] = []
    for metric in seen:
        for name in (metric.removeprefix("val_"), "val_" + metric.removeprefix("val_")):
            if name in seen and name not in ordered:
                ordered.append(name)
    return ordered


# --- the spec differences: builder diff's, or the settings ------------------------------------------------

def spec_changes(a: Side, b: Side) -> dict:
    """What differs from `a`'s spec to `b`'s: `builder diff`'s comparison of the resolved specs (the seam:
    `builder.graph.diff.compare` on `builder.graph.resolved.open_spec`), else the --set values and train
    settings, with the reason in `note`."""
    try:
        from builder.graph.diff import compare
        from builder.graph.resolved import open_spec

        diff = compare(open_spec(a.path, a.overrides), open_spec(b.path, b.overrides))
        return {"a": a.label, "b": b.label, "by": "builder diff", "equal": diff.equal, "text": diff.text(),
                "diff": diff.json()}
    except SpecError as error:
        first = error.errors[0] if error.errors else None
        note = (f"{first.location.file}: {first.message}" if first else str(error)) + \
            "; the --set values and train settings instead"
        return settings_changes(a, b) | {"note": note}


def _flat(value: Any, path: str, out: dict) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _flat(v, f"{path}.{k}", out)
    else:
        out[path] = value


def _settings(side: Side) -> dict | None:
    """A side's --set values (as run.json recorded them, plus its own) and its spec's train: as plain YAML;
    None when its spec cannot be read even as YAML."""
    from builder.language.loader import load

    out: dict = {}
    folder = side.path if side.path.is_dir() else None
    recorded = {}
    if folder is not None and (folder / "run.json").exists():
        try:
            recorded = read_json(folder / "run.json").get("overrides") or {}
        except SpecError:
            pass
    for name, value in {**(recorded if isinstance(recorded, dict) else {}), **side.overrides}.items():
        out[f"--set {name}"] = value
    try:
        data = load(folder / "spec.yaml" if folder is not None else side.path).data
    except SpecError:
        return None
    train = data.get("train") if isinstance(data, dict) else None
    for key, value in (train if isinstance(train, dict) else {}).items():
        _flat(value, f"train.{key}", out)
    return out


def _sets_only(settings: dict) -> dict:
    return {k: v for k, v in settings.items() if k.startswith("--set ")}


_ABSENT = "(not given)"


def settings_changes(a: Side, b: Side) -> dict:
    """The --set values and train settings that differ, without loading either spec (the fallback)."""
    left, right = _settings(a), _settings(b)
    unread = [side.label for side, settings in ((a, left), (b, right)) if settings is None]
    if unread:   # a spec that is not even YAML: its train settings are unknown, not absent
        left, right = _sets_only(left or {}), _sets_only(right or {})
    changed = [(k, left.get(k, _ABSENT), right.get(k, _ABSENT)) for k in [*left, *(k for k in right if k not in left)]
               if left.get(k, _ABSENT) != right.get(k, _ABSENT)]
    lines = [f"--- {a.label}", f"+++ {b.label}"]
    lines += [f"  ~ {k}: {x if x == _ABSENT else show(x)} -> {y if y == _ABSENT else show(y)}" for k, x, y in changed]
    if unread:
        lines.append(f"  (the spec of {' and '.join(unread)} cannot be read: train settings not compared)")
    lines.append(f"no differences in --set values{'' if unread else ' or train settings'}" if not changed
                 else f"{len(changed)} setting{'s' * (len(changed) != 1)} differ")
    return {"a": a.label, "b": b.label, "by": "settings", "equal": not changed, "text": "\n".join(lines) + "\n",
            "settings": [{"what": k, "a": x, "b": y} for k, x, y in changed]}


# --- the comparison -------------------------------------------------------------------------------------------

def _letter(i: int) -> str:
    letters = string.ascii_uppercase
    return letters[i] if i < len(letters) else f"{letters[i // len(letters) - 1]}{letters[i % len(letters)]}"


def _search_base(folder: Path) -> Side:
    """The spec a search started from, with the --set values every trial got (search.json)."""
    overrides: dict = {}
    if (folder / "search.json").exists():
        try:
            options = read_json(folder / "search.json").get("options")
            overrides = options.get("overrides") or {} if isinstance(options, dict) else {}
        except SpecError:
            pass
    return Side(str(folder / "spec.yaml"), folder / "spec.yaml", overrides if isinstance(overrides, dict) else {})


def compare_runs(paths: list[str | Path], top: int = 1) -> Comparison:
    """The runs named (a search folder: its `top` best trials), the metrics they logged, and the spec
    differences from the first (or, for one search folder alone, from the spec it searched) to each other."""
    picked: list[tuple[str, Path, str | None]] = []   # (title, run folder, the metric its `best` is of)
    for given in paths:
        path = Path(given)
        if is_search(path):
            ranked, objective = ranked_trials(path)
            if not ranked:
                raise SpecError.single(Location(str(given)), "this search has no complete trial to compare",
                                       "let it run (`builder search --resume`), or compare its trials/NNN folders")
            objective = objective if objective != "params" else None
            picked += [(f"{path.name} trial {t['trial']}", trial_run(path, t), objective) for t in ranked[:top]]
        elif is_run(path):
            picked.append((str(given), path, None))
        else:
            raise SpecError.single(Location(str(given)), "neither a run folder nor a search folder",
                                   "give folders that `builder train` (runs/...) or `builder search` "
                                   "(search/...) wrote")
    alone = len(paths) == 1 and is_search(Path(paths[0]))
    if len(picked) < 2 and not alone:
        raise SpecError.single(Location(str(paths[0])), "one run is nothing to compare it with",
                               "give two runs or more, or a search folder (its best trial against the spec it "
                               "searched; --top K for its K best)")
    entries = [Entry(_letter(i), title, read_run(path, metric)) for i, (title, path, metric) in enumerate(picked)]
    result = Comparison(entries, metric_order([e.row for e in entries]))
    if alone:
        result.base = _search_base(Path(paths[0]))
        reference, others = result.base, entries
    else:
        first = entries[0]
        reference, others = Side(first.title, first.row.path), entries[1:]
    for entry in others:
        changes = spec_changes(reference, Side(entry.title, entry.row.path))
        letters = f"base -> {entry.letter}" if alone else f"{entries[0].letter} -> {entry.letter}"
        result.differences.append({"letters": letters} | changes)
    return result
