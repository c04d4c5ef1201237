"""The JAX backend: NumPy batches, and `keras.distribution` for several devices, processes and meshes.

    mirrored        DataParallel over every local device (GPUs; CPUs with
                    XLA_FLAGS=--xla_force_host_platform_device_count=N)
    multi_worker    keras.distribution.initialize (coordinator, process count
                    and id; CPU collectives through gloo), then DataParallel
                    over the devices of every process; each process feeds its
                    own part of every batch
    model_parallel  ModelParallel on a (batch, model) mesh; the weights of the
                    spec nodes listed in `train.model_parallel.shard` are split
                    over the `model` axis (their last axis), the rest replicated
"""

from __future__ import annotations

import re

import jax
import keras
import numpy as np

from builder.model.compile import layer_name
from builder.training.backends import Distributed, SetupError, set_seed_without_tensorflow, tensorflow_hidden
from builder.training.backends.batches import ArrayBatches, augment_training  # noqa: F401  (the adapter's)

# `train.steps_per_execution: auto` for plain fit steps (as on TensorFlow: fewer dispatches from Python per batch)
STEPS_PER_EXECUTION = 8


def device() -> str:
    try:
        first = jax.devices()[0]
        return "cpu" if first.platform == "cpu" else first.device_kind
    except Exception:  # informative only
        return "cpu"


def reopened(model):
    """A saved model made ready for this backend (it may have been compiled on another one)."""
    return model


def set_seed(seed: int) -> None:
    set_seed_without_tensorflow(seed)


class NodeParallel(keras.distribution.ModelParallel):
    """ModelParallel whose layout map is filled from spec node ids as the weights are made.

    A weight of a listed node (a Keras layer named after it, and the layers
    inside it) whose last axis divides by the mesh's `model` size gets the
    layout (None, ..., "model"); every other weight is replicated. Optimizer
    slots follow their weight's layout.
    """

    def __init__(self, mesh, nodes):
        self.layout_map = keras.distribution.LayoutMap(mesh)
        super().__init__(layout_map=self.layout_map, batch_dim_name="batch", auto_shard_dataset=False)
        self.nodes = {layer_name(node): node for node in nodes}   # by the Keras layer name weights carry
        self.model_size = mesh.shape[1]
        self.sharded: dict[str, list[str]] = {}     # node -> weight paths split over `model`
        self.replicated: list[str] = []             # weights of listed nodes that could not be split
        self._decided: set[str] = set()   # (LayoutMap's `in` looks keys up as patterns: it is always true)

    def get_variable_layout(self, variable):
        node = self.nodes.get(variable.path.split("/")[0])
        key = "^" + re.escape(variable.path) + "$"
        if node is not None and key not in self._decided:
            self._decided.add(key)
            if len(variable.shape) and variable.shape[-1] % self.model_size == 0:
                self.layout_map[key] = (None,) * (len(variable.shape) - 1) + ("model",)
                self.sharded.setdefault(node, []).append(variable.path)
            else:
                self.replicated.append(variable.path)
        return super().get_variable_layout(variable)


