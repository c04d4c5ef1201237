"""The spec language: pydantic models that are the single source of truth for its structure.

`builder schema` turns these models into `schemas/spec.schema.json`; `parse`
validates loaded YAML against them. Every model forbids unknown keys and is
strict (`units: "8"` is an error, not 8). Layer *arguments* are the one open
part: a layer node carries its Keras constructor arguments as extra keys,
checked against the layer catalogue by `builder.language.parser` (their JSON Schema is
generated from that catalogue, one variant per layer type).

A spec in brief::

    name: mlp
    inputs: {x: {shape: [64]}}
    layers:
      - {type: Dense, units: 32, activation: relu}
      - {id: logits, type: Dense, units: 10}
    outputs: [logits]
    train: {data: {source: builtin, name: digits}, loss: sparse_categorical_crossentropy}
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from builder.language.catalogue import catalog

# --- shared field types ----------------------------------------------------------

NodeId = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64,
                              description="A node id: a letter or _, then letters, digits or _ (at most 64).")]
ParamName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)]
SpecName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64,
                                description="The spec's name: letters, digits, `_`, `.`, `-`.")]
REF_PATTERN = r"^\$?[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*(\[[0-9]{1,3}\])?$"
RefName = Annotated[str, Field(pattern=REF_PATTERN, max_length=200,
                               description="A node id, an input name, `block.node` for a node inside a block "
                                           "instance, `$name` for a block's input, with `[k]` for a node's k-th "
                                           "output.")]
RelativeRef = Annotated[int, Field(le=-1, ge=-1000, description="-1 is the node before, -2 the one before it.")]
Ref = Union[RelativeRef, RefName]
Inputs = Union[Ref, Annotated[list[Ref], Field(max_length=1024)], dict[ParamName, Union[Ref, list[Ref]]]]
Placeholder = Annotated[str, Field(pattern=r"^\$\{[^{}]{1,200}\}$",
                                  description="`${name}` or `${expression}` over parameters (+ - * / // % and "
                                              "int, round, min, max, abs), filled in by resolve.")]
Size = Annotated[int, Field(ge=1, le=2**31 - 1)]
Dim = Union[Size, Placeholder]
Value = Any  # block parameters: scalars or lists; checked where they land
Description = Annotated[str, Field(max_length=2000, description="Free text, shown in diagrams and docs.")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True, allow_inf_nan=False)


# --- graph nodes -------------------------------------------------------------------

class LayerNode(BaseModel):
    """A Keras layer (or a builder layer) by name; other keys are its constructor arguments."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)

    id: NodeId | None = Field(None, description="The node's id; default: the type in snake case plus a number.")
    type: str = Field(description="A layer from `keras.layers` or builder's own layers, by its Keras name.",
                      max_length=100)
    inputs: Inputs | None = Field(None, description="What the node reads: a reference, a list of references "
                                  "(merges), or a mapping of call arguments (query/value/key, initial_state). "
                                  "Default: the node before.")
    call: dict[ParamName, bool] | None = Field(None, description="Boolean call arguments such as "
                                               "use_causal_mask or return_attention_scores.")

    @property
    def args(self) -> dict:
        return dict(self.__pydantic_extra__ or {})


class BlockNode(Strict):
    """An instance of a block from `blocks:`, optionally repeated."""

    block: ParamName = Field(description="The name of a block under `blocks:`.")
    id: NodeId | None = Field(None, description="The instance's id; node ids inside become `id.node`. "
                              "Repeats are numbered `id_1`, `id_2`, ...")
    inputs: Inputs | None = Field(None, description="What the block reads; default: the node before.")
    repeat: Annotated[int, Field(ge=1, le=1000)] | Placeholder = Field(
        1, description="How many times to chain the block (1 to 1000).")
    with_: dict[ParamName, Value] = Field(default_factory=dict, alias="with",
                                          description="Parameter values for every repeat.")
    per_repeat: list[dict[ParamName, Value]] | None = Field(
        None, max_length=1000,
        description="Per-repeat overrides of `with`: item i applies to repeat i+1; repeats past the list use "
                    "`with` alone. `[{stride: 2}]` changes the first repeat only.")
    trainable: bool | None = Field(None, description="false freezes every layer of the instance (all repeats): "
                                   "its weights do not train, and BatchNormalization runs in inference mode.")


