"""Checked `--option NAME=VALUE` settings of `builder generate`, shared by the samplers."""

from __future__ import annotations

from builder.errors import Location, SpecError
from builder.generate import Request


def check_options(request: Request, allowed: dict) -> dict:
    """The sampler's `--option` values, checked: unknown names and wrong types are located errors."""
    location = Location(str(request.run.path))
    out = {}
    for name, value in request.options.items():
        if name not in allowed:
            raise SpecError.single(location, f"unknown option {name!r} for this kind",
                                   f"options: {', '.join(sorted(allowed))}")
        kind, check, hint = allowed[name]
        try:
            if isinstance(value, bool) and kind is not str:
                raise TypeError(name)
            converted = kind(value)
            if not check(converted):
                raise ValueError(name)
        except (TypeError, ValueError):
            raise SpecError.single(location, f"option {name}: expected {hint}. Received: {value!r}") from None
        out[name] = converted
    return out
