"""`train:`: optimizer, schedule, losses and metrics, the kind and its settings, phases, transfer."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator,
                      model_validator)

from builder.language.catalogue import catalogue
from builder.language.spec.data import NOT_A_URL, BuiltinData, DataSpec, _local_path
from builder.language.spec.fields import ParamName, Strict, one_of_values, presence
from builder.language.spec.graph import LayerNode

# --- training ----------------------------------------------------------------------

FLOAT32_MAX = 3.4e38   # schedules compute in float32: a larger value overflows to inf


class ScheduleSpec(Strict):
    """A learning-rate schedule."""

    model_config = ConfigDict(json_schema_extra={  # `_piecewise_pairs`, for editors
        "if": {"not": one_of_values("type", ["piecewise"])},
        "then": presence(absent=("boundaries", "values"), why="boundaries and values belong to type: piecewise")})

    type: Literal["cosine", "exponential", "piecewise", "polynomial", "inverse_time"]
    initial_learning_rate: float | None = Field(None, gt=0, le=FLOAT32_MAX)
    decay_steps: int | None = Field(None, ge=1, le=2**31 - 1)
    decay_rate: float | None = Field(None, gt=0, le=1e6)
    alpha: float | None = Field(None, ge=0, le=1)
    boundaries: list[Annotated[int, Field(ge=0, le=2**31 - 1)]] | None = Field(
        None, max_length=10_000, description="piecewise: the steps where the rate changes, in increasing order.")
    values: list[Annotated[float, Field(ge=0, le=FLOAT32_MAX)]] | None = Field(
        None, max_length=10_001, description="piecewise: the rates, one more than `boundaries`.")
    warmup_steps: int = Field(0, ge=0, le=2**31 - 1)
    end_learning_rate: float | None = Field(None, ge=0, le=FLOAT32_MAX)

    @model_validator(mode="after")
    def _piecewise_pairs(self):
        if self.type == "piecewise":
            boundaries, values = self.boundaries or [], self.values
            if values is not None and len(values) != len(boundaries) + 1:
                raise ValueError(f"piecewise takes one more value than boundaries. Received: {len(boundaries)} "
                                 f"boundaries and {len(values)} values")
            if any(b >= c for b, c in zip(boundaries, boundaries[1:])):
                raise ValueError(f"piecewise boundaries must increase. Received: boundaries={boundaries}")
        elif self.boundaries is not None or self.values is not None:
            raise ValueError(f"boundaries and values belong to type: piecewise. Received: type={self.type!r}")
        return self


def _optimizer_names() -> tuple:
    return tuple(sorted(catalogue().optimizers))


class OptimizerSpec(BaseModel):
    """A Keras optimizer by name; other keys are its constructor arguments (checked against Keras)."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)

    type: Literal[_optimizer_names()] = Field("adam", description="A Keras optimizer, lower case.")  # type: ignore[valid-type]
    learning_rate: float | ScheduleSpec | None = Field(None, description="A number > 0 or a schedule.",
                                                       json_schema_extra={"exclusiveMinimum": 0})  # numbers only

    @model_validator(mode="after")
    def _positive_rate(self):
        if isinstance(self.learning_rate, float) and not self.learning_rate > 0:
            raise ValueError(f"expected a number > 0. Received: learning_rate={self.learning_rate}")
        return self

    @property
    def args(self) -> dict:
        return dict(self.__pydantic_extra__ or {})


def _named(group: str):
    """A loss or metric by its name or by one of Keras' own aliases (mse, mae, bce, ...), which parse turns
    into the name it stands for: the run, its logs and its records all use one name."""
    aliases = catalogue().name_aliases.get(group, {})
    return Annotated[Literal[tuple(catalogue().names[group]) + tuple(aliases)],  # type: ignore[valid-type]
                     AfterValidator(lambda name: aliases.get(name, name))]


LossName = _named("losses")
MetricName = _named("metrics")


def _object_types(group: str) -> tuple:
    """What a loss or metric mapping may name as its `type`: Keras' class (SparseCategoricalCrossentropy, AUC),
    its name in the name form (sparse_categorical_crossentropy) or Keras' alias (mse): the catalogue's `objects`."""
    table = catalogue().objects.get(group, {})
    return tuple(sorted(table.get("classes", {}))) + tuple(sorted(table.get("aliases", {})))


