import keras
from keras import ops

from builder.model.losses.base import builder_loss, positive


@builder_loss("triplet")
@keras.saving.register_keras_serializable(package="builder")
class TripletLoss(keras.losses.Loss):
    """The triplet loss (Schroff et al. 2015, FaceNet) on the distances of an (anchor, positive, negative) triple.

    The model reads three inputs through one shared `model:` and outputs, per triple, the two
    distances `[d(anchor, positive), d(anchor, negative)]` (a `Concatenate` of the two). The loss
    is `max(d_ap - d_an + margin, 0)`, averaged over the batch: the anchor must be nearer its
    positive than its negative by `margin`. There are no labels to learn: the targets are not
    read, and a run whose data gives none feeds zeros.

    Args:
        margin: Float > 0, how much nearer the positive must be. Defaults to 1.0.

    Example:

    ```yaml
    - {id: distances, type: Concatenate, inputs: [d_positive, d_negative]}   # (batch, 2)
    train:
      loss: {type: triplet, margin: 0.5}
    ```
    """

    reads_targets = False   # builder.training.kinds.supervised feeds zeros when the data has no targets

    def __init__(self, margin=1.0, reduction="sum_over_batch_size", name="triplet", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.margin = positive("margin", margin)

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        if y_pred.shape[-1] != 2:
            raise ValueError(f"the triplet loss takes two distances per sample, [anchor-positive, "
                             f"anchor-negative]. Received: an output of shape {tuple(y_pred.shape)}")
        return ops.maximum(y_pred[..., 0] - y_pred[..., 1] + self.margin, 0.0)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}
