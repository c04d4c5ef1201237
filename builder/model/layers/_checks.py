"""Argument checks shared by builder's layers, with Keras-style messages.

Every check raises `ValueError("expected .... Received: name=value")`, so a
bad value reads the same whether it comes from a spec or from Python.
"""

import keras


def positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"expected a positive integer. Received: {name}={value!r}")
    return value


def optional_positive_int(name, value):
    return None if value is None else positive_int(name, value)


def fraction(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"expected a number in [0, 1). Received: {name}={value!r}")
    return float(value)


def positive_number(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"expected a number > 0. Received: {name}={value!r}")
    return float(value)


def boolean(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false. Received: {name}={value!r}")
    return value


def activation(name, value):
    """An activation by name (kept as given, for `get_config`)."""
    try:
        keras.activations.get(value)
    except (ValueError, TypeError):
        raise ValueError(f"expected the name of a Keras activation. Received: {name}={value!r}") from None
    return value


def initializer(name, value):
    """A Keras initializer (a name, or a config as `get_config` writes it)."""
    try:
        return keras.initializers.get(value)
    except (ValueError, TypeError):
        raise ValueError(f"expected the name of a Keras initializer. Received: {name}={value!r}") from None


def int_pair(name, value):
    """An int or a pair of ints, each positive, as a tuple of two."""
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    if (not isinstance(pair, (list, tuple)) or len(pair) != 2
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in pair)):
        raise ValueError(f"expected a positive integer or a list of two. Received: {name}={value!r}")
    return tuple(pair)


def sequence_of_vectors(input_shape):
    """`(batch, length, channels)` with known channels, as the sequence layers take."""
    if len(input_shape) != 3 or input_shape[-1] is None:
        raise ValueError("expected a sequence of vectors, (batch, length, channels) with known channels. "
                         f"Received: input_shape={tuple(input_shape)}")


def feature_map(input_shape):
    """`(batch, height, width, channels)` with every size known, as the windowed layers take."""
    if len(input_shape) != 4 or any(d is None for d in input_shape[1:]):
        raise ValueError("expected a feature map, (batch, height, width, channels) with known sizes. "
                         f"Received: input_shape={tuple(input_shape)}")


def finite_number(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or abs(value) == float("inf"):
        raise ValueError(f"expected a finite number. Received: {name}={value!r}")
    return float(value)
