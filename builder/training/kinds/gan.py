"""Adversarial kinds: `gan` (DCGAN), `cgan` (the label fed to both networks) and `wgan-gp`.

The spec names the networks (`train.roles`, default: the models called
`generator` and `discriminator`/`critic`); the latent size is the generator's
noise input size. One `AdversarialModel` trains all three: per batch,
`critic_steps` discriminator updates (each on the same real batch and fresh
noise), then one generator update, each with its own optimizer
(`train.optimizers`, default: a copy of `train.optimizer` each).

- gan, cgan: the non-saturating loss of Goodfellow et al. 2014 with
  `train.loss` (binary_crossentropy, default; mean_squared_error gives a
  least-squares GAN); the discriminator may end in a sigmoid (probabilities)
  or give logits. Logs d_loss, g_loss and d_accuracy (the share of real and
  generated samples the discriminator tells apart). With `train.gan.r1`
  (gamma), R1 regularisation (Mescheder et al. 2018, as in StyleGAN):
  gamma / 2 x ||d logit(D(x)) / d x||^2 on the real samples is added to the
  discriminator's loss at every step (no lazy regularisation), through the
  same per-backend input gradient as WGAN-GP's penalty; logs r1_penalty.
- cgan: the generator reads (noise, label) and the discriminator (sample,
  label), the label an integer input of each; real samples keep their labels
  and generated ones get the same labels.
- wgan-gp (Gulrajani et al. 2017): the critic's score difference plus
  `gradient_penalty` x (||d critic / d x|| - 1)^2 on random points between real
  and generated samples; logs d_loss, g_loss, w_distance (the critic's estimate
  of the Wasserstein distance) and gradient_penalty.

After training, `report` adds the samples' diversity to summary.json and
warns (summary `warnings`, and on stderr) about mode collapse and diverging
losses. Samplers: `builder generate RUN -n N [--label K]`; a style-based
generator (spec models `mapping` and `synthesis`, builder.training.kinds.style)
also mixes styles (`--option mix=0.5`, `--option grid=mixing`); `train.gan.style_mixing` trains it
to (StyleGAN's mixing regularisation: that share of generated samples switch w at a random layer).
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from builder.errors import Location, SpecError, show
from builder.graph.roles import network_name
from builder.model.inspect import every_layer
from builder.training.kinds import style
from builder.training.kinds.base import Plan, Samples, check_options, sampler, training_kind
from builder.training.kinds.stepping import SteppedModel, output_location, rising

GAN_LOSSES = ("binary_crossentropy", "mean_squared_error")


def integer(tensor) -> bool:
    return "int" in str(tensor.dtype)


def ends_in_sigmoid(model) -> bool:
    layer = model.layers[-1]
    layer = getattr(layer, "layer", layer)   # SpectralNormalization wraps the layer
    return getattr(layer, "activation", None) is keras.activations.sigmoid


@keras.saving.register_keras_serializable(package="builder")
class AdversarialModel(SteppedModel):
    """A generator and a discriminator (critic) trained against each other; see the module's docstring."""

    def __init__(self, networks: dict, mode: str = "gan", loss: str = "binary_crossentropy",
                 critic_steps: int = 1, gradient_penalty: float = 10.0, label_smoothing: float = 0.0,
                 r1: float = 0.0, style_mixing: float = 0.0, style_mapping: str | None = None,
                 style_synthesis: str | None = None, seed=None, **kwargs):
        r1 = float(r1) if mode != "wgan-gp" else 0.0
        logs = ("d_loss", "g_loss", "w_distance", "gradient_penalty") if mode == "wgan-gp" \
            else ("d_loss", "g_loss", "d_accuracy") + (("r1_penalty",) if r1 else ())
        super().__init__(networks, logs, seed, **kwargs)
        self.r1 = r1
        # mixing regularisation: the generator's own mapping and synthesis layers, by name (so a reloaded model finds
        # them in its reloaded generator), called with two w's per sample
        self.style_mixing = float(style_mixing)
        self.style_mapping, self.style_synthesis = style_mapping, style_synthesis
        self.mode = mode
        self.loss_name = loss
        self.critic_steps = int(critic_steps)
        self.gradient_penalty = float(gradient_penalty)
        self.label_smoothing = float(label_smoothing)
        generator, discriminator = networks["generator"], networks["discriminator"]
        self.latent = int(next(t for t in generator.inputs if not integer(t)).shape[-1])
        self.generator_labels = [integer(t) for t in generator.inputs]
        self.discriminator_labels = [integer(t) for t in discriminator.inputs]
        self.probabilities = ends_in_sigmoid(discriminator)
        self.batch_statistics = any(isinstance(layer, keras.layers.BatchNormalization)
                                    for layer in every_layer(discriminator))

    def settings(self):
        return {"mode": self.mode, "loss": self.loss_name, "critic_steps": self.critic_steps,
                "gradient_penalty": self.gradient_penalty, "label_smoothing": self.label_smoothing, "r1": self.r1,
                "style_mixing": self.style_mixing, "style_mapping": self.style_mapping,
                "style_synthesis": self.style_synthesis}

    # -- the networks' inputs: the label goes wherever a network has an integer input
    @staticmethod
    def _inputs(flags, value, labels):
        if len(flags) == 1:
            return value
        return [labels if is_label else value for is_label in flags]

    def generate(self, z, labels, training):
        if training and self.style_mixing > 0:
            return self._mixed(z)
        return self.generator(self._inputs(self.generator_labels, z, labels), training=training)

    def _mixed(self, z):
        """StyleGAN's mixing regularisation: a share of the samples take a second w from a random layer on."""
        mapping = self.generator.get_layer(self.style_mapping)
        synthesis = self.generator.get_layer(self.style_synthesis)
        layers = int(synthesis.inputs[0].shape[1])
        size = ops.shape(z)[0]
        first = mapping(z, training=True)
        second = mapping(self.noise((size, self.latent)), training=True)
        cut = keras.random.randint((size,), 1, layers, seed=self.seed_generator)
        cut = ops.where(self.uniform((size,)) < self.style_mixing, cut, layers)   # `layers`: no switch
        rows = ops.arange(layers)[None, :, None]
        styles = ops.where(rows < cut[:, None, None], first[:, None, :], second[:, None, :])
        return synthesis(styles, training=True)

    def judge(self, samples, labels, training):
        return self.discriminator(self._inputs(self.discriminator_labels, samples, labels), training=training)

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    # -- losses, backend-free
    def _adversarial(self, target, score):
        if self.loss_name == "mean_squared_error":
            return ops.mean(ops.square(target - (score if self.probabilities else ops.sigmoid(score))))
        return ops.mean(keras.losses.binary_crossentropy(target, score, from_logits=not self.probabilities))

    def _logit(self, score):
        """The discriminator's logit: R1 penalises its gradient, whether the network ends in a sigmoid or not."""
        if not self.probabilities:
            return score
        p = ops.clip(score, 1e-6, 1.0 - 1e-6)
        return ops.log(p) - ops.log(1.0 - p)

    def scores(self, real, fake, labels, alpha, training):
        """The discriminator's scores of real and generated samples, and its gradient penalty: for wgan-gp
        (||grad|| - 1)^2 between real and fake, with `r1` ||grad of the logit||^2 on the real samples.

        Without batch normalisation the discriminator scores every sample in one pass (the same
        result; layers that change weights as they run, such as SpectralNormalization, do it once per
        update, which PyTorch's autograd needs). With it, real and generated samples go through in
        batches of their own, as in DCGAN.
        """
        size = ops.shape(real)[0]
        interpolated = None if alpha is None else real + alpha * (fake - real)   # points between real and fake
        at_real = self.r1 > 0 and interpolated is None   # R1: the gradient at the real samples themselves
        selected = self._logit if at_real else (lambda scores: scores)
        if not self.batch_statistics:
            def all_scores(x):
                samples = [x, fake] if at_real else [real, fake] + ([x] if x is not None else [])
                every = None if labels is None else ops.concatenate([labels] * len(samples), axis=0)
                scores = self.judge(ops.concatenate(samples, axis=0), every, training)
                return scores, selected(scores[:size] if at_real else scores[2 * size:])

            if at_real or interpolated is not None:
                scores, gradient = self.input_gradient(all_scores, real if at_real else interpolated)
            else:
                scores, gradient = all_scores(None)[0], None
            real_score, fake_score = scores[:size], scores[size:2 * size]
        else:
            def judged(x):
                scores = self.judge(x, labels, training)
                return scores, selected(scores)

            gradient = None
            if at_real:
                real_score, gradient = self.input_gradient(judged, real)
            else:
                real_score = self.judge(real, labels, training)
            fake_score = self.judge(fake, labels, training)
            if interpolated is not None:
                gradient = self.input_gradient(judged, interpolated)[1]
        penalty = None
        if gradient is not None:
            axes = list(range(1, len(real.shape)))
            if at_real:
                penalty = ops.mean(ops.sum(ops.square(gradient), axis=axes))
            else:
                norms = ops.sqrt(ops.sum(ops.square(gradient), axis=axes) + 1e-12)
                penalty = ops.mean(ops.square(norms - 1.0))
        return real_score, fake_score, penalty

    def discriminator_loss(self, real, fake, labels, alpha, training):
        real_score, fake_score, penalty = self.scores(real, fake, labels, alpha, training)
        if self.mode == "wgan-gp":
            critic = ops.mean(fake_score) - ops.mean(real_score)
            loss = critic + self.gradient_penalty * penalty
            logs = {"w_distance": -critic, "gradient_penalty": penalty}
        else:
            real_target = ops.ones_like(real_score) * (1.0 - self.label_smoothing)
            loss = self._adversarial(real_target, real_score) + \
                self._adversarial(ops.zeros_like(fake_score), fake_score)
            threshold = 0.5 if self.probabilities else 0.0
            told = ops.mean(ops.cast(real_score > threshold, "float32")) + \
                ops.mean(ops.cast(fake_score <= threshold, "float32"))
            logs = {"d_accuracy": told / 2.0}
            if self.r1:
                loss = loss + 0.5 * self.r1 * penalty
                logs["r1_penalty"] = penalty
        loss = loss + self.penalties(self.discriminator)
        return loss, {"d_loss": loss, **logs}

    def generator_loss(self, z, labels, training):
        score = self.judge(self.generate(z, labels, training), labels, training)
        if self.mode == "wgan-gp":
            loss = -ops.mean(score)
        else:
            loss = self._adversarial(ops.ones_like(score), score)
        loss = loss + self.penalties(self.generator)
        return loss, {"g_loss": loss}

    # -- the step
    def _batch(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        real = ops.convert_to_tensor(x)
        labels = ops.cast(y, "int32") if self.mode == "cgan" else None
        size = ops.shape(real)[0]
        return real, labels, size, (size,) + (1,) * (len(real.shape) - 1)

    def train_batch(self, data):
        real, labels, size, alpha_shape = self._batch(data)
        for _ in range(self.critic_steps):
            fake = ops.stop_gradient(self.generate(self.noise((size, self.latent)), labels, True))
            alpha = self.uniform(alpha_shape) if self.mode == "wgan-gp" else None
            self.track(self.descend("discriminator", lambda fake=fake, alpha=alpha:
                                    self.discriminator_loss(real, fake, labels, alpha, True)))
        z = self.noise((size, self.latent))
        self.track(self.descend("generator", lambda: self.generator_loss(z, labels, True)))
        return self.results()

    def test_batch(self, data):
        real, labels, size, alpha_shape = self._batch(data)
        fake = self.generate(self.noise((size, self.latent)), labels, False)
        alpha = self.uniform(alpha_shape) if self.mode == "wgan-gp" else None
        self.track(self.discriminator_loss(real, fake, labels, alpha, False)[1])
        self.track(self.generator_loss(self.noise((size, self.latent)), labels, False)[1])
        return self.results()


# --- the kinds ------------------------------------------------------------------------------------------------

def _optimizer(train, role: str):
    """The role's optimizer spec: train.optimizers.<role> (critic = discriminator), else train.optimizer."""
    chosen = None
    if train.optimizers is not None:
        keys = (role, "critic") if role == "discriminator" else (role,)
        chosen = next((getattr(train.optimizers, k) for k in keys if getattr(train.optimizers, k) is not None), None)
    return chosen if chosen is not None else train.optimizer


def _shape(tensor) -> list:
    return list(tensor.shape[1:])


def _adversarial_plan(graph, models, data, mode: str) -> Plan:
    from builder.training.data import check_data_shapes

    train = graph.spec.train
    generator_name = network_name(graph, "generator", mode)
    discriminator_name = network_name(graph, "critic" if mode == "wgan-gp" else "discriminator", mode)
    generator, discriminator = models[generator_name], models[discriminator_name]
    what = "critic" if mode == "wgan-gp" else "discriminator"

    if train.metrics:
        raise SpecError.single(graph.locate("train", "metrics"), f"kind {mode} logs its own losses; "
                               "`metrics` are not used", "remove `metrics`")
    if mode == "wgan-gp" and train.loss is not None:
        raise SpecError.single(graph.locate("train", "loss"), "kind wgan-gp has its own loss (the Wasserstein "
                               "estimate plus the gradient penalty)", "remove `loss`")
    loss = train.loss or "binary_crossentropy"
    if mode != "wgan-gp" and (not isinstance(loss, str) or loss not in GAN_LOSSES):
        raise SpecError.single(graph.locate("train", "loss"),
                               f"kind {mode} trains with binary_crossentropy (default) or mean_squared_error "
                               f"(a least-squares GAN), by name, not {show(getattr(loss, 'type', loss))}")
    if train.mixed_precision == "float16":
        raise SpecError.single(graph.locate("train", "mixed_precision"), f"kind {mode} does not scale its losses "
                               "for float16", "use mixed_precision: bfloat16, or off")

    # the networks' inputs: noise (and a label) for the generator, a sample (and a label) for the discriminator
    labels_in = mode == "cgan"
    for name, model, role in ((generator_name, generator, "generator"), (discriminator_name, discriminator, what)):
        ints = [t for t in model.inputs if "int" in str(t.dtype)]
        floats = [t for t in model.inputs if "int" not in str(t.dtype)]
        want = "a float input and an integer label input" if labels_in else "one float input"
        if len(floats) != 1 or len(ints) != (1 if labels_in else 0):
            node = graph.models[name].nodes[graph.models[name].inputs[0]]
            raise SpecError.single(node.location, f"kind {mode}: the {role} {show(name)} needs {want}; it has "
                                   f"{len(model.inputs)} input(s)",
                                   "cgan feeds the label to both networks as an int32 input of shape [1]"
                                   if labels_in else "a conditional GAN (label inputs) is kind: cgan")
    noise = next(t for t in generator.inputs if "int" not in str(t.dtype))
    if len(noise.shape) != 2:
        node = graph.models[generator_name].nodes[graph.models[generator_name].inputs[0]]
        raise SpecError.single(node.location, f"the generator's noise input must be a vector (shape [latent]); "
                               f"it is {_shape(noise)}")
    sample = next(t for t in discriminator.inputs if "int" not in str(t.dtype))
    made = generator.outputs[0]
    if _shape(made) != _shape(sample):
        raise SpecError.single(output_location(graph, generator_name),
                               f"the generator makes samples of shape {_shape(made)}; the {what} "
                               f"{show(discriminator_name)} reads {_shape(sample)}")
    if mode == "wgan-gp" and ends_in_sigmoid(discriminator):
        raise SpecError.single(output_location(graph, discriminator_name),
                               "a WGAN critic gives an unbounded score, not a probability",
                               "remove the sigmoid from the critic's output layer")

    # the data: samples for the discriminator, and their labels for cgan
    def labels_of(y, n):
        if y is None or getattr(y, "dtype", None) is None or y.dtype.kind not in "iu":
            if labels_in:
                raise SpecError.single(graph.locate("train", "data"), "kind cgan needs class labels; this data "
                                       "has none", "use data with integer labels, e.g. digits")
            return np.zeros((n, 1), "int32")
        return np.asarray(y).reshape(-1, 1).astype("int32")

    x, y = data.x_train, labels_of(data.y_train, len(data.x_train))
    x_val = data.x_val
    y_val = labels_of(data.y_val, len(x_val)) if x_val is not None else None
    check_data_shapes(graph, discriminator, [x, y] if labels_in else x)

    settings = train.gan
    critic_steps = (settings.critic_steps if settings and settings.critic_steps else
                    (5 if mode == "wgan-gp" else 1))
    model = AdversarialModel(
        {"generator": generator, "discriminator": discriminator}, mode=mode, loss=loss, critic_steps=critic_steps,
        gradient_penalty=(settings.gradient_penalty if settings and settings.gradient_penalty is not None
                          else 10.0),
        label_smoothing=(settings.label_smoothing if settings and settings.label_smoothing is not None else 0.0),
        r1=(settings.r1 if settings and settings.r1 is not None else 0.0),
        **_style_mixing(graph, models, generator, settings, mode),
        seed=train.seed, name=f"{graph.name}_{mode.replace('-', '_')}")
    optimizers = {"generator": (_optimizer(train, "generator"), 1),
                  "discriminator": (_optimizer(train, "discriminator"), critic_steps)}
    return Plan(model, x, y, x_val, y_val, checked=True, optimizers=optimizers,
                report=lambda history: report(mode, generator, x, y if labels_in else None, history, train.seed))


def _style_mixing(graph, models, generator, settings, mode: str) -> dict:
    """The AdversarialModel's style-mixing settings; checks a style-based generator's two networks either way."""
    networks = style.networks(graph, models, mode) if mode != "cgan" else None
    share = settings.style_mixing if settings and settings.style_mixing else 0.0
    if not share:
        return {}
    where = graph.locate("train", "gan", "style_mixing")
    if networks is None:
        raise SpecError.single(where, "style_mixing needs a style-based generator: spec models `mapping` (z -> w) "
                               "and `synthesis` (styles (layers, w_dim) -> a sample)", "see specs/stylegan.yaml")
    called = [layer.name for layer in generator.layers]
    if networks.mapping.name not in called or networks.synthesis.name not in called or networks.layers < 2:
        raise SpecError.single(where, f"style_mixing: the generator must call the mapping network "
                               f"{show(networks.mapping.name)} and the synthesis network "
                               f"{show(networks.synthesis.name)} of at least 2 style layers (mapping -> "
                               f"RepeatVector -> synthesis)", "see specs/stylegan.yaml")
    return {"style_mixing": share, "style_mapping": networks.mapping.name,
            "style_synthesis": networks.synthesis.name}


@training_kind("gan")
def gan(graph, models, data) -> Plan:
    """DCGAN and other unconditional GANs: generator(noise) against discriminator(sample)."""
    return _adversarial_plan(graph, models, data, "gan")


@training_kind("cgan")
def cgan(graph, models, data) -> Plan:
    """Conditional GAN: generator(noise, label) against discriminator(sample, label)."""
    return _adversarial_plan(graph, models, data, "cgan")


@training_kind("wgan-gp")
def wgan_gp(graph, models, data) -> Plan:
    """WGAN-GP: generator(noise) against a critic's score, with the gradient penalty."""
    return _adversarial_plan(graph, models, data, "wgan-gp")


# --- after training: diversity, collapse, divergence ---------------------------------------------------------

COLLAPSE_RATIO = 0.5   # generated samples' diversity below half the data's: mode collapse


def diversity(samples: np.ndarray, rng, pairs: int = 4000) -> float:
    """Mean RMS distance between random pairs of distinct samples (0 when every sample is the same)."""
    flat = np.asarray(samples, "float64").reshape(len(samples), -1)
    if len(flat) < 2:
        return 0.0
    i = rng.integers(0, len(flat), pairs)
    j = (i + rng.integers(1, len(flat), pairs)) % len(flat)
    return float(np.mean(np.sqrt(np.mean((flat[i] - flat[j]) ** 2, axis=1))))


def sample(generator, n: int, labels: np.ndarray | None, rng) -> np.ndarray:
    """n samples from the generator (labels: one per sample, for a conditional one)."""
    latent = next(int(t.shape[-1]) for t in generator.inputs if "int" not in str(t.dtype))
    z = rng.standard_normal((n, latent)).astype("float32")
    if len(generator.inputs) == 1:
        inputs = z
    else:
        inputs = [labels.reshape(-1, 1).astype("int32") if "int" in str(t.dtype) else z for t in generator.inputs]
    # called directly, a chunk at a time: `predict` would trace a new function for every call
    chunks = [inputs[i:i + 500] if not isinstance(inputs, list) else [a[i:i + 500] for a in inputs]
              for i in range(0, n, 500)]
    return np.concatenate([ops.convert_to_numpy(generator(chunk, training=False)) for chunk in chunks])


def report(mode: str, generator, x: np.ndarray, labels: np.ndarray | None, history: list[dict],
           seed: int | None) -> dict:
    """Summary entries: the generated samples' diversity against the data's, and warnings."""
    rng = np.random.default_rng(0 if seed is None else seed)
    n = min(1000, max(100, len(x)))
    if labels is None:
        generated = diversity(sample(generator, n, None, rng), rng)
        real = diversity(x, rng)
        how = f"mean RMS pixel distance between random pairs of {n} generated samples, and of the training data"
    else:   # within each class: a conditional GAN may collapse to one sample per label
        classes = sorted(set(labels.reshape(-1).tolist()))
        per = max(10, n // len(classes))
        generated = float(np.mean([diversity(sample(generator, per, np.full(per, c), rng), rng) for c in classes]))
        real = float(np.mean([diversity(x[labels.reshape(-1) == c], rng) for c in classes]))
        how = (f"mean RMS pixel distance between random pairs of samples of the same label ({per} generated per "
               f"label), averaged over the labels; the same for the training data")
    ratio = generated / real if real > 0 else float("nan")
    warnings = []
    if math.isfinite(ratio) and ratio < COLLAPSE_RATIO:
        warnings.append(f"mode collapse: the generated samples vary {ratio:.0%} as much as the data "
                        f"(diversity {generated:.3f} against {real:.3f}); the generator makes few distinct samples")
    last = history[-1] if history else {}
    if mode != "wgan-gp":
        if isinstance(last.get("d_accuracy"), float) and last["d_accuracy"] > 0.99 and last.get("d_loss", 1) < 0.05:
            warnings.append(f"the discriminator tells every sample apart (d_accuracy {last['d_accuracy']:.3f}, "
                            f"d_loss {last['d_loss']:.3g}): the generator gets almost no gradient")
        warnings += [w for w in (rising(history, "g_loss"), rising(history, "d_loss")) if w]
    else:
        distances = [abs(row["w_distance"]) for row in history if isinstance(row.get("w_distance"), float)]
        if len(distances) >= 3 and distances[-1] > 3 * min(distances[:-1]) and distances[-1] > 1.0:
            warnings.append(f"the critic's Wasserstein estimate grew from {min(distances[:-1]):.3g} to "
                            f"{distances[-1]:.3g}: training is diverging")
        if isinstance(last.get("gradient_penalty"), float) and last["gradient_penalty"] > 1.0:
            warnings.append(f"gradient_penalty {last['gradient_penalty']:.3g} at the last epoch: the critic's "
                            "gradient norm is far from 1 (raise train.gan.gradient_penalty or lower the learning rate)")
    result = {"sample_diversity": {"generated": round(generated, 5), "data": round(real, 5),
                                   "ratio": round(ratio, 4) if math.isfinite(ratio) else None, "measured": how}}
    if warnings:
        result["warnings"] = warnings
    return result


# --- samplers ---------------------------------------------------------------------------------------------------

def _no_label(request, kind: str):
    if request.label is not None:
        raise SpecError.single(Location(str(request.run.path)), f"--label: runs of kind {kind} are not "
                               "conditional", "--label picks the class of a cgan run")


def _unconditional(request) -> Samples:
    kind = request.graph.spec.train.kind
    _no_label(request, kind)
    networks = style.networks(request.graph, request.models, kind)
    if networks is not None:
        return style.sample(request, networks)
    style.refuse_style_options(request)
    check_options(request, {})
    generator = request.models[network_name(request.graph, "generator", kind)]
    rng = np.random.default_rng(request.seed)
    images = sample(generator, request.n, None, rng)
    return Samples(images=images)


sampler("gan")(_unconditional)
sampler("wgan-gp")(_unconditional)


@sampler("cgan")
def conditional(request) -> Samples:
    """`--label K`: n samples of class K; no label: every class, one row each."""
    from builder.training.run_folder import read_transform

    check_options(request, {})
    generator = request.models[network_name(request.graph, "generator", "cgan")]
    classes = read_transform(request.run).get("classes") or []
    if not classes:
        embeddings = [layer for layer in generator.layers if type(layer).__name__ == "Embedding"]
        classes = [str(i) for i in range(embeddings[0].input_dim)] if embeddings else []
    rng = np.random.default_rng(request.seed)
    if request.label is not None:
        if classes and request.label >= len(classes):
            raise SpecError.single(Location(str(request.run.path)), f"--label {request.label}: this run has "
                                   f"{len(classes)} classes (0 to {len(classes) - 1})")
        images = sample(generator, request.n, np.full(request.n, request.label), rng)
        name = classes[request.label] if classes else str(request.label)
        return Samples(images=images, titles=[name] * request.n)
    per = max(1, math.ceil(request.n / len(classes)))
    labels = np.repeat(np.arange(len(classes)), per)
    images = sample(generator, len(labels), labels, rng)
    titles = [classes[c] if i % per == 0 else "" for i, c in enumerate(labels)]
    return Samples(images=images, titles=titles, columns=per, array=images)
