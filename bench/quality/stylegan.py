"""Quality of the style-based generator: do specs/stylegan.yaml's samples look like digits to a classifier?

Trains specs/stylegan.yaml (mapping network, modulated convolutions, noise inputs, a learned
constant; `kind: gan` with R1) on scikit-learn's 8x8 digits through builder's own training stage,
samples with builder's gan sampler (the code behind `builder generate RUN`), and asks a classifier
trained on the real digits how sure it is about each sample: the DDPM row's measure
(bench/quality/diffusion.py), with the same judge, an RBF SVC with pairwise-coupled probabilities
on the 64 pixels, which never sees a generated image. A sample is confident when its highest
class probability is over 0.9. Measured on plain samples, on samples whose styles all switch
from w1 to w2 at a random layer (`--option mix=1`: mixing must not break the digits), and with
the truncation trick (`--option truncation=0.7`). Also written: the style-mixing grid
(`--option grid=mixing`), copied to docs/stylegan_mixing.png.

Target: at least 70% of plain samples confident (the DDPM reached 83.8%; real digits 83.3%).

    .venv/bin/python bench/quality/stylegan.py                 # the full run (minutes)
    .venv/bin/python bench/quality/stylegan.py --tiny          # a smoke run (1 epoch, --small sizes)

Prints a markdown table and writes it to bench/quality/results/stylegan.md.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import ROOT, Arguments, footer, pixels, train_spec, write_report

RESULTS = ROOT / "bench" / "quality" / "results" / "stylegan.md"
GRID = ROOT / "docs" / "stylegan_mixing.png"
TARGET_CONFIDENT, THRESHOLD = 0.70, 0.9
SMALL = ["latent=8", "w_dim=8", "filters=8", "mapping_layers=2"]


def main() -> int:
    parser = Arguments(__doc__, RESULTS, tiny={"epochs": 1, "samples": 16, "sets": SMALL})
    parser.add_argument("--epochs", type=int, default=None, help="default: the spec's")
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--run", default=None, help="the run folder (default: a temporary one)")
    args = parser.parse_args()

    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.svm import SVC

    from builder.cli import load_graph, parse_overrides
    from builder.runs.generate import generate
    from builder.training.run_folder import RunFolder

    spec = ROOT / "specs" / "stylegan.yaml"
    overrides = parse_overrides(tuple(args.sets))
    graph = load_graph(str(spec), overrides)
    settings = graph.spec.train
    epochs = args.epochs or settings.epochs
    folder = Path(args.run) if args.run else Path(tempfile.mkdtemp(prefix="bench-stylegan-")) / "run"

    trained = train_spec(spec, folder, overrides, epochs, graph=graph)
    run, summary, train_seconds, train_cpu = trained.run, trained.summary, trained.seconds, trained.cpu
    history = [row for row in __import__("csv").DictReader(run.history.open())]

    start = time.perf_counter()
    drawn = {}
    for name, options in (("plain", {}), ("mixed", {"mix": 1.0}), ("truncated", {"truncation": 0.7})):
        out = folder.parent / f"samples-{name}.npy"
        generate(RunFolder(folder), args.samples, out, seed=0, options=options)
        drawn[name] = np.load(out)                 # (n, 8, 8, 1) in the data's units: digit pixels / 16
    generate(RunFolder(folder), 64, folder.parent / "samples.png", seed=1)
    grid = generate(RunFolder(folder), 36, folder.parent / "mixing.png", seed=2, options={"grid": "mixing"})
    sample_seconds = time.perf_counter() - start

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(digits.data / 16.0, digits.target, test_size=0.25,
                                                        random_state=0, stratify=digits.target)
    with warnings.catch_warnings():   # SVC's `probability` is deprecated for a calibration that is sure of noise
        warnings.simplefilter("ignore", FutureWarning)
        classifier = SVC(probability=True, random_state=0).fit(x_train, y_train)
    real_accuracy = classifier.score(x_test, y_test)

    def sure(images):
        return float((classifier.predict_proba(images).max(axis=1) > THRESHOLD).mean())

    rng = np.random.default_rng(0)
    real_confident, noise_confident = sure(x_test), sure(rng.random((500, 64)))
    probabilities = classifier.predict_proba(pixels(drawn["plain"]))
    confident = float((probabilities.max(axis=1) > THRESHOLD).mean())
    classes = np.bincount(probabilities[probabilities.max(axis=1) > THRESHOLD].argmax(axis=1), minlength=10)
    passed = confident >= TARGET_CONFIDENT
    diversity = summary.get("sample_diversity", {})
    final = summary.get("final", {})

    rows = [
        ("samples generated", f"{len(drawn['plain'])} per row below"),
        ("**confident samples (max p > 0.9)**",
         f"**{confident:.1%}** (target >= {TARGET_CONFIDENT:.0%}: {'met' if passed else 'missed'})"),
        ("confident, styles mixed in every sample (`mix=1`)", f"{sure(pixels(drawn['mixed'])):.1%}"),
        ("confident, truncation trick (`truncation=0.7`)", f"{sure(pixels(drawn['truncated'])):.1%}"),
        ("reference: confident on real test digits / on uniform noise",
         f"{real_confident:.1%} / {noise_confident:.1%}"),
        ("classifier accuracy on real test digits", f"{real_accuracy:.1%}"),
        ("confident samples per class 0-9", " ".join(str(int(c)) for c in classes)),
        ("diversity, generated / real (mean RMS pixel distance of random pairs)",
         f"{diversity.get('generated')} / {diversity.get('data')} (ratio {diversity.get('ratio')})"),
        ("final losses", ", ".join(f"{k} {v:.3f}" for k, v in final.items() if isinstance(v, float))),
        ("warnings in summary.json", "; ".join(summary.get("warnings", [])) or "none"),
        ("epochs, batch size", f"{len(history)}, {summary['batch_size']}"),
        ("parameters (generator + discriminator)", f"{summary['parameters']:,}"),
        ("training time", f"{train_seconds:.0f} s wall, {train_cpu:.0f} s CPU (all threads)"),
        ("sampling time", f"{sample_seconds:.0f} s"),
    ]
    gan = settings.gan
    intro = (f"`builder train specs/stylegan.yaml{''.join(' --set ' + s for s in args.sets)}` (`kind: gan`, "
             f"non-saturating loss, R1 gamma {gan.r1 if gan else None}, style mixing in training "
             f"{gan.style_mixing if gan else None}) on scikit-learn's digits (80% of 1,797 images); samples from "
             f"`builder generate RUN`. An SVC (RBF kernel, pairwise-coupled probabilities) trained on 75% of the real "
             f"digits (64 pixels) classifies each sample; a sample counts as confident when its highest class "
             f"probability is over {THRESHOLD}. Command: `make quality`, or "
             f"`.venv/bin/python bench/quality/stylegan.py`.")
    text = "\n".join([
        "# StyleGAN-style generator on 8x8 digits",
        "",
        intro,
        "",
        "| measure | value |",
        "|---|---|",
        *[f"| {a} | {b} |" for a, b in rows],
        "",
        footer(summary["device"]),
        "",
    ])
    print(text)
    print(f"samples: {folder.parent / 'samples.png'}; mixing grid: {grid}")
    if args.output != "-":
        picture = Path(args.output).with_suffix(".png")
        write_report(text + f"\n64 more samples (seed 1): ![samples]({picture.name})\n\n"
                            f"Style mixing (`builder generate RUN -n 36 --option grid=mixing`; seed 2): "
                            f"![style mixing]({picture.stem}_mixing.png)\n", args.output, echo=False)
        shutil.copyfile(folder.parent / "samples.png", picture)
        shutil.copyfile(grid, picture.with_name(picture.stem + "_mixing.png"))
        if Path(args.output).resolve() == RESULTS:   # the checked-in figure comes from the checked-in run
            shutil.copyfile(grid, GRID)
    return 0   # a missed target shows in the table; the other benchmarks still run


if __name__ == "__main__":
    sys.exit(main())
