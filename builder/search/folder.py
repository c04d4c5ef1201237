"""The search folder and the options a search runs with (saved in search.json, so resume runs alike).

See `builder.search.study` for the folder's layout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from builder.errors import Location, SpecError
from builder.model.compile import DEFAULT_MAX_PARAMS


@dataclass
class SearchOptions:
    """How `builder search` runs; saved in search.json so that a resume runs the same way."""

    trials: int = 10                     # the study's target: this many finished trials (complete or pruned)
    timeout: float | None = None         # seconds for this invocation; the trial under way finishes
    jobs: int = 1                        # worker processes sharing the study
    sampler: str = "tpe"
    pruner: str = "median"
    storage: str | None = None           # an Optuna storage URL; default: sqlite in the search folder
    max_params: int = DEFAULT_MAX_PARAMS
    out: Path | None = None              # the search folder; default: <root>/<name>-<time>
    root: Path = Path("search")
    overrides: dict = field(default_factory=dict)  # --set, applied to every trial
    epochs: int | None = None            # each trial's epochs (written into its spec)
    seed: int | None = None              # the sampler's seed
    resume: Path | None = None           # a search folder to continue
    verbose: bool = True


@dataclass(frozen=True)
class SearchFolder:
    path: Path

    spec = property(lambda self: self.path / "spec.yaml")
    info = property(lambda self: self.path / "search.json")
    database = property(lambda self: self.path / "study.db")
    specs = property(lambda self: self.path / "specs")
    trials = property(lambda self: self.path / "trials")
    table = property(lambda self: self.path / "trials.csv")
    best = property(lambda self: self.path / "best.yaml")
    report = property(lambda self: self.path / "report.md")
    history_plot = property(lambda self: self.path / "history.png")
    importance_plot = property(lambda self: self.path / "importance.png")
    pareto_plot = property(lambda self: self.path / "pareto.png")

    def trial_spec(self, number: int) -> Path:
        return self.specs / f"trial-{number:03d}.yaml"

    def trial_run(self, number: int) -> Path:
        return self.trials / f"{number:03d}"

    @property
    def storage_url(self) -> str:
        return f"sqlite:///{self.database.resolve()}"


def create_folder(options: SearchOptions, name: str) -> SearchFolder:
    if options.out is not None:
        path = Path(options.out)
        if path.exists() and any(path.iterdir()):
            raise SpecError.single(Location(str(path)), "the search folder exists and is not empty",
                                   "give another --out, or continue it with --resume")
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path, suffix = Path(options.root) / f"{name}-{stamp}", 1
        while path.exists():
            suffix += 1
            path = Path(options.root) / f"{name}-{stamp}-{suffix}"
    folder = SearchFolder(path)
    folder.specs.mkdir(parents=True, exist_ok=True)
    folder.trials.mkdir(exist_ok=True)
    return folder


