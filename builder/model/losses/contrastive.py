import keras
from keras import ops

from builder.model.losses.base import builder_loss, positive, same_rank


@builder_loss("contrastive")
@keras.saving.register_keras_serializable(package="builder")
class ContrastiveLoss(keras.losses.Loss):
    """The contrastive loss of Siamese networks (Hadsell, Chopra and LeCun 2006), on a predicted distance.

    The model outputs a distance `d` between the two inputs of a pair (one value per pair, >= 0);
    the target `y` is 1 for a similar pair and 0 for a dissimilar one. Similar pairs are pulled
    together and dissimilar ones pushed at least `margin` apart:
    `y * d^2 + (1 - y) * max(margin - d, 0)^2`, averaged over the batch. A squared distance
    (`Subtract`, then `Dot` of the difference with itself) works too, `margin` then being in
    squared units. Two inputs through one `model:` share its weights, as a Siamese network needs.

    Args:
        margin: Float > 0, the distance beyond which dissimilar pairs cost nothing. Defaults to 1.0.

    Example:

    ```yaml
    - {id: a, model: tower, inputs: left}
    - {id: b, model: tower, inputs: right}
    - {id: diff, type: Subtract, inputs: [a, b]}
    - {id: distance, type: Dot, axes: 1, inputs: [diff, diff]}   # squared distance
    train:
      loss: {type: contrastive, margin: 1.0}
    ```
    """

    def __init__(self, margin=1.0, reduction="sum_over_batch_size", name="contrastive", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.margin = positive("margin", margin)

    def call(self, y_true, y_pred):
        y_true, y_pred = same_rank(y_true, y_pred)
        apart = ops.square(ops.maximum(self.margin - y_pred, 0.0))
        per_value = y_true * ops.square(y_pred) + (1.0 - y_true) * apart
        return ops.mean(per_value, axis=-1) if len(per_value.shape) > 1 else per_value

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}
