"""Data augmentation: `train.augment`, applied to training batches only.

The entries run in the data pipeline, in the order given, on every training
batch while `fit` trains: on TensorFlow inside the `tf.data` map (what Keras
recommends for preprocessing layers), on JAX and PyTorch in the batches
(`ArrayBatches`) before they reach the step. So validation data, `evaluate`,
`predict` and the saved model never see them, and the model a run saves is
exactly the spec's model.

Most entries are Keras preprocessing layers, each an explicit constructor call
on a class of the closed catalogue (`builder.model.compile.make_layer`), applied to
the inputs. MixUp and CutMix mix the labels as well as the images, so they are
builder's own (`MIXING`): they take the arguments of `keras.layers.MixUp` and
`keras.layers.CutMix` (the catalogue checks them), and see the labels as rows
of class probabilities: a run with them trains on one-hot targets (integer
labels are made one-hot, for validation too, and `builder.training.run` compiles the
categorical twins of sparse losses and metrics under the spec's names).

With `train.seed`, an entry without a `seed` of its own gets `seed + its
position`, so a seeded run augments alike every time.

`builder augment SPEC -o grid.png` draws training samples beside augmented
copies (`draw_grid`).

Public entry points: `augmentation(nodes, seed, locate)` -> `Augmentation`, `class_targets(...)`,
`label_mixer(nodes)`, `draw_grid(...)`. Importing this module imports neither Keras nor NumPy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from builder.errors import Location, SpecError, show

# --- label mixing -----------------------------------------------------------------------------------------
#
# Why not keras.layers.MixUp and keras.layers.CutMix themselves (Keras 3.15)? They run on every backend,
# but MixUp takes images only (it refuses a batch of feature vectors, iris's say), and CutMix mixes the
# labels by the area of its unrounded box while it pastes whole pixels: on 8x8 digits its labels are 6.6%
# off the pasted share on average, up to 23%. These two classes keep the Keras arguments and their meaning
# (keras.random with a SeedGenerator, so they also run inside tf.data), blend inputs of any rank, and mix
# labels by the pixels actually pasted.


class MixUp:
    """MixUp (Zhang et al., 2018): every sample blended with another sample of its batch, its label alike.

    Sample i becomes `lam_i * x_i + (1 - lam_i) * x_j`, and its label
    `lam_i * y_i + (1 - lam_i) * y_j`, for a random pairing j of the batch and
    `lam_i ~ Beta(alpha, alpha)`. Inputs of any rank are blended (images,
    feature vectors), every input of a several-input model with the same weights.

    Args:
        alpha: Float > 0, the Beta distribution's parameter. Small values keep
            most samples close to one of the pair; 1 blends uniformly. Defaults
            to 0.2 (the paper's setting for ImageNet).
        seed: Integer. Seeds the pairing and the weights.
        data_format: Taken as `keras.layers.MixUp` takes it; blending does not
            depend on it.
        **kwargs: `keras.layers.MixUp`'s other arguments (`dtype`, `trainable`),
            which do not apply outside a model.
    """

    def __init__(self, alpha=0.2, seed=None, data_format=None, **kwargs):
        import keras

        if not alpha > 0:
            raise ValueError(f"expected alpha > 0. Received: alpha={alpha}")
        self.alpha = float(alpha)
        self.generator = keras.random.SeedGenerator(seed)

    def inputs_problem(self, x) -> str | None:
        """Why a run's training inputs cannot be blended, or None."""
        import keras
        import numpy as np

        for array in keras.tree.flatten(x):
            if np.asarray(array).dtype.kind != "f":
                return f"MixUp blends inputs; this run's inputs include {np.asarray(array).dtype} values"
        return None

    def __call__(self, x, y=None):
        """A batch mixed: (inputs, labels or None) -> (inputs, labels or None)."""
        from keras import ops, random, tree

        x = tree.map_structure(ops.convert_to_tensor, x)
        batch = ops.shape(tree.flatten(x)[0])[0]
        pairing = random.shuffle(ops.arange(batch), seed=self.generator)
        weight = random.beta((batch,), self.alpha, self.alpha, seed=self.generator)
        mixed = tree.map_structure(lambda a: _blend(a, weight, pairing), x)
        return mixed, (None if y is None else _blend(y, weight, pairing))


class CutMix:
    """CutMix (Yun et al., 2019): a box of every image replaced by the same box of another image of its batch.

    Each batch draws `alpha` uniformly from the range `factor` gives, each
    image i a share `lam_i ~ Beta(alpha, alpha)` to keep, and a box whose
    sides are `sqrt(1 - lam_i)` times the image's, rounded to whole pixels, at
    a uniformly random place inside the image; the box's pixels come from
    image j of a random pairing. Label i becomes `k_i * y_i + (1 - k_i) * y_j`,
    `k_i` the share of pixels the box left to image i, counted pixel by pixel.

    Args:
        factor: Float in [0, 1], or a pair `[low, high]` in [0, 1]: the range of
            `alpha`, as `keras.layers.CutMix` takes it (a float f means [0, f]).
            Defaults to 1.
        seed: Integer. Seeds the boxes and the pairing.
        data_format: `"channels_last"` (the default) or `"channels_first"`.
        **kwargs: `keras.layers.CutMix`'s other arguments (`dtype`,
            `trainable`), which do not apply outside a model.
    """

    def __init__(self, factor=1.0, seed=None, data_format=None, **kwargs):
        import keras

        low, high = (0.0, factor) if isinstance(factor, (int, float)) else factor
        if not 0 <= low <= high <= 1:
            raise ValueError(f"expected a number in [0, 1] or a pair [low, high] within it. Received: "
                             f"factor={factor}")
        self.factor = (float(low), float(high))
        self.channels_first = data_format == "channels_first"
        self.generator = keras.random.SeedGenerator(seed)

    def inputs_problem(self, x) -> str | None:
        """Why a run's training inputs are not a batch of images to cut, or None."""
        import numpy as np

        if not isinstance(x, np.ndarray) or x.ndim != 4:
            shape = list(x.shape[1:]) if isinstance(x, np.ndarray) else f"{len(x)} inputs"
            return f"CutMix pastes boxes between images; this run's inputs are {shape}"
        return None

    def __call__(self, x, y=None):
        """A batch mixed: (images, labels or None) -> (images, labels or None)."""
        from keras import ops, random

        x = ops.convert_to_tensor(x)
        shape = ops.shape(x)
        batch, height, width = shape[0], *((shape[2], shape[3]) if self.channels_first else (shape[1], shape[2]))
        # Keras' CutMix adds 1e-6 too: Beta(0, 0) has no samples
        alpha = random.uniform((), self.factor[0], self.factor[1], seed=self.generator) + 1e-6
        side = ops.sqrt(1.0 - random.beta((batch,), alpha, alpha, seed=self.generator))
        rows, columns = self._span(side, height, batch), self._span(side, width, batch)
        box = ops.logical_and(ops.expand_dims(rows, 2), ops.expand_dims(columns, 1))   # (batch, height, width)
        box = ops.expand_dims(box, 1 if self.channels_first else 3)
        pairing = random.shuffle(ops.arange(batch), seed=self.generator)
        mixed = ops.where(box, ops.take(x, pairing, axis=0), x)
        if y is None:
            return mixed, None
        kept = 1.0 - ops.mean(ops.cast(box, "float32"), axis=(1, 2, 3))
        return mixed, _blend(y, kept, pairing)

    def _span(self, side, length: int, batch):
        """Which of `length` positions a box edge of `side * length` pixels covers, from a random start."""
        from keras import ops, random

        size = ops.round(side * length)
        start = ops.floor(random.uniform((batch,), seed=self.generator) * (length - size + 1.0))
        position = ops.expand_dims(ops.arange(length, dtype="float32"), 0)
        return ops.logical_and(position >= ops.expand_dims(start, 1), position < ops.expand_dims(start + size, 1))


def _blend(array, weight, pairing):
    """`weight * array + (1 - weight) * array[pairing]`, one weight per sample."""
    from keras import ops

    array = ops.convert_to_tensor(array)
    weight = ops.reshape(ops.cast(weight, array.dtype), (-1,) + (1,) * (len(array.shape) - 1))
    return weight * array + (1.0 - weight) * ops.take(array, pairing, axis=0)


MIXING = {"MixUp": MixUp, "CutMix": CutMix}   # train.augment types that mix labels, and what mixes them


def label_mixer(nodes) -> str | None:
    """The first `train.augment` entry (of its nodes, or None) that mixes labels, by type; None if none does.

    A run with one trains, validates and evaluates on one-hot targets (`class_targets`).
    """
    return next((node.type for node in nodes or () if node.type in MIXING), None)


def class_targets(model, labels, location: Location, mixer: str):
    """A run's labels as the rows of class probabilities that MixUp and CutMix mix, as float32.

    Integer class labels become one-hot rows over the model's outputs; one-hot
    rows stay as they are. Any other target (numbers to regress, sequences,
    several outputs) is a located error naming `mixer`.
    """
    import numpy as np

    def refuse(what: str, hint: str | None = None):
        raise SpecError.single(location, f"{mixer} mixes class labels; {what}", hint or
                               "MixUp and CutMix train classifiers: integer class labels or one-hot rows, "
                               "and one output of a score per class")

    if len(model.outputs) != 1:
        refuse(f"model {show(model.name)} has {len(model.outputs)} outputs")
    classes = model.outputs[0].shape[-1]
    if len(model.outputs[0].shape) != 2 or classes is None:
        refuse(f"model {show(model.name)}'s output has shape {list(model.outputs[0].shape[1:])}, not one score "
               "per class")
    labels = np.asarray(labels)
    if labels.dtype.kind in "iu" and (labels.ndim == 1 or labels.shape[1:] == (1,)):
        labels = labels.reshape(-1)
        if labels.size and not 0 <= labels.min() <= labels.max() < classes:
            refuse(f"this run's labels run from {labels.min()} to {labels.max()}, and the model's output has "
                   f"{classes} classes")
        return np.eye(classes, dtype="float32")[labels]
    if labels.ndim == 2 and labels.shape[1] == classes and np.isin(labels, (0, 1)).all() \
            and (labels.sum(axis=1) == 1).all():
        return labels.astype("float32")
    refuse(f"this run's targets are {labels.dtype} values of shape {list(labels.shape[1:])}, not class labels")


# --- the pipeline -------------------------------------------------------------------------------------------

class _InputsOnly:
    """A Keras preprocessing layer as a step of the pipeline: it transforms the inputs, the labels pass."""

    def __init__(self, layer):
        self.layer = layer

    def __call__(self, x, y=None):
        return self.layer(x, training=True), y


class Augmentation:
    """`train.augment`'s steps, applied in order: `augmentation(x, y)` -> `(x, y)`.

    Args:
        steps: callables `(x, y) -> (x, y)`, `y` None when there are no labels.
        names: each step's type, for titles and `summary.json`.
        mixing: the label-mixing steps (MixUp, CutMix) by position, with their
            locations in the spec; empty when the labels pass unchanged.
    """

    def __init__(self, steps: list, names: list[str], mixing: dict[int, Location] | None = None):
        self.steps = steps
        self.names = names
        self.mixing = mixing or {}

    @property
    def mixes_labels(self) -> bool:
        return bool(self.mixing)

    def __call__(self, x, y=None):
        for step in self.steps:
            x, y = step(x, y)
        return x, y

    def numpy(self, x, y=None):
        """The same on NumPy batches, back as NumPy (the JAX and PyTorch batches, the grid): `(x, y)`.

        Without label mixing, `y` comes back as it was given.
        """
        import keras
        import numpy as np

        new_x, new_y = self(x, y if self.mixing else None)
        new_x = keras.tree.map_structure(lambda a, old: np.asarray(keras.ops.convert_to_numpy(a), dtype=old.dtype),
                                         new_x, x)
        if not self.mixing or y is None:
            return new_x, y
        return new_x, np.asarray(keras.ops.convert_to_numpy(new_y), dtype="float32")

    def class_targets(self, model, x, *labels) -> list:
        """Check that the run's inputs can be mixed, and give its labels (each array, or None) one-hot."""
        for i, location in self.mixing.items():
            problem = self.steps[i].inputs_problem(x)
            if problem:
                raise SpecError.single(location, problem, "use image data (e.g. `image: true`)"
                                       if self.names[i] == "CutMix" else None)
        first = next(iter(self.mixing))
        return [None if y is None else class_targets(model, y, self.mixing[first], self.names[first])
                for y in labels]


def augmentation(nodes, seed: int | None, locate: Callable[[int], Location]) -> Augmentation:
    """`train.augment`'s layer nodes -> an `Augmentation`; `locate(i)` is where entry i is in the spec.

    A located error for arguments the layer refuses.
    """
    from builder.language.catalogue import catalogue
    from builder.model.compile import constructor_args, make_layer

    steps, names, mixing = [], [], {}
    for i, node in enumerate(nodes):
        args = dict(node.args)
        if seed is not None and "seed" in catalogue().layer(node.type).args and "seed" not in args:
            args["seed"] = int(seed) + i
        try:
            if node.type in MIXING:
                steps.append(MIXING[node.type](**constructor_args(node.type, args)))
                mixing[i] = locate(i)
            else:
                steps.append(_InputsOnly(make_layer(node.type, args)))
        except (ValueError, TypeError) as exc:
            raise SpecError.single(locate(i), f"train.augment[{i}] ({node.type}): "
                                              f"{str(exc).strip().splitlines()[0][:300]}") from None
        names.append(node.type)
    return Augmentation(steps, names, mixing)


def draw_grid(images, augment: Augmentation, path: Path, copies: int = 7, title: str = "") -> Path:
    """One row per image: the image as it is, then `copies` augmented versions, written with matplotlib.

    MixUp and CutMix mix the rows with each other, as they mix a training batch.
    """
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = len(images)
    fig, axes = plt.subplots(rows, copies + 1, figsize=(1.2 * (copies + 1), 1.2 * rows + 0.4), squeeze=False)
    versions = [images] + [augment.numpy(images)[0] for _ in range(copies)]
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
