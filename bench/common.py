"""What the benchmark scripts that train specs share: their arguments, training a spec, writing the report.

Used by bench/{vit_digits,search_lenet,augment_digits,transfer_digits}.py and every script under
bench/quality/. A script puts bench/ on sys.path and imports from here; importing this module puts
the repository root on sys.path too (and bench/, for a test that loads it by path), so the scripts
train with this checkout's `builder`:

    sys.path.insert(0, str(Path(__file__).resolve().parent))   # bench/quality/: .parent.parent
    from common import ROOT, Arguments, train_spec, write_report  # noqa: E402
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _folder in (ROOT / "bench", ROOT):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

from machine import machine_line  # noqa: E402


class Arguments(argparse.ArgumentParser):
    """A script's argument parser with `--output` (default: its results file; `-` for none) and `--tiny`.

    `--tiny` runs the whole script at a toy size (a smoke test, well under a minute): it sets the
    defaults named in `tiny` (explicit options still win), and the report goes to a temporary folder
    unless `--output` names a file, never to the checked-in results file.
    """

    def __init__(self, doc: str, results: Path, tiny: dict):
        super().__init__(description=doc.splitlines()[0])
        self.results, self.tiny = results, tiny
        self.add_argument("--output", default=None,
                          help=f"markdown file, or - for none (default: {results.relative_to(ROOT)})")
        self._tiny = self.add_argument("--tiny", action="store_true")

    def format_help(self) -> str:
        options = {action.dest: action.option_strings[0] for action in self._actions if action.option_strings}
        sizes = " ".join(f"{options[name]} {value}" for name, values in self.tiny.items()
                         for value in (values if isinstance(values, list) else [values]))
        self._tiny.help = (f"a smoke run at a toy size ({sizes}); the report goes to --output or a temporary folder, "
                           "never to the results file")
        return super().format_help()

    def parse_args(self, args=None, namespace=None):
        parsed = super().parse_args(args, namespace)
        if parsed.tiny:
            self.set_defaults(**self.tiny)
            parsed = super().parse_args(args, namespace)
        if parsed.output is None:
            parsed.output = (str(Path(tempfile.mkdtemp(prefix="bench-tiny-")) / self.results.name) if parsed.tiny
                             else str(self.results))
        return parsed


def numbers(text: str) -> list[int]:
    """Comma-separated whole numbers (`--seeds 0,1,2`); empty for an empty string."""
    return [int(part) for part in text.split(",") if part.strip()]


def pixels(images):
    """Each image as one row of its pixels, as scikit-learn's estimators take them."""
    return images.reshape(len(images), -1)


@dataclass
class Trained:
    """One finished training run of a spec."""

    run: object       # builder.training.run_folder.RunFolder
    graph: object     # the resolved spec it trained
    summary: dict     # its summary.json
    seconds: float    # wall time of training (the spec's load not included)
    cpu: float        # CPU time of this process while training, all threads


def train_spec(spec: Path, folder: Path, overrides: dict | None = None, epochs: int | None = None,
               init: Path | None = None, graph=None) -> Trained:
    """Train `spec` through builder's own training stage into the run folder `folder`, quietly, no diagram.

    `overrides` are `--set` values, `epochs` overrides train.epochs (every phase's), `init` train.init.from;
    `graph` is the spec already resolved with those overrides, when the caller needed it first.
    """
    from builder.cli import load_graph
    from builder.training.run import TrainOptions, train

    overrides = overrides or {}
    graph = graph if graph is not None else load_graph(str(spec), overrides)
    start, cpu = time.perf_counter(), time.process_time()
    run = train(graph, spec, TrainOptions(out=folder, epochs=epochs, overrides=overrides, init_path=init,
                                          verbose=0, diagram=False))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return Trained(run, graph, json.loads(run.summary.read_text()), seconds, cpu)


def train_text(text: str, folder: Path, name: str, overrides: dict | None = None, epochs: int | None = None,
               init: Path | None = None) -> Trained:
    """Train a spec given as text: written to folder/NAME.yaml, the run in folder/NAME (see `train_spec`)."""
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return train_spec(path, folder / name, overrides, epochs, init)


def footer(device: str) -> str:
    """The machine line, with the run's device, the date and the load average at the end."""
    return (f"{machine_line()} Device: {device}; {time.strftime('%Y-%m-%d')}. Load average at the end "
            f"(1 minute): {os.getloadavg()[0]:.1f}; on a machine shared with other jobs the wall times grow, the CPU "
            f"times (all threads of this process) much less.")


def write_report(text: str, output: str | Path, echo: bool = True) -> None:
    """Print the report (unless `echo` is false) and write it to `output`, unless that is `-`."""
    if echo:
        print(text, end="" if text.endswith("\n") else "\n", flush=True)
    if str(output) != "-":
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text)
