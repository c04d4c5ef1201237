"""Kind `autoencoder`: the main model (`train.model`) learns to rebuild its input, with Keras' own `fit`.

A denoising autoencoder is the same kind: its noise is a layer of the spec
(`GaussianNoise`, active in training only), and the loss compares the output
with the clean input. `train.loss` defaults to mean_squared_error.

Sampler (`builder generate RUN -n N -o FILE`): N validation samples beside their
reconstructions, a pair per cell of the grid (`.npy`: shape (N, 2, ...)).
With `--option noise=S` (default: the spec's `GaussianNoise` stddev, 0 if it
has none), the inputs are corrupted with Gaussian noise of that deviation
first, and each group shows input, noisy input, reconstruction.
"""

from __future__ import annotations

import math

import numpy as np

from builder.errors import Location, SpecError
from builder.model.inspect import every_layer
from builder.training.kinds.base import (KindMismatch, Plan, Samples, check_options, evaluation, sampler,
                                         training_kind)


@training_kind("autoencoder")
def autoencoder(graph, models, data) -> Plan:
    """The main model reconstructs its input (noise for a denoising autoencoder sits in the spec)."""
    model = models[graph.main]
    given, made = tuple(model.inputs[0].shape[1:]), tuple(model.outputs[0].shape[1:])
    if len(model.inputs) != 1 or len(model.outputs) != 1 or given != made:
        raise KindMismatch(f"an autoencoder gives back its input: model {graph.main!r} takes "
                           f"{[list(i.shape[1:]) for i in model.inputs]} and gives "
                           f"{[list(o.shape[1:]) for o in model.outputs]}; one input and one output of the "
                           "same shape are needed")
    return Plan(models[graph.main], data.x_train, data.x_train, data.x_val, data.x_val, "mean_squared_error")


@evaluation("autoencoder")
def _score_reconstructions(graph, model, data, held_out: bool):
    """`builder evaluate` scores how well the model gives back its input."""
    x = data.x_val if held_out else data.x_train
    return model, x, x


def spec_noise(model) -> float:
    """The stddev of the model's first GaussianNoise layer, or 0."""
    for layer in every_layer(model):
        if type(layer).__name__ == "GaussianNoise":
            return float(layer.stddev)
    return 0.0


def validation_inputs(request, n: int) -> np.ndarray:
    """n samples of the run's validation data (its training data if it kept none), picked with the seed."""
    from builder.training.run_folder import run_data

    _, data = run_data(request.run)
    x = data.x_val if data.x_val is not None and len(data.x_val) else data.x_train
    rng = np.random.default_rng(request.seed if request.seed is not None else 0)
    return x[rng.choice(len(x), size=min(n, len(x)), replace=False)]


@sampler("autoencoder")
def reconstructions(request) -> Samples:
    if request.label is not None:
        raise SpecError.single(Location(str(request.run.path)), "--label: autoencoder runs are not conditional")
    model = request.models[request.graph.main]
    options = check_options(request, {"noise": (float, lambda v: v >= 0, "a number >= 0")})
    noise = options.get("noise", spec_noise(model))
    inputs = validation_inputs(request, request.n)
    rng = np.random.default_rng(request.seed if request.seed is not None else 0)
    shown = inputs + rng.normal(0.0, noise, inputs.shape).astype(inputs.dtype) if noise > 0 else inputs
    rebuilt = np.asarray(model.predict(shown, batch_size=256, verbose=0))
    groups = [inputs, shown, rebuilt] if noise > 0 else [inputs, rebuilt]
    names = ["input", f"noise {noise:g}", "rebuilt"] if noise > 0 else ["input", "rebuilt"]
    stacked = np.stack(groups, axis=1)                          # (n, 2 or 3, ...)
    per_row = max(1, math.ceil(math.sqrt(len(inputs))))    # groups per row
    titles = (names * per_row + [""] * len(names) * len(inputs))[: len(names) * len(inputs)]   # first row only
    return Samples(images=stacked.reshape((-1,) + inputs.shape[1:]), titles=titles,
                   columns=per_row * len(groups), array=stacked)
