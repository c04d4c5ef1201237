"""Training throughput: `builder train` against a plain hand-written `model.fit`, same model, data, batch.

Three workloads: LeNet on scikit-learn digits (specs/lenet.yaml), a small
ResNet on synthetic 32x32x3 images, and a small transformer classifier on
synthetic token sequences. For each, in a fresh process per measurement:

- `keras`: the model built by hand in Keras, `model.fit(x, y, batch_size=...)`
  on NumPy arrays: what most people write;
- `pipeline`: the same, fed by a hand-written cached, shuffled, prefetched
  `tf.data` pipeline: what a careful user writes;
- `builder`: `builder train` with its defaults (that pipeline, and
  `steps_per_execution: auto`, 8 for plain fit steps), with its per-epoch
  backup, checkpoint, history and TensorBoard logs;
- `builder, steps_per_execution: 1` / `builder + jit_compile: true`: what one
  setting adds or takes away.

Samples per second is the median over epochs after the first (tracing and
compilation), validation included in both; peak memory is the child's max RSS.
Run: `python bench/train_speed.py [--epochs 20] [--tiny]`; writes bench/results/train.md.
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from machine import machine_line  # noqa: E402

RESNET = {
    "name": "resnet_small",
    "inputs": {"image": {"shape": [32, 32, 3]}},
    "blocks": {"residual": {
        "params": {"filters": None, "stride": 1},
        "layers": [
            {"type": "Conv2D", "filters": "${filters}", "kernel_size": 3, "strides": "${stride}", "padding": "same"},
            {"type": "BatchNormalization"}, {"type": "ReLU"},
            {"type": "Conv2D", "filters": "${filters}", "kernel_size": 3, "padding": "same"},
            {"type": "BatchNormalization"},
            {"id": "shortcut", "type": "Conv2D", "filters": "${filters}", "kernel_size": 1, "strides": "${stride}",
             "inputs": "$in"},
            {"id": "sum", "type": "Add", "inputs": [-2, "shortcut"]}, {"type": "ReLU"}]}},
    "layers": [
        {"type": "Conv2D", "filters": 16, "kernel_size": 3, "padding": "same", "activation": "relu"},
        {"id": "stage1", "block": "residual", "with": {"filters": 16}},
        {"id": "stage2", "block": "residual", "with": {"filters": 32, "stride": 2}},
        {"id": "stage3", "block": "residual", "with": {"filters": 64, "stride": 2}},
        {"type": "GlobalAveragePooling2D"},
        {"id": "probabilities", "type": "Dense", "units": 10, "activation": "softmax"}],
}

TRANSFORMER = {
    "name": "transformer_small",
    "inputs": {"tokens": {"shape": [32], "dtype": "int32"}},
    "layers": [
        {"type": "TokenAndPositionEmbedding", "vocabulary_size": 1000, "sequence_length": 32, "embed_dim": 64},
        {"type": "TransformerEncoderBlock", "num_heads": 4, "intermediate_dim": 128},
        {"type": "TransformerEncoderBlock", "num_heads": 4, "intermediate_dim": 128},
        {"type": "GlobalAveragePooling1D"},
        {"id": "probabilities", "type": "Dense", "units": 2, "activation": "softmax"}],
}


def by_hand(workload: str):
    """The same three models, written directly in Keras."""
    import keras

    L = keras.layers
    if workload == "lenet":
        x = inputs = keras.Input((8, 8, 1))
        x = L.Resizing(32, 32, interpolation="bilinear")(x)
        x = L.Conv2D(6, 5, activation="relu")(x)
        x = L.AveragePooling2D(2)(x)
        x = L.Conv2D(16, 5, activation="relu")(x)
        x = L.AveragePooling2D(2)(x)
        x = L.Flatten()(x)
        x = L.Dense(120, activation="relu")(x)
        x = L.Dense(84, activation="relu")(x)
        outputs = L.Dense(10, activation="softmax")(x)
    elif workload == "resnet":
        def residual(x, filters, stride=1):
            y = L.Conv2D(filters, 3, strides=stride, padding="same")(x)
            y = L.ReLU()(L.BatchNormalization()(y))
            y = L.BatchNormalization()(L.Conv2D(filters, 3, padding="same")(y))
            shortcut = L.Conv2D(filters, 1, strides=stride)(x)
            return L.ReLU()(L.Add()([y, shortcut]))

        x = inputs = keras.Input((32, 32, 3))
        x = L.Conv2D(16, 3, padding="same", activation="relu")(x)
        x = residual(x, 16)
        x = residual(x, 32, 2)
        x = residual(x, 64, 2)
        outputs = L.Dense(10, activation="softmax")(L.GlobalAveragePooling2D()(x))
    else:
        from builder.model.layers import TokenAndPositionEmbedding, TransformerEncoderBlock

        x = inputs = keras.Input((32,), dtype="int32")
        x = TokenAndPositionEmbedding(1000, 32, 64)(x)
        x = TransformerEncoderBlock(4, 128)(x)
        x = TransformerEncoderBlock(4, 128)(x)
        outputs = L.Dense(2, activation="softmax")(L.GlobalAveragePooling1D()(x))
    return keras.Model(inputs, outputs)


def data(workload: str, folder: Path, tiny: bool) -> dict:
    """Write the workload's data where its spec reads it; returns the spec's `train.data`."""
    if workload == "lenet":
        return {"source": "builtin", "name": "digits", "image": True}
    rng = np.random.default_rng(0)
    n = 256 if tiny else {"resnet": 2048, "transformer": 4096}[workload]
    if workload == "resnet":
        x = rng.random((n, 32, 32, 3), dtype=np.float32)
        y = (x[:, :16, :16, 0].mean(axis=(1, 2)) * 10).astype("int64") % 10
    else:
        x = rng.integers(1, 1000, (n, 32)).astype("int32")
        y = (x[:, 0] > 500).astype("int64")
    np.savez(folder / f"{workload}.npz", x=x, y=y)
    return {"source": "numpy", "path": f"{workload}.npz", "normalize": False}


def spec_for(workload: str, folder: Path, tiny: bool, epochs: int, batch: int, extra: dict) -> Path:
    if workload == "lenet":
        spec = yaml.safe_load((ROOT / "specs" / "lenet.yaml").read_text())
    else:
        spec = copy.deepcopy(RESNET if workload == "resnet" else TRANSFORMER)
    spec["train"] = {"data": data(workload, folder, tiny), "optimizer": {"type": "adam"},
                     "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"],
                     "epochs": epochs, "batch_size": batch, "seed": 0, **extra}
    path = folder / f"{workload}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def hand_pipeline(x, y, batch: int, training: bool):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    if training:
        ds = ds.shuffle(len(x), seed=0, reshuffle_each_iteration=True)
    return ds.batch(batch).prefetch(tf.data.AUTOTUNE)


def builder_run(spec_path: Path, folder: Path, clock) -> bool:
    """`builder train` on a spec, as the CLI runs it, timed by `clock`; whether it trained with XLA."""
    from builder.graph import load_graph
    from builder.training.run import TrainOptions, train

    graph = load_graph(spec_path)
    run = train(graph, spec_path, TrainOptions(out=folder / "run", verbose=0, diagram=False, callbacks=[clock]))
    return json.loads(run.summary.read_text())["jit_compile"]["jit_compile"]


def measure(workload: str, mode: str, tiny: bool, epochs: int, batch: int) -> dict:
    """One measurement, in this process (called in a fresh child by `main`)."""
    from builder.training.backends.select import import_keras

    keras = import_keras()
    folder = Path(tempfile.mkdtemp())
    extra = {"steps_per_execution": 1} if mode == "spe1" else {"jit_compile": True} if mode == "jit" else {}
    spec_path = spec_for(workload, folder, tiny, epochs, batch, extra)
    if mode in ("keras", "pipeline"):
        from builder.errors import Location
        from builder.language.spec import TrainSpec
        from builder.training.data import load_data
        from builder.training.run import Throughput

        train = TrainSpec.model_validate(yaml.safe_load(spec_path.read_text())["train"])
        dataset = load_data(train.data, folder, Location(), seed=0)
        keras.utils.set_random_seed(0)
        model = by_hand(workload)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        clock = Throughput(len(dataset.x_train))
        xla = bool(model.jit_compile)
        if mode == "keras":   # what most people write: NumPy arrays straight into fit
            feed = {"x": dataset.x_train, "y": dataset.y_train, "batch_size": batch,
                    "validation_data": (dataset.x_val, dataset.y_val)}
        else:                 # what a careful user writes: a cached, shuffled, prefetched tf.data pipeline
            feed = {"x": hand_pipeline(dataset.x_train, dataset.y_train, batch, True),
                    "validation_data": hand_pipeline(dataset.x_val, dataset.y_val, batch, False)}
        model.fit(**feed, epochs=epochs, verbose=0, callbacks=[clock])
    else:
        from builder.training.callbacks import Throughput

        clock = Throughput(train_samples(spec_path, folder))
        xla = builder_run(spec_path, folder, clock)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    seconds = clock.epoch_seconds
    return {"samples_per_second": clock.samples_per_second(), "peak_mb": peak_mb, "xla": xla,
            "first_epoch_s": seconds[0], "whole_run": clock.samples * len(seconds) / sum(seconds)}


def train_samples(spec_path: Path, folder: Path) -> int:
    """The training split's size, as builder's run will draw it."""
    from builder.errors import Location
    from builder.language.spec import TrainSpec
    from builder.training.data import load_data

    train = TrainSpec.model_validate(yaml.safe_load(spec_path.read_text())["train"])
    return len(load_data(train.data, folder, Location(), seed=0).x_train)


MODES = [("keras", "plain `model.fit` on NumPy arrays (hand-written)"),
         ("pipeline", "hand-written, cached + prefetched `tf.data`"),
         ("builder", "`builder train`, defaults"),
         ("spe1", "builder with steps_per_execution: 1 (Keras' default)"),
         ("jit", "builder + jit_compile: true")]
WORKLOADS = [("lenet", "LeNet-5, digits 8x8x1 (1,437 train)", 32),
             ("resnet", "small ResNet, synthetic 32x32x3", 64),
             ("transformer", "2-block transformer, synthetic tokens (32)", 64)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=20, help="about a minute a run: long enough for the choices "
                        "a run makes at its start (XLA: builder.training.xla) to pay back, or not")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per measurement; the median is kept")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "MODE"), help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--workloads", default=",".join(w for w, _, _ in WORKLOADS))
    parser.add_argument("--modes", default=",".join(m for m, _ in MODES))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "train.md")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child, args.tiny, args.epochs, args.batch)))
        return
    lines = []
    modes = [(m, label) for m, label in MODES if m in args.modes.split(",")]
    for workload, title, batch in WORKLOADS:
        if workload not in args.workloads.split(","):
            continue
        runs = {mode: [] for mode, _ in modes}
        for _ in range(args.repeats):   # round-robin: a change in the machine's load hits every mode alike
            for mode, _ in modes:
                command = [sys.executable, __file__, "--child", workload, mode, "--epochs", str(args.epochs),
                           "--batch", str(batch)] + (["--tiny"] if args.tiny else [])
                done = subprocess.run(command, capture_output=True, text=True, check=True)
                runs[mode].append(json.loads(done.stdout.strip().splitlines()[-1]))
        results = {mode: {key: statistics.median(r[key] for r in runs[mode])
                          for key in ("samples_per_second", "whole_run", "first_epoch_s", "peak_mb")}
                   for mode, _ in modes}
        base = results.get("keras", results[modes[0][0]])
        hand = results.get("pipeline", results[modes[0][0]])["samples_per_second"]
        for mode, label in modes:
            rate, whole = results[mode]["samples_per_second"], results[mode]["whole_run"]
            xla = sum(r["xla"] for r in runs[mode])
            lines.append(f"| {title} | {label} | {rate:,.0f} | {rate / base['samples_per_second']:.2f} | "
                         f"{rate / hand:.2f} | {whole:,.0f} | {whole / base['whole_run']:.2f} | "
                         f"{results[mode]['first_epoch_s']:.1f} | {xla} of {len(runs[mode])} | "
                         f"{results[mode]['peak_mb']:,.0f} |")
            print(lines[-1], flush=True)
    text = "\n".join([
        "# Training throughput: builder against a plain hand-written fit",
        "",
        machine_line(),
        "",
        f"{args.epochs} epochs, batch 32 (LeNet) or 64, validation included; samples/s is the median over epochs "
        f"after the first, then the median of {args.repeats} fresh processes, run round-robin; ratios against the "
        "hand-written `model.fit` on NumPy arrays (what most people write) and against the same model fed by a "
        "hand-written cached, prefetched `tf.data` pipeline, in the same run. builder's time includes its "
        "per-epoch backup and checkpoint. The whole-run columns count every epoch, the first included (tracing, "
        "compilation and, for builder's `jit_compile: auto`, the XLA probe: builder.training.xla); XLA: in how "
        "many of the processes the run trained with XLA.",
        "",
        "| workload | how | samples/s | vs plain fit | vs hand tf.data | whole run samples/s | whole run vs plain fit "
        "| first epoch s | XLA | peak MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *lines, ""])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
