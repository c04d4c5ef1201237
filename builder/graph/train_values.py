"""`${...}` in the `train:` section: parameters and expressions wherever a number (or a name) goes.

`sequence_length: "${maxlen}"`, `epochs: "${epochs}"`, `learning_rate: "${1e-3 * batch / 256}"`: the
train section is filled from the spec's `params` (with their `--set` values) in a copy of the loaded
data before parse, so that `--set maxlen=100` changes the model and its data together, and parse
then checks the filled values like written ones, at their lines. The layers of `train.augment` are
filled the same way. A bad expression is a problem at its own line.

Public entry point: `fill(document, params)` -> (the document, the problems).
"""

from __future__ import annotations

import copy
from typing import Any

from builder.errors import Problem
from builder.graph.expressions import ExpressionError, substitute
from builder.language.loader import Document


def _has_placeholder(value: Any) -> bool:
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, list):
        return any(_has_placeholder(v) for v in value)
    if isinstance(value, dict):
        return any(_has_placeholder(v) for v in value.values())
    return False


def fill(document: Document, params: dict) -> tuple[Document, list[Problem]]:
    """The document with `${...}` in `train:` filled from the spec's params (`params` holds the parameter
    `--set` values, which win), and a problem for each expression that cannot be filled."""
    data = document.data
    train = data.get("train") if isinstance(data, dict) else None
    if not _has_placeholder(train):
        return document, []
    written = data.get("params") if isinstance(data.get("params"), dict) else {}
    values = {**written, **params}
    problems: list[Problem] = []

    def walk(value: Any, path: tuple) -> Any:
        if isinstance(value, dict):
            return {key: walk(item, path + (key,)) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item, path + (i,)) for i, item in enumerate(value)]
        if isinstance(value, str) and "${" in value:
            try:
                return substitute(value, values, set())
            except ExpressionError as error:
                problems.append(Problem(document.locate(path), f"{'.'.join(map(str, path))}: {error}"))
        return value

    filled = dict(data)
    filled["train"] = walk(copy.deepcopy(train), ("train",))
    return Document(data=filled, file=document.file, marks=document.marks, key_marks=document.key_marks), problems
