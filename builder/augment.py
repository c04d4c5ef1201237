"""Data augmentation: `train.augment`, Keras preprocessing layers applied to the training inputs only.

The layers run in the data pipeline, in the order given, on every training
batch while `fit` trains: on TensorFlow inside the `tf.data` map (what Keras
recommends for preprocessing layers), on JAX and PyTorch in the batches
(`ArrayBatches`) before they reach the step. So validation data, `evaluate`,
`predict` and the saved model never see them, and the model a run saves is
exactly the spec's model.

Each layer is an explicit constructor call on a class of the closed catalogue
(`builder.compile.make_layer`); with `train.seed`, a layer without a `seed`
of its own gets `seed + its position`, so a seeded run augments alike every time.
Layers that mix labels as well as images (MixUp, CutMix) need the labels in
the pipeline and are refused here.

`builder augment SPEC -o grid.png` draws training samples beside augmented
copies (`draw_grid`).

Public entry points: `augmentation(nodes, seed, location)` -> `Augmentation`, `draw_grid(...)`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from builder.errors import Location, SpecError, show

LABEL_MIXING = ("MixUp", "CutMix")


class Augmentation:
    """The augmentation layers of a spec, applied in order in training mode: `augmentation(x)` -> x."""

    def __init__(self, layers: list, names: list[str]):
        self.layers = layers
        self.names = names

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x, training=True)
        return x

    def numpy(self, x: np.ndarray) -> np.ndarray:
        """The same on a NumPy batch, back as NumPy (the JAX and PyTorch batches, the grid)."""
        import keras

        return np.asarray(keras.ops.convert_to_numpy(self(x)), dtype=x.dtype)


def augmentation(nodes, seed: int | None, location: Location) -> Augmentation:
    """`train.augment`'s layer nodes -> an `Augmentation` (a located error for a layer Keras refuses)."""
    from builder.catalog import catalog
    from builder.compile import make_layer

    layers, names = [], []
    for i, node in enumerate(nodes):
        if node.type in LABEL_MIXING:
            raise SpecError.single(location, f"{node.type} mixes labels as well as images; train.augment transforms "
                                             f"the inputs only. Received: type={show(node.type)}",
                                   "use image-only augmentations (RandomFlip, RandomRotation, RandomZoom, ...)")
        args = dict(node.args)
        if seed is not None and "seed" in catalog().layer(node.type).args and "seed" not in args:
            args["seed"] = int(seed) + i
        try:
            layers.append(make_layer(node.type, args))
        except (ValueError, TypeError) as exc:
            raise SpecError.single(location, f"train.augment[{i}] ({node.type}): "
                                             f"{str(exc).strip().splitlines()[0][:300]}") from None
        names.append(node.type)
    return Augmentation(layers, names)


def draw_grid(images: np.ndarray, augment: Augmentation, path: Path, copies: int = 7, title: str = "") -> Path:
    """One row per image: the image as it is, then `copies` augmented versions, written with matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = len(images)
    fig, axes = plt.subplots(rows, copies + 1, figsize=(1.2 * (copies + 1), 1.2 * rows + 0.4), squeeze=False)
    versions = [images] + [augment.numpy(images) for _ in range(copies)]
    for r in range(rows):
        for c, batch in enumerate(versions):
            image = batch[r]
            ax = axes[r][c]
            if image.ndim == 3 and image.shape[-1] == 1:
                ax.imshow(image[..., 0], cmap="gray_r")
            else:
                ax.imshow(np.clip(image, 0, 1))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title("original" if c == 0 else f"augmented {c}", fontsize=7)
    fig.suptitle(title or " -> ".join(augment.names), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
