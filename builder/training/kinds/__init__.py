"""Training kinds: how a spec's models train together, one module per kind.

A kind's function `(graph, models, data) -> Plan` picks the Keras model that `fit` trains and the
inputs and targets it sees; a kind that cannot train with the plain `fit` step (GAN, WGAN-GP,
diffusion) returns a `keras.Model` subclass with its own `train_step` that wraps the spec's models.
`builder.training.run` does the rest (optimizer, callbacks, run folder) the same way for every
kind. `base.py` holds the registries and what they exchange; a new kind is one module here, added
to the imports below.
"""

from builder.training.kinds import (
                                         autoencoder,  # noqa: F401  (autoencoder: reconstructions beside inputs)
                                         diffusion,  # noqa: F401  (diffusion: DDPM noise prediction; DDPM/DDIM)
                                         gan,  # noqa: F401  (gan, cgan, wgan-gp: one step per network; samples)
                                         language_model,  # noqa: F401  (language-model: next token; sampling)
                                         seq2seq,  # noqa: F401  (seq2seq: teacher forcing; greedy and beam decoding)
                                         supervised,  # noqa: F401  (supervised)
                                         vae,  # noqa: F401  (vae: reconstruction + KL; samples from the prior)
)
from builder.training.kinds.base import (
                                         EVALUATIONS,
                                         KINDS,
                                         SAMPLERS,
                                         KindMismatch,
                                         Plan,
                                         Request,
                                         Samples,
                                         evaluation,
                                         sampler,
                                         training_kind,
)

__all__ = ["EVALUATIONS", "KINDS", "SAMPLERS", "KindMismatch", "Plan", "Request", "Samples", "evaluation",
           "sampler", "training_kind"]
