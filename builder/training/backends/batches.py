"""NumPy arrays in batches for the JAX and PyTorch backends, as `tf.data` does it for TensorFlow.

`ArrayBatches` is a `keras.utils.PyDataset`: the same seeded shuffling (a
fresh permutation of all samples every epoch, from one generator seeded once,
so a seeded run repeats), the same batches in order. Batches are cut in the
training thread, with no worker threads: JAX and PyTorch dispatch steps
asynchronously, so the next batch is cut while the device runs the last one,
and Keras' thread-pool enqueuer cost more than it hid (a small MLP on JAX,
CPU: 1.23 M samples/s unthreaded against 0.23 M with two workers).

Several devices: a batch is cut down to a multiple of the data-parallel
device count (at most count - 1 samples of the last batch skipped), since a
sharded batch must split evenly. Several processes: every process draws the
same permutation and feeds only its own contiguous part of every batch, so
the global batch the devices see is exactly the one-process batch and the
losses are the same.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from builder.training.backends import sample_count


class ArrayBatches(keras.utils.PyDataset):
    """Batches of `x` (an array, or a list/tuple/dict of arrays), `y` (the same, or None) and sample weights
    (the same structure as `y`, or None)."""

    def __init__(self, x, y, batch_size: int, shuffle: bool = False, seed: int | None = None,
                 multiple: int = 1, part: int = 0, parts: int = 1, weight=None):
        super().__init__(workers=1, use_multiprocessing=False)
        self.x, self.y, self.weight = x, y, weight
        self.count = sample_count(x)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.part, self.parts = part, parts
        self._rng = np.random.default_rng(seed) if shuffle else None
        self._order = self._next_order()
        self._bounds = []
        for i in range(math.ceil(self.count / self.batch_size)):
            start = i * self.batch_size
            size = min(self.batch_size, self.count - start) // multiple * multiple
            if size:
                self._bounds.append((start, start + size))
        self.skipped = self.count - sum(stop - start for start, stop in self._bounds)
        self.augment = None   # builder.training.augment.Augmentation: applied to training batches (labels too: MixUp)

    def _next_order(self) -> np.ndarray:
        return self._rng.permutation(self.count) if self.shuffle else np.arange(self.count)

    def __len__(self) -> int:
        return len(self._bounds)

    def __getitem__(self, index: int):
        start, stop = self._bounds[index]
        rows = self._order[start:stop]
        if self.parts > 1:
            size = len(rows) // self.parts
            rows = rows[self.part * size:(self.part + 1) * size]

        def take(array):
            return array[rows]

        x = keras.tree.map_structure(take, self.x)
        y = None if self.y is None else keras.tree.map_structure(take, self.y)
        if self.augment is not None:
            x, y = self.augment.numpy(x, y)
        if y is None:
            return (x,)
        return (x, y) if self.weight is None else (x, y, keras.tree.map_structure(take, self.weight))

    def on_epoch_end(self):
        self._order = self._next_order()


def augment_training(arguments: dict, augment) -> dict:
    """`fit` arguments whose training batches pass through `augment` (validation batches do not)."""
    arguments["x"].augment = augment
    return arguments
