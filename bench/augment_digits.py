"""Data augmentation, measured: LeNet (specs/lenet.yaml) on 300 digits, with and without `train.augment`.

The training data is 30 images of each digit (300, `per_class: 30`, drawn with the seed); the
accuracy is measured on the other 1,497 images of scikit-learn's 8x8 digits. Without augmentation
and with `RandomRotation(0.05)` (up to 18 degrees), `RandomTranslation(0.1, 0.1)` and
`RandomZoom(0.1)` applied to the training batches only, each at 30 and at 60 epochs (augmented
data may need longer), over three seeds. Everything else is specs/lenet.yaml as it is.
Run: `python bench/augment_digits.py [--seeds 0,1,2] [--epochs 30,60]`; writes bench/results/augment_digits.md
(`--tiny`: a smoke run, seed 0, 1 epoch).
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

DATA_LINE = "  data: {source: builtin, name: digits, image: true, validation_split: 0.2}\n"
AUGMENT = """  augment:
    - {type: RandomRotation, factor: 0.05}
    - {type: RandomTranslation, height_factor: 0.1, width_factor: 0.1}
    - {type: RandomZoom, height_factor: 0.1}
"""


def spec_text(seed: int, epochs: int, augment: bool) -> str:
    text = (ROOT / "specs" / "lenet.yaml").read_text()
    assert DATA_LINE in text and "  epochs: 30\n" in text and "  seed: 0\n" in text
    data = "  data: {source: builtin, name: digits, image: true, per_class: 30}\n"
    text = text.replace(DATA_LINE, data + (AUGMENT if augment else ""))
    return text.replace("  epochs: 30\n", f"  epochs: {epochs}\n").replace("  seed: 0\n", f"  seed: {seed}\n")


def accuracy(text: str, folder: Path, name: str) -> tuple[float, dict]:
    summary = train_text(text, folder, name).summary
    return summary["final"]["val_accuracy"], summary


def main() -> None:
    parser = Arguments(__doc__, ROOT / "bench" / "results" / "augment_digits.md", tiny={"seeds": "0", "epochs": "1"})
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", default="30,60")
    args = parser.parse_args()
    seeds = numbers(args.seeds)
    epoch_counts = numbers(args.epochs)
    started = time.perf_counter()
    results: dict = {}
    samples = None
    with tempfile.TemporaryDirectory() as tmp:
        for epochs in epoch_counts:
            for augment in (False, True):
                for seed in seeds:
                    name = f"e{epochs}-{'aug' if augment else 'plain'}-{seed}"
                    value, summary = accuracy(spec_text(seed, epochs, augment), Path(tmp), name)
                    results[(epochs, augment, seed)] = value
                    samples = summary["samples"]
    lines = [
        "# Augmentation: LeNet on 300 digits",
        "",
        machine_line(),
        "",
        f"`python bench/augment_digits.py`: specs/lenet.yaml trained on {samples['train']} digits (30 per class),",
        f"accuracy on the other {samples['validation']}. Augmented: RandomRotation(0.05), RandomTranslation(0.1, 0.1),",
        "RandomZoom(0.1) on the training batches only.",
        "",
        "| epochs | augmentation | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |",
        "|---:|---|" + "---:|" * (len(seeds) + 1),
    ]
    for epochs in epoch_counts:
        for augment in (False, True):
            values = [results[(epochs, augment, s)] for s in seeds]
            lines.append(f"| {epochs} | {'yes' if augment else 'no'} | " + " | ".join(f"{v:.4f}" for v in values)
                         + f" | {statistics.mean(values):.4f} |")
    lines += ["", f"Wall time: {time.perf_counter() - started:.0f} s."]
    write_report("\n".join(lines) + "\n", args.output)


if __name__ == "__main__":
    main()
