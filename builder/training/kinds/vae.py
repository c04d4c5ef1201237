"""Kind `vae`: a variational autoencoder, trained on reconstruction + KL, both logged.

The main model (`train.model`) maps a sample to its reconstruction through a
`VAESampling` layer, which draws the code and adds the KL divergence to N(0, I)
as a layer loss (weighted by its `kl_weight`). `VariationalModel` trains it
with the reconstruction loss `train.loss` (default binary_crossentropy, for
pixels in [0, 1]) plus that KL term, and logs `loss`, `reconstruction` and `kl`
(as weighted in the spec) for training and validation. After training,
summary.json gets the KL in nats per sample, and a warning when the code
carries almost no information (posterior collapse) or the loss diverged.

Sampler (`builder generate RUN -n N -o FILE`): `--option grid=prior` (default)
decodes N codes drawn from N(0, I) with the decoder (`train.roles.decoder`,
default the model `decoder`); `--option grid=interpolate [--option steps=8]`
encodes pairs of validation samples with the encoder (its first output, the
code's mean) and decodes `steps` codes on the line between each pair, a row
per pair (N // steps rows).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from builder.errors import Location, SpecError, show
from builder.graph.roles import network_name
from builder.model.inspect import every_layer
from builder.training.kinds.autoencoder import validation_inputs
from builder.training.kinds.base import Plan, Samples, check_options, sampler, training_kind
from builder.training.kinds.stepping import SteppedModel, rising


@keras.saving.register_keras_serializable(package="builder")
class VariationalModel(SteppedModel):
    """Trains a VAE (role `vae`): reconstruction loss plus the model's own losses (the KL term)."""

    def __init__(self, networks: dict, loss: str = "binary_crossentropy", seed=None, **kwargs):
        super().__init__(networks, ("loss", "reconstruction", "kl"), seed, **kwargs)
        self.loss_name = loss

    def settings(self):
        return {"loss": self.loss_name}

    def call(self, inputs, training=False):
        return self.vae(inputs, training=training)

    def losses_of(self, x, training):
        rebuilt = self.vae(x, training=training)
        reconstruction = ops.mean(getattr(keras.losses, self.loss_name)(x, rebuilt))
        kl = self.penalties(self.vae)
        loss = reconstruction + kl
        return loss, {"loss": loss, "reconstruction": reconstruction, "kl": kl}

    def train_batch(self, data):
        x = ops.convert_to_tensor(keras.utils.unpack_x_y_sample_weight(data)[0])
        self.track(self.descend("vae", lambda: self.losses_of(x, True)))
        return self.results()

    def test_batch(self, data):
        x = ops.convert_to_tensor(keras.utils.unpack_x_y_sample_weight(data)[0])
        self.track(self.losses_of(x, False)[1])
        return self.results()


def sampling_layers(model) -> list:
    from builder.model.layers import VAESampling

    return [layer for layer in every_layer(model) if isinstance(layer, VAESampling)]


@training_kind("vae")
def vae(graph, models, data) -> Plan:
    train = graph.spec.train
    model = models[graph.main]
    if not sampling_layers(model):
        raise SpecError.single(graph.locate("train", "kind"), f"kind vae trains a model with a VAESampling layer; "
                               f"model {show(graph.main)} has none",
                               "draw the code with {type: VAESampling, inputs: [z_mean, z_log_var]}")
    if train.metrics:
        raise SpecError.single(graph.locate("train", "metrics"), "kind vae logs its own losses (reconstruction, "
                               "kl); `metrics` are not used", "remove `metrics`")
    if isinstance(train.loss, dict):
        raise SpecError.single(graph.locate("train", "loss"), "kind vae takes one reconstruction loss")
    if not isinstance(train.loss, (str, type(None))) or not hasattr(keras.losses, train.loss or "mse"):
        raise SpecError.single(graph.locate("train", "loss"), "kind vae takes its reconstruction loss by name, a "
                               "Keras loss such as binary_crossentropy or mean_squared_error",
                               "write the loss's name, without arguments")
    if train.mixed_precision == "float16":
        raise SpecError.single(graph.locate("train", "mixed_precision"), "kind vae does not scale its loss for "
                               "float16", "use mixed_precision: bfloat16, or off")
    wrapper = VariationalModel({"vae": model}, loss=train.loss or "binary_crossentropy", seed=train.seed,
                               name=f"{graph.name}_vae")
    weight = sum(layer.kl_weight for layer in sampling_layers(model))
    return Plan(wrapper, data.x_train, data.x_train, data.x_val, data.x_val,
                report=lambda history: report(history, weight))


def report(history: list[dict], kl_weight: float) -> dict:
    last = history[-1] if history else {}
    result, warnings = {}, []
    if isinstance(last.get("kl"), float) and kl_weight > 0:
        nats = last["kl"] / kl_weight
        result["kl_nats"] = round(nats, 4)
        if nats < 0.1:
            warnings.append(f"posterior collapse: the code carries {nats:.3g} nats (KL to the prior); the decoder "
                            "ignores it, and samples from the prior all look alike (lower the KL weight)")
    warning = rising(history, "loss", factor=1.5, margin=0.01)
    if warning:
        warnings.append(warning)
    if warnings:
        result["warnings"] = warnings
    return result


@sampler("vae")
def vae_samples(request) -> Samples:
    if request.label is not None:
        raise SpecError.single(Location(str(request.run.path)), "--label: vae runs are not conditional")
    options = check_options(request, {
        "grid": (str, lambda v: v in ("prior", "interpolate"), "prior or interpolate"),
        "steps": (int, lambda v: 2 <= v <= 100, "an integer from 2 to 100"),
    })
    decoder = request.models[network_name(request.graph, "decoder", "vae")]
    latent = int(decoder.inputs[0].shape[-1])
    rng = np.random.default_rng(request.seed)
    if options.get("grid", "prior") == "prior":
        z = rng.standard_normal((request.n, latent)).astype("float32")
        return Samples(images=np.asarray(decoder.predict(z, batch_size=256, verbose=0)))
    steps = options.get("steps", 8)
    rows = max(1, request.n // steps)
    encoder = request.models[network_name(request.graph, "encoder", "vae")]
    ends = validation_inputs(request, 2 * rows)
    if len(ends) < 2:
        raise SpecError.single(Location(str(request.run.path)), "interpolation needs two samples of data")
    rows = len(ends) // 2
    codes = encoder.predict(ends[: 2 * rows], batch_size=256, verbose=0)
    means = np.asarray(codes[0] if isinstance(codes, (list, tuple)) else codes)   # [z_mean, z_log_var, z]
    start, end = means[0::2], means[1::2]
    t = np.linspace(0.0, 1.0, steps, dtype="float32")[None, :, None]
    z = (start[:, None, :] + t * (end - start)[:, None, :]).reshape(-1, latent)
    images = np.asarray(decoder.predict(z, batch_size=256, verbose=0))
    return Samples(images=images, columns=steps, array=images.reshape((rows, steps) + images.shape[1:]))
