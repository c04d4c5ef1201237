"""Parameter expressions: `${name}` and `${expression}` in spec values.

An expression is + - * / // % over numbers and parameter names, the functions int, round, min,
max and abs, comparisons (== != < <= > >=), `and`/`or`/`not` over true and false, and `a if
condition else b`; text in quotes and true/false are values too. It is parsed with `ast` and walked
here, never evaluated as Python: a closed grammar, no other names, no attribute access, no other calls.

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
_COMPARE = {ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b, ast.Lt: lambda a, b: a < b,
            ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b}
_SYMBOL = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
# YAML's spelling of the booleans, so that `${flag == true}` reads like the spec around it
_LITERALS = {"true": True, "false": False}
# names every block instance defines, whatever its parameters: which repeat it is (from 0) and of how many
REPEAT_NAMES = ("repeat_index", "repeats")
_ALLOWED = ("only numbers, parameter names, 'text', true, false, + - * / // %, == != < <= > >=, and, or, not, "
            "`a if condition else b`, and int() round() min() max() abs() are allowed")


class _ExprError(Exception):
    pass


ExpressionError = _ExprError   # what a stage outside resolve catches: an expression that cannot be filled


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
    """Evaluate a parameter expression: numbers, 'text', true/false, names, + - * / // %, comparisons,
    and/or/not, `a if condition else b`, parentheses, and the calls of `_FUNCTIONS` (positional arguments
    only). `and`, `or` and `if` evaluate only the side they need, as Python does (`b != 0 and a / b > 1`);
    every name is checked first, so a misspelt one is found in a branch not taken too."""
    text = expression.strip()
    tree = _parse_expression(text)
    for name in _names(tree) - set(_FUNCTIONS):   # `max(a, key=abs)` is refused for its keyword, below
        if name not in params and name not in _LITERALS:
            raise _UnknownName(_unknown(name, params))

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return _bounded(node.value, text)   # 1e309 reads as infinity
        if isinstance(node, ast.Name):
            if node.id in _LITERALS:
                return _LITERALS[node.id]
            if node.id not in params:   # a function's name where a value belongs: `${abs}`
                raise _UnknownName(_unknown(node.id, params))
            used.add(node.id)
            return params[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return not _boolean(walk(node.operand), "`not`", text)
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
        if isinstance(node, ast.BoolOp):
            word = "`and`" if isinstance(node.op, ast.And) else "`or`"
            for operand in node.values:   # the first false (and) or true (or) decides
                if _boolean(walk(operand), word, text) != isinstance(node.op, ast.And):
                    return not isinstance(node.op, ast.And)
            return isinstance(node.op, ast.And)
        if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
            left = walk(node.left)
            for op, comparator in zip(node.ops, node.comparators):   # a < b < c: each pair, as in Python
                right = walk(comparator)
                _comparable(type(op), left, right, text)
                if not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            chosen = _boolean(walk(node.test), "the condition of `a if condition else b`", text)
            return walk(node.body if chosen else node.orelse)
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


def _names(tree: ast.AST) -> set[str]:
    """The names an expression reads (a called function's name is no parameter)."""
    called = {n.func for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n not in called}


def _unknown(name: str, params: dict) -> str:
    if name in REPEAT_NAMES:
        return (f"{show(name)} is defined inside a block only (and in a block use's `with` and `per_repeat`): "
                "the instance's repeat, counted from 0, and how many repeats the use makes")
    hint = did_you_mean(name, sorted(params))
    return f"unknown parameter {show(name)}" + (f" ({hint})" if hint else "")


def _boolean(value, where: str, text: str) -> bool:
    """What `not`, `and`, `or` and a condition take: true or false, never a number or text taken as one."""
    if not isinstance(value, bool):
        raise _ExprError(f"{where} takes true or false; in {show(text)} it gets {_described(value)} "
                         "(compare it, e.g. `x != 0`)")
    return value


def _described(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the text {show(value)}"
    return show(value)


def _comparable(op: type, left, right, text: str) -> None:
    """Comparisons of one kind: numbers with numbers (any of == != < <= > >=), text with text and true/false
    with true/false (== and != only). `'relu' == 1` is a mistake to report, not false."""
    def kind(value):
        if isinstance(value, bool):
            return "boolean"
        if isinstance(value, (int, float)):
            return "number"
        return "text" if isinstance(value, str) else None
    kinds = kind(left), kind(right)
    described = f"{show(text)} compares {_described(left)} with {_described(right)}"
    if None in kinds:
        raise _ExprError(f"{described}: comparisons take numbers, text or true/false")
    if op not in (ast.Eq, ast.NotEq) and kinds != ("number", "number"):
        raise _ExprError(f"{described}: {_SYMBOL[op]} compares numbers")
    if kinds[0] != kinds[1]:
        raise _ExprError(f"{described}: == and != compare numbers with numbers, text with text, "
                         "true/false with true/false")


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
            names |= _names(tree) - set(_LITERALS)   # int(...) and true name no parameter
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