class ModelNode(Strict):
    """Calls another model of the same spec as a layer (e.g. D(G(z)))."""

    model: ParamName = Field(description="The name of a model under `models:`.")
    id: NodeId | None = None
    inputs: Inputs | None = Field(None, description="What the model reads; default: the node before.")


def _node_kind(value: Any) -> str:
    # Tags must not collide with spec keys: parse follows pydantic's error paths through the data.
    if isinstance(value, dict):
        if "block" in value:
            return "block-use"
        if "model" in value:
            return "model-call"
    return "layer-node"


Node = Annotated[
    Union[Annotated[LayerNode, Tag("layer-node")], Annotated[BlockNode, Tag("block-use")],
          Annotated[ModelNode, Tag("model-call")]],
    Discriminator(_node_kind),
]
Layers = Annotated[list[Node], Field(max_length=100_000)]


class InputSpec(Strict):
    """A named model input."""

    shape: list[Dim | None] = Field(max_length=8, description="The shape without the batch axis; null for a "
                                    "variable length, e.g. [null] for token sequences.")
    dtype: Literal["float32", "float16", "bfloat16", "int32", "int64", "bool", "string"] = "float32"
    description: Description | None = None


class BlockSpec(Strict):
    """A reusable, parameterised sub-graph. `${name}` in a layer argument is replaced by a parameter."""

    params: dict[ParamName, Value] = Field(default_factory=dict, description="Parameters and their defaults; "
                                           "a default of null means the parameter must be given.")
    inputs: list[ParamName] = Field(default_factory=lambda: ["in"], min_length=1, max_length=16,
                                    description="Names of the block's inputs, referenced inside as `$name`.")
    layers: Layers = Field(min_length=1)
    output: Ref | None = Field(None, description="The node whose output leaves the block; default: the last.")
    description: Description | None = None


class ModelSpec(Strict):
    """One model: inputs, a DAG of layers, outputs."""

    inputs: dict[NodeId, InputSpec] = Field(min_length=1, max_length=64)
    layers: Layers = Field(min_length=1)
    outputs: list[Ref] | Ref | None = Field(None, description="The output nodes; default: the last node.")
    description: Description | None = None


# --- training ----------------------------------------------------------------------

def _local_path(value: str) -> str:
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", value):
        raise ValueError(f"expected a local path, not a URL. Received: path={value[:80]!r}")
    return value


DataPath = Annotated[str, Field(min_length=1, max_length=4096,
                                description="A local path, relative to the spec's folder (no URLs)."),
                     AfterValidator(_local_path)]


ClassLabel = Annotated[int, Field(ge=0, le=1_000_000)]


class DataCommon(Strict):
    validation_split: float = Field(0.2, ge=0, lt=1, description="Share of the data held out for validation.")
    shuffle: bool = True
    normalize: bool = Field(True, description="Scale features to zero mean and unit variance (images: to [0, 1]).")
    classes: list[ClassLabel] | None = Field(
        None, min_length=1, max_length=100_000,
        description="Keep only the samples of these integer labels, relabelled 0, 1, ... in the order given "
                    "(`[5, 6, 7, 8, 9]`: digit 5 becomes class 0).")
    per_class: int | None = Field(
        None, ge=1, le=10_000_000,
        description="Train on this many samples of each class (drawn with the seed); every other sample "
                    "(of the kept classes) is the validation data, and `validation_split` is not used.")

    @model_validator(mode="after")
    def _per_class_replaces_the_split(self):
        if self.per_class is not None and "validation_split" in self.model_fields_set:
            raise ValueError(f"per_class takes {self.per_class} samples of each class for training and keeps the "
                             f"rest for validation; validation_split does not apply. Received: "
                             f"validation_split={self.validation_split}")
        return self


