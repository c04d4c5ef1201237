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

from pydantic import ConfigDict, Field, model_validator

from builder.language.spec.data import (BuiltinData, ClassLabel, CorpusData, CsvData, DataCommon, DataPath, DataSpec,
                                        ImageFolderData, KerasData, NumpyData, SyntheticData, TextData)
from builder.language.spec.diagram import DiagramSpec, NodeStyle
from builder.language.spec.fields import (REF_PATTERN, Description, Dim, Inputs, NodeId, ParamName, Placeholder, Ref,
                                          RefName, RelativeRef, Size, SpecName, Strict, Value, presence)
from builder.language.spec.graph import BlockNode, BlockSpec, InputSpec, LayerNode, Layers, ModelNode, ModelSpec, Node
from builder.language.spec.search import (Choice, FloatRange, IntRange, Objective, SearchDimension, SearchPath,
                                          SearchSpec, SearchValue)
from builder.language.spec.train import (ADVERSARIAL_KINDS, AUTOENCODING_KINDS, CLASS_LOSSES, LABEL_MIXERS,
                                         ConfiguredObject, DiffusionSpec, EarlyStoppingSpec, FreezeSpec, GanSpec,
                                         InitSource, InitSpec, LossName, LossSpec, MetricKey, MetricName, MetricSpec,
                                         ModelParallelSpec, NetworkOptimizersSpec, loss_name,
                                         OptimizerName, OptimizerSpec, PhaseSpec, QualifiedId, ReduceLROnPlateauSpec,
                                         RolesSpec, ScheduleSpec, ShardTarget, TrainingKind, TrainSpec)

__all__ = [
    "ADVERSARIAL_KINDS", "AUTOENCODING_KINDS", "BlockNode", "BlockSpec", "BuiltinData", "CLASS_LOSSES", "Choice",
    "ClassLabel", "ConfiguredObject", "CorpusData", "CsvData", "DataCommon", "DataPath", "DataSpec", "Description",
    "DiagramSpec", "DiffusionSpec",
    "Dim", "EarlyStoppingSpec", "FloatRange", "FreezeSpec", "GanSpec", "ImageFolderData", "InitSource", "InitSpec",
    "InputSpec", "Inputs", "IntRange", "KerasData", "LABEL_MIXERS", "LayerNode", "Layers", "LossName", "LossSpec", "MetricKey",
    "MetricName", "MetricSpec", "ModelNode", "ModelParallelSpec", "ModelSpec", "NetworkOptimizersSpec", "Node", "NodeId", "NodeStyle",
    "NumpyData", "Objective", "OptimizerName", "OptimizerSpec", "ParamName", "PhaseSpec", "Placeholder",
    "QualifiedId", "REF_PATTERN", "ReduceLROnPlateauSpec", "Ref", "RefName", "RelativeRef", "RolesSpec",
    "ScheduleSpec", "SearchDimension", "SearchPath", "SearchSpec", "SearchValue", "ShardTarget", "Size", "Spec",
    "SpecName", "Strict", "SyntheticData", "TextData", "TrainSpec", "TrainingKind", "Value", "loss_name",
]


# --- the spec ------------------------------------------------------------------------

ONE_OR_MANY = "give either `inputs`/`layers`/`outputs` (one model) or `models` (several), not both"


class Spec(Strict):
    """A builder spec: one model (`inputs`, `layers`, `outputs`) or several (`models`)."""

    # `_one_or_many_models`, for editors
    model_config = ConfigDict(json_schema_extra={"oneOf": [
        {"title": "one model", **presence(given=("inputs", "layers"), absent=("models",), why=ONE_OR_MANY)},
        {"title": "several models", **presence(given=("models",), absent=("inputs", "layers", "outputs"),
                                               why=ONE_OR_MANY)}]})

    name: SpecName | None = Field(None, description="Default: the file's name.")
    description: Description | None = None
    params: dict[ParamName, Value] = Field(default_factory=dict, description="Spec-wide parameters, used as "
                                           "`${name}` anywhere in layers; override with `--set name=value`.")
    small: dict[ParamName, Value] | None = Field(None, description="A version of the spec that trains on a CPU in "
                                                 "minutes: `params:` values that replace the defaults with "
                                                 "`--small` (a `--set` still wins), and that a run too slow for "
                                                 "its device names in its warning.")
    blocks: dict[ParamName, BlockSpec] = Field(default_factory=dict, max_length=1000)
    inputs: dict[NodeId, InputSpec] | None = Field(None, min_length=1, max_length=64)
    layers: Layers | None = None
    outputs: list[Ref] | Ref | None = None
    models: dict[NodeId, ModelSpec] | None = Field(None, min_length=1, max_length=64)
    train: TrainSpec | None = None
    search: SearchSpec | None = Field(None, description="A search space for `builder search`; other commands "
                                      "use the values written in the spec.")
    diagram: DiagramSpec | None = Field(None, description="How diagrams of this spec are drawn: the facts in each "
                                        "box, colours and shapes per layer type or tag, folding, legend, depth.")

    @model_validator(mode="after")
    def _one_or_many_models(self):
        single = self.inputs is not None or self.layers is not None or self.outputs is not None
        if single and self.models is not None:
            raise ValueError(ONE_OR_MANY)
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
