"""Quality of `kind: cyclegan`: thin <-> thick digits, unpaired, judged by classifiers of real digits.

Two unpaired domains made offline from scikit-learn's 8x8 digits: A, the digits as they are; B,
digits with their strokes thickened by a 2x2 grey dilation. The digits are split in two halves
first, A made from one and B from the other, so no digit appears in both (the data has no pairs).
Trains specs/cyclegan.yaml through builder's own training stage, translates the held-out digits of
each domain with builder's cyclegan sampler (`builder generate RUN --direction a2b|b2a --input`),
and reports the share of translations that a LogisticRegression trained on the real digits of the
target domain (never on generated ones) assigns to the source digit's class, in both directions,
and the cycle reconstruction error (mean |G_ba(G_ab(a)) - a|, and the same from B).

Target: at least 80% of translations keep their class, in each direction.

    .venv/bin/python bench/quality/cyclegan.py              # the full run (minutes)
    .venv/bin/python bench/quality/cyclegan.py --tiny       # a smoke run
    .venv/bin/python bench/quality/cyclegan.py --data-only  # write specs/data/thick.npz and stop

Prints a markdown table and writes it to bench/quality/results/cyclegan.md.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import ROOT, Arguments, pixels, train_spec, write_report  # noqa: E402

RESULTS = ROOT / "bench" / "quality" / "results" / "cyclegan.md"
DATA = ROOT / "specs" / "data" / "thick.npz"
TARGET = 0.80


def domains():
    """(A images, A labels, B images, B labels): thin and thickened digits, from disjoint halves of the set."""
    import numpy as np
    from scipy.ndimage import grey_dilation
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype("float32")
    order = np.random.default_rng(0).permutation(len(images))
    first, second = order[: len(order) // 2], order[len(order) // 2:]
    thick = np.stack([grey_dilation(image, size=(2, 2)) for image in images[second]])
    return images[first][..., None], digits.target[first], thick[..., None], digits.target[second]


def main() -> int:
    parser = Arguments(__doc__, RESULTS, tiny={"epochs": 1})
    parser.add_argument("--epochs", type=int, default=None, help="default: the spec's")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--data-only", action="store_true", help="write the data set and stop")
    args = parser.parse_args()

    import numpy as np

    a, a_labels, b, b_labels = domains()
    DATA.parent.mkdir(parents=True, exist_ok=True)
    np.savez(DATA, a=a, b=b)
    if args.data_only:
        print(f"wrote {DATA}")
        return 0
    from sklearn.linear_model import LogisticRegression

    from builder.training.backends.select import import_keras

    import_keras()
    from builder.cli import parse_overrides
    from builder.runs.generate import generate
    from builder.training.run_folder import run_data

    spec = ROOT / "specs" / "cyclegan.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        trained = train_spec(spec, Path(tmp) / "run", parse_overrides(tuple(args.sets)), args.epochs)
        _, data = run_data(trained.run)
        domain = np.asarray(data.y_val).reshape(-1)
        index = {0: {x.tobytes(): i for i, x in enumerate(a)}, 1: {x.tobytes(): i for i, x in enumerate(b)}}
        labels = {0: a_labels, 1: b_labels}
        train_domain = np.asarray(data.y_train).reshape(-1)
        judges, results = {}, {}
        for d, images in ((0, a), (1, b)):
            rows = [index[d][x.tobytes()] for x in data.x_train[train_domain == d]]
            judges[d] = LogisticRegression(max_iter=5000).fit(pixels(images[rows]), labels[d][rows])
        for d, direction in ((0, "a2b"), (1, "b2a")):
            held = data.x_val[domain == d]
            rows = [index[d][x.tobytes()] for x in held]
            truth = labels[d][rows]
            np.save(Path(tmp) / f"{direction}.npy", held)
            generate(trained.run, len(held), Path(tmp) / f"{direction}-out.png",
                     options={"input": str(Path(tmp) / f"{direction}.npy"), "direction": direction})
            made = np.load(generate(trained.run, len(held), Path(tmp) / f"{direction}-out.npy",
                                   options={"input": str(Path(tmp) / f"{direction}.npy"), "direction": direction}))
            back = np.load(generate(trained.run, len(made), Path(tmp) / f"{direction}-back.npy",
                                   options={"input": str(Path(tmp) / f"{direction}-out.npy"),
                                            "direction": "b2a" if direction == "a2b" else "a2b"}))
            other = 1 - d
            kept = float(np.mean(judges[other].predict(pixels(np.clip(made, 0, 1))) == truth))
            real = float(np.mean(judges[d].predict(pixels(held)) == truth))
            # no translation at all: the input as it is, before the target domain's judge
            untranslated = float(np.mean(judges[other].predict(pixels(held)) == truth))
            cycle = float(np.mean(np.abs(back - held)))
            results[direction] = (len(held), kept, untranslated, real, cycle)
    summary = trained.summary
    met = all(kept >= TARGET for _, kept, _, _, _ in results.values())
    lines = ["# CycleGAN: thin <-> thick digits, unpaired", "",
             (f"specs/cyclegan.yaml{''.join(f' --set {s}' for s in args.sets)}, {summary['epochs']} epochs "
              f"({trained.seconds:.0f} s) on {len(data.x_train):,} unpaired digits of both domains. Held-out digits "
              "translated with builder's cyclegan sampler; judged by a LogisticRegression trained on the real "
              "digits of the target domain."), "",
             "| direction | held-out digits | class kept by the translation | the input untranslated, same judge | "
             "judge on real digits of the source | cycle error (mean abs, 0..1) | target |",
             "|---|---|---|---|---|---|---|"]
    for direction, (n, kept, untranslated, real, cycle) in results.items():
        lines.append(f"| {direction} | {n} | {kept:.1%} | {untranslated:.1%} | {real:.1%} | {cycle:.4f} | "
                     f"{'met' if kept >= TARGET else 'MISSED'} (>= {TARGET:.0%}) |")
    lines += ["", "Final losses: " + ", ".join(f"{k} {v:.3f}" for k, v in summary["final"].items())]
    from machine import machine_line

    lines += ["", machine_line(), ""]
    write_report("\n".join(lines), args.output)
    return 0 if met or args.tiny else 1


if __name__ == "__main__":
    sys.exit(main())
