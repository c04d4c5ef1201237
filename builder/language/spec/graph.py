"""Models of the graph part: layer, block and model nodes; inputs; blocks; models."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, WithJsonSchema

from builder.language.spec.fields import (REF_PATTERN, Description, Dim, Inputs, NodeId, ParamName, Placeholder, Ref,
                                          Strict, Value)

MAX_REPEAT = 1000
ChainSource = Annotated[str, Field(pattern=REF_PATTERN, max_length=200, description="`fixed`, `$input` (what the "
                                   "repeat before read as that input) or a node id of the block (its output in the "
                                   "repeat before).")]
Tags = Annotated[list[ParamName], Field(max_length=32, description="Names for the node (a block use: for every "
                                      "node inside), which the `diagram:` section styles: `[encoder]`.")]
WHEN = ("true or false, usually a condition such as `${expand_ratio != 1}`: false leaves the node out, and "
        "what reads it reads its first input instead (a block use: the instance's first input). Default: true.")

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
    when: bool | Placeholder | None = Field(None, description=WHEN)
    tags: Tags | None = None

    @property
    def args(self) -> dict:
        return dict(self.__pydantic_extra__ or {})


class BlockNode(Strict):
    """An instance of a block from `blocks:`, optionally repeated."""

    block: ParamName = Field(description="The name of a block under `blocks:`.")
    id: NodeId | None = Field(None, description="The instance's id; node ids inside become `id.node`. "
                              "Repeats are numbered `id_1`, `id_2`, ...")
    inputs: Inputs | None = Field(None, description="What the block reads; default: the node before.")
    # the range (0 to 1000) is resolve's check, which names the instance and the --set behind a ${...}
    repeat: Annotated[int, WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_REPEAT})] | Placeholder = \
        Field(1, description="How many times to chain the block (0 to 1000; 0: the instance passes its first "
                             "input through). Inside the block, `${repeat_index}` is the repeat (from 0) and "
                             "`${repeats}` this count.")
    chain: dict[ParamName, ChainSource] | None = Field(
        None, description="A repeated block of several inputs: what each input after the first reads from the "
                          "second repeat on. `fixed`: what the use gives, every repeat (a decoder's memory); "
                          "`$name`: what the repeat before read as `$name` (`$in`: the output two repeats back, "
                          "NASNet's (x, prev) cells); a node id of the block: that node of the repeat before.")
    with_: dict[ParamName, Value] = Field(default_factory=dict, alias="with",
                                          description="Parameter values for every repeat.")
    per_repeat: list[dict[ParamName, Value]] | None = Field(
        None, max_length=1000,
        description="Per-repeat overrides of `with`: item i applies to repeat i+1; repeats past the list use "
                    "`with` alone. `[{stride: 2}]` changes the first repeat only.")
    trainable: bool | None = Field(None, description="false freezes every layer of the instance (all repeats): "
                                   "its weights do not train, and BatchNormalization runs in inference mode.")
    when: bool | Placeholder | None = Field(None, description=WHEN)
    tags: Tags | None = None


class ModelNode(Strict):
    """Calls another model of the same spec as a layer (e.g. D(G(z)))."""

    model: ParamName = Field(description="The name of a model under `models:`.")
    id: NodeId | None = None
    inputs: Inputs | None = Field(None, description="What the model reads; default: the node before.")
    tags: Tags | None = None


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
