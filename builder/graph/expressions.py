"""Parameter expressions: `${name}` and `${expression}` in spec values.

An expression is + - * / // % over numbers and parameter names, and the functions int, round, min,
max and abs. It is parsed with `ast` and walked here, never evaluated as Python.

Public entry points: `substitute(value, params, used)`, `evaluate(text, params, used)`,
`placeholder_names(value)`; `snake(name)` is Keras' rule for default layer names.
"""

from __future__ import annotations

import ast
import math
import re
from functools import lru_cache
from typing import Any

from builder.errors import did_you_mean, show

_PLACEHOLDER = re.compile(r"\$\{([^{}]*)\}")
_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
        ast.Div: lambda a, b: a / b, ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b}
# name -> (fewest arguments, most arguments, function); a closed table: nothing else is callable.
# `int` truncates toward zero and `round` rounds half to even, as in Python; both give an int, so
# `units: ${int(width * 1.5)}` is a valid integer argument.
_FUNCTIONS = {"int": (1, 1, int), "round": (1, 1, round), "abs": (1, 1, abs), "min": (2, 8, min), "max": (2, 8, max)}
_ALLOWED = "only numbers, parameter names, + - * / // % and int() round() min() max() abs() are allowed"


class _ExprError(Exception):
    pass


class _UnknownName(_ExprError):
    """A `${name}` naming no parameter (inside blocks, `_check_blocks` has already said so)."""


@lru_cache(maxsize=4096)
def _parse_expression(text: str) -> ast.Expression:
    """The syntax tree of an expression (cached: a big spec repeats the same few; trees are only read)."""
    if len(text) > 200:
        raise _ExprError("an expression is at most 200 characters")
    try:
        return ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise _ExprError(f"cannot read the expression {show(text)}") from None


def evaluate(expression: str, params: dict, used: set) -> Any:
    """Evaluate a parameter expression: numbers, names, + - * / // %, parentheses, and the calls of
    `_FUNCTIONS` (positional arguments only)."""
    text = expression.strip()
    tree = _parse_expression(text)

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return _bounded(node.value, text)   # 1e309 reads as infinity
        if isinstance(node, ast.Name):
            if node.id not in params:
                hint = did_you_mean(node.id, sorted(params))
                raise _UnknownName(f"unknown parameter {show(node.id)}" + (f" ({hint})" if hint else ""))
            used.add(node.id)
            return params[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = walk(node.operand)
            _number(value, text)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            left, right = walk(node.left), walk(node.right)
            _number(left, text)
            _number(right, text)
            if isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)) and right == 0:
                raise _ExprError(f"division by zero in {show(text)}")
            return _bounded(_OPS[type(node.op)](left, right), text)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS
                and not node.keywords):
            fewest, most, function = _FUNCTIONS[node.func.id]
            if not fewest <= len(node.args) <= most:
                count = f"{fewest} argument" if fewest == most == 1 else f"{fewest} to {most} arguments"
                raise _ExprError(f"{node.func.id}() takes {count}, not {len(node.args)}, in {show(text)}")
            args = [walk(arg) for arg in node.args]
            for arg in args:
                _number(arg, text)
            return _bounded(function(*args), text)
        raise _ExprError(f"{_ALLOWED}. Received: {show(text)}")

    return walk(tree)


def _bounded(result, text):
    """Results stay finite and within 2**53, where floats still count whole numbers exactly."""
    if isinstance(result, float) and math.isnan(result):
        raise _ExprError(f"{show(text)} is not a number (NaN)")
    if abs(result) > 2**53:   # (an int compares without a float conversion, so no OverflowError)
        raise _ExprError(f"{show(text)} is too large" if result > 0 else f"{show(text)} is too far below zero")
    return result


def _number(value, text):
    """What arithmetic and functions take: a number, finite and within the bound of `_bounded`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _ExprError(f"arithmetic needs numbers; {show(text)} uses {show(value)}")
    if isinstance(value, float) and not math.isfinite(value) or abs(value) > 2**53:
        raise _ExprError(f"{show(text)} uses {show(value)}; arithmetic takes finite numbers within ±2**53")


def substitute(value: Any, params: dict, used: set) -> Any:
    """Fill `${...}` in a value (recursively); a lone placeholder keeps the parameter's type."""
    if isinstance(value, str) and "${" in value:
        whole = _PLACEHOLDER.fullmatch(value)
        if whole:
            return evaluate(whole.group(1), params, used)
        return _PLACEHOLDER.sub(lambda m: str(evaluate(m.group(1), params, used)), value)
    if isinstance(value, list):
        return [substitute(v, params, used) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, params, used) for k, v in value.items()}
    return value


def placeholder_names(value: Any) -> set[str]:
    """Parameter names a value mentions in `${...}` (`1e3` is a number, not a name)."""
    names: set[str] = set()
    if isinstance(value, str):
        for match in _PLACEHOLDER.finditer(value):
            try:
                tree = ast.parse(match.group(1).strip()[:200], mode="eval")
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                continue  # `evaluate` reports the expression where it is used
            called = {n.func for n in ast.walk(tree) if isinstance(n, ast.Call)}   # int(...) names no parameter
            names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n not in called}
    elif isinstance(value, list):
        for v in value:
            names |= placeholder_names(v)
    elif isinstance(value, dict):
        for v in value.values():
            names |= placeholder_names(v)
    return names


@lru_cache(maxsize=4096)
def snake(name: str) -> str:
    """Keras' own rule for default layer names: Conv2D -> conv2d, BatchNormalization -> batch_normalization."""
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


