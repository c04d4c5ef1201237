"""Spec -> Keras model against the same model written in Keras, in one process.

For ResNet50, DenseNet121 (against `keras.applications`, weights=None) and a
12-layer transformer encoder (against a hand-written function using the same
layers), times the whole builder path (load, parse, resolve, compile) and the
hand-written construction, alternating them, and reports medians and the
ratio. Run: `python bench/build_speed.py [--repeats 5] [--tiny]`; writes
bench/results/build.md.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from machine import machine_line  # noqa: E402


def builder_model(spec: str, overrides: dict):
    from builder.graph import load_graph
    from builder.model.compile import compile_graph

    graph = load_graph(ROOT / "specs" / spec, overrides)
    return compile_graph(graph)[graph.main]


def transformer_by_hand(layers: int, vocab: int, seq_len: int, dim: int, heads: int, ff: int, classes: int):
    """The bert_classifier spec's architecture, written directly in Keras with the same layers."""
    import keras

    from builder.model.layers import TokenAndPositionEmbedding, TransformerEncoderBlock

    tokens = keras.Input((seq_len,), dtype="int32", name="tokens")
    x = TokenAndPositionEmbedding(vocab, seq_len, dim, mask_zero=True, name="embed")(tokens)
    x = keras.layers.LayerNormalization(epsilon=1e-12, name="embed_norm")(x)
    x = keras.layers.Dropout(0.1, name="embed_dropout")(x)
    for i in range(layers):
        x = TransformerEncoderBlock(heads, ff, dropout=0.1, activation="gelu", epsilon=1e-12,
                                    name=f"encoder_{i + 1}")(x)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    x = keras.layers.Dense(dim, activation="tanh", name="pooler")(x)
    x = keras.layers.Dropout(0.1, name="head_dropout")(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="probabilities")(x)
    return keras.Model(tokens, outputs)


def cases(tiny: bool):
    import keras

    size = 32 if tiny else 224
    small = {"size": size}
    bert = {"layers": 2, "vocab": 100, "seq_len": 16, "embed_dim": 32, "heads": 2, "ff_dim": 64} if tiny else \
        {"layers": 12, "vocab": 30522, "seq_len": 128, "embed_dim": 256, "heads": 4, "ff_dim": 1024}
    return [
        ("ResNet50", lambda: builder_model("resnet50.yaml", small),
         lambda: keras.applications.ResNet50(weights=None, input_shape=(size, size, 3))),
        ("DenseNet121", lambda: builder_model("densenet121.yaml", small),
         lambda: keras.applications.DenseNet121(weights=None, input_shape=(size, size, 3))),
        (f"Transformer encoder, {bert['layers']} layers", lambda: builder_model("bert_classifier.yaml", bert),
         lambda: transformer_by_hand(bert["layers"], bert["vocab"], bert["seq_len"], bert["embed_dim"],
                                     bert["heads"], bert["ff_dim"], 2)),
    ]


def timed(make) -> tuple[float, int]:
    import keras

    keras.backend.clear_session()
    gc.collect()
    start = time.perf_counter()
    model = make()
    seconds = time.perf_counter() - start
    return seconds, model.count_params()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tiny", action="store_true", help="small sizes, for the test that keeps this script alive")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "build.md")
    args = parser.parse_args()
    from builder.training.backends.select import import_keras

    import_keras()
    rows = []
    for name, by_spec, by_hand in cases(args.tiny):
        timed(by_spec), timed(by_hand)  # warm up imports and caches once each
        spec_times, hand_times = [], []
        for _ in range(args.repeats):
            seconds, spec_params = timed(by_spec)
            spec_times.append(seconds)
            seconds, hand_params = timed(by_hand)
            hand_times.append(seconds)
        spec_s, hand_s = statistics.median(spec_times), statistics.median(hand_times)
        rows.append(f"| {name} | {spec_params:,} | {hand_params:,} | {spec_s:.2f} | {hand_s:.2f} | "
                    f"{spec_s / hand_s:.2f} |")
        print(rows[-1], flush=True)
    table = "\n".join([
        "# Build: spec -> Keras model against hand-written Keras",
        "",
        machine_line(),
        "",
        f"Median of {args.repeats} builds each, alternating, in one process (`keras.backend.clear_session()` "
        "before each). builder's time is the whole path: load, parse, resolve, compile.",
        "",
        "| model | params (spec) | params (Keras) | builder s | Keras s | ratio |",
        "|---|---:|---:|---:|---:|---:|",
        *rows, ""])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
