"""Transfer learning on embedded data: does the body of a CNN trained on the digits 0-4 help it learn
the digits 5-9 from 20 labelled images per class?

For each seed, three runs of specs/transfer/ (scikit-learn's 8x8 digits, no download):

- `source`: digits_0to4.yaml, the digits 0-4 (80% of them to train);
- `transfer`: digits_5to9_finetune.yaml, the digits 5-9 from 20 images per class, starting from the
  source's weights (all but the head), 20 epochs with the convolutions frozen, then 20 fine-tuning all;
- `same schedule, no init`: the same spec with `train.init` removed: the same phases over a random
  (frozen, then trained) body: what the schedule alone gives;
- `scratch`: digits_5to9_scratch.yaml, the same network and images, 40 epochs from random weights;
- `probe`: a linear probe: everything up to `features` frozen, only the new head trains (20 epochs,
  learning rate 1e-2), over the source's body and over a random body.

Each target run is measured on every other image of the digits 5-9 (about 800), its validation data.
The seed fixes the 20 images per class, the initialisation and the shuffling; all runs of a seed
share it. Run: `python bench/transfer_digits.py [--seeds 0,1,2]`; writes bench/results/transfer_digits.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from machine import machine_line  # noqa: E402

SPECS = ROOT / "specs" / "transfer"


def train_text(text: str, folder: Path, name: str, init: Path | None = None) -> dict:
    """Train a spec given as text in `folder`; returns its summary.json."""
    from builder.load import load
    from builder.parse import parse
    from builder.resolve import resolve
    from builder.train import TrainOptions, train

    path = folder / f"{name}.yaml"
    path.write_text(text)
    document = load(path)
    graph = resolve(parse(document), document, {})
    run = train(graph, path, TrainOptions(out=folder / name, verbose=0, diagram=False, init_path=init))
    return json.loads(run.summary.read_text())


def with_seed(text: str, seed: int) -> str:
    assert "  seed: 0\n" in text
    return text.replace("  seed: 0\n", f"  seed: {seed}\n")


def without_init(text: str) -> str:
    lines = [line for line in text.splitlines(keepends=True) if not line.startswith("  init:")]
    return "".join(lines)


def one_seed(seed: int, folder: Path) -> dict:
    source = train_text(with_seed((SPECS / "digits_0to4.yaml").read_text(), seed), folder, f"source{seed}")
    finetune = with_seed((SPECS / "digits_5to9_finetune.yaml").read_text(), seed)
    transfer = train_text(finetune, folder, f"transfer{seed}", init=folder / f"source{seed}")
    schedule = train_text(without_init(finetune), folder, f"schedule{seed}")
    scratch = train_text(with_seed((SPECS / "digits_5to9_scratch.yaml").read_text(), seed), folder, f"scratch{seed}")
    phases = finetune[finetune.index("  phases:\n"):finetune.index("  optimizer:")]
    probe = finetune.replace(phases, "  phases:\n    - {epochs: 20, freeze: {until: features}, learning_rate: 1.0e-2}\n")
    probe_trained = train_text(probe, folder, f"probe{seed}", init=folder / f"source{seed}")
    probe_random = train_text(without_init(probe), folder, f"probe_random{seed}")
    return {"seed": seed, "source": source["final"]["val_accuracy"], "transfer": transfer["final"]["val_accuracy"],
            "schedule": schedule["final"]["val_accuracy"], "scratch": scratch["final"]["val_accuracy"],
            "probe": probe_trained["final"]["val_accuracy"], "probe_random": probe_random["final"]["val_accuracy"],
            "validation": transfer["samples"]["validation"], "train": transfer["samples"]["train"],
            "loaded": transfer["init"]["loaded"]}


def report(rows: list[dict], seconds: float) -> str:
    def mean(key):
        return statistics.mean(r[key] for r in rows)

    lines = [
        "# Transfer learning: digits 0-4 -> digits 5-9 from 20 images per class",
        "",
        machine_line(),
        "",
        "`python bench/transfer_digits.py` (specs/transfer/, scikit-learn's 8x8 digits). Accuracy on the",
        f"{rows[0]['validation']} images of the digits 5-9 not used for training ({rows[0]['train']} trained on);",
        "source: on its own held-out 20% of the digits 0-4. Loaded into the transfer runs: "
        + ", ".join(rows[0]["loaded"]) + ".",
        "",
        "| seed | source (0-4) | transfer | same schedule, no init | scratch | transfer - scratch "
        "| probe, 0-4 body | probe, random body |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['source']:.4f} | {r['transfer']:.4f} | {r['schedule']:.4f} | "
                     f"{r['scratch']:.4f} | {r['transfer'] - r['scratch']:+.4f} | {r['probe']:.4f} | "
                     f"{r['probe_random']:.4f} |")
    lines.append(f"| mean | {mean('source'):.4f} | {mean('transfer'):.4f} | {mean('schedule'):.4f} | "
                 f"{mean('scratch'):.4f} | {mean('transfer') - mean('scratch'):+.4f} | {mean('probe'):.4f} | "
                 f"{mean('probe_random'):.4f} |")
    lines += ["", f"Wall time: {seconds:.0f} s."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "transfer_digits.md"))
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [one_seed(int(seed), Path(tmp)) for seed in args.seeds.split(",")]
    text = report(rows, time.perf_counter() - started)
    Path(args.output).write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