class ConfiguredObject(BaseModel):
    """A loss or metric with arguments: `type` names a class from a closed table (the catalogue's `objects`, made by
    `builder catalogue` from Keras' classes and builder's own losses); every other key is an argument of that class,
    checked against its signature by parse (never a class_name, a module path or a config)."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)
    group: ClassVar[str] = ""

    @property
    def args(self) -> dict:
        return dict(self.__pydantic_extra__ or {})

    @property
    def cls(self) -> str:
        """The class `type` names (Keras' class name, or builder's: ContrastiveLoss)."""
        table = catalogue().objects[self.group]
        return self.type if self.type in table["classes"] else table["aliases"][self.type]

    @property
    def name(self) -> str:
        """Its name in the name form (`sparse_categorical_crossentropy`), or the class name where there is none."""
        return catalogue().objects[self.group]["classes"][self.cls].get("name") or self.cls


class LossSpec(ConfiguredObject):
    """A loss with arguments: `{type: sparse_categorical_crossentropy, from_logits: true}`, `{type:
    BinaryFocalCrossentropy, gamma: 3.0}`, `{type: contrastive, margin: 1.0}` (builder's contrastive and triplet
    losses, for Siamese networks)."""

    group: ClassVar[str] = "losses"
    type: Literal[_object_types("losses")] = Field(  # type: ignore[valid-type]
        description="The loss: a Keras loss class or its lower-case name, or builder's contrastive or triplet; the "
                    "other keys are its arguments (from_logits, label_smoothing, gamma, margin, ...).")


class MetricSpec(ConfiguredObject):
    """A metric with arguments: `{type: AUC, curve: PR}`, `{type: Precision, thresholds: 0.7, name: precision_70}`."""

    group: ClassVar[str] = "metrics"
    type: Literal[_object_types("metrics")] = Field(  # type: ignore[valid-type]
        description="The metric: a Keras metric class or its lower-case name; the other keys are its arguments "
                    "(`name` is what the run logs).")

    @property
    def logged(self) -> str:
        """The name Keras logs it under: its `name`, else the class's own default (AUC: auc)."""
        if isinstance(self.args.get("name"), str):
            return self.args["name"]
        default = catalogue().objects["metrics"]["classes"][self.cls]["args"].get("name", {}).get("default")
        return default if isinstance(default, str) else _snake(self.cls)


def _snake(name: str) -> str:
    """A class name as Keras names its instances (keras.src.utils.naming.to_snake_case, without importing Keras)."""
    import re

    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _mapping_form(value: Any) -> str:
    """A loss mapping as written: with `type`, one loss with arguments; without, a loss per output."""
    configured = isinstance(value, ConfiguredObject) or (isinstance(value, dict) and "type" in value)
    return "configured" if configured else "by_output"


OneLoss = Union[LossName, LossSpec]
OneMetric = Union[MetricName, MetricSpec]
# (a name is no mapping: a misspelt one is "expected one of N names or a mapping")
LossField = Union[LossName, Annotated[Union[Annotated[LossSpec, Tag("configured")],
                                            Annotated[dict[ParamName, OneLoss], Tag("by_output")]],
                                      Discriminator(_mapping_form)]]
Weight = Annotated[float, Field(ge=0, le=1e6)]
ClassLabelKey = Annotated[str, Field(pattern=r"^[0-9]{1,7}$", description="A class label (an integer).")]


def loss_name(loss) -> str | None:
    """The name of one loss as written (`mean_squared_error`, or a configured loss's name), None for none or a
    loss per output: what the kinds with a loss of their own compare against."""
    if isinstance(loss, ConfiguredObject):
        return loss.name
    return loss if isinstance(loss, str) else None
TrainingKind = Literal["supervised", "autoencoder", "vae", "gan", "cgan", "wgan-gp", "seq2seq",
                       "language-model", "diffusion", "pix2pix", "cyclegan"]


MetricKey = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=100,
                                 description="A metric as Keras logs it: loss, val_loss, val_accuracy, ...")]


class EarlyStoppingSpec(Strict):
    """Stop when the monitored metric stops improving (`keras.callbacks.EarlyStopping`)."""

    monitor: MetricKey = "val_loss"
    patience: int = Field(5, ge=0, le=100_000)
    min_delta: float = Field(0.0, ge=0)
    restore_best_weights: bool = True


class ReduceLROnPlateauSpec(Strict):
    """Lower the learning rate when the monitored metric stalls (`keras.callbacks.ReduceLROnPlateau`)."""

    monitor: MetricKey = "val_loss"
    factor: float = Field(0.5, gt=0, lt=1)
    patience: int = Field(3, ge=0, le=100_000)
    min_lr: float = Field(0.0, ge=0)


