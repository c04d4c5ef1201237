"""Quality of `kind: pix2pix`: colourising digits, judged by a classifier that never sees generated images.

The task ("colourise"), made offline from scikit-learn's 8x8 digits: the input is the grey digit
(8x8x1), the target the same digit painted in a fixed colour per class (8x8x3, pixel = grey x the
class's RGB). Trains specs/pix2pix.yaml through builder's own training stage, translates the held-out
digits with builder's pix2pix sampler (the code behind `builder generate RUN --input FILE`), and
reports the per-pixel error against the targets and the share of outputs whose colour and shape a
LogisticRegression trained on the real coloured training digits assigns to the input's class.

    .venv/bin/python bench/quality/pix2pix.py              # the full run (minutes)
    .venv/bin/python bench/quality/pix2pix.py --tiny       # a smoke run
    .venv/bin/python bench/quality/pix2pix.py --data-only  # write specs/data/colourise.npz and stop

Prints a markdown table and writes it to bench/quality/results/pix2pix.md.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import ROOT, Arguments, pixels, train_spec, write_report  # noqa: E402

RESULTS = ROOT / "bench" / "quality" / "results" / "pix2pix.md"
DATA = ROOT / "specs" / "data" / "colourise.npz"
PALETTE = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, 0, 1), (0, 1, 1), (1, .5, 0), (.5, 0, 1), (1, 1, 1),
           (.5, 1, .5)]   # one colour per class: the generator must recognise the digit to colour it


def colourise():
    """(grey digits (n, 8, 8, 1), coloured digits (n, 8, 8, 3), labels): the pix2pix task."""
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits()
    grey = (digits.images / 16.0).astype("float32")[..., None]
    colour = grey * np.asarray(PALETTE, "float32")[digits.target][:, None, None, :]
    return grey, colour, digits.target


def main() -> int:
    parser = Arguments(__doc__, RESULTS, tiny={"epochs": 1})
    parser.add_argument("--epochs", type=int, default=None, help="default: the spec's")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--data-only", action="store_true", help="write the data set and stop")
    args = parser.parse_args()

    import numpy as np

    grey, colour, labels = colourise()
    DATA.parent.mkdir(parents=True, exist_ok=True)
    np.savez(DATA, x=grey, y=colour)
    if args.data_only:
        print(f"wrote {DATA}")
        return 0
    from sklearn.linear_model import LogisticRegression

    from builder.training.backends.select import import_keras

    import_keras()
    from builder.cli import parse_overrides
    from builder.runs.generate import generate
    from builder.training.run_folder import run_data

    spec = ROOT / "specs" / "pix2pix.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        trained = train_spec(spec, Path(tmp) / "run", parse_overrides(tuple(args.sets)), args.epochs)
        _, data = run_data(trained.run)
        # the held-out rows' classes: the same split, so match each input to its digit
        index = {grey[i].tobytes(): i for i in range(len(grey))}
        rows = np.array([index[x.tobytes()] for x in data.x_val])
        np.save(Path(tmp) / "inputs.npy", data.x_val)
        out = generate(trained.run, len(data.x_val), Path(tmp) / "out.npy",
                       options={"input": str(Path(tmp) / "inputs.npy")})
        made = np.load(out)
    train_rows = np.array([index[x.tobytes()] for x in data.x_train])
    judge = LogisticRegression(max_iter=5000).fit(pixels(colour[train_rows]), labels[train_rows])
    real = float(np.mean(judge.predict(pixels(colour[rows])) == labels[rows]))
    kept = float(np.mean(judge.predict(pixels(np.clip(made, 0, 1))) == labels[rows]))
    error = float(np.mean(np.abs(made - colour[rows])))
    baseline = float(np.mean(np.abs(np.repeat(grey[rows], 3, axis=-1) - colour[rows])))
    summary = trained.summary
    lines = ["# pix2pix: colourising digits by class", "",
             (f"specs/pix2pix.yaml{''.join(f' --set {s}' for s in args.sets)}, {summary['epochs']} epochs on "
              f"{len(data.x_train):,} pairs ({trained.seconds:.0f} s); {len(rows)} held-out digits translated with "
              "builder's pix2pix sampler."), "",
             "| measure | value |", "|---|---|",
             f"| mean absolute pixel error against the target (0..1) | {error:.4f} |",
             f"| the same for the grey input copied to 3 channels (no learning) | {baseline:.4f} |",
             f"| outputs a real-digit classifier assigns to the input's class | {kept:.1%} |",
             f"| that classifier on the real coloured held-out digits | {real:.1%} |", "",
             "Final losses: " + ", ".join(f"{k} {v:.3f}" for k, v in summary["final"].items())]
    from machine import machine_line

    lines += ["", machine_line(), ""]
    write_report("\n".join(lines), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
