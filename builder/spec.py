"""The spec language: pydantic models that are the single source of truth for its structure.

`builder schema` turns these models into `schemas/spec.schema.json`; `parse`
validates loaded YAML against them. Every model forbids unknown keys and is
strict (`units: "8"` is an error, not 8). Layer *arguments* are the one open
part: a layer node carries its Keras constructor arguments as extra keys,
checked against the layer catalogue by `builder.parse` (their JSON Schema is
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

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from builder.catalog import catalog

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
                                  description="`${name}` or `${expression}` over parameters, filled in by resolve.")]
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


class DataCommon(Strict):
    validation_split: float = Field(0.2, ge=0, lt=1, description="Share of the data held out for validation.")
    shuffle: bool = True
    normalize: bool = Field(True, description="Scale features to zero mean and unit variance (images: to [0, 1]).")


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


class KerasData(DataCommon):
    """A `keras.datasets` set; downloads on first use, so it needs the network."""

    source: Literal["keras"]
    name: Literal["mnist", "fashion_mnist", "cifar10", "cifar100", "imdb", "reuters", "boston_housing"]


DataSpec = Annotated[Union[BuiltinData, CsvData, NumpyData, ImageFolderData, TextData, KerasData],
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


class TrainSpec(Strict):
    """How to train: data, optimizer, loss, metrics, epochs, batch size, and how to run it."""

    kind: TrainingKind = Field("supervised", description="How the spec's models train together.")
    model: ParamName | None = Field(None, description="Which model trains (specs with several models).")
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
    steps_per_execution: int = Field(1, ge=1, le=100_000, description="Batches per compiled call.")
    distribute: Literal["one_device", "mirrored", "multi_worker"] = Field(
        "one_device", description="mirrored: every local GPU (tf.distribute.MirroredStrategy); multi_worker: "
                                  "several machines.")


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
