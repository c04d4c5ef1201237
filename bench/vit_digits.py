"""A small Vision Transformer against LeNet-5 on scikit-learn's 8x8 digits.

Trains specs/vit.yaml and specs/lenet.yaml as they are in the library (their
own optimizers and batch sizes) for the same number of epochs, on the same
split: for each seed both specs run with `train.seed` set to it, which fixes
the 80/20 split (1,437 training and 360 validation images) and the
initialisation. Reports the final and best validation accuracy, the
parameters and the wall time of each run, in-process, one after another.

Run: `python bench/vit_digits.py [--epochs 40] [--seeds 0,1,2]`; writes
bench/results/vit_digits.md (`--output` elsewhere; `--tiny`: a smoke run, 1 epoch, seed 0, one encoder block).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, Arguments, numbers, train_text, write_report  # noqa: E402
from machine import machine_line  # noqa: E402

SPECS = {"vit": ROOT / "specs" / "vit.yaml", "lenet": ROOT / "specs" / "lenet.yaml"}


def train_once(name: str, seed: int, epochs: int, folder: Path, overrides: dict) -> dict:
    """Train one spec with `train.seed: seed` for `epochs`; its validation accuracies, parameters, wall time."""
    from builder.training.run_folder import read_history

    document = yaml.safe_load(SPECS[name].read_text())
    document["train"]["seed"] = seed
    trained = train_text(yaml.safe_dump(document, sort_keys=False), folder, f"{name}-{seed}", overrides, epochs)
    run, summary = trained.run, trained.summary
    accuracies = [float(row["val_accuracy"]) for row in read_history(run.history)]
    import keras

    params = keras.models.load_model(run.model).count_params()
    return {"final": summary["final"]["val_accuracy"], "best": max(accuracies), "params": params,
            "wall": trained.seconds, "epochs": summary["epochs"], "samples": summary["samples"]}


def report(results: dict, epochs: int, seeds: list[int], sets: list[str]) -> str:
    samples = next(iter(results.values()))[0]["samples"]
    lines = ["# A small ViT against LeNet-5 on 8x8 digits", "",
             f"`python bench/vit_digits.py --epochs {epochs} --seeds {','.join(map(str, seeds))}"
             f"{''.join(' --set ' + s for s in sets)}`: "
             f"specs/vit.yaml and specs/lenet.yaml at their defaults (their own optimizers and batch sizes), "
             f"{epochs} epochs each, the same split of scikit-learn's 1,797 digits per seed "
             f"({samples['train']:,} training, {samples['validation']:,} validation images; `train.seed` fixes both "
             "the split and the initialisation). Chance is 10%.", "",
             machine_line(), "",
             "| spec | parameters | seed | val accuracy (last epoch) | best epoch's | wall time (s) |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, runs in results.items():
        for seed, r in zip(seeds, runs):
            lines.append(f"| {name}.yaml | {r['params']:,} | {seed} | {r['final']:.4f} | {r['best']:.4f} | "
                         f"{r['wall']:.0f} |")
    lines += ["", "Mean over seeds (last epoch), ± the standard deviation over seeds:", ""]
    for name, runs in results.items():
        finals = [r["final"] for r in runs]
        spread = f" ± {statistics.stdev(finals):.4f}" if len(finals) > 1 else ""
        lines.append(f"- {name}.yaml: {statistics.mean(finals):.4f}{spread}")
    lines += ["", f"One validation image is {1 / samples['validation']:.2%} of accuracy. Wall times are in-process "
              "training (fit, validation, checkpoints), under `nice`, one run after another."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = Arguments(__doc__, ROOT / "bench" / "results" / "vit_digits.md",
                       tiny={"epochs": 1, "seeds": "0", "sets": ["depth=1"]})
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE",
                        help="a parameter of specs/vit.yaml")
    args = parser.parse_args(argv)
    seeds = numbers(args.seeds)
    from builder.cli import parse_overrides

    overrides = {"vit": parse_overrides(tuple(args.sets)), "lenet": {}}
    results: dict[str, list] = {name: [] for name in SPECS}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            for name in SPECS:
                results[name].append(train_once(name, seed, args.epochs, Path(tmp), overrides[name]))
                print(name, seed, results[name][-1], file=sys.stderr, flush=True)
    write_report(report(results, args.epochs, seeds, args.sets), args.output)


if __name__ == "__main__":
    main()
