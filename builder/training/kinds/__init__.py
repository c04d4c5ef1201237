"""Training kinds: how a spec's models train together, one module per kind.

A kind's function `(graph, models, data) -> Plan` picks the Keras model that `fit` trains and the
inputs and targets it sees; a kind that cannot train with the plain `fit` step (GAN, WGAN-GP,
diffusion) returns a `keras.Model` subclass with its own `train_step` that wraps the spec's models.
`builder.training.run` does the rest (optimizer, callbacks, run folder) the same way for every
kind. `base.py` holds the registries and what they exchange; a new kind is one module here, added
to the imports below.
"""

from builder.training.kinds.base import (EVALUATIONS, KINDS, SAMPLERS, KindMismatch, Plan, Request, Samples,
                                         evaluation, sampler, training_kind)

# each import registers a kind (and its sampler and evaluation) under its `train.kind` name
from builder.training.kinds import supervised  # noqa: E402,F401,I001  (supervised)
from builder.training.kinds import autoencoder  # noqa: E402,F401  (autoencoder: reconstructions beside inputs)
from builder.training.kinds import vae  # noqa: E402,F401  (vae: reconstruction + KL; samples from the prior)
from builder.training.kinds import gan  # noqa: E402,F401  (gan, cgan, wgan-gp: one step per network)
from builder.training.kinds import seq2seq  # noqa: E402,F401  (seq2seq: teacher forcing; greedy, beam decoding)
from builder.training.kinds import language_model  # noqa: E402,F401  (language-model: next token; sampling)
from builder.training.kinds import diffusion  # noqa: E402,F401  (diffusion: DDPM noise prediction; DDPM/DDIM)
from builder.training.kinds import translation  # noqa: E402,F401  (pix2pix, cyclegan: image to image)

__all__ = ["EVALUATIONS", "KINDS", "SAMPLERS", "KindMismatch", "Plan", "Request", "Samples", "evaluation",
           "sampler", "training_kind"]
