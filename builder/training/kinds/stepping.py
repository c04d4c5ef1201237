"""Kinds whose networks train with their own step (GAN, cGAN, WGAN-GP, VAE): the shared machinery.

Keras' `fit` trains one model with one optimizer and one loss. A GAN trains two
networks against each other, each with its own optimizer; a VAE logs its
reconstruction and KL terms apart. `SteppedModel` is the `keras.Model` such a
kind gives `fit`: it wraps the spec's networks, and a subclass writes its step
ONCE, in backend-free `keras.ops` code:

    def train_batch(self, data):                  # one batch -> logs
        ...
        logs = self.descend("discriminator", lambda: self.discriminator_loss(...))
        ...

`descend(role, loss_fn)` is the one place that differs per backend, and the
difference lives in each backend's adapter (`builder/training/backends/<name>.py`:
`gradients`, `input_gradient`, `apply_gradients`): the
gradient of `loss_fn()`'s loss with respect to the role's network's trainable
variables (`tf.GradientTape`; `torch` autograd; `jax.value_and_grad` over the
variables' values), then the role's optimizer. `input_gradient(fn, x)` (a
network's outputs and its gradient with respect to its input, for WGAN-GP's
penalty) is the other. On JAX, where Keras' train step is stateless (`train_step(state, data)
-> (logs, state)`), the same `train_batch` runs inside one `keras.StatelessScope`
holding the state, and the scope's updated values are the new state.

`NetworkOptimizers` holds one optimizer per network but is one optimizer to
Keras, so `compile`, saving, `BackupAndRestore` (and JAX's state) carry them all.

Role lookup (`network_name`): `train.roles` says which spec model is the
generator, discriminator/critic, encoder or decoder; by default, the model of
that name. A role naming no model is a located error.
"""

from __future__ import annotations

import math

import keras

from builder.errors import Location
from builder.training import backends

def output_location(graph, model_name: str) -> Location:
    """The location of a spec model's (first) output node."""
    mgraph = graph.models[model_name]
    return mgraph.nodes[mgraph.outputs[0].node].location


# --- one optimizer per network ---------------------------------------------------------------------------

@keras.saving.register_keras_serializable(package="builder")
class NetworkOptimizers(keras.optimizers.Optimizer):
    """One optimizer per network (generator, discriminator), seen by Keras as one optimizer.

    Its `variables` are every network optimizer's, so Keras saves, restores and
    (on JAX) threads them through the stateless step. `build_networks` builds
    each on its own network's variables; the wrapper model's step applies each
    with `optimizer[role].apply(grads, variables)`. `optimizers` (a list) is the
    attribute Keras' TensorBoard callback (and builder.training.tensorboard) reads to log each learning rate.
    """

    def __init__(self, optimizers: dict, name: str = "network_optimizers", **kwargs):
        super().__init__(learning_rate=0.0, name=name, **kwargs)
        self.roles = list(optimizers)
        for role, optimizer in optimizers.items():
            optimizer.name = f"{role}_optimizer"
        self.optimizers = [optimizers[role] for role in self.roles]

    def __getitem__(self, role: str):
        return self.optimizers[self.roles.index(role)]

    @property
    def variables(self):
        return self._variables[:] + [v for optimizer in self.optimizers for v in optimizer.variables]

    @property
    def learning_rate(self):
        return self.optimizers[0].learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        raise ValueError("this model has one optimizer per network; set each network's learning rate "
                         "under train.optimizers")

    def build_networks(self, groups: dict) -> None:
        """Build each network's optimizer on that network's trainable variables."""
        for role, optimizer in zip(self.roles, self.optimizers):
            if not optimizer.built:
                with keras.name_scope(optimizer.name, caller=optimizer):
                    optimizer.build(groups[role])
        self.built = True

    def build(self, variables):
        if not all(optimizer.built for optimizer in self.optimizers):
            raise ValueError("NetworkOptimizers is built by its model (build_networks), per network")
        super().build(variables)

    def apply(self, grads, trainable_variables=None):
        raise ValueError("apply each network's optimizer: optimizers[role].apply(grads, variables)")

    # its own variables only: each network's optimizer saves and loads its own
    def save_own_variables(self, store):
        for i, variable in enumerate(self._variables):
            store[str(i)] = variable.numpy()

    def load_own_variables(self, store):
        for i, variable in enumerate(self._variables):
            if str(i) in store:
                variable.assign(store[str(i)])

    def get_config(self):
        return {"name": self.name,
                "optimizers": {role: keras.optimizers.serialize(optimizer)
                               for role, optimizer in zip(self.roles, self.optimizers)}}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        optimizers = {role: keras.optimizers.deserialize(item, custom_objects=custom_objects)
                      for role, item in config["optimizers"].items()}
        return cls(optimizers, name=config.get("name", "network_optimizers"))


# --- the wrapper model -------------------------------------------------------------------------------------

