"""The TensorFlow backend: tf.data pipelines, tf.distribute.MirroredStrategy."""

from __future__ import annotations

import keras
import tensorflow as tf

from builder.training.backends import Distributed, SetupError

# `train.steps_per_execution: auto` for plain fit steps (measured on LeNet/ResNet/transformer on 2 CPU cores, bench/RESULTS.md)
STEPS_PER_EXECUTION = 8


def device() -> str:
    try:
        gpus = tf.config.list_physical_devices("GPU")
        return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "gpu") if gpus else "cpu"
    except Exception:  # device details are informative only
        return "cpu"


def reopened(model):
    """A saved model made ready for this backend (it may have been compiled on another one)."""
    return model


def set_seed(seed: int) -> None:
    keras.utils.set_random_seed(seed)


def distribute(mode: str, cluster=None, model_parallel=None, seed: int | None = None) -> Distributed:
    if mode == "one_device":
        return Distributed()
    if mode != "mirrored":   # builder.training.backends.select.check_distribute refuses the others before Keras starts
        raise SetupError(f"distribute: {mode} is not available on the tensorflow backend")
    # every local GPU; on a machine without one, every logical CPU (one, unless configured otherwise)
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    strategy = tf.distribute.MirroredStrategy(devices=[d.name for d in devices])
    count = strategy.num_replicas_in_sync
    return Distributed("mirrored", devices=count, data_parallel=count, make_scope=strategy.scope, handle=strategy,
                       details={"engine": "tf.distribute.MirroredStrategy"})


def fit_arguments(x, y, x_val, y_val, batch_size: int, shuffle: bool, seed: int | None,
                  distributed: Distributed | None = None, weights: tuple = (None, None)) -> dict:
    """A cached, shuffled (seeded, every epoch), batched, prefetched `tf.data` pipeline; `weights`: the training
    and validation sample weights (the structure of `y`), or None.

    Under MirroredStrategy, Keras splits each batch over the replicas itself.
    """
    def dataset(a, b, w, training):
        a, b, w = _tuples(a), _tuples(b), _tuples(w)   # a list of arrays is several inputs, not one stacked tensor
        ds = tf.data.Dataset.from_tensor_slices((a,) if b is None else (a, b) if w is None else (a, b, w)).cache()
        if training and shuffle:
            ds = ds.shuffle(min(len(ds), 10_000), seed=seed, reshuffle_each_iteration=True)
        return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    args = {"x": dataset(x, y, weights[0], True), "shuffle": False}  # the pipeline shuffles
    if x_val is not None:
        args["validation_data"] = dataset(x_val, y_val, weights[1], False)
    return args


def augment_training(arguments: dict, augment) -> dict:
    """`fit` arguments whose training pipeline maps its batches through `augment` (`builder.training.augment`: the inputs,
    and with MixUp or CutMix the labels too); the validation pipeline does not. Sample weights pass as they are."""
    def apply(x, y=None, w=None):
        x, y = augment(x, y)
        return (x,) if y is None else (x, y) if w is None else (x, y, w)

    arguments["x"] = arguments["x"].map(apply)   # sequential: a seeded run draws the same augmentations
    return arguments


def _tuples(value):
    return tuple(value) if isinstance(value, list) else value


def probes_xla() -> bool:
    """`jit_compile: auto` times the run's first steps with and without XLA (builder.training.xla) on a CPU;
    with a GPU, Keras' own `auto` (XLA where the model allows it) stands."""
    return not tf.config.list_physical_devices("GPU")


def callbacks(run) -> list:
    return []   # TensorBoard logs are builder.training.tensorboard's, the same on every backend


# --- the mechanics of kinds with their own step (builder.training.kinds.stepping) -------------------------------

def gradients(model, loss_fn, variables):
    """`loss_fn()` -> (loss, logs); returns logs and the gradient of loss with respect to `variables`."""
    with tf.GradientTape() as tape:
        loss, logs = loss_fn()
    return logs, tape.gradient(loss, variables)


def input_gradient(model, fn, x):
    """`fn(x)` -> (outputs, selected); returns outputs and the gradient of sum(selected) with respect to x."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        outputs, selected = fn(x)
    return outputs, tape.gradient(selected, x)


def apply_gradients(optimizer, grads, variables) -> None:
    optimizer.apply(grads, variables)
