"""The PyTorch backend: NumPy batches on one device (Keras puts the model on the GPU when there is one)."""

from __future__ import annotations

import torch

from builder.training.backends import Distributed, SetupError, set_seed_without_tensorflow
from builder.training.backends.batches import ArrayBatches, augment_training  # noqa: F401  (the adapter's)

# `train.steps_per_execution: auto` for plain fit steps (Keras' PyTorch trainer runs one batch per call)
STEPS_PER_EXECUTION = 1


def device() -> str:
    try:
        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    except Exception:  # informative only
        return "cpu"


def reopened(model):
    """A saved model made ready for this backend (it may have been compiled on another one)."""
    if getattr(model, "steps_per_execution", 1) > 1:   # Keras' torch trainer runs one at a time
        model.steps_per_execution = 1
    return model


def set_seed(seed: int) -> None:
    set_seed_without_tensorflow(seed)   # also seeds torch


def distribute(mode: str, cluster=None, model_parallel=None, seed: int | None = None) -> Distributed:
    if mode != "one_device":   # builder.training.backends.select.check_distribute refuses these before Keras starts
        raise SetupError(f"distribute: {mode} is not available on the torch backend",
                         "use --backend jax (mirrored, multi_worker, model_parallel) or tensorflow (mirrored)")
    return Distributed()


def fit_arguments(x, y, x_val, y_val, batch_size: int, shuffle: bool, seed: int | None,
                  distributed: Distributed | None = None, weights: tuple = (None, None)) -> dict:
    args = {"x": ArrayBatches(x, y, batch_size, shuffle, seed, weight=weights[0]), "shuffle": False}   # they shuffle
    if x_val is not None:
        args["validation_data"] = ArrayBatches(x_val, y_val, batch_size, weight=weights[1])
    return args


def probes_xla() -> bool:
    return False   # Keras' PyTorch trainer has no XLA path


def callbacks(run) -> list:
    return []   # TensorBoard logs are builder.training.tensorboard's, the same on every backend


# --- the mechanics of kinds with their own step (builder.training.kinds.stepping) -------------------------------

def gradients(model, loss_fn, variables):
    for variable in model.trainable_variables:   # the last backward left gradients in every network
        variable.value.grad = None
    loss, logs = loss_fn()
    loss.backward()
    return logs, [variable.value.grad for variable in variables]


def input_gradient(model, fn, x):
    with torch.enable_grad():   # also under evaluate's no_grad
        x = x.detach().requires_grad_(True)
        outputs, selected = fn(x)
        (gradient,) = torch.autograd.grad(selected.sum(), x, create_graph=True)
    return outputs, gradient


def apply_gradients(optimizer, grads, variables) -> None:
    with torch.no_grad():
        optimizer.apply(grads, variables)
