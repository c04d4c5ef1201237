"""A style-based generator (StyleGAN): its two networks, and style mixing when sampling.

A `gan` or `wgan-gp` spec's generator is style-based when the spec also has a mapping network
(z -> w: the model `mapping`, or `train.roles.mapping`) and a synthesis network (the styles,
shape (layers, w_dim), one w per style layer -> a sample: `synthesis`, or `train.roles.synthesis`).
The generator itself is mapping -> RepeatVector(layers) -> synthesis, so it trains as any
generator, every layer reading the same w; to give different layers different w's, the sampler
calls the two networks itself (specs/stylegan.yaml). Options of `builder generate`:

    --option mix=P           with probability P a sample's styles switch from w1 to w2 at a random
                             layer (1 to layers - 1), as StyleGAN's mixing; default 0
    --option crossover=K     the layer where w2 takes over (instead of a random one)
    --option grid=mixing     the style-mixing grid: k sources in the first column (A) and k in the first
                             row (B), k = ceil(sqrt(n)) between 2 and 10; cell (i, j) draws with A_i's
                             styles before the crossover (default layers // 2: the coarse ones) and B_j's
                             after it. `.npy` gets the k x k cells.
    --option truncation=PSI  the truncation trick: w <- mean w + PSI (w - mean w), the mean over 10,000
                             z (seeded); default 1 (none)

A mapping network without a synthesis network (or the reverse), or shapes that do not fit, are
located errors when the run starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from keras import ops

from builder.errors import Location, SpecError, show
from builder.graph.roles import network_name
from builder.training.kinds.base import Samples, check_options

STYLE_OPTIONS = ("mix", "crossover", "grid", "truncation")


@dataclass
class StyleNetworks:
    mapping: object      # keras.Model: z -> w
    synthesis: object    # keras.Model: styles (layers, w_dim) -> a sample
    latent: int
    layers: int
    w_dim: int


def _named(graph, role: str, kind: str) -> str | None:
    roles = graph.spec.train.roles if graph.spec.train is not None else None
    if roles is not None and getattr(roles, role, None) is not None:
        return network_name(graph, role, kind)   # a located error when it names no model
    return role if role in graph.models else None


def _input_location(graph, name: str) -> Location:
    model = graph.models[name]
    return model.nodes[model.inputs[0]].location


def networks(graph, models: dict, kind: str) -> StyleNetworks | None:
    """The spec's mapping and synthesis networks, checked against each other; None without either."""
    mapping_name, synthesis_name = _named(graph, "mapping", kind), _named(graph, "synthesis", kind)
    if mapping_name is None and synthesis_name is None:
        return None
    if mapping_name is None or synthesis_name is None:
        found, missing = ("mapping", "synthesis") if synthesis_name is None else ("synthesis", "mapping")
        raise SpecError.single(graph.locate("train", "kind"),
                               f"a style-based generator needs a mapping and a synthesis network; the spec has "
                               f"the {found} network {show(mapping_name or synthesis_name)} but no model named "
                               f"{missing!r}", f"name it under train.roles.{missing} (the spec's models: "
                               f"{', '.join(graph.models)})")
    mapping, synthesis = models[mapping_name], models[synthesis_name]
    if len(mapping.inputs) != 1 or len(mapping.inputs[0].shape) != 2 or len(mapping.outputs) != 1 \
            or len(mapping.outputs[0].shape) != 2:
        raise SpecError.single(_input_location(graph, mapping_name),
                               f"the mapping network {show(mapping_name)} must take one vector z and give one "
                               f"vector w; it takes {[list(t.shape[1:]) for t in mapping.inputs]} and gives "
                               f"{[list(t.shape[1:]) for t in mapping.outputs]}")
    w_dim = int(mapping.outputs[0].shape[-1])
    styles = synthesis.inputs[0].shape
    if len(synthesis.inputs) != 1 or len(styles) != 3 or styles[1] is None or styles[2] != w_dim:
        raise SpecError.single(_input_location(graph, synthesis_name),
                               f"the synthesis network {show(synthesis_name)} must take one input of styles, shape "
                               f"[layers, {w_dim}] (one w of the mapping network per style layer); it takes "
                               f"{[list(t.shape[1:]) for t in synthesis.inputs]}",
                               "e.g. inputs: {styles: {shape: [4, w_dim]}}, and each ModulatedConv2D reads its "
                               "row with style_index")
    return StyleNetworks(mapping, synthesis, int(mapping.inputs[0].shape[-1]), int(styles[1]), w_dim)