class BuiltinData(DataCommon):
    """A small data set that ships inside scikit-learn: no network needed."""

    source: Literal["builtin"]
    name: Literal["digits", "iris", "wine", "breast_cancer"]
    image: bool = Field(False, description="digits only: give 8x8x1 images instead of 64 features.")


class CsvData(DataCommon):
    source: Literal["csv"]
    path: DataPath
    label: str | int = Field(description="The label column, by name or index.")
    features: list[str] | None = Field(None, description="Feature columns; default: every other column.")


class NumpyData(DataCommon):
    source: Literal["numpy"]
    path: DataPath
    x: str = Field("x", description="The array of features in an .npz file.")
    y: str = Field("y", description="The array of labels in an .npz file.")


class ImageFolderData(DataCommon):
    source: Literal["images"]
    path: DataPath
    image_size: list[Size] = Field(min_length=2, max_length=2)
    color_mode: Literal["grayscale", "rgb", "rgba"] = "rgb"


class TextData(DataCommon):
    source: Literal["text"]
    path: DataPath
    column: str | None = Field(None, description="For a CSV file, the text column; default: one text per line.")
    label: str | None = None
    sequence_length: int = Field(128, ge=1, le=1_000_000)
    vocabulary_size: int = Field(20_000, ge=2, le=10_000_000)
    tokens: Literal["words", "characters"] = Field(
        "words", description="words: one text per line (or CSV row), word ids padded to sequence_length. "
                             "characters: the whole text as one stream of characters, cut into consecutive "
                             "windows of sequence_length (for character-level language models).")


class CorpusData(DataCommon):
    """A text that ships inside an installed package (no network), for language models."""

    source: Literal["corpus"]
    name: Literal["python_docs", "sklearn_descr"] = Field(
        description="python_docs: Python's help topics (the standard library's pydoc_data, about 460,000 "
                    "characters); sklearn_descr: scikit-learn's data set descriptions (about 47,000).")
    tokens: Literal["words", "characters"] = Field("characters", description="As for `source: text`.")
    sequence_length: int = Field(128, ge=2, le=1_000_000, description="Tokens per window.")
    vocabulary_size: int = Field(20_000, ge=2, le=10_000_000)


class SyntheticData(DataCommon):
    """Generated sequence-to-sequence pairs over digit strings (no files, no network).

    `x`: source token ids; `y`: target token ids starting with the start token and ending with the
    end token; both 0-padded. Token ids: 0 pad, 1 start, 2 end, 3..12 the digits 0..9, 13 `+`.
    """

    source: Literal["synthetic"]
    task: Literal["reverse", "copy", "sort", "add"] = Field(
        description="reverse/copy/sort: a digit string -> reversed, the same, sorted; add: `a+b` -> the sum, "
                    "a and b of at most `length` digits each.")
    samples: int = Field(5000, ge=1, le=10_000_000, description="Distinct pairs generated.")
    length: int = Field(8, ge=1, le=1000, description="The longest digit string (for add: each operand).")
    min_length: int | None = Field(None, ge=1, le=1000, description="The shortest; default: `length` "
                                   "(every string as long).")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seeds the generator: the same pairs every run.")

    @model_validator(mode="after")
    def _lengths(self):
        if self.min_length is not None and self.min_length > self.length:
            raise ValueError(f"expected min_length <= length. Received: min_length={self.min_length}, "
                             f"length={self.length}")
        return self


class KerasData(DataCommon):
    """A `keras.datasets` set; downloads on first use, so it needs the network."""

    source: Literal["keras"]
    name: Literal["mnist", "fashion_mnist", "cifar10", "cifar100", "imdb", "reuters", "boston_housing"]


DataSpec = Annotated[Union[BuiltinData, CsvData, NumpyData, ImageFolderData, TextData, CorpusData,
                           SyntheticData, KerasData],
                     Field(discriminator="source")]


