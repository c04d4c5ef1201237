"""Transfer learning recipes on the 8x8 digits: which way of reusing a 0-4 body helps on 5-9?

A companion to bench/transfer_digits.py (which runs builder's own specs): the same question asked
of many recipes quickly, in plain Keras, so that "transfer does not beat scratch here" is not the
verdict of one recipe. For each recipe and seed:

- a source network learns the digits 0-4 (all of them, 15 epochs, Adam 2e-3, batch 32);
- `scratch`: the same network learns the digits 5-9 from `k` images per class (40 epochs, Adam
  1e-3, batch 20), from random weights;
- `transfer`: the same, starting from the source's weights for the named layers, trained as the
  recipe says (`freeze`: named layers frozen for 20 epochs at 3e-3, then all for 20 at 3e-4;
  `all`: everything trainable for 40 epochs at 1e-3).

Both are scored on every 5-9 image not trained on. The seed fixes the `k` images, the data order
and the initialisation, and both arms of a seed share them.

    python bench/transfer_recipes.py [--seeds 6] [--only N,M]    # writes bench/results/transfer_recipes.md
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")   # the fastest backend for small convolution nets on a CPU

import keras  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
L = keras.layers
SHALLOW = ["conv1", "bn1", "conv2"]
DEEP = ["conv1", "bn1", "conv2", "bn2", "conv3", "bn3"]

# (what it tries, recipe)
RECIPES = [
    ("builder's spec: convs + features loaded, convs frozen then all", {}),
    ("convs only loaded (features fresh)", {"load": SHALLOW}),
    ("everything trainable from the start", {"mode": "all"}),
    ("source trained with 1-pixel shifts", {"source_shifts": True}),
    ("source and target trained with 1-pixel shifts", {"source_shifts": True, "target_shifts": True}),
    ("dropout 0.3 around features", {"dropout": 0.3}),
    ("twice as wide, 128 features", {"width": 2, "dense": 128}),
    ("source trained 40 epochs, everything trainable", {"source_epochs": 40, "mode": "all"}),
    ("BatchNormalization momentum 0.9", {"momentum": 0.9}),
    ("BatchNormalization momentum 0.9, everything trainable", {"momentum": 0.9, "mode": "all"}),
    ("deeper, global-average-pooled net (momentum 0.9), everything trainable",
     {"deep": True, "momentum": 0.9, "mode": "all", "load": DEEP}),
    ("deeper net, convs frozen then all", {"deep": True, "momentum": 0.9, "load": DEEP, "frozen": DEEP}),
    ("5 images per class", {"k": 5}),
    ("5 images per class, momentum 0.9, everything trainable", {"k": 5, "momentum": 0.9, "mode": "all"}),
    ("2 images per class", {"k": 2}),
]


def network(recipe: dict) -> keras.Model:
    width, dense, drop = recipe.get("width", 1), recipe.get("dense", 64), recipe.get("dropout", 0.0)
    momentum = recipe.get("momentum", 0.99)   # Keras' default

    def bn(name):
        return L.BatchNormalization(momentum=momentum, name=name)

    if recipe.get("deep"):
        body = [L.Conv2D(32 * width, 3, padding="same", activation="relu", name="conv1"), bn("bn1"),
                L.Conv2D(64 * width, 3, padding="same", activation="relu", name="conv2"), bn("bn2"),
                L.MaxPooling2D(2), L.Conv2D(128 * width, 3, padding="same", activation="relu", name="conv3"),
                bn("bn3"), L.GlobalAveragePooling2D()]
    else:   # the network of specs/transfer/
        body = [L.Conv2D(32 * width, 3, padding="same", activation="relu", name="conv1"), bn("bn1"),
                L.MaxPooling2D(2), L.Conv2D(64 * width, 3, padding="same", activation="relu", name="conv2"),
                L.MaxPooling2D(2), L.Flatten()]
    head = [L.Dropout(drop), L.Dense(dense, activation="relu", name="features"), L.Dropout(drop),
            L.Dense(5, activation="softmax", name="head")]
    return keras.Sequential([keras.Input((8, 8, 1))] + body + head)


def shifted(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each image rolled by -1, 0 or 1 pixel on each axis."""
    out = np.empty_like(x)
    for i, (dy, dx) in enumerate(rng.integers(-1, 2, (len(x), 2))):
        out[i] = np.roll(x[i], (dy, dx), axis=(0, 1))
    return out


