"""Training kinds: how a spec's models train together.

A kind is a function `(graph, models, data) -> Plan`, registered with
`@training_kind("name")` in its own module here and imported below. It picks
the Keras model that `fit` trains and the inputs and targets it sees; a kind
that cannot train with the plain `fit` step (GAN, WGAN-GP, diffusion) returns
a `keras.Model` subclass with its own `train_step` that wraps the spec's models.
`builder.train` does the rest (optimizer, callbacks, run folder) the same way
for every kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from builder.registry import Registry


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
    one_hot: bool = False                 # y and y_val were made one-hot for MixUp/CutMix (`builder.augment`):
                                          # compiled with the one-hot twins of sparse losses and metrics


KINDS = Registry("training kind")
training_kind = KINDS.register   # @training_kind("vae") registers a kind under its `train.kind` name


from builder.kinds import supervised  # noqa: E402,F401  (registers supervised)
from builder.kinds import autoencoder  # noqa: E402,F401  (autoencoder; sampler: reconstructions beside inputs)
from builder.kinds import vae  # noqa: E402,F401  (vae: reconstruction + KL; samples from the prior, interpolation)
from builder.kinds import gan  # noqa: E402,F401  (gan, cgan, wgan-gp: one step per network; samples)
from builder.kinds import seq2seq  # noqa: E402,F401  (seq2seq: teacher forcing; greedy and beam decoding)
from builder.kinds import language_model  # noqa: E402,F401  (language-model: next token; temperature sampling)
from builder.kinds import diffusion  # noqa: E402,F401  (diffusion: DDPM noise prediction; DDPM/DDIM sampling)
