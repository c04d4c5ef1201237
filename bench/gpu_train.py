"""GPU training throughput on the JAX backend: `builder train` against the same model written in Keras.

Three workloads on synthetic data (no download): LeNet-5 (specs/lenet.yaml, 8x8x1
images resized to 32x32 inside the model), a small ResNet on 32x32x3 images and a
2-block transformer classifier on 32-token sequences (the models of
bench/train_speed.py). Each in float32 and in mixed bfloat16
(`train.mixed_precision: bfloat16` / `keras.mixed_precision.set_global_policy`),
each trained two ways on the same backend and device:

- `keras`: the model written by hand, `model.fit(x, y, batch_size=...)` on NumPy arrays;
- `builder`: `builder train` on the spec (its NumPy batches, checkpoints, history, callbacks).

Samples per second is the median over epochs after the first (compilation),
validation included in both; a fresh process per measurement (median of
`--repeats`). Run on a machine with a GPU:

    python bench/gpu_train.py            # JAX; writes bench/results/gpu_train.md

`--tiny` runs every measurement once, small, in one process, on whatever device
there is (the test suite does this on CPU so the script cannot rot).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

WORKLOADS = [("lenet", "LeNet-5, 8x8x1 -> 32x32", 256), ("resnet", "small ResNet, 32x32x3", 256),
             ("transformer", "2-block transformer, 32 tokens", 256)]
PRECISIONS = [("float32", "float32"), ("bfloat16", "mixed bfloat16")]
MODES = [("keras", "Keras by hand, model.fit"), ("builder", "builder train")]


def synthetic(workload: str, samples: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    if workload == "lenet":
        x = rng.random((samples, 8, 8, 1), dtype=np.float32)
        y = (x[:, :4, :, 0].mean(axis=(1, 2)) * 10).astype("int64") % 10
    elif workload == "resnet":
        x = rng.random((samples, 32, 32, 3), dtype=np.float32)
        y = (x[:, :16, :16, 0].mean(axis=(1, 2)) * 10).astype("int64") % 10
    else:
        x = rng.integers(1, 1000, (samples, 32)).astype("int32")
        y = (x[:, 0] > 500).astype("int64")
    return x, y


def spec_for(workload: str, folder: Path, samples: int, epochs: int, batch: int, precision: str) -> Path:
    import copy

    from train_speed import RESNET, TRANSFORMER

    if workload == "lenet":
        spec = yaml.safe_load((ROOT / "specs" / "lenet.yaml").read_text())
    else:
        spec = copy.deepcopy(RESNET if workload == "resnet" else TRANSFORMER)
    x, y = synthetic(workload, samples)
    np.savez(folder / f"{workload}.npz", x=x, y=y)
    spec["train"] = {"data": {"source": "numpy", "path": f"{workload}.npz", "normalize": False},
                     "optimizer": {"type": "adam"}, "loss": "sparse_categorical_crossentropy",
                     "metrics": ["accuracy"], "epochs": epochs, "batch_size": batch, "seed": 0,
                     "mixed_precision": "bfloat16" if precision == "bfloat16" else "off"}
    path = folder / f"{workload}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def measure(workload: str, precision: str, mode: str, samples: int, epochs: int, batch: int) -> dict:
    """One measurement in this process; returns samples/s and the device."""
    from builder.training.backends.select import import_keras

    keras = import_keras()
    from builder.training.backends import adapter

    folder = Path(tempfile.mkdtemp())
    spec_path = spec_for(workload, folder, samples, epochs, batch, precision)
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bfloat16" else "float32")
    try:
        if mode == "keras":
            from train_speed import by_hand

            from builder.errors import Location
            from builder.language.spec import TrainSpec
            from builder.training.data import load_data
            from builder.training.run import Throughput

            train = TrainSpec.model_validate(yaml.safe_load(spec_path.read_text())["train"])
            dataset = load_data(train.data, folder, Location(), seed=0)
            adapter().set_seed(0)
            model = by_hand(workload)
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            clock = Throughput(len(dataset.x_train))
            model.fit(dataset.x_train, dataset.y_train, batch_size=batch, epochs=epochs, verbose=0,
                      validation_data=(dataset.x_val, dataset.y_val), callbacks=[clock])
            rate = clock.samples_per_second()
        else:
            from train_speed import builder_run, train_samples

            from builder.training.callbacks import Throughput

            clock = Throughput(train_samples(spec_path, folder))
            builder_run(spec_path, folder, clock)
            rate = clock.samples_per_second()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return {"samples_per_second": rate, "device": adapter().device(), "backend": keras.backend.backend()}


def table(results: list[dict]) -> list[str]:
    lines = []
    titles = {w: t for w, t, _ in WORKLOADS}
    labels = {p: label for p, label in PRECISIONS} | {m: label for m, label in MODES}
    for row in results:
        base = next(r for r in results if r["workload"] == row["workload"] and r["precision"] == row["precision"]
                    and r["mode"] == "keras")["samples_per_second"]
        rate = row["samples_per_second"]
        lines.append(f"| {titles[row['workload']]} | {labels[row['precision']]} | {labels[row['mode']]} | "
                     f"{rate:,.0f} | {rate / base:.2f} |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--samples", type=int, default=50_000, help="synthetic training samples (+20%% validation)")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default 256)")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per measurement; the median is kept")
    parser.add_argument("--workloads", default=",".join(w for w, _, _ in WORKLOADS))
    parser.add_argument("--precisions", default="float32,bfloat16")
    parser.add_argument("--tiny", action="store_true", help="small, once, in one process: a smoke test on any device")
    parser.add_argument("--out", type=Path, default=None, help="markdown table (default bench/results/gpu_train.md; "
                                                               "none with --tiny)")
    parser.add_argument("--backend", default="jax", choices=["jax", "tensorflow", "torch"],
                        help="Keras backend (default jax)")
    parser.add_argument("--child", nargs=3, metavar=("WORKLOAD", "PRECISION", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ["KERAS_BACKEND"] = args.backend   # before Keras is imported, here and in the children
    if args.tiny:
        args.samples, args.epochs, args.repeats = 80, 2, 1
    batch = args.batch or (16 if args.tiny else 256)
    if args.child:
        print(json.dumps(measure(*args.child, args.samples, args.epochs, batch)))
        return 0
    jobs = [(w, p, m) for w, _, _ in WORKLOADS if w in args.workloads.split(",")
            for p, _ in PRECISIONS if p in args.precisions.split(",") for m, _ in MODES]
    results, device, backend = [], None, None
    started = time.perf_counter()
    for workload, precision, mode in jobs:
        if args.tiny:   # one process for everything: compile time, not throughput, is what tiny runs meet
            runs = [measure(workload, precision, mode, args.samples, args.epochs, batch)]
        else:
            runs = []
            for _ in range(args.repeats):
                command = [sys.executable, __file__, "--child", workload, precision, mode, "--epochs",
                           str(args.epochs), "--backend", args.backend, "--samples", str(args.samples), "--batch", str(batch)]
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode:
                    print(done.stderr[-3000:], file=sys.stderr)
                    return 1
                runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        device, backend = runs[0]["device"], runs[0]["backend"]
        results.append({"workload": workload, "precision": precision, "mode": mode,
                        "samples_per_second": statistics.median(r["samples_per_second"] for r in runs)})
        print(f"{workload} {precision} {mode}: {results[-1]['samples_per_second']:,.0f} samples/s", flush=True)
    from machine import machine_line

    lines = table(results)
    text = "\n".join([
        "# GPU training throughput: builder against the same model written in Keras",
        "",
        machine_line(),
        f"Device: {device} (Keras backend {backend}).",
        "",
        f"{args.samples:,} synthetic samples (+20% validation), batch {batch}, {args.epochs} epochs; samples/s is the "
        f"median over epochs after the first, then the median of {args.repeats} fresh processes; ratio against "
        "the hand-written `model.fit` at the same precision.",
        "",
        "| workload | precision | how | samples/s | ratio |",
        "|---|---|---|---:|---:|",
        *lines, ""])
    print("\n".join(lines))
    if device == "cpu" and not args.tiny:
        print("note: no GPU here; these are CPU figures", file=sys.stderr)
    out = args.out or (None if args.tiny else ROOT / "bench" / "results" / "gpu_train.md")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"wrote {out}")
    print(f"{len(results)} measurements in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
