"""Image-to-image kinds: `pix2pix` (paired) and `cyclegan` (unpaired), each network with its own optimizer.

- pix2pix (Isola et al. 2017): a generator G(x) -> y, and a discriminator D(x, y) that judges (input, output)
  pairs (two inputs, or one input of the channels of both: the step concatenates them), typically a PatchGAN
  (a score per patch). D: adv(D(x, y), real) + adv(D(x, G(x)), fake), halved; G: adv(D(x, G(x)), real)
  + `translation.l1` (default 100) x mean |G(x) - y|. Data: pairs, x the inputs and y the targets.
  Logs d_loss, g_loss, g_adversarial and l1.
- cyclegan (Zhu et al. 2017): generators G_ab, G_ba and discriminators D_a, D_b. Both generators descend
  together on one loss (one gradient, each network's own optimizer): adv(D_b(G_ab(a)), real) +
  adv(D_a(G_ba(b)), real) + `cycle` (10) x (|G_ba(G_ab(a)) - a| + |G_ab(G_ba(b)) - b|) + `identity` (5) x
  (|G_ab(b) - b| + |G_ba(a) - a|); then both discriminators, each on its real domain against the generated
  images (from a pool of earlier ones with `translation.pool`). Data: the images of both domains, labelled
  0 (A) and 1 (B); each epoch draws them independently (the losses never pair an a with a b).
  Logs d_loss, g_loss, g_adversarial, cycle, identity.

The adversarial loss is `train.loss`: binary_crossentropy (pix2pix's default) or mean_squared_error (a
least-squares GAN, cyclegan's default); the discriminators may end in a sigmoid or give logits.
Samplers: `builder generate RUN [--input FILE_OR_FOLDER] [--direction a2b|b2a]`: the given images (.png,
.jpg, a folder of them, or an .npy array), else the run's validation images, beside their translations.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from keras import ops

from builder.errors import Location, SpecError, show
from builder.graph.roles import network_name
from builder.training.kinds.base import Plan, Samples, check_options, sampler, training_kind
from builder.training.kinds.gan import GAN_LOSSES, ends_in_sigmoid
from builder.training.kinds.stepping import SteppedModel, output_location

ROLES = {"pix2pix": ("generator", "discriminator"),
         "cyclegan": ("generator_ab", "generator_ba", "discriminator_a", "discriminator_b")}
DEFAULT_LOSS = {"pix2pix": "binary_crossentropy", "cyclegan": "mean_squared_error"}


def _l1(a, b):
    return ops.mean(ops.abs(a - b))


@keras.saving.register_keras_serializable(package="builder")
class TranslationModel(SteppedModel):
    """pix2pix's or CycleGAN's networks, trained against each other; see the module's docstring."""

    def __init__(self, networks: dict, mode: str = "pix2pix", loss: str = "binary_crossentropy", l1: float = 100.0,
                 cycle: float = 10.0, identity: float = 5.0, pool: int = 0, seed=None, **kwargs):
        own = ("l1",) if mode == "pix2pix" else ("cycle",) + (("identity",) if float(identity) else ())
        logs = ("d_loss", "g_loss", "g_adversarial") + own   # an identity weight of 0 logs no identity loss
        super().__init__(networks, logs, seed, **kwargs)
        self.mode, self.loss_name = mode, loss
        self.l1_weight, self.cycle_weight, self.identity_weight = float(l1), float(cycle), float(identity)
        self.pool_size = int(pool)
        self.probabilities = {role: ends_in_sigmoid(network) for role, network in networks.items()}
        if self.pool_size:
            shape = (self.pool_size,) + tuple(networks["generator_ab"].outputs[0].shape[1:])
            self.pool_a = self.add_weight(shape=shape, initializer="zeros", trainable=False, name="pool_a")
            self.pool_b = self.add_weight(shape=shape, initializer="zeros", trainable=False, name="pool_b")
            self.pooled = self.add_weight(shape=(), initializer="zeros", trainable=False, dtype="int32",
                                          name="pooled")

    def settings(self):
        return {"mode": self.mode, "loss": self.loss_name, "l1": self.l1_weight, "cycle": self.cycle_weight,
                "identity": self.identity_weight, "pool": self.pool_size}

    def call(self, inputs, training=False):
        return self.network("generator" if self.mode == "pix2pix" else "generator_ab")(inputs, training=training)

    # -- tools
    def adversarial(self, role: str, real: bool, score):
        target = ops.ones_like(score) if real else ops.zeros_like(score)
        if self.loss_name == "mean_squared_error":
            return ops.mean(ops.square(target - (score if self.probabilities[role] else ops.sigmoid(score))))
        return ops.mean(keras.losses.binary_crossentropy(target, score, from_logits=not self.probabilities[role]))

    def descend_together(self, roles, loss_fn):
        """One update of several networks from one loss: one gradient, each network's own optimizer."""
        from builder.training import backends

        groups = [self.network(role).trainable_variables for role in roles]
        mechanics = backends.adapter()
        logs, grads = mechanics.gradients(self, loss_fn, [v for group in groups for v in group])
        start = 0
        for role, group in zip(roles, groups):
            mechanics.apply_gradients(self.optimizer_of(role), grads[start:start + len(group)], group)
            start += len(group)
        return logs

    # -- pix2pix
    def judge_pair(self, x, y, training):
        discriminator = self.network("discriminator")
        pair = [x, y] if len(discriminator.inputs) == 2 else ops.concatenate([x, y], axis=-1)
        return discriminator(pair, training=training)

    def pix2pix_d_loss(self, x, y, fake, training):
        loss = 0.5 * (self.adversarial("discriminator", True, self.judge_pair(x, y, training)) +
                      self.adversarial("discriminator", False, self.judge_pair(x, fake, training)))
        loss = loss + self.penalties(self.network("discriminator"))
        return loss, {"d_loss": loss}

    def pix2pix_g_loss(self, x, y, training):
        made = self.network("generator")(x, training=training)
        adversarial = self.adversarial("discriminator", True, self.judge_pair(x, made, training))
        distance = _l1(made, y)
        loss = adversarial + self.l1_weight * distance + self.penalties(self.network("generator"))
        return loss, {"g_loss": loss, "g_adversarial": adversarial, "l1": distance}

    # -- cyclegan
    def cycle_g_loss(self, a, b, training):
        g_ab, g_ba = self.network("generator_ab"), self.network("generator_ba")
        fake_b, fake_a = g_ab(a, training=training), g_ba(b, training=training)
        adversarial = (self.adversarial("discriminator_b", True, self.network("discriminator_b")(fake_b, training=training))
                       + self.adversarial("discriminator_a", True,
                                          self.network("discriminator_a")(fake_a, training=training)))
        cycle = _l1(g_ba(fake_b, training=training), a) + _l1(g_ab(fake_a, training=training), b)
        loss = adversarial + self.cycle_weight * cycle + self.penalties(g_ab) + self.penalties(g_ba)
        logs = {"g_adversarial": adversarial, "cycle": cycle}
        if self.identity_weight:
            identity = _l1(g_ab(b, training=training), b) + _l1(g_ba(a, training=training), a)
            loss = loss + self.identity_weight * identity
            logs["identity"] = identity
        return loss, {"g_loss": loss, **logs}

    def cycle_d_loss(self, a, b, fake_a, fake_b, training):
        d_a, d_b = self.network("discriminator_a"), self.network("discriminator_b")
        loss = 0.5 * (self.adversarial("discriminator_a", True, d_a(a, training=training))
                      + self.adversarial("discriminator_a", False, d_a(fake_a, training=training))
                      + self.adversarial("discriminator_b", True, d_b(b, training=training))
                      + self.adversarial("discriminator_b", False, d_b(fake_b, training=training)))
        loss = loss + self.penalties(d_a) + self.penalties(d_b)
        return loss, {"d_loss": loss}

    def from_pool(self, pool, fake):
        """Half the generated images (at random) swapped for earlier ones from the pool; the new ones go in."""
        size = ops.shape(fake)[0]
        filled = ops.minimum(self.pooled, self.pool_size)
        drawn = keras.random.randint((size,), 0, self.pool_size, seed=self.seed_generator) % ops.maximum(filled, 1)
        swap = ops.logical_and(self.uniform((size,)) < 0.5, filled > 0)
        swap = ops.reshape(swap, (-1,) + (1,) * (len(fake.shape) - 1))
        out = ops.where(swap, ops.take(pool, drawn, axis=0), fake)
        written = ops.expand_dims((self.pooled + ops.arange(size, dtype="int32")) % self.pool_size, -1)
        pool.assign(ops.scatter_update(pool, written, fake))
        return out

    # -- the step
    def _pair(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        return ops.convert_to_tensor(x), ops.convert_to_tensor(y)

    def train_batch(self, data):
        x, y = self._pair(data)
        if self.mode == "pix2pix":
            fake = ops.stop_gradient(self.network("generator")(x, training=True))
            self.track(self.descend("discriminator", lambda: self.pix2pix_d_loss(x, y, fake, True)))
            self.track(self.descend("generator", lambda: self.pix2pix_g_loss(x, y, True)))
            return self.results()
        a, b = x, y
        self.track(self.descend_together(("generator_ab", "generator_ba"), lambda: self.cycle_g_loss(a, b, True)))
        fake_b = ops.stop_gradient(self.network("generator_ab")(a, training=True))
        fake_a = ops.stop_gradient(self.network("generator_ba")(b, training=True))
        if self.pool_size:
            fake_a, fake_b = self.from_pool(self.pool_a, fake_a), self.from_pool(self.pool_b, fake_b)
            self.pooled.assign(self.pooled + ops.shape(a)[0])
        self.track(self.descend_together(("discriminator_a", "discriminator_b"),
                                         lambda: self.cycle_d_loss(a, b, fake_a, fake_b, True)))
        return self.results()

    def test_batch(self, data):
        x, y = self._pair(data)
        if self.mode == "pix2pix":
            fake = self.network("generator")(x, training=False)
            self.track(self.pix2pix_d_loss(x, y, fake, False)[1])
            self.track(self.pix2pix_g_loss(x, y, False)[1])
        else:
            fake_b = self.network("generator_ab")(x, training=False)
            fake_a = self.network("generator_ba")(y, training=False)
            self.track(self.cycle_d_loss(x, y, fake_a, fake_b, False)[1])
            self.track(self.cycle_g_loss(x, y, False)[1])
        return self.results()


# --- the kinds ------------------------------------------------------------------------------------------------

def _optimizer(train, role: str):
    chosen = getattr(train.optimizers, role, None) if train.optimizers is not None else None
    return chosen if chosen is not None else train.optimizer


def _one_image_input(graph, name: str, model, role: str, mode: str, inputs: int = 1):
    if len(model.inputs) not in ((1, 2) if inputs == 2 else (1,)):
        node = graph.models[name].nodes[graph.models[name].inputs[0]]
        want = "one image input, or two (input, output)" if inputs == 2 else "one image input"
        raise SpecError.single(node.location, f"kind {mode}: the {role} {show(name)} needs {want}; it has "
                               f"{len(model.inputs)}")


def _shape(tensor) -> list:
    return list(tensor.shape[1:])


def _common(graph, mode: str):
    train = graph.spec.train
    if train.metrics:
        raise SpecError.single(graph.locate("train", "metrics"), f"kind {mode} logs its own losses; "
                               "`metrics` are not used", "remove `metrics`")
    loss = train.loss or DEFAULT_LOSS[mode]
    if not isinstance(loss, str) or loss not in GAN_LOSSES:
        raise SpecError.single(graph.locate("train", "loss"), f"kind {mode} trains with binary_crossentropy or "
                               f"mean_squared_error (least squares), by name, not {show(getattr(loss, 'type', loss))}")
    if train.mixed_precision == "float16":
        raise SpecError.single(graph.locate("train", "mixed_precision"), f"kind {mode} does not scale its losses "
                               "for float16", "use mixed_precision: bfloat16, or off")
    return train, loss, train.translation


def _images(data, where, what: str):
    if data.y_train is None or isinstance(data.x_train, dict) or isinstance(data.y_train, dict):
        raise SpecError.single(where, f"{what}; this data gives {'no targets' if data.y_train is None else 'named arrays'}")


@training_kind("pix2pix")
def pix2pix(graph, models, data) -> Plan:
    """Paired image-to-image translation: generator(x) -> y, judged with x by a (PatchGAN) discriminator."""
    train, loss, settings = _common(graph, "pix2pix")
    names = {role: network_name(graph, role, "pix2pix") for role in ROLES["pix2pix"]}
    generator, discriminator = models[names["generator"]], models[names["discriminator"]]
    _one_image_input(graph, names["generator"], generator, "generator", "pix2pix")
    _one_image_input(graph, names["discriminator"], discriminator, "discriminator", "pix2pix", inputs=2)
    where = graph.locate("train", "data")
    _images(data, where, "kind pix2pix learns from pairs: inputs `x` and target images `y`")
    x, y = data.x_train, data.y_train
    if y.dtype.kind in "iu" or y.ndim != x.ndim:
        raise SpecError.single(where, f"kind pix2pix learns from pairs of images; this data's targets are "
                               f"{'class labels' if y.dtype.kind in 'iu' else 'of shape ' + str(list(y.shape[1:]))}, "
                               "not images", "give target images: numpy `y` (n, h, w, c), or images with `pairs`")
    made = _shape(generator.outputs[0])
    if _shape(generator.inputs[0]) != list(x.shape[1:]) or made != list(y.shape[1:]):
        raise SpecError.single(output_location(graph, names["generator"]),
                               f"the generator maps {_shape(generator.inputs[0])} to {made}; the data pairs "
                               f"{list(x.shape[1:])} with {list(y.shape[1:])}")
    judged = sum(_shape(t)[-1] for t in discriminator.inputs)
    if judged != x.shape[-1] + y.shape[-1]:
        node = graph.models[names["discriminator"]].nodes[graph.models[names["discriminator"]].inputs[0]]
        raise SpecError.single(node.location, f"the discriminator judges (input, output) pairs of "
                               f"{x.shape[-1]} + {y.shape[-1]} channels; its inputs have {judged}")
    l1 = settings.l1 if settings and settings.l1 is not None else 100.0
    model = TranslationModel({"generator": generator, "discriminator": discriminator}, mode="pix2pix",
                             loss=loss, l1=l1, seed=train.seed, name=f"{graph.name}_pix2pix")
    optimizers = {role: (_optimizer(train, role), 1) for role in ROLES["pix2pix"]}
    return Plan(model, x.astype("float32"), y.astype("float32"),
                None if data.x_val is None else data.x_val.astype("float32"),
                None if data.y_val is None else data.y_val.astype("float32"), checked=True, optimizers=optimizers)


def _domains(x, y, seed, where):
    """The two domains' images, resampled to one length (the shorter drawn again at random): `fit` reads rows."""
    labels = np.asarray(y).reshape(-1)
    a, b = x[labels == 0], x[labels == 1]
    if len(a) == 0 or len(b) == 0 or set(np.unique(labels).tolist()) - {0, 1}:
        raise SpecError.single(where, f"kind cyclegan learns from two domains (labels 0 = A, 1 = B); this data has "
                               f"{len(a)} of A, {len(b)} of B and labels {sorted(set(labels.tolist()))[:10]}",
                               "numpy: `domains: [a, b]`; images: a folder with two sub-folders")
    rng = np.random.default_rng(0 if seed is None else seed)
    n = max(len(a), len(b))
    pick = (lambda part: part if len(part) == n else
            np.concatenate([part, part[rng.integers(0, len(part), n - len(part))]]))
    return pick(a).astype("float32"), pick(b).astype("float32")


@training_kind("cyclegan")
def cyclegan(graph, models, data) -> Plan:
    """Unpaired translation: generators A->B and B->A, a discriminator per domain, cycle and identity losses."""
    train, loss, settings = _common(graph, "cyclegan")
    names = {role: network_name(graph, role, "cyclegan") for role in ROLES["cyclegan"]}
    networks = {role: models[name] for role, name in names.items()}
    for role, name in names.items():
        _one_image_input(graph, name, networks[role], role, "cyclegan")
    where = graph.locate("train", "data")
    if data.y_train is None or isinstance(data.x_train, dict) or np.asarray(data.y_train).dtype.kind not in "iu":
        raise SpecError.single(where, "kind cyclegan learns from two unpaired domains; this data gives no domain "
                               "labels", "numpy: `domains: [a, b]`; images: a folder with two sub-folders")
    a, b = _domains(data.x_train, data.y_train, train.seed, where)
    image = list(a.shape[1:])
    for role in ROLES["cyclegan"]:
        network = networks[role]
        if _shape(network.inputs[0]) != image or (role.startswith("generator") and _shape(network.outputs[0]) != image):
            raise SpecError.single(output_location(graph, names[role]),
                                   f"the {role} {show(names[role])} maps {_shape(network.inputs[0])} to "
                                   f"{_shape(network.outputs[0])}; the domains' images are {image}")
    val = (None, None)
    if data.x_val is not None and len(set(np.asarray(data.y_val).reshape(-1).tolist())) == 2:
        val = _domains(data.x_val, data.y_val, train.seed, where)
    model = TranslationModel(networks, mode="cyclegan", loss=loss,
                             cycle=settings.cycle if settings and settings.cycle is not None else 10.0,
                             identity=settings.identity if settings and settings.identity is not None else 5.0,
                             pool=settings.pool if settings and settings.pool is not None else 0,
                             seed=train.seed, name=f"{graph.name}_cyclegan")
    optimizers = {role: (_optimizer(train, role), 1) for role in ROLES["cyclegan"]}
    return Plan(model, a, b, val[0], val[1], checked=True, optimizers=optimizers)


# --- samplers -----------------------------------------------------------------------------------------------------

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def read_inputs(request, shape: list) -> np.ndarray:
    """`--input`: an image file, a folder of them, or an .npy array, as floats shaped like the network's input."""
    from builder import files
    from builder.training.data import DataError, read_arrays, read_image

    path = Path(request.options["input"])
    location = Location(str(path))
    height, width, channels = shape
    mode = {1: "L", 3: "RGB", 4: "RGBA"}.get(channels)
    try:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES)
            if not found:
                raise DataError(f"{path} holds no .png/.jpg/.bmp/.gif images")
            paths = found[:request.n]
        elif path.suffix.lower() in (".npy", ".npz"):
            arrays = read_arrays(path)
            array = np.asarray(next(iter(arrays.values())), "float32")
            array = array[None] if array.ndim == len(shape) else array
            if list(array.shape[1:]) != list(shape):
                raise DataError(f"{path} holds images of shape {list(array.shape[1:])}; the network reads {shape}")
            return array[:request.n]
        elif path.is_file():
            paths = [path]
        else:
            raise DataError(f"no such file or folder: {path}")
        if mode is None:
            raise DataError(f"the network reads images of {channels} channels; give them as an .npy array")
        return np.stack([read_image(p, mode, (width, height)) for p in paths])
    except DataError as exc:
        raise SpecError.single(location, str(exc), exc.hint) from None
    except files.FileProblem as exc:
        raise SpecError.single(location, str(exc), exc.hint) from None


