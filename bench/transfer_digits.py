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
share it. Run: `python bench/transfer_digits.py [--seeds 0,1,2]`; writes bench/results/transfer_digits.md
(`--tiny`: a smoke run, seed 0, every run and phase 1 epoch).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, Arguments, numbers, train_text, write_report  # noqa: E402
from machine import machine_line  # noqa: E402

SPECS = ROOT / "specs" / "transfer"


def with_seed(text: str, seed: int) -> str:
    assert "  seed: 0\n" in text
    return text.replace("  seed: 0\n", f"  seed: {seed}\n")


def without_init(text: str) -> str:
    lines = [line for line in text.splitlines(keepends=True) if not line.startswith("  init:")]
    return "".join(lines)


def one_seed(seed: int, folder: Path, epochs: int | None = None) -> dict:
    """The six runs of a seed; `epochs` (--epochs) sets every run's and phase's, else each spec's own."""
    def run(text: str, name: str, init: Path | None = None) -> dict:
        return train_text(text, folder, name, epochs=epochs, init=init).summary

    source = run(with_seed((SPECS / "digits_0to4.yaml").read_text(), seed), f"source{seed}")
    finetune = with_seed((SPECS / "digits_5to9_finetune.yaml").read_text(), seed)
    transfer = run(finetune, f"transfer{seed}", init=folder / f"source{seed}")
    schedule = run(without_init(finetune), f"schedule{seed}")
    scratch = run(with_seed((SPECS / "digits_5to9_scratch.yaml").read_text(), seed), f"scratch{seed}")
    phases = finetune[finetune.index("  phases:\n"):finetune.index("  optimizer:")]
    probe = finetune.replace(phases, "  phases:\n    - {epochs: 20, freeze: {until: features}, learning_rate: 1.0e-2}\n")
    probe_trained = run(probe, f"probe{seed}", init=folder / f"source{seed}")
    probe_random = run(without_init(probe), f"probe_random{seed}")
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
    parser = Arguments(__doc__, ROOT / "bench" / "results" / "transfer_digits.md", tiny={"seeds": "0", "epochs": 1})
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=None, help="every run's and phase's (default: each spec's)")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [one_seed(seed, Path(tmp), args.epochs) for seed in numbers(args.seeds)]
    write_report(report(rows, time.perf_counter() - started), args.output)


if __name__ == "__main__":
    main()
