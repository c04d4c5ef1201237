import keras
from keras import ops


@keras.saving.register_keras_serializable(package="builder")
class VAESampling(keras.layers.Layer):
    """Draws `z = mean + exp(log_var / 2) * eps` (the VAE reparameterisation trick).

    Adds the KL divergence to N(0, I), summed over the code's dimensions,
    averaged over the batch and scaled by `kl_weight`, as a layer loss, so a
    VAE trains with a plain `fit`.

    Weighting: the `vae` kind's reconstruction loss is Keras' (binary
    cross-entropy *averaged* over the pixels), while keras.io's VAE *sums* it
    over the pixels. So with `kl_weight: 1` the KL term weighs, against the
    reconstruction, as many times more than in keras.io's VAE as an image has
    values (784 for 28x28). For keras.io's balance give `kl_weight` one over
    that count (`${1 / (28 * 28)}`); larger values trade sharp
    reconstructions for a smoother code (as in a beta-VAE).

    Args:
        kl_weight: Float >= 0, the weight of the KL term. Defaults to 1.0.
        seed: Optional integer seed for the noise.

    Input shape:
        Two tensors `[mean, log_var]`, each `(batch, latent_dim)`.

    Output shape:
        `(batch, latent_dim)`.

    Example:

    ```yaml
    - {id: z, type: VAESampling, inputs: [z_mean, z_log_var]}
    ```
    """

    builder_many_inputs = True  # called on [mean, log_var]

    def __init__(self, kl_weight=1.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if kl_weight < 0:
            raise ValueError(f"expected kl_weight >= 0. Received: kl_weight={kl_weight}")
        self.kl_weight = float(kl_weight)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        mean, log_var = inputs
        kl = -0.5 * ops.sum(1.0 + log_var - ops.square(mean) - ops.exp(log_var), axis=-1)
        self.add_loss(self.kl_weight * ops.mean(kl))
        eps = keras.random.normal(ops.shape(mean), dtype=mean.dtype, seed=self.seed_generator)
        return mean + ops.exp(0.5 * log_var) * eps

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {**super().get_config(), "kl_weight": self.kl_weight, "seed": self.seed}