def _translate(network, images) -> np.ndarray:
    return np.concatenate([ops.convert_to_numpy(network(images[i:i + 256], training=False))
                           for i in range(0, len(images), 256)])


def _validation_images(request, domain: int | None):
    """The run's held-out images (of one domain, for cyclegan), and their targets (pix2pix)."""
    from builder.training.run_folder import run_data

    _, data = run_data(request.run)
    x, y = (data.x_val, data.y_val) if data.x_val is not None else (data.x_train, data.y_train)
    if domain is None:
        return x[:request.n], y[:request.n]
    return x[np.asarray(y).reshape(-1) == domain][:request.n], None


def _rows(columns: list, titles: list[str]) -> Samples:
    images = [image for row in zip(*columns) for image in row]
    return Samples(images=images, titles=titles * len(columns[0]), columns=len(columns), array=columns[1])


OPTIONS = {"input": (str, lambda v: bool(v), "a file or folder")}


@sampler("pix2pix")
def translate_pairs(request) -> Samples:
    """`--input FILE_OR_FOLDER`: the images beside their translations; else validation inputs, outputs, targets."""
    options = check_options(request, OPTIONS)
    generator = request.models[network_name(request.graph, "generator", "pix2pix")]
    if "input" in options:
        x = read_inputs(request, _shape(generator.inputs[0]))
        return _rows([x, _translate(generator, x)], ["input", "output"])
    x, y = _validation_images(request, None)
    return _rows([x, _translate(generator, x), y], ["input", "output", "target"])


@sampler("cyclegan")
def translate_domains(request) -> Samples:
    """`--direction a2b|b2a` (a2b), `--input`: the images, their translations and the way back (the cycle)."""
    options = check_options(request, {**OPTIONS, "direction": (str, lambda v: v in ("a2b", "b2a"), "a2b or b2a")})
    direction = options.get("direction", "a2b")
    there = request.models[network_name(request.graph, f"generator_{direction[0]}{direction[2]}", "cyclegan")]
    back = request.models[network_name(request.graph, f"generator_{direction[2]}{direction[0]}", "cyclegan")]
    if "input" in options:
        x = read_inputs(request, _shape(there.inputs[0]))
    else:
        x = _validation_images(request, 0 if direction == "a2b" else 1)[0]
    made = _translate(there, x)
    return _rows([x, made, _translate(back, made)], ["input", direction, "cycle"])