def refuse_style_options(request) -> None:
    """A plain generator takes no style options: say why, rather than 'unknown option'."""
    given = [name for name in STYLE_OPTIONS if name in request.options]
    if given:
        raise SpecError.single(Location(str(request.run.path)), f"--option {given[0]}: this run's generator is "
                               "not style-based", "style options need spec models `mapping` (z -> w) and "
                               "`synthesis` (styles -> sample), as in specs/stylegan.yaml")


def _call(model, array: np.ndarray) -> np.ndarray:
    # called directly, a chunk at a time: `predict` would trace a new function for every call
    return np.concatenate([ops.convert_to_numpy(model(array[i:i + 500], training=False))
                           for i in range(0, len(array), 500)])


def sample(request, nets: StyleNetworks) -> Samples:
    """`builder generate` for a style-based generator: plain, mixed (`mix`) or the mixing grid."""
    options = check_options(request, {
        "mix": (float, lambda v: 0 <= v <= 1, "a probability from 0 to 1"),
        "crossover": (int, lambda v: 1 <= v < nets.layers, f"a style layer from 1 to {nets.layers - 1}"),
        "grid": (str, lambda v: v == "mixing", "mixing"),
        "truncation": (float, lambda v: 0 <= v <= 1, "a number from 0 to 1"),
    })
    if options.get("grid") and "mix" in options:
        raise SpecError.single(Location(str(request.run.path)), "--option mix and --option grid=mixing draw "
                               "different things", "give one of them")
    rng = np.random.default_rng(request.seed)
    psi = options.get("truncation", 1.0)
    average = None
    if psi < 1:
        z = np.random.default_rng(0).standard_normal((10_000, nets.latent)).astype("float32")
        average = _call(nets.mapping, z).mean(axis=0)

    def ws(n: int) -> np.ndarray:
        w = _call(nets.mapping, rng.standard_normal((n, nets.latent)).astype("float32"))
        return w if average is None else average + psi * (w - average)

    def styles(first: np.ndarray, second: np.ndarray, cut) -> np.ndarray:
        """Per sample: `first`'s w for the layers before its cut, `second`'s from it on."""
        layer = np.arange(nets.layers)[None, :, None]
        return np.where(layer < np.reshape(cut, (-1, 1, 1)), first[:, None, :], second[:, None, :])

    crossover = options.get("crossover")
    if options.get("grid") == "mixing":
        k = min(10, max(2, math.ceil(math.sqrt(request.n))))
        cut = crossover or nets.layers // 2
        a, b = ws(k), ws(k)
        rows, columns = np.repeat(a, k, axis=0), np.tile(b, (k, 1))          # cell (i, j): A_i then B_j
        cells = _call(nets.synthesis, styles(rows, columns, cut).astype("float32"))
        sources = _call(nets.synthesis, styles(np.concatenate([a, b]), np.concatenate([a, b]), 0))
        corner = np.ones_like(cells[:1])
        grid, titles = [corner], [f"A 0-{cut - 1}, B {cut}-{nets.layers - 1}"]
        grid += [sources[k + j][None] for j in range(k)]
        titles += [f"B{j + 1}" for j in range(k)]
        for i in range(k):
            grid.append(sources[i][None])
            titles.append(f"A{i + 1}")
            grid.append(cells[i * k:(i + 1) * k])
            titles += [""] * k
        images = np.concatenate(grid)
        return Samples(images=images, titles=titles, columns=k + 1,
                       array=cells.reshape(k, k, *cells.shape[1:]))
    w1, w2 = ws(request.n), ws(request.n)
    mixed = rng.random(request.n) < options.get("mix", 0.0)
    cut = np.where(mixed, crossover or rng.integers(1, nets.layers, request.n), nets.layers)
    return Samples(images=_call(nets.synthesis, styles(w1, w2, cut).astype("float32")))