class DiffusionSpec(Strict):
    """The noise schedule of a denoising diffusion model (DDPM, Ho et al. 2020), for `kind: diffusion`."""

    steps: int = Field(200, ge=2, le=10_000, description="Diffusion steps T (also the sampler's steps).")
    schedule: Literal["linear", "cosine"] = Field(
        "linear", description="linear: betas evenly from beta_start to beta_end (Ho et al.); cosine: "
                              "Nichol & Dhariwal 2021 (ignores beta_start/beta_end).")
    beta_start: float | None = Field(None, gt=0, lt=1, description="Default: 1e-4 x 1000 / steps.")
    beta_end: float | None = Field(None, gt=0, lt=1, description="Default: 0.02 x 1000 / steps (at most 0.999).")

    @model_validator(mode="after")
    def _increasing(self):
        if self.beta_start is not None and self.beta_end is not None and self.beta_start > self.beta_end:
            raise ValueError(f"expected beta_start <= beta_end. Received: beta_start={self.beta_start}, "
                             f"beta_end={self.beta_end}")
        return self


ADVERSARIAL_KINDS = ("gan", "cgan", "wgan-gp")
AUTOENCODING_KINDS = ("autoencoder", "vae")
TRANSLATION_KINDS = ("pix2pix", "cyclegan")   # image-to-image: builder.training.kinds.translation
TRANSLATION_ROLES = {"pix2pix": ("generator", "discriminator"),
                     "cyclegan": ("generator_ab", "generator_ba", "discriminator_a", "discriminator_b")}
STYLE_KINDS = ("gan", "wgan-gp")   # whose generator may be style-based (roles mapping, synthesis)
ONE_ADVERSARY = "give `discriminator` or `critic` (the same network), not both"


class RolesSpec(Strict):
    """Which model of the spec plays which part in training; a role left out is the model of its name."""

    model_config = ConfigDict(json_schema_extra={  # _one_adversary
        "if": presence(given=("discriminator",)), "then": presence(absent=("critic",), why=ONE_ADVERSARY)})

    generator: ParamName | None = Field(None, description="gan, cgan, wgan-gp: noise (and a label, for cgan) -> "
                                        "a sample. Default: the model named `generator`.")
    discriminator: ParamName | None = Field(None, description="gan, cgan: a sample (and its label) -> the "
                                            "probability it is real. Default: the model named `discriminator`, "
                                            "else `critic`.")
    critic: ParamName | None = Field(None, description="wgan-gp: a sample -> a score (the discriminator of a "
                                     "Wasserstein GAN; give this or `discriminator`). Default: the model named "
                                     "`critic`, else `discriminator`.")
    encoder: ParamName | None = Field(None, description="autoencoder, vae: a sample -> its code (for a VAE: "
                                      "z_mean, z_log_var, z). Default: the model named `encoder`.")
    decoder: ParamName | None = Field(None, description="autoencoder, vae: a code -> a sample; `builder "
                                      "generate` decodes codes with it. Default: the model named `decoder`.")
    mapping: ParamName | None = Field(None, description="gan, wgan-gp, a style-based generator: z -> w, the "
                                      "mapping network the sampler calls to mix styles. Default: the model "
                                      "named `mapping`, if any.")
    synthesis: ParamName | None = Field(None, description="gan, wgan-gp, a style-based generator: styles of "
                                        "shape (layers, w_dim), one w per layer -> a sample. Default: the model "
                                        "named `synthesis`, if any.")
    generator_ab: ParamName | None = Field(None, description="cyclegan: an image of domain A -> the same image "
                                           "in domain B. Default: the model named `generator_ab`.")
    generator_ba: ParamName | None = Field(None, description="cyclegan: domain B -> domain A. Default: the model "
                                           "named `generator_ba`.")
    discriminator_a: ParamName | None = Field(None, description="cyclegan: an image -> whether it is a real "
                                              "image of domain A (a score per patch). Default: the model named "
                                              "`discriminator_a`.")
    discriminator_b: ParamName | None = Field(None, description="cyclegan: the same for domain B. Default: the "
                                              "model named `discriminator_b`.")

    @model_validator(mode="after")
    def _one_adversary(self):
        if self.discriminator is not None and self.critic is not None:
            raise ValueError(ONE_ADVERSARY)
        return self


OptimizerName = Literal[_optimizer_names()]  # type: ignore[valid-type]