class ScheduleSpec(Strict):
    """A learning-rate schedule."""

    type: Literal["cosine", "exponential", "piecewise", "polynomial", "inverse_time"]
    initial_learning_rate: float | None = Field(None, gt=0)
    decay_steps: int | None = Field(None, ge=1)
    decay_rate: float | None = Field(None, gt=0)
    alpha: float | None = Field(None, ge=0, le=1)
    boundaries: list[int] | None = None
    values: list[float] | None = None
    warmup_steps: int = Field(0, ge=0)
    end_learning_rate: float | None = Field(None, ge=0)


def _optimizer_names() -> tuple:
    return tuple(sorted(catalog().optimizers))


class OptimizerSpec(BaseModel):
    """A Keras optimizer by name; other keys are its constructor arguments (checked against Keras)."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)

    type: Literal[_optimizer_names()] = Field("adam", description="A Keras optimizer, lower case.")  # type: ignore[valid-type]
    learning_rate: float | ScheduleSpec | None = Field(None, description="A number > 0 or a schedule.")

    @model_validator(mode="after")
    def _positive_rate(self):
        if isinstance(self.learning_rate, float) and not self.learning_rate > 0:
            raise ValueError(f"expected a number > 0. Received: learning_rate={self.learning_rate}")
        return self

    @property
    def args(self) -> dict:
        return dict(self.__pydantic_extra__ or {})


LossName = Literal[tuple(catalog().names["losses"])]  # type: ignore[valid-type]
MetricName = Literal[tuple(catalog().names["metrics"])]  # type: ignore[valid-type]
TrainingKind = Literal["supervised", "autoencoder", "vae", "gan", "cgan", "wgan-gp", "seq2seq",
                       "language-model", "diffusion"]


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


class RolesSpec(Strict):
    """Which model of the spec plays which part in training; a role left out is the model of its name."""

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

    @model_validator(mode="after")
    def _one_adversary(self):
        if self.discriminator is not None and self.critic is not None:
            raise ValueError("give `discriminator` or `critic` (the same network), not both")
        return self


OptimizerName = Literal[_optimizer_names()]  # type: ignore[valid-type]


class NetworkOptimizersSpec(Strict):
    """One optimizer per network (gan, cgan, wgan-gp); a network not named here uses `train.optimizer`."""

    generator: OptimizerSpec | OptimizerName | None = Field(None, description="The generator's optimizer.")
    discriminator: OptimizerSpec | OptimizerName | None = Field(None, description="The discriminator's "
                                                                "(or critic's) optimizer.")
    critic: OptimizerSpec | OptimizerName | None = Field(None, description="The critic's optimizer (wgan-gp; "
                                                         "the same as `discriminator`).")

    @model_validator(mode="after")
    def _one_adversary(self):
        if self.discriminator is not None and self.critic is not None:
            raise ValueError("give `discriminator` or `critic` (the same network), not both")
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
                                "gradient penalty, label smoothing.")
    data: DataSpec = Field(default_factory=lambda: BuiltinData(source="builtin", name="digits"))
    optimizer: OptimizerSpec | Literal[_optimizer_names()] = "adam"  # type: ignore[valid-type]
    loss: LossName | dict[ParamName, LossName] | None = None
    metrics: list[MetricName] | dict[ParamName, list[MetricName]] = Field(default_factory=list)
    epochs: int = Field(10, ge=1, le=100_000)
    batch_size: int = Field(32, ge=1, le=65_536)
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="Seeds shuffling, initialisation and "
                             "dropout; with it a CPU run repeats exactly.")
    early_stopping: EarlyStoppingSpec | None = None
    reduce_lr_on_plateau: ReduceLROnPlateauSpec | None = None
    mixed_precision: Literal["off", "float16", "bfloat16"] = Field(
        "off", description="Compute in float16/bfloat16 with float32 weights (GPUs with tensor cores).")
    jit_compile: bool | Literal["auto"] = Field("auto", description="XLA compilation; auto lets Keras decide.")
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

    @model_validator(mode="after")
    def _phases_or_freeze(self):
        if self.phases is not None and self.freeze is not None:
            raise ValueError("give `freeze` inside each phase of `phases`, not beside them")
        if self.phases is not None and "epochs" in self.model_fields_set:
            raise ValueError(f"with `phases`, each phase gives its own epochs. Received: epochs={self.epochs} "
                             "beside phases")
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
        if roles is None or kind not in ADVERSARIAL_KINDS + AUTOENCODING_KINDS:
            return roles   # other kinds define their own roles
        used = ("generator", "discriminator", "critic") if kind in ADVERSARIAL_KINDS else ("encoder", "decoder")
        extra = [name for name in RolesSpec.model_fields if getattr(roles, name) is not None and name not in used]
        if extra:
            raise ValueError(f"kind {kind} has no role {extra[0]!r}; its roles are: {', '.join(used)}")
        return roles

    @field_validator("optimizers")
    @classmethod
    def _optimizers_of_adversarial_kinds(cls, optimizers, info):
        kind = info.data.get("kind")
        if optimizers is not None and kind not in ADVERSARIAL_KINDS:
            raise ValueError(f"`optimizers` (one per network) applies to kinds gan, cgan and wgan-gp, not {kind}; "
                             "use `optimizer`")
        return optimizers

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
        return gan


InitSource = Annotated[str, Field(min_length=1, max_length=4096,
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
        None, description="This phase's learning rate (a number > 0 or a schedule); default: the optimizer's.")

    @model_validator(mode="after")
    def _positive_rate(self):
        if isinstance(self.learning_rate, float) and not self.learning_rate > 0:
            raise ValueError(f"expected a number > 0. Received: learning_rate={self.learning_rate}")
        return self


# --- search ---------------------------------------------------------------------------

SearchPath = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+$", max_length=300,
                                  description="Where the values go: `params.NAME`, `layers.ID.ARGUMENT` (a "
                                              "block instance: `layers.ID.repeat`, `layers.ID.with.PARAM`), "
                                              "`models.M.layers.ID.ARGUMENT`, `blocks.B.params.PARAM`, "
                                              "`blocks.B.layers.ID.ARGUMENT`, or a train setting such as "
                                              "`train.optimizer.learning_rate` or `train.batch_size`.")]


class IntRange(Strict):
    """Whole numbers from `low` to `high` (both included), every `step`, or log-uniform."""

    type: Literal["int"]
    low: int = Field(description="The smallest value.")
    high: int = Field(description="The largest value (low + a multiple of step).")
    step: int = Field(1, ge=1, le=2**31 - 1, description="The spacing of the values (not with log).")
    log: bool = Field(False, description="Sample on a log scale (low >= 1, step 1): as many 8-16 as 64-128.")

    @model_validator(mode="after")
    def _ordered(self):
        if self.low > self.high:
            raise ValueError(f"expected low <= high. Received: low={self.low}, high={self.high}")
        if self.log and (self.low < 1 or self.step != 1):
            raise ValueError(f"a log range needs low >= 1 and step 1. Received: low={self.low}, step={self.step}")
        if (self.high - self.low) % self.step:
            fit = self.low + (self.high - self.low) // self.step * self.step
            raise ValueError(f"expected high - low to be a multiple of step. Received: low={self.low}, "
                             f"high={self.high}, step={self.step} (high: {fit} would fit)")
        return self


class FloatRange(Strict):
    """Numbers from `low` to `high`, uniform or log-uniform (learning rates, dropout rates)."""

    type: Literal["float"]
    low: float = Field(description="The smallest value.")
    high: float = Field(description="The largest value.")
    step: float | None = Field(None, gt=0, description="Only multiples of step above low (not with log).")
    log: bool = Field(False, description="Sample on a log scale (low > 0): as many 1e-4..1e-3 as 1e-3..1e-2.")

    @model_validator(mode="after")
    def _ordered(self):
        if self.low > self.high:
            raise ValueError(f"expected low <= high. Received: low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0. Received: low={self.low}")
        if self.log and self.step is not None:
            raise ValueError("give `log` or `step`, not both")
        return self


SearchValue = Union[bool, int, float, Annotated[str, Field(max_length=200)], None]


class Choice(Strict):
    """One of a list of values (an optimizer, an activation, a set of widths)."""

    type: Literal["choice"]
    values: list[SearchValue] = Field(min_length=1, max_length=1000, description="The values to choose from.")


SearchDimension = Annotated[Union[IntRange, FloatRange, Choice], Field(discriminator="type")]


class Objective(Strict):
    """What a search optimises: a metric as Keras logs it, or `params` (the model's parameter count)."""

    metric: MetricKey = Field("val_accuracy", description="val_accuracy, val_loss, accuracy, ... or params. "
                              "A trial's value is the metric at its last epoch.")
    direction: Literal["maximize", "minimize"] | None = Field(
        None, description="Default: minimize for params and losses, maximize otherwise.")

    @property
    def goal(self) -> str:
        """The direction, given or inferred from the metric's name."""
        if self.direction is not None:
            return self.direction
        return "minimize" if self.metric == "params" or "loss" in self.metric else "maximize"


class SearchSpec(Strict):
    """A search space over this spec, for `builder search`: dimensions by path, and what to optimise."""

    space: dict[SearchPath, SearchDimension] = Field(min_length=1, max_length=100, description="Each path "
                                                     "with its range or choices, e.g. `params.c1: {type: int, "
                                                     "low: 4, high: 16, step: 2}`.")
    objective: Objective | None = Field(None, description="One metric to optimise (default: val_accuracy, "
                                        "maximized).")
    objectives: list[Objective] | None = Field(None, min_length=2, max_length=2, description="Two metrics "
                                               "optimised together (e.g. val_accuracy and params); the search "
                                               "reports their Pareto front.")

    @model_validator(mode="after")
    def _one_or_two_objectives(self):
        if self.objective is not None and self.objectives is not None:
            raise ValueError("give `objective` (one) or `objectives` (two), not both")
        return self

    @property
    def goals(self) -> list[Objective]:
        """The objectives, in order: `objectives`, else `[objective]`, else val_accuracy maximized."""
        return list(self.objectives or [self.objective or Objective()])


# --- the spec ------------------------------------------------------------------------

class Spec(Strict):
    """A builder spec: one model (`inputs`, `layers`, `outputs`) or several (`models`)."""

    name: SpecName | None = Field(None, description="Default: the file's name.")
    description: Description | None = None
    params: dict[ParamName, Value] = Field(default_factory=dict, description="Spec-wide parameters, used as "
                                           "`${name}` anywhere in layers; override with `--set name=value`.")
    blocks: dict[ParamName, BlockSpec] = Field(default_factory=dict, max_length=1000)
    inputs: dict[NodeId, InputSpec] | None = Field(None, min_length=1, max_length=64)
    layers: Layers | None = None
    outputs: list[Ref] | Ref | None = None
    models: dict[NodeId, ModelSpec] | None = Field(None, min_length=1, max_length=64)
    train: TrainSpec | None = None
    search: SearchSpec | None = Field(None, description="A search space for `builder search`; other commands "
                                      "use the values written in the spec.")

    @model_validator(mode="after")
    def _one_or_many_models(self):
        single = self.inputs is not None or self.layers is not None or self.outputs is not None
        if single and self.models is not None:
            raise ValueError("give either `inputs`/`layers`/`outputs` (one model) or `models` (several), not both")
        if not single and self.models is None:
            raise ValueError("a spec needs `inputs` and `layers` (one model) or `models` (several)")
        if single and (self.inputs is None or self.layers is None):
            missing = "inputs" if self.inputs is None else "layers"
            raise ValueError(f"a one-model spec needs `{missing}`")
        return self

    def model_specs(self, default_name: str) -> dict[str, ModelSpec]:
        """Every model by name; a one-model spec's model is named after the spec."""
        if self.models is not None:
            return dict(self.models)
        return {default_name: ModelSpec.model_construct(inputs=self.inputs, layers=self.layers, outputs=self.outputs,
                                                        description=None)}