class SteppedModel(keras.Model):
    """Wraps the spec's networks (by role) and trains them with its own step.

    Subclasses implement `train_batch(data) -> logs` (calling `descend` for each
    update) and `test_batch(data) -> logs`, in backend-free `keras.ops` code,
    and `settings()` (their constructor arguments, for saving). Logged values go
    through `track(logs)`: one `keras.metrics.Mean` per name in `log_names`, so
    they land in the history, the plot and the summary, per epoch.
    """

    output_names = ("output",)   # read by builder.training.run's losses_and_metrics; the step has its own losses

    def __init__(self, networks: dict, log_names=(), seed=None, **kwargs):
        super().__init__(**kwargs)
        self.roles = list(networks)
        for role, network in networks.items():
            setattr(self, role, network)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in log_names}
        self.built = True

    # -- what subclasses write
    def train_batch(self, data):
        raise NotImplementedError

    def test_batch(self, data):
        raise NotImplementedError

    def settings(self) -> dict:
        return {}

    # -- tools for them
    def network(self, role: str):
        return getattr(self, role)

    def descend(self, role: str, loss_fn):
        """One update of the `role` network: gradients of `loss_fn()`'s loss, then its optimizer. -> logs."""
        variables = self.network(role).trainable_variables
        mechanics = backends.adapter()
        logs, grads = mechanics.gradients(self, loss_fn, variables)
        mechanics.apply_gradients(self.optimizer_of(role), grads, variables)
        return logs

    def input_gradient(self, fn, x):
        """`fn(x) -> (outputs, selected)`: the outputs, and d sum(selected) / dx, both differentiable with
        respect to the networks' weights (WGAN-GP's penalty is a function of that gradient)."""
        return backends.adapter().input_gradient(self, fn, x)

    def optimizer_of(self, role: str):
        optimizer = getattr(self.optimizer, "inner_optimizer", self.optimizer)
        return optimizer[role] if isinstance(optimizer, NetworkOptimizers) else optimizer

    def noise(self, shape):
        return keras.random.normal(shape, seed=self.seed_generator)

    def uniform(self, shape):
        return keras.random.uniform(shape, seed=self.seed_generator)

    @staticmethod
    def penalties(network):
        """The network's own losses: weight regularisers, activity losses, layer losses (VAESampling's KL)."""
        losses = network.losses
        return sum(losses[1:], losses[0]) if losses else 0.0

    def track(self, logs: dict) -> None:
        for name, value in logs.items():
            if name in self.trackers:
                self.trackers[name].update_state(value)

    def results(self) -> dict:
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    @property
    def metrics(self):
        return list(self.trackers.values())

    # -- Keras' entry points
    def train_step(self, *args):
        if keras.backend.backend() == "jax":
            state, data = args
            return self._stateless(self.train_batch, state, data, training=True)
        return self.train_batch(args[0])

    def test_step(self, *args):
        if keras.backend.backend() == "jax":
            state, data = args
            return self._stateless(self.test_batch, state, data, training=False)
        return self.test_batch(args[0])

    def _stateless(self, step, state, data, training: bool):
        """JAX: run `step` in a StatelessScope holding `state`; the values it leaves are the new state."""
        groups = [self.trainable_variables, self.non_trainable_variables]
        if training:
            groups.append(self.optimizer.variables)
        groups.append(self.metrics_variables)
        mapping = [pair for variables, values in zip(groups, state) for pair in zip(variables, values)]
        with keras.StatelessScope(state_mapping=mapping) as scope:
            logs = step(data)
        return logs, tuple([scope.get_current_value(v) for v in variables] for variables in groups)

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        """`optimizer`: one optimizer, or `{role: optimizer}` (one per network). `loss` and `metrics`
        are not used: the step computes its own losses (set when the kind builds the model)."""
        if isinstance(optimizer, dict):
            optimizer = NetworkOptimizers(optimizer)
        for unused in ("loss_weights", "weighted_metrics"):
            kwargs.pop(unused, None)
        super().compile(optimizer=optimizer, **kwargs)
        inner = getattr(self.optimizer, "inner_optimizer", self.optimizer)
        if isinstance(inner, NetworkOptimizers):
            inner.build_networks({role: self.network(role).trainable_variables for role in inner.roles})
            inner.build(self.trainable_variables)

    def compile_from_config(self, config):
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.optimizer is not None and not self.optimizer.built:
            self.optimizer.build(self.trainable_variables)

    def get_config(self):
        return {"name": self.name, "seed": self.seed, **self.settings(),
                "networks": {role: keras.saving.serialize_keras_object(self.network(role)) for role in self.roles}}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        networks = {role: keras.saving.deserialize_keras_object(item, custom_objects=custom_objects)
                    for role, item in config.pop("networks").items()}
        return cls(networks, **config)


# --- checks after training -------------------------------------------------------------------------------

def rising(history: list[dict], key: str, factor: float = 3.0, margin: float = 1.0) -> str | None:
    """A warning when `key` ended far above its lowest value (a loss that diverged), else None."""
    values = [row.get(key) for row in history]
    values = [v for v in values if isinstance(v, float) and math.isfinite(v)]
    if len(values) < 3:
        return None
    low = min(values[:-1])
    epoch = values.index(low) + 1
    last = values[-1]
    if last > factor * low and last - low > margin:
        return (f"{key} rose from {low:.3g} (epoch {epoch}) to {last:.3g} at the last epoch: "
                f"training is diverging")
    return None