class NetworkOptimizersSpec(Strict):
    """One optimizer per network (gan, cgan, wgan-gp); a network not named here uses `train.optimizer`."""

    model_config = ConfigDict(json_schema_extra={  # _one_adversary
        "if": presence(given=("discriminator",)), "then": presence(absent=("critic",), why=ONE_ADVERSARY)})

    generator: OptimizerSpec | OptimizerName | None = Field(None, description="The generator's optimizer.")
    discriminator: OptimizerSpec | OptimizerName | None = Field(None, description="The discriminator's "
                                                                "(or critic's) optimizer.")
    critic: OptimizerSpec | OptimizerName | None = Field(None, description="The critic's optimizer (wgan-gp; "
                                                         "the same as `discriminator`).")
    generator_ab: OptimizerSpec | OptimizerName | None = Field(None, description="cyclegan: generator_ab's.")
    generator_ba: OptimizerSpec | OptimizerName | None = Field(None, description="cyclegan: generator_ba's.")
    discriminator_a: OptimizerSpec | OptimizerName | None = Field(None, description="cyclegan: discriminator_a's.")
    discriminator_b: OptimizerSpec | OptimizerName | None = Field(None, description="cyclegan: discriminator_b's.")

    @model_validator(mode="after")
    def _one_adversary(self):
        if self.discriminator is not None and self.critic is not None:
            raise ValueError(ONE_ADVERSARY)
        return self


class GanSpec(Strict):
    """Settings of the adversarial kinds (gan, cgan, wgan-gp). The latent size is the generator's input size."""

    critic_steps: int | None = Field(None, ge=1, le=100, description="Discriminator (critic) updates per "
                                     "generator update, each on the same real batch and fresh noise. Default: "
                                     "5 for wgan-gp, 1 for gan and cgan.")
    gradient_penalty: float | None = Field(None, ge=0, le=1e6, description="wgan-gp: the weight (lambda) of the "
                                           "gradient penalty, which pushes the critic's gradient norm to 1 on "
                                           "points between real and generated samples. Default: 10.")
    label_smoothing: float | None = Field(None, ge=0, lt=0.5, description="gan, cgan: one-sided label "
                                          "smoothing; the discriminator's target for real samples is 1 minus "
                                          "this. Default: 0.")
    r1: float | None = Field(None, ge=0, le=1e6, description="gan, cgan: the weight (gamma) of R1 regularisation "
                             "(Mescheder et al. 2018, StyleGAN): gamma / 2 x ||d D(x) / d x||^2 on real samples, "
                             "D's logit, added to the discriminator's loss at every step. StyleGAN2 uses 10 at "
                             "1024x1024 and less for small images. Default: none.")
    style_mixing: float | None = Field(None, ge=0, le=1, description="gan, wgan-gp with a style-based generator "
                                       "(spec models `mapping` and `synthesis`, called by the generator): the "
                                       "share of generated training samples whose styles switch from one w to "
                                       "another at a random layer (StyleGAN's mixing regularisation, 0.9 in the "
                                       "paper), so that mixed samples are digits too. Default: 0.")


class TranslationSpec(Strict):
    """Loss weights of the image-to-image kinds (pix2pix, cyclegan); the adversarial loss is `train.loss`."""

    l1: float | None = Field(None, ge=0, le=1e6, description="pix2pix: the weight (lambda) of the L1 distance "
                             "between the generator's output and the target, added to its adversarial loss. "
                             "Default: 100 (Isola et al. 2017).")
    cycle: float | None = Field(None, ge=0, le=1e6, description="cyclegan: the weight of the cycle-consistency "
                                "loss |G_ba(G_ab(a)) - a| + |G_ab(G_ba(b)) - b|. Default: 10 (Zhu et al. 2017).")
    identity: float | None = Field(None, ge=0, le=1e6, description="cyclegan: the weight of the identity loss "
                                   "|G_ab(b) - b| + |G_ba(a) - a|, which keeps colours that need no change. "
                                   "Default: 5 (half the cycle weight, as in the paper's code).")
    pool: int | None = Field(None, ge=0, le=10_000, description="cyclegan: the discriminators judge half of each "
                             "batch of generated images from a pool of this many earlier ones (Shrivastava et al. "
                             "2017). Default: 0 (no pool).")


ShardTarget = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$", max_length=300,
                                   description="A node id, a block instance (`stage2`, `stage2_1`) or a node "
                                               "inside one (`stage2_1.conv_a`).")]


