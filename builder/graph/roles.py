"""Which spec model plays which role (generator, discriminator or critic, encoder, decoder) for a training kind.

`train.roles` names them; by default, the model of the role's name. `builder validate` checks that the
kinds that train several networks find theirs (`problems`); the kinds ask `network_name` when they train.
"""

from __future__ import annotations

from builder.errors import Problem, SpecError, did_you_mean, show
from builder.graph.ir import Graph

# the networks a kind trains, each a spec model
REQUIRED = {"gan": ("generator", "discriminator"), "cgan": ("generator", "discriminator"),
            "wgan-gp": ("generator", "critic"), "pix2pix": ("generator", "discriminator"),
            "cyclegan": ("generator_ab", "generator_ba", "discriminator_a", "discriminator_b")}

_DEFAULT_NAMES = {
    "generator": ("generator",),
    "discriminator": ("discriminator", "critic"),
    "critic": ("critic", "discriminator"),
    "encoder": ("encoder",),
    "decoder": ("decoder",),
    "generator_ab": ("generator_ab",),
    "generator_ba": ("generator_ba",),
    "discriminator_a": ("discriminator_a",),
    "discriminator_b": ("discriminator_b",),
}
_SAME_NETWORK = {"discriminator": "critic", "critic": "discriminator"}


def network_name(graph: Graph, role: str, kind: str) -> str:
    """The spec model that plays `role` for `kind`; a located `SpecError` when there is none."""
    roles = graph.spec.train.roles if graph.spec.train is not None else None
    for key in (role, _SAME_NETWORK.get(role)):
        name = getattr(roles, key, None) if key and roles is not None else None
        if name is not None:
            if name not in graph.models:
                raise SpecError.single(graph.locate("train", "roles", key),
                                       f"roles.{key}: the spec has no model {show(name)}",
                                       did_you_mean(name, list(graph.models))
                                       or f"its models are: {', '.join(graph.models)}")
            return name
    for name in _DEFAULT_NAMES[role]:
        if name in graph.models:
            return name
    raise SpecError.single(graph.locate("train", "kind"),
                           f"kind {kind} needs a {role}, and the spec has no model named {role!r}",
                           f"name it under train.roles.{role} (the spec's models: {', '.join(graph.models)})")


def problems(graph: Graph) -> list[Problem]:
    """Each network the spec's training kind needs, found; or where the spec should say which it is."""
    kind = graph.spec.train.kind if graph.spec.train is not None else "supervised"
    found = []
    for role in REQUIRED.get(kind, ()):
        try:
            network_name(graph, role, kind)
        except SpecError as error:
            found += error.problems
    return found
