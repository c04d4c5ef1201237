"""What every training kind shares: the registries a kind module fills, and what they exchange.

A kind is one module in this package. It registers, by its `train.kind` name:

    @training_kind("vae")   (graph, models, data) -> Plan      how its models train (required)
    @sampler("vae")         (Request) -> Samples               what `builder generate` draws (generative kinds)
    @evaluation("vae")      (graph, model, data, held_out) -> (model, x, y)
                                                               what `builder evaluate` scores (default: the
                                                               spec model on its inputs and labels)

Its settings (e.g. `train.diffusion`) are a model in `builder.language.spec`, because `validate`
checks them without Keras; a contract test keeps `KINDS` equal to the spec's `TrainingKind`.
A kind whose spec models or data do not fit it raises `KindMismatch`; training reports it at
`train.kind`. Importing this module imports neither Keras nor NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from builder.errors import Location, SpecError
from builder.registry import Registry
from builder.training.run_folder import RunFolder


class KindMismatch(ValueError):
    """The spec's models or data do not fit the training kind (a mistake in the spec, reported at train.kind)."""


@dataclass
class Plan:
    """What `fit` sees: the model that trains, inputs and targets, and the default loss."""

    model: object                         # a keras.Model
    x: object
    y: object
    x_val: object = None
    y_val: object = None
    default_loss: str = "mean_squared_error"
    checked: bool = False                 # True: the kind checked its data against the spec's inputs itself
                                          # (a wrapper model whose inputs are not the spec model's)
    optimizers: dict | None = None        # {role: (optimizer spec, updates per batch)}: one optimizer per
                                          # network, compiled as a dict (GAN kinds; see kinds/stepping.py)
    report: Callable | None = None        # (history) -> extra summary.json entries after training, e.g.
                                          # {"warnings": [...]} (mode collapse, a diverging loss)
    one_hot: bool = False                 # y and y_val were made one-hot for MixUp/CutMix (`builder.training.augment`):
                                          # compiled with the one-hot twins of sparse losses and metrics
    sample_weight: object = None          # a weight per training sample (train.data.sample_weight; run.py multiplies
    sample_weight_val: object = None      # in train.class_weight), and per validation sample


KINDS = Registry("training kind")
training_kind = KINDS.register   # @training_kind("vae") registers a kind under its `train.kind` name

SAMPLERS = Registry("sampler")
sampler = SAMPLERS.register      # @sampler("vae") registers what `builder generate` draws from a run of the kind

EVALUATIONS = Registry("evaluation")
evaluation = EVALUATIONS.register   # @evaluation("autoencoder"): what `builder evaluate` scores, when not the default


@dataclass
class Request:
    run: RunFolder
    graph: object                 # the run's resolved Graph
    models: dict                  # trained spec models by name
    n: int
    label: int | None = None
    seed: int | None = None
    options: dict = field(default_factory=dict)   # kind-specific: temperature, beam width, ...


@dataclass
class Samples:
    """Images as floats in [0, 1] shaped (n, h, w, c); or texts; plus an optional title per sample."""

    images: object = None             # np.ndarray
    texts: list[str] | None = None
    titles: list[str] | None = None
    array: object = None              # np.ndarray: what `.npy` gets (default: the images)
    columns: int | None = None        # images per row of the .png grid (default: a square grid)


def check_options(request: Request, allowed: dict) -> dict:
    """The sampler's `--option` values, checked: unknown names and wrong types are located errors."""
    location = Location(str(request.run.path))
    out = {}
    for name, value in request.options.items():
        if name not in allowed:
            raise SpecError.single(location, f"unknown option {name!r} for this kind",
                                   f"options: {', '.join(sorted(allowed))}")
        kind, check, hint = allowed[name]
        try:
            if isinstance(value, bool) and kind is not str:
                raise TypeError(name)
            converted = kind(value)
            if not check(converted):
                raise ValueError(name)
        except (TypeError, ValueError):
            raise SpecError.single(location, f"option {name}: expected {hint}. Received: {value!r}") from None
        out[name] = converted
    return out


def scored_as_trained(kind: Callable) -> Callable:
    """An `@evaluation` hook for kinds that make their own inputs and targets from the data (seq2seq,
    language-model, diffusion): `builder evaluate` scores what the kind's plan feeds `fit`."""
    def evaluate(graph, model, data, held_out: bool):
        plan = kind(graph, {graph.main: model}, data)
        if held_out and plan.x_val is not None:
            return plan.model, plan.x_val, plan.y_val
        return plan.model, plan.x, plan.y
    return evaluate
