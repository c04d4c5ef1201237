"""A closed table of named functions, filled by a decorator where each function is defined.

builder has one per family: data sources (`builder.training.data.source`), and for the training
kinds (`builder.training.kinds.base`) the kinds themselves (`training_kind`), their samplers
(`sampler`) and their evaluations (`evaluation`). A spec can only name what a table holds; nothing
is ever imported from a name it gives.

    SOURCES = Registry("data source")
    source = SOURCES.register

    @source("csv")
    def load_csv(spec, folder, location, seed): ...
"""

from __future__ import annotations

from typing import Callable


class Registry(dict):
    """Name -> function, for one family; registering a name twice is a programming error."""

    def __init__(self, family: str):
        super().__init__()
        self.family = family

    def register(self, name: str) -> Callable[[Callable], Callable]:
        def add(fn: Callable) -> Callable:
            if name in self:
                raise ValueError(f"{self.family} {name!r} is registered twice: {self[name].__module__} and "
                                 f"{fn.__module__}")
            self[name] = fn
            return fn
        return add
