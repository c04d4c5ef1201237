"""Quality of `kind: cgan`: does a classifier trained on real digits see the label that was asked for?

Trains specs/cgan.yaml (a conditional DCGAN, the label fed to both networks) on scikit-learn's
8x8 digits through builder's own training stage, then asks builder's cgan sampler (the code
behind `builder generate RUN --label K`) for `--samples` digits of each class, and classifies
them with a scikit-learn LogisticRegression trained on the run's real training digits (64
pixels). The classifier's accuracy on the held-out real digits is printed as a reference; a
second judge, an RBF SVC, is shown beside it. The generated samples' diversity within each label,
against the real digits' (summary.json's `sample_diversity`), shows that the labels are not met
by drawing one sample per class (mode collapse).

Target: the classifier assigns the requested label to at least 80% of the generated samples.

    .venv/bin/python bench/quality/cgan.py                  # the full run (minutes)
    .venv/bin/python bench/quality/cgan.py --tiny           # a smoke run (1 epoch, 5 samples per label)

Prints a markdown table and writes it to bench/quality/results/cgan.md.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import ROOT, Arguments, pixels, train_spec, write_report  # noqa: E402

RESULTS = ROOT / "bench" / "quality" / "results" / "cgan.md"
TARGET = 0.80


def main() -> int:
    parser = Arguments(__doc__, RESULTS, tiny={"epochs": 1, "samples": 5})
    parser.add_argument("--epochs", type=int, default=None, help="default: the spec's")
    parser.add_argument("--samples", type=int, default=100, help="generated samples per class")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()

    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    from builder.training.backends.select import import_keras

    import_keras()
    from builder.cli import parse_overrides
    from builder.runs.generate import generate
    from builder.training.run_folder import run_data

    spec = ROOT / "specs" / "cgan.yaml"
    overrides = parse_overrides(tuple(args.sets))
    with tempfile.TemporaryDirectory() as tmp:
        trained = train_spec(spec, Path(tmp) / "run", overrides, args.epochs)
        run, summary, seconds = trained.run, trained.summary, trained.seconds
        _, data = run_data(run)
        classes = len(data.classes)
        generated, requested = [], []
        for label in range(classes):
            path = Path(tmp) / f"label{label}.npy"
            generate(run, args.samples, path, label=label, seed=label)
            generated.append(np.load(path))
            requested.append(np.full(args.samples, label))
    generated = np.concatenate(generated).reshape(classes * args.samples, -1)
    requested = np.concatenate(requested)

    judges = {"LogisticRegression": LogisticRegression(max_iter=5000, C=1.0),
              "SVC (RBF)": SVC(gamma="scale", C=10.0)}
    results = {}
    for name, judge in judges.items():
        judge.fit(pixels(data.x_train), data.y_train)
        real = float(np.mean(judge.predict(pixels(data.x_val)) == data.y_val))
        predicted = judge.predict(np.clip(generated, 0.0, 1.0))
        per_class = [float(np.mean(predicted[requested == c] == c)) for c in range(classes)]
        results[name] = (real, float(np.mean(predicted == requested)), per_class)

    _, main_generated, main_per_class = results["LogisticRegression"]
    met = main_generated >= TARGET
    diversity = summary.get("sample_diversity", {})
    lines = [
        "# Conditional GAN: does a classifier see the requested label?",
        "",
        (f"specs/cgan.yaml{''.join(f' --set {s}' for s in args.sets)}, {summary['epochs']} epochs on the 1,438 "
         f"training digits ({seconds:.0f} s). {args.samples} samples generated per label with builder's cgan "
         "sampler (`builder generate RUN --label K`), classified by judges trained on the same real training "
         "digits."),
        "",
        "| judge | accuracy on held-out real digits | requested label assigned to generated samples | target |",
        "|---|---|---|---|",
    ]
    for name, (real, gen, _) in results.items():
        target = (f"{'met' if met else 'MISSED'} (>= {TARGET:.0%})" if name == "LogisticRegression" else "(second opinion)")
        lines.append(f"| {name} | {real:.1%} | {gen:.1%} | {target} |")
    lines += ["", "Per label (LogisticRegression): " + ", ".join(f"{c}: {a:.0%}" for c, a in enumerate(main_per_class)),
              "",
              ("Diversity within each label (mean RMS pixel distance between random pairs): generated "
               f"{diversity.get('generated', float('nan')):.3f}, real {diversity.get('data', float('nan')):.3f} "
               f"(ratio {diversity.get('ratio', float('nan')):.2f}; below 0.5 is reported as mode collapse)."),
              "Final losses: " + ", ".join(f"{k} {v:.3f}" for k, v in summary["final"].items()),
              f"Warnings in summary.json: {summary.get('warnings') or 'none'}."]
    from machine import machine_line

    lines += ["", machine_line(), ""]
    write_report("\n".join(lines), args.output)
    return 0 if met or args.tiny else 1   # a smoke run's figures are not a verdict


if __name__ == "__main__":
    sys.exit(main())
