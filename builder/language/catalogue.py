"""The layer catalogue: what layer types a spec may name, and their arguments.

Read from the packaged `builder/resources/keras_layers.json` (written by `builder catalogue`, see
`builder.model.catalogue_gen`), so that validation knows every Keras constructor
signature without importing Keras.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from builder import resources


@dataclass(frozen=True)
class LayerInfo:
    """One layer type: its family, constructor arguments and call arguments."""

    name: str
    family: str
    many_inputs: bool
    input_arg: str | None
    args: dict           # name -> {"required": True} | {"default": v} | {"default_text": s}, "kind"?
    call: dict           # call-time arguments other than the main input
    summary: str

    # cached: resolve asks once per node, and a big spec has thousands (frozen, so computed once is right)
    @cached_property
    def required_args(self) -> list[str]:
        return [n for n, a in self.args.items() if a.get("required")]

    @cached_property
    def tensor_call_args(self) -> list[str]:
        """Call arguments that take tensors (`key`, `initial_state`, masks)."""
        return [n for n, a in self.call.items()
                if n != "training" and not isinstance(a.get("default"), bool)]

    @cached_property
    def flag_call_args(self) -> list[str]:
        """Call arguments that take a plain boolean (`use_causal_mask`, ...)."""
        return [n for n, a in self.call.items() if isinstance(a.get("default"), bool) and n != "training"]


@dataclass(frozen=True)
class Catalog:
    keras_version: str
    layers: dict
    aliases: dict
    excluded: dict
    names: dict
    optimizers: dict
    name_aliases: dict   # "losses"/"metrics" -> {Keras' alias (mse, bce, ...): the name it stands for}
    # "initializers"/"regularizers"/"constraints" -> {"classes": {class: {"args", "summary"}}, "aliases": {name: class}}
    objects: dict = field(default_factory=dict)
    infos: dict = field(default_factory=dict, compare=False, repr=False)  # name -> LayerInfo, built once

    def layer(self, name: str) -> LayerInfo | None:
        info = self.infos.get(name)
        if info is not None:
            return info
        canonical = self.aliases.get(name, name)
        entry = self.layers.get(canonical)
        if entry is None:
            return None
        info = self.infos[name] = LayerInfo(name=canonical, family=entry["family"], many_inputs=entry["many_inputs"],
                                            input_arg=entry["input_arg"], args=entry["args"], call=entry["call"],
                                            summary=entry.get("summary", ""))
        return info

    @property
    def layer_names(self) -> list[str]:
        return sorted(self.layers) + sorted(self.aliases)


@lru_cache(maxsize=1)
def catalogue() -> Catalog:
    data = json.loads(resources.read_text(resources.CATALOGUE))
    return Catalog(keras_version=data["keras_version"], layers=data["layers"], aliases=data["aliases"],
                   excluded=data["excluded"], names=data["names"], optimizers=data["optimizers"],
                   name_aliases=data.get("name_aliases", {}),   # absent only while `builder catalogue` adds it
                   objects=data.get("objects", {}))