class ModelParallelSpec(Strict):
    """How `distribute: model_parallel` splits a model over devices (JAX: keras.distribution.ModelParallel)."""

    mesh: list[Annotated[int, Field(ge=1, le=65_536)]] = Field(
        min_length=2, max_length=2, description="[data, model]: devices along the batch and along the model; "
                                                "data x model must be the number of devices.")
    shard: list[ShardTarget] = Field(min_length=1, max_length=10_000, description="Nodes whose weights are "
                                     "split over the mesh's model axis (the last axis of each weight, where it "
                                     "divides evenly); every other weight is replicated.")


# train.augment types that mix labels as well as images (builder's own, in builder.training.augment), and the
# losses a run that mixes labels may name: both train on the one-hot targets as categorical cross-entropy
LABEL_MIXERS = ("MixUp", "CutMix")
CLASS_LOSSES = ("sparse_categorical_crossentropy", "categorical_crossentropy")


class TrainSpec(Strict):
    """How to train: data, optimizer, loss, metrics, epochs, batch size, and how to run it."""

    # the validators below, for editors (`kind` defaults to supervised, so a kind-only setting needs `kind`)
    model_config = ConfigDict(json_schema_extra={"allOf": [
        {"if": presence(given=("phases",)), "then": presence(
            absent=("freeze", "epochs"), why="with `phases`, each phase gives its own `epochs` and `freeze`")},
        {"if": one_of_values("distribute", ["model_parallel"]), "then": presence(given=("model_parallel",))},
        {"if": {"anyOf": [presence(given=("class_weight",)), presence(given=("loss_weights",))]},
         "then": {"properties": {"kind": {"enum": ["supervised"], "errorMessage": "class_weight and loss_weights "
                                                                                  "apply to kind: supervised"}}}},
        {"if": presence(given=("diffusion",)),
         "then": one_of_values("kind", ["diffusion"], why="`diffusion` applies to kind: diffusion")},
        {"if": presence(given=("optimizers",)),
         "then": one_of_values("kind", ADVERSARIAL_KINDS, why="`optimizers` applies to kinds gan, cgan, wgan-gp")},
        {"if": presence(given=("gan",)),
         "then": one_of_values("kind", ADVERSARIAL_KINDS, why="`gan` applies to kinds gan, cgan, wgan-gp")},
        {"if": {"required": ["gan"],
                "properties": {"gan": {"type": "object", **presence(given=("gradient_penalty",))}}},
         "then": one_of_values("kind", ["wgan-gp"], why="gradient_penalty applies to kind wgan-gp")},
        # (`properties` holds only for mappings: a null `gan` or `roles` passes, as in parse)
        {"if": one_of_values("kind", ["wgan-gp"]), "then": {"properties": {"gan": presence(
            absent=("label_smoothing", "r1"), why="label_smoothing and r1 apply to kinds gan and cgan")}}},
        {"if": one_of_values("kind", ADVERSARIAL_KINDS), "then": {"properties": {"roles": presence(
            absent=("encoder", "decoder"), why="gan, cgan, wgan-gp have roles generator, discriminator, critic")}}},
        {"if": one_of_values("kind", ["cgan"]), "then": {"properties": {
            "roles": presence(absent=("mapping", "synthesis"), why="mapping and synthesis (a style-based "
                                                                   "generator) apply to kinds gan and wgan-gp"),
            "gan": presence(absent=("style_mixing",), why="style_mixing applies to kinds gan and wgan-gp")}}},
        {"if": one_of_values("kind", AUTOENCODING_KINDS), "then": {"properties": {"roles": presence(
            absent=("generator", "discriminator", "critic", "mapping", "synthesis"),
            why="autoencoder and vae have roles encoder, decoder")}}},
    ]})

    kind: TrainingKind = Field("supervised", description="How the spec's models train together.")
    model: ParamName | None = Field(None, description="Which model trains (specs with several models).")
    roles: RolesSpec | None = Field(None, description="Which model is the generator, discriminator (critic), "
                                    "encoder or decoder, for the kinds that train several networks (gan, cgan, "
                                    "wgan-gp) or sample from one (autoencoder, vae). Default: the model of each "
                                    "role's name.")
    optimizers: NetworkOptimizersSpec | None = Field(None, description="gan, cgan, wgan-gp: one optimizer per "
                                                     "network (learning rate, betas); a network not named here "
                                                     "gets its own copy of `optimizer`.")
    gan: GanSpec | None = Field(None, description="gan, cgan, wgan-gp: critic steps per generator step, "
                                "gradient penalty, label smoothing, R1.")
    translation: TranslationSpec | None = Field(None, description="pix2pix, cyclegan: the weights of the L1, "
                                                "cycle and identity losses, and the image pool.")
    data: DataSpec = Field(default_factory=lambda: BuiltinData(source="builtin", name="digits"))
    optimizer: OptimizerSpec | Literal[_optimizer_names()] = "adam"  # type: ignore[valid-type]
    loss: LossField | None = Field(
        None, description="A loss by name (sparse_categorical_crossentropy, mse, contrastive, ...), a loss with "
                          "arguments `{type: sparse_categorical_crossentropy, from_logits: true}`, or one per "
                          "output `{out_a: {type: huber, delta: 2.0}, out_b: mse}`.")
    metrics: list[OneMetric] | dict[ParamName, list[OneMetric]] = Field(
        default_factory=list, description="Metrics by name or with arguments (`{type: AUC, curve: PR}`), or a "
                                          "list per output.")
    loss_weights: dict[ParamName, Weight] | None = Field(
        None, min_length=1, max_length=1000, description="kind: supervised, several outputs: each output's "
        "weight in the total loss, `{out_a: 1.0, out_b: 0.2}` (an output not named weighs 1).")
    class_weight: Literal["balanced"] | dict[ClassLabelKey, Weight] | None = Field(
        None, description="kind: supervised: weigh each sample's loss by its class (integer labels of one "
        "output). `balanced`: samples / (classes x that class's samples), from the training labels (recorded in "
        "summary.json); or `{0: 1.0, 1: 5.0}` (a class not named weighs 1). Validation is not weighted.")
    epochs: int = Field(10, ge=1, le=100_000)
    batch_size: int = Field(32, ge=1, le=65_536)
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="Seeds shuffling, initialisation and "
                             "dropout; with it a CPU run repeats exactly (where `jit_compile: auto` times XLA, repeats that chose the "
                             "same path: summary.json says which; set jit_compile to fix it).")
    early_stopping: EarlyStoppingSpec | None = None
    reduce_lr_on_plateau: ReduceLROnPlateauSpec | None = None
    mixed_precision: Literal["off", "float16", "bfloat16"] = Field(
        "off", description="Compute in float16/bfloat16 with float32 weights (GPUs with tensor cores).")
    jit_compile: bool | Literal["auto"] = Field(
        "auto", description="XLA compilation. auto: on TensorFlow without a GPU, a supervised run long enough to "
                            "pay a compilation back times its first steps without XLA and with, and keeps the "
                            "faster (summary.json says which and why); elsewhere Keras decides (XLA on JAX and "
                            "on GPUs).")
    steps_per_execution: Annotated[int, Field(ge=1, le=100_000)] | Literal["auto"] = Field(
        "auto", description="Batches per compiled call. auto: 8 where it was measured to pay off (kind: "
                            "supervised on TensorFlow and JAX; bench/RESULTS.md), else 1 (PyTorch allows only 1).")
    distribute: Literal["one_device", "mirrored", "multi_worker", "model_parallel"] = Field(
        "one_device", description="mirrored: every local GPU (TensorFlow: tf.distribute.MirroredStrategy; JAX: "
                                  "keras.distribution.DataParallel); multi_worker: several processes or machines "
                                  "(JAX); model_parallel: weights split over devices as `model_parallel` says (JAX).")
    model_parallel: ModelParallelSpec | None = Field(None, description="distribute: model_parallel only: the "
                                                     "device mesh and the nodes whose weights are split.")

    diffusion: DiffusionSpec | None = Field(None, description="kind: diffusion only: the noise schedule "
                                            "(default: 200 linear steps).")

    init: InitSpec | None = Field(None, description="Initial weights from a run folder or a .keras/.weights.h5 "
                                  "file (transfer learning); `--init PATH` on `builder train` overrides `from`.")
    freeze: FreezeSpec | None = Field(None, description="Freeze a node and everything before it for the whole "
                                      "run (with `phases`: the phases that give no `freeze` of their own "
                                      "are not frozen).")
    phases: list[PhaseSpec] | None = Field(
        None, min_length=1, max_length=100,
        description="Train in phases, one after another in the same run (the model recompiled between them, "
                    "history.csv with a `phase` column); replaces `epochs`. E.g. a frozen phase, then an "
                    "unfrozen one at a lower learning rate.")
    augment: list[LayerNode] | None = Field(
        None, max_length=100,
        description="Keras preprocessing layers (RandomFlip, RandomRotation, RandomZoom, ...) applied, in order, "
                    "to the training inputs only, in the data pipeline; validation data and the saved model "
                    "are not augmented. MixUp and CutMix mix the labels too: for classifiers, which then train "
                    "on one-hot labels.")

    def logged_metrics(self) -> list[str] | None:
        """The names Keras logs for this run (loss, each metric, and their val_ twins), or None for the kinds that
        log their own (g_loss, d_loss, ...). Several outputs: Keras logs `<output>_<metric>`."""
        if self.kind != "supervised":
            return None
        def logged(metric):
            return metric.logged if isinstance(metric, MetricSpec) else metric

        if isinstance(self.metrics, dict):
            metrics = [f"{out}_{logged(m)}" for out, ms in self.metrics.items() for m in ms]
        else:
            metrics = [logged(m) for m in self.metrics]
        logged = ["loss"] + metrics
        return logged + ["val_" + m for m in logged]

    @model_validator(mode="after")
    def _phases_or_freeze(self):
        if self.phases is not None and self.freeze is not None:
            raise ValueError("give `freeze` inside each phase of `phases`, not beside them")
        if self.phases is not None and "epochs" in self.model_fields_set:
            raise ValueError(f"with `phases`, each phase gives its own epochs. Received: epochs={self.epochs} "
                             "beside phases")
        return self

    @model_validator(mode="after")
    def _weights_of_supervised_runs(self):
        for key in ("class_weight", "loss_weights"):
            if getattr(self, key) is not None and self.kind != "supervised":
                raise ValueError(f"`{key}` weighs the loss of kind: supervised; this spec trains kind: {self.kind}")
        return self

    @model_validator(mode="after")
    def _model_parallel_has_its_mesh(self):
        if self.distribute == "model_parallel" and self.model_parallel is None:
            raise ValueError("distribute: model_parallel needs `model_parallel: {mesh: [data, model], shard: "
                             "[node ids]}` under train")
        return self

    @model_validator(mode="after")
    def _diffusion_for_its_kind(self):
        if self.diffusion is not None and self.kind != "diffusion":
            raise ValueError(f"`diffusion` sets the noise schedule of kind: diffusion; this spec trains "
                             f"kind: {self.kind}")
        return self

    @field_validator("roles")
    @classmethod
    def _roles_of_the_kind(cls, roles, info):
        kind = info.data.get("kind")
        if roles is None or kind not in ADVERSARIAL_KINDS + AUTOENCODING_KINDS + TRANSLATION_KINDS:
            return roles   # other kinds define their own roles
        used = ("generator", "discriminator", "critic") if kind in ADVERSARIAL_KINDS else \
            TRANSLATION_ROLES.get(kind, ("encoder", "decoder"))
        if kind in STYLE_KINDS:
            used += ("mapping", "synthesis")
        extra = [name for name in RolesSpec.model_fields if getattr(roles, name) is not None and name not in used]
        if extra:
            raise ValueError(f"kind {kind} has no role {extra[0]!r}; its roles are: {', '.join(used)}")
        return roles

    @field_validator("optimizers")
    @classmethod
    def _optimizers_of_adversarial_kinds(cls, optimizers, info):
        kind = info.data.get("kind")
        if optimizers is not None and kind not in ADVERSARIAL_KINDS + TRANSLATION_KINDS:
            raise ValueError(f"`optimizers` (one per network) applies to kinds gan, cgan, wgan-gp, pix2pix and "
                             f"cyclegan, not {kind}; use `optimizer`")
        if optimizers is not None and kind in TRANSLATION_KINDS:
            extra = [name for name in NetworkOptimizersSpec.model_fields if getattr(optimizers, name) is not None
                     and name not in TRANSLATION_ROLES[kind]]
            if extra:
                raise ValueError(f"kind {kind} has no network {extra[0]!r}; its networks are: "
                                 f"{', '.join(TRANSLATION_ROLES[kind])}")
        return optimizers

    @field_validator("translation")
    @classmethod
    def _translation_settings(cls, translation, info):
        kind = info.data.get("kind")
        if translation is None:
            return translation
        if kind not in TRANSLATION_KINDS:
            raise ValueError(f"`translation` settings apply to kinds pix2pix and cyclegan, not {kind}")
        wrong = ("l1",) if kind == "cyclegan" else ("cycle", "identity", "pool")
        given = [name for name in wrong if getattr(translation, name) is not None]
        if given:
            raise ValueError(f"{given[0]} applies to kind {'pix2pix' if kind == 'cyclegan' else 'cyclegan'}, "
                             f"not {kind}")
        return translation

    @field_validator("data")
    @classmethod
    def _pix2pix_reads_pairs(cls, data, info):
        # pix2pix learns input -> target: data that gives classes (digits, class folders) or two unpaired
        # domains has no targets to learn
        if info.data.get("kind") == "pix2pix":
            if data.source == "images" and getattr(data, "pairs", None) is None:
                raise ValueError("kind pix2pix learns from pairs (input, target); source: images gives classes. "
                                 "Give `pairs: [INPUT_FOLDER, TARGET_FOLDER]` (sub-folders of `path`, images "
                                 "matched by file name)")
            if data.source == "numpy" and getattr(data, "domains", None) is not None:
                raise ValueError("kind pix2pix learns from pairs (input, target); `domains` gives two unpaired "
                                 "sets (kind cyclegan). Give the inputs as `x` and the targets as `y`")
            if data.source not in ("images", "numpy"):
                raise ValueError(f"kind pix2pix learns from pairs (input, target): source numpy (arrays `x` and "
                                 f"`y`) or images with `pairs`. Received: source={data.source!r}")
        return data

    @field_validator("gan")
    @classmethod
    def _gan_settings_of_adversarial_kinds(cls, gan, info):
        kind = info.data.get("kind")
        if gan is None:
            return gan
        if kind not in ADVERSARIAL_KINDS:
            raise ValueError(f"`gan` settings apply to kinds gan, cgan and wgan-gp, not {kind}")
        if gan.gradient_penalty is not None and kind != "wgan-gp":
            raise ValueError(f"gradient_penalty applies to kind wgan-gp, not {kind}")
        if gan.label_smoothing is not None and kind == "wgan-gp":
            raise ValueError("label_smoothing applies to kinds gan and cgan (a critic has no labels)")
        if gan.r1 is not None and kind == "wgan-gp":
            raise ValueError("r1 applies to kinds gan and cgan (wgan-gp has its gradient_penalty)")
        if gan.style_mixing is not None and kind not in STYLE_KINDS:
            raise ValueError(f"style_mixing applies to kinds gan and wgan-gp (a style-based generator), not {kind}")
        return gan


