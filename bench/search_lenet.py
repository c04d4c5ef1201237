"""A real search: 12 trials over LeNet's widths, depth and learning rate on digits, against hand-written LeNet.

Three steps, each a `builder` command in its own process, timed:

1. `builder train specs/lenet.yaml`: the hand-written LeNet-5 (30 epochs, seed 0);
2. `builder search specs/lenet_search.yaml --trials 12`: TPE with median pruning over the widths of C1,
   C3, C5 and F6, the number of F6 layers (1 to 3) and Adam's learning rate (3e-4 to 1e-2, log);
   each trial trains `--epochs` epochs (default 20);
3. `builder train best.yaml --epochs 30`: the best spec found, trained as long as the hand-written one.

The machine's load average is recorded before and after: these CPUs are shared, and wall times
grow with the load. Run: `nice -n 15 python bench/search_lenet.py [--trials 12] [--epochs 20]`;
writes bench/results/search_lenet.md (`--tiny`: a smoke run, 2 trials, every training 1 epoch).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, Arguments, write_report  # noqa: E402
from machine import machine_line  # noqa: E402

BUILDER = [sys.executable, "-m", "builder.cli"]


def run(args: list[str], cwd: Path) -> float:
    """Run a builder command (this checkout's builder); returns its wall time in seconds."""
    started = time.perf_counter()
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    result = subprocess.run(BUILDER + args, cwd=cwd, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": path})
    if result.returncode != 0:
        sys.exit(f"builder {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def final(run_folder: Path) -> dict:
    return json.loads((run_folder / "summary.json").read_text())["final"]


def main() -> None:
    parser = Arguments(__doc__, ROOT / "bench" / "results" / "search_lenet.md",
                       tiny={"trials": 2, "epochs": 1, "final_epochs": 1})
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=20, help="Each trial's epochs.")
    parser.add_argument("--final-epochs", type=int, default=30,
                        help="The hand-written LeNet's epochs and the best spec's (specs/lenet.yaml's own: 30).")
    parser.add_argument("--timeout", type=float, default=900, help="The search's time limit in seconds.")
    parser.add_argument("--keep", type=Path, default=None, help="Keep the search folder here.")
    args = parser.parse_args()
    output, final_epochs = Path(args.output), args.final_epochs

    work = Path(tempfile.mkdtemp(prefix="search_lenet-"))
    load_before = os.getloadavg()
    hand_time = run(["train", str(ROOT / "specs" / "lenet.yaml"), "--epochs", str(final_epochs),
                     "--out", str(work / "lenet")], work)
    hand = final(work / "lenet")
    search_time = run(["search", str(ROOT / "specs" / "lenet_search.yaml"), "--trials", str(args.trials),
                       "--epochs", str(args.epochs), "--seed", "0", "--timeout", str(args.timeout),
                       "--out", str(work / "search")], work)
    folder = work / "search"
    best_time = run(["train", str(folder / "best.yaml"), "--epochs", str(final_epochs), "--out", str(work / "best")],
                    work)
    best = final(work / "best")
    load_after = os.getloadavg()

    with (folder / "trials.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    paths = [k for k in rows[0] if "." in k]
    states = [r["state"] for r in rows]
    complete = [r for r in rows if r["state"] == "complete"]
    top = max(complete, key=lambda r: float(r["val_accuracy"]))
    lines = [
        "# Search: LeNet widths, depth and learning rate on digits", "",
        machine_line(),
        f"Load average (1, 5, 15 min) before: {', '.join(f'{x:.1f}' for x in load_before)}; after: "
        f"{', '.join(f'{x:.1f}' for x in load_after)} (2 shared cores: other work ran at the same time).", "",
        f"`python bench/search_lenet.py --trials {args.trials} --epochs {args.epochs}` "
        f"(TPE, seed 0, median pruning, each trial {args.epochs} epochs).", "",
        "| step | wall time | val_accuracy |", "|---|---|---|",
        f"| hand-written `specs/lenet.yaml`, {final_epochs} epochs | {hand_time:.0f} s | {hand['val_accuracy']:.4f} |",
        f"| `builder search`, {len(rows)} trials ({states.count('complete')} complete, "
        f"{states.count('pruned')} pruned, {states.count('fail')} failed) | {search_time:.0f} s "
        f"({search_time / 60:.1f} min) | best trial {top['trial']}: {float(top['val_accuracy']):.4f} "
        f"after {top['epochs']} epochs |",
        f"| the best spec (`best.yaml`), {final_epochs} epochs | {best_time:.0f} s | {best['val_accuracy']:.4f} |", "",
        "## What the search found", "",
        f"Best trial {top['trial']}: {int(top['params']):,} parameters (hand-written LeNet: 61,706).", "",
        "| path | hand-written | best |", "|---|---|---|",
    ]
    written = {"params.c1": 6, "params.c3": 16, "params.c5": 120, "params.f6": 84, "layers.f6.repeat": 1,
               "train.optimizer.learning_rate": 0.001}
    for path in paths:
        value = top[path]
        lines.append(f"| `{path}` | {written.get(path, '')} | {float(value):.4g} |")
    lines += ["", "## Every trial", "",
              "| trial | state | val_accuracy | params | epochs | " + " | ".join(f"`{p}`" for p in paths) + " |",
              "|" + "---|" * (5 + len(paths))]
    for r in rows:
        accuracy = f"{float(r['val_accuracy']):.4f}" if r["val_accuracy"] else ""
        params = f"{int(r['params']):,}" if r["params"] else ""
        cells = [f"{float(r[p]):.4g}" if r[p] else "" for p in paths]
        lines.append(f"| {r['trial']} | {r['state']} | {accuracy} | {params} | {r['epochs']} | "
                     + " | ".join(cells) + " |")
    verdict = "at least" if best["val_accuracy"] >= hand["val_accuracy"] else "below"
    lines += ["", f"The best spec, trained {final_epochs} epochs like the hand-written one, reaches "
              f"{best['val_accuracy']:.4f} "
              f"validation accuracy: {verdict} hand-written LeNet's {hand['val_accuracy']:.4f} "
              f"(360 validation images: one image is 0.0028).", ""]
    lines += [f"Parameter importances below are fANOVA over the {len(complete)} complete trials only: rough.", ""]
    for plot in ("history", "importance"):
        if (folder / f"{plot}.png").exists() and args.output != "-":
            output.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / f"{plot}.png", output.with_name(f"{output.stem}_{plot}.png"))
            lines.append(f"![{plot}]({output.stem}_{plot}.png)")
    lines.append("")
    write_report("\n".join(lines), args.output)
    if args.keep:
        shutil.copytree(folder, args.keep, dirs_exist_ok=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
