"""Stages 1 and 2, the language: a YAML file becomes a checked `Spec`.

Modules, in the order they import each other:

    loader        safe YAML with line/column marks and limits -> `Document`
    applications  the keras.applications a spec may name
    catalogue     the layer catalogue (resources/keras_layers.json), read without Keras
    argtypes      argument types shared by many layers, checked against the catalogue
    spec          the pydantic models of the spec language (the JSON Schema's source)
    parser        `Document` -> `Spec`, every problem located, did-you-mean hints
    schema        the JSON Schema, generated from `spec`

Public entry points: `load(path)` and `parse(document)`. Nothing here imports Keras.
"""

from builder.language.loader import Document, load, load_text
from builder.language.parser import parse
from builder.language.spec import Spec

__all__ = ["Document", "Spec", "load", "load_text", "parse"]