InitSource = Annotated[str, Field(min_length=1, max_length=4096, json_schema_extra=NOT_A_URL,
                                  description="A run folder (its model.keras, else its last checkpoint), a "
                                              "`.keras` file, or a `.weights.h5` file saved from a model of this "
                                              "same spec; relative to the spec's folder (no URLs)."),
                       AfterValidator(_local_path)]


QualifiedId = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$", max_length=300,
                                   description="A node id; inside a block instance, `instance.node`.")]


class InitSpec(Strict):
    """Start from the weights of earlier work: nodes whose ids match (or that `map` pairs) get their weights."""

    from_: InitSource = Field(alias="from")
    map: dict[QualifiedId, QualifiedId | None] = Field(
        default_factory=dict, max_length=100_000,
        description="new node id -> the id of the node in the source whose weights it takes; null keeps the "
                    "node's fresh weights (e.g. a new classifier head of the same shape). Nodes not named here "
                    "take the weights of the source node of the same id.")


class FreezeSpec(Strict):
    """Which part of the model does not train."""

    until: ShardTarget = Field(description="A node id or a block instance: it and every node it reads from, "
                                           "directly or not, are frozen (their weights do not train; "
                                           "BatchNormalization runs in inference mode).")


class PhaseSpec(Strict):
    """One phase of a multi-phase run: its epochs, what is frozen, and its learning rate."""

    epochs: int = Field(ge=1, le=100_000, description="Epochs of this phase.")
    freeze: FreezeSpec | None = Field(None, description="Frozen in this phase; default: nothing (beyond nodes "
                                      "with `trainable: false`).")
    learning_rate: float | ScheduleSpec | None = Field(
        None, description="This phase's learning rate (a number > 0 or a schedule); default: the optimizer's.",
        json_schema_extra={"exclusiveMinimum": 0})  # applies to numbers only

    @model_validator(mode="after")
    def _positive_rate(self):
        if isinstance(self.learning_rate, float) and not self.learning_rate > 0:
            raise ValueError(f"expected a number > 0. Received: learning_rate={self.learning_rate}")
        return self