def distribute(mode: str, cluster=None, model_parallel=None, seed: int | None = None) -> Distributed:
    if mode == "one_device":
        return Distributed()
    if mode == "multi_worker":
        # CPU processes exchange gradients through gloo (GPUs use NCCL whatever this says)
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        try:
            with tensorflow_hidden():   # it seeds every process alike, through keras.utils.set_random_seed
                keras.distribution.initialize(cluster.coordinator, cluster.num_processes, cluster.process_id)
        except Exception as exc:
            raise SetupError(f"process {cluster.process_id} of {cluster.num_processes} could not join the "
                             f"cluster at {cluster.coordinator}: {str(exc).splitlines()[0] if str(exc) else exc!r}",
                             "start every process with the same --coordinator (process 0's HOST:PORT, reachable "
                             "from all) and --num-processes, and a distinct --process-id") from None
    devices = keras.distribution.list_devices()
    platform = jax.devices()[0].platform
    details = {"platform": platform}
    if mode == "model_parallel":
        data, model = model_parallel.mesh
        if data * model != len(devices):
            hint = "set mesh to [data, model] with data x model = the device count"
            if platform == "cpu":
                hint += f"; on CPU, XLA_FLAGS=--xla_force_host_platform_device_count={data * model} gives " \
                        "that many devices"
            raise SetupError(f"the mesh {[data, model]} needs {data * model} devices; this run has "
                             f"{len(devices)} ({platform})", hint, where=("model_parallel", "mesh"))
        mesh = keras.distribution.DeviceMesh((data, model), ("batch", "model"), devices)
        distribution = NodeParallel(mesh, model_parallel.nodes)
        data_parallel = data
        details.update(engine="keras.distribution.ModelParallel", mesh=[data, model])
    else:
        distribution = keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
        data_parallel = len(devices)
        details["engine"] = "keras.distribution.DataParallel"
    processes = jax.process_count()
    data_seed = seed
    if processes > 1 and seed is None:
        # every process must shuffle alike: process 0's random seed for all
        from jax.experimental import multihost_utils

        local = np.int64(np.random.SeedSequence().entropy % (2**31))
        data_seed = int(multihost_utils.broadcast_one_to_all(local))
    return Distributed(mode, devices=len(devices), data_parallel=data_parallel, processes=processes,
                       process_id=jax.process_index(), even_batches=True, data_seed=data_seed,
                       make_scope=distribution.scope, handle=distribution, details=details)


def fit_arguments(x, y, x_val, y_val, batch_size: int, shuffle: bool, seed: int | None,
                  distributed: Distributed | None = None, weights: tuple = (None, None)) -> dict:
    distributed = distributed or Distributed()
    common = {"multiple": distributed.data_parallel, "part": distributed.process_id, "parts": distributed.processes}
    seed = distributed.data_seed if distributed.data_seed is not None else seed
    args = {"x": ArrayBatches(x, y, batch_size, shuffle, seed, weight=weights[0], **common),
            "shuffle": False}  # the batches shuffle
    if x_val is not None:
        args["validation_data"] = ArrayBatches(x_val, y_val, batch_size, weight=weights[1], **common)
    return args


def probes_xla() -> bool:
    return False   # JAX compiles every step with XLA; without it the step runs op by op


def callbacks(run) -> list:
    return []   # TensorBoard logs are builder.training.tensorboard's, the same on every backend


# --- the mechanics of kinds with their own step (builder.training.kinds.stepping) -------------------------------

def gradients(model, loss_fn, variables):
    # the step runs inside a StatelessScope holding the state; the loss is a function of the
    # role's variables' values, with every other variable at its current value in that scope
    current = [(v, v.value) for v in model.trainable_variables + model.non_trainable_variables]
    carried = model.non_trainable_variables   # batch statistics, random seeds, power iterations

    def loss_of(values):
        with keras.StatelessScope(state_mapping=current + list(zip(variables, values)),
                                  collect_losses=True) as scope:
            loss, logs = loss_fn()
        return loss, (logs, [scope.get_current_value(v) for v in carried])

    (_, (logs, updated)), grads = jax.value_and_grad(loss_of, has_aux=True)([v.value for v in variables])
    for variable, value in zip(carried, updated):
        variable.assign(value)
    return logs, grads


def input_gradient(model, fn, x):
    current = [(v, v.value) for v in model.trainable_variables + model.non_trainable_variables]
    carried = model.non_trainable_variables

    def total(x):
        with keras.StatelessScope(state_mapping=current) as scope:
            outputs, selected = fn(x)
        return jax.numpy.sum(selected), (outputs, [scope.get_current_value(v) for v in carried])

    gradient, (outputs, updated) = jax.grad(total, has_aux=True)(x)
    for variable, value in zip(carried, updated):
        variable.assign(value)
    return outputs, gradient


def apply_gradients(optimizer, grads, variables) -> None:
    optimizer.apply(grads, variables)