def fit(model, x, y, epochs: int, rate: float, batch: int, shifts: bool, rng) -> None:
    model.compile(keras.optimizers.Adam(rate), "sparse_categorical_crossentropy", metrics=["accuracy"])
    if shifts:
        for _ in range(epochs):
            model.fit(shifted(x, rng), y, batch_size=batch, epochs=1, verbose=0)
    else:
        model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0)


def one_seed(recipe: dict, seed: int, data) -> tuple[float, float]:
    xs, ys, xt, yt = data
    rng = np.random.default_rng(seed)
    k = recipe.get("k", 20)
    train = np.concatenate([rng.choice(np.where(yt == c)[0], k, replace=False) for c in range(5)])
    held = np.setdiff1d(np.arange(len(yt)), train)
    keras.utils.set_random_seed(seed)
    source = network(recipe)
    fit(source, xs, ys, recipe.get("source_epochs", 15), 2e-3, 32, recipe.get("source_shifts", False), rng)
    shifts = recipe.get("target_shifts", False)

    keras.utils.set_random_seed(seed + 100)
    scratch = network(recipe)
    fit(scratch, xt[train], yt[train], 40, 1e-3, 20, shifts, np.random.default_rng(seed))

    keras.utils.set_random_seed(seed + 100)
    target = network(recipe)
    for name in recipe.get("load", SHALLOW + ["features"]):
        target.get_layer(name).set_weights(source.get_layer(name).get_weights())
    data_rng = np.random.default_rng(seed)
    if recipe.get("mode", "freeze") == "all":
        fit(target, xt[train], yt[train], 40, 1e-3, 20, shifts, data_rng)
    else:
        frozen = recipe.get("frozen", SHALLOW)
        for name in frozen:
            target.get_layer(name).trainable = False
        fit(target, xt[train], yt[train], 20, 3e-3, 20, shifts, data_rng)
        for name in frozen:
            target.get_layer(name).trainable = True
        fit(target, xt[train], yt[train], 20, 3e-4, 20, shifts, data_rng)
    score = lambda model: float(model.evaluate(xt[held], yt[held], verbose=0)[1])  # noqa: E731
    return score(scratch), score(target)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--only", default=None, help="recipe numbers (1-based), comma-separated")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "transfer_recipes.md")
    args = parser.parse_args(argv)
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")[..., None]
    source = digits.target < 5
    data = (x[source], digits.target[source], x[~source], digits.target[~source] - 5)
    chosen = [int(n) for n in args.only.split(",")] if args.only else range(1, len(RECIPES) + 1)
    started, rows = time.perf_counter(), []
    for number in chosen:
        what, recipe = RECIPES[number - 1]
        pairs = np.array([one_seed(recipe, seed, data) for seed in range(args.seeds)])
        diff = pairs[:, 1] - pairs[:, 0]
        rows.append(f"| {number} | {what} | {recipe.get('k', 20)} | {pairs[:, 0].mean():.4f} | {pairs[:, 1].mean():.4f} "
                    f"| {diff.mean():+.4f} ± {diff.std(ddof=1) / np.sqrt(len(diff)):.4f} | {(diff > 0).sum()}/{len(diff)} |")
        print(rows[-1], flush=True)
    from machine import machine_line

    text = "\n".join([
        "# Transfer learning recipes: digits 0-4 -> digits 5-9", "", machine_line(), "",
        f"`python bench/transfer_recipes.py --seeds {args.seeds}` (plain Keras, backend "
        f"{keras.backend.backend()}). Mean accuracy on the 5-9 images not trained on over seeds "
        f"0-{args.seeds - 1}; the difference is transfer - scratch per seed, mean ± standard error; wins counts "
        "the seeds where transfer scored higher.", "",
        "| # | recipe | per class | scratch | transfer | transfer - scratch | wins |",
        "|---:|---|---:|---:|---:|---:|---:|", *rows, "",
        f"Wall time: {time.perf_counter() - started:.0f} s.", ""])
    if not args.only:
        args.out.write_text(text)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
