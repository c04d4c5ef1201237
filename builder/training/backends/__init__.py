"""What differs between Keras backends, behind one small adapter each.

builder's core (layers, kinds, callbacks, data, plots, run folders) uses
`keras.ops` and public Keras APIs only. The few pieces that cannot are here,
one module per backend, imported only when Keras runs on that backend:

    tensorflow.py   tf.data pipelines, tf.distribute.MirroredStrategy
    jax.py          NumPy batches (`batches.ArrayBatches`), keras.distribution: DataParallel,
                    multi-process `initialize` (gloo on CPU), ModelParallel from spec node ids
    torch.py        NumPy batches on one device

Each adapter module has the same functions (`ADAPTER_FUNCTIONS`; a test checks every adapter):

    device() -> str                    "cpu", or the accelerator's name
    reopened(model) -> model           a model from `load_model`, ready for this backend's step
    set_seed(seed)                     Python, NumPy, Keras and the backend's generators
    distribute(mode, cluster, model_parallel, seed) -> Distributed
    fit_arguments(x, y, x_val, y_val, batch_size, shuffle, seed, distributed, weights) -> dict for `fit`
                                       (x, y: arrays or their lists/dicts; weights: (train, val) sample weights)
    augment_training(arguments, augment) -> dict    train.augment on the training batches only
    callbacks(run) -> list             backend-only callbacks (none now: builder.training.tensorboard serves all)
    probes_xla() -> bool               whether `jit_compile: auto` times XLA against none (builder.training.xla)
    gradients(model, loss_fn, variables), input_gradient(model, fn, x),
    apply_gradients(optimizer, grads, variables)    the custom steps of the GAN kinds (kinds/stepping.py)

`select.py` picks the backend before Keras is imported (--backend, $KERAS_BACKEND, keras.json).

Public entry point: `adapter()` -> the module for `keras.backend.backend()`.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from dataclasses import dataclass, field
from typing import Callable

ADAPTER_FUNCTIONS = ("device", "reopened", "set_seed", "distribute", "fit_arguments", "augment_training",
                     "callbacks", "probes_xla", "gradients", "input_gradient", "apply_gradients")


@dataclass
class Distributed:
    """How a run spreads over devices and processes, as the backend set it up."""

    mode: str = "one_device"
    devices: int = 1                  # devices the run trains on, over all processes
    data_parallel: int = 1            # the batch is split over this many of them
    processes: int = 1
    process_id: int = 0
    even_batches: bool = False        # every batch must split evenly over data_parallel (JAX)
    data_seed: int | None = None      # the shuffling seed every process agreed on (multi-process runs)
    make_scope: Callable | None = None
    handle: object = None             # the tf.distribute strategy or keras.distribution object
    details: dict = field(default_factory=dict)   # for summary.json

    def scope(self):
        """Where models are built and trained: the strategy's or distribution's scope."""
        return self.make_scope() if self.make_scope else contextlib.nullcontext()

    @property
    def chief(self) -> bool:
        return self.process_id == 0

    def summary(self) -> dict:
        return {"mode": self.mode, "devices": self.devices, "processes": self.processes, **self.details}


class SetupError(Exception):
    """A distribution the machine cannot run (e.g. a mesh larger than its devices).

    `where` is the path under `train` to point at; `builder.training.run` makes it a located error.
    """

    def __init__(self, message: str, hint: str | None = None, where: tuple = ("distribute",)):
        super().__init__(message)
        self.hint = hint
        self.where = where


def adapter():
    """The adapter module of the backend Keras runs on."""
    import keras

    name = keras.backend.backend()
    if name not in ("tensorflow", "jax", "torch"):
        raise SetupError(f"builder does not train on the {name} backend", "use --backend tensorflow, jax or torch")
    return importlib.import_module(f"builder.training.backends.{name}")


def sample_count(x) -> int:
    """Samples in a model's inputs: one array, or a tuple/list/dict of arrays."""
    if x is None:
        return 0
    if isinstance(x, dict):
        x = list(x.values())
    return len(x[0]) if isinstance(x, (list, tuple)) else len(x)


@contextlib.contextmanager
def tensorflow_hidden():
    """Keras calls that import TensorFlow whenever it is installed, made without it (JAX and torch runs).

    `keras.utils.set_random_seed` (and `keras.distribution.initialize`, which
    calls it) seeds TensorFlow too, for users who feed `tf.data` to other
    backends; builder does not, and importing TensorFlow costs seconds and a
    screen of notes. While inside, `tensorflow` is marked absent unless it
    already runs; Keras then takes it as absent for its remaining checks too.
    """
    hidden = "tensorflow" not in sys.modules
    if hidden:
        sys.modules["tensorflow"] = None
    try:
        yield
    finally:
        if hidden and sys.modules.get("tensorflow", 0) is None:
            del sys.modules["tensorflow"]


def set_seed_without_tensorflow(seed: int) -> None:
    """`keras.utils.set_random_seed`: Python, NumPy, Keras (and torch on torch), not TensorFlow."""
    import keras

    with tensorflow_hidden():
        keras.utils.set_random_seed(seed)
