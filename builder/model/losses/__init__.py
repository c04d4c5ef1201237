"""Losses builder adds to Keras, for what `keras.losses` lacks: Siamese and triplet networks.

Each loss lives in its own module, subclasses `keras.losses.Loss` with `keras.ops` only (so it runs
on every backend), and registers itself where it is defined, twice: `@builder_loss("name")` puts
it in `LOSSES`, the closed table a spec names losses from (`loss: contrastive`, or `loss: {type:
contrastive, margin: 2.0}`), and `keras.saving.register_keras_serializable(package="builder")` lets
`keras.models.load_model` reopen a model compiled with it after `import builder`.

To add a loss: write its module here (docstring with Args and an example), import it below, add a
test in tests/model/test_losses.py, and run `builder catalogue`, which records its arguments for
`builder validate` (a test fails until you do).
"""

from builder.model.losses.base import LOSSES, builder_loss
from builder.model.losses.contrastive import ContrastiveLoss
from builder.model.losses.triplet import TripletLoss

__all__ = ["LOSSES", "ContrastiveLoss", "TripletLoss", "builder_loss"]
