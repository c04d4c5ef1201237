"""Initializers, regularizers and constraints: a name, or a mapping `{type: Class, arguments...}` checked like a
layer against the constructor signatures the catalogue records (no class_name, no config, no module path)."""

from __future__ import annotations

import json

import jsonschema
import pytest

from builder.errors import SpecError
from builder.graph import load_graph
from builder.language import argtypes, load_text, parse, schema
from builder.language.catalogue import catalogue

CONFIGURED = """\
name: configured
params: {eps: 1.0e-6, decay: 1.0e-4}
inputs: {x: {shape: [8, 8, 3]}}
layers:
  - {id: conv, type: Conv2D, filters: 4, kernel_size: 3, kernel_initializer: he_normal,
     bias_initializer: null, bias_regularizer: l2, kernel_constraint: {type: UnitNorm, axis: [0, 1, 2]}}
  - {id: ln, type: LayerNormalization, gamma_initializer: {type: Constant, value: "${eps}"},
     gamma_regularizer: {type: L1L2, l1: 0.0, l2: "${decay}"}, beta_constraint: {type: MinMaxNorm, rate: 0.5}}
  - {type: Flatten}
  - {id: out, type: Dense, units: 2, kernel_initializer: {type: VarianceScaling, scale: 2.0, mode: fan_out,
                                                          distribution: truncated_normal, seed: 7},
     kernel_regularizer: {l2: 1.0e-4}, bias_initializer: {type: IdentityInitializer, gain: 2.0}}
"""


def test_the_catalogue_records_every_class_with_its_keras_signature():
    objects = catalogue().objects
    assert objects["initializers"]["classes"]["VarianceScaling"]["args"]["mode"]["default"] == "fan_in"
    assert set(objects["regularizers"]["classes"]) == {"L1", "L2", "L1L2", "OrthogonalRegularizer"}
    assert set(objects["constraints"]["classes"]) == {"MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm"}
    assert objects["initializers"]["aliases"]["variance_scaling"] == "VarianceScaling"


def test_every_keras_default_passes_its_argument_check():
    rejected = []
    for group in ("initializers", "regularizers", "constraints"):
        for cls, info in catalogue().objects[group]["classes"].items():
            for arg, entry in info["args"].items():
                message = argtypes.check_value(f"{group}.{cls}", arg, entry["default"], entry)
                if message:
                    rejected.append(f"{cls}.{arg}: {message}")
    assert rejected == []


def test_names_mappings_and_parameters_inside_them_parse_and_resolve(tmp_path):
    path = tmp_path / "configured.yaml"
    path.write_text(CONFIGURED)
    nodes = load_graph(path).models["configured"].nodes
    assert nodes["ln"].args["gamma_initializer"] == {"type": "Constant", "value": 1.0e-6}
    assert nodes["ln"].args["gamma_regularizer"] == {"type": "L1L2", "l1": 0.0, "l2": 1.0e-4}
    assert nodes["out"].args["kernel_initializer"]["seed"] == 7


def _problems(text: str) -> list[tuple]:
    with pytest.raises(SpecError) as caught:
        parse(load_text(text, "spec.yaml"))
    return [(p.location.line, p.location.column, p.message, p.hint) for p in caught.value.problems]


def test_each_mistake_is_located_where_it_is_written():
    text = CONFIGURED.replace("type: UnitNorm, axis", "type: UnitNorm, axes").replace(
        "mode: fan_out", "mode: 2").replace("type: IdentityInitializer", "type: identity")
    assert _problems(text) == [
        (6, 88, "constraint UnitNorm has no argument 'axes'", "did you mean 'axis'?"),
        (10, 100, "expected one of 'fan_in', 'fan_out', 'fan_avg'. Received: mode=2", None),
        (12, 65, "unknown initializer type 'identity'", "a mapping's type is the class: did you mean 'Identity'?"),
    ]


def test_a_class_that_needs_arguments_is_written_as_a_mapping():
    text = CONFIGURED.replace('{type: Constant, value: "${eps}"}', "Constant")
    assert _problems(text) == [(7, 59, "expected the name of one of Keras' initializers or a mapping like "
                                       "{type: VarianceScaling, scale: 2.0, mode: fan_out}. Received: "
                                       "gamma_initializer='Constant'",
                                "write it as a mapping with its arguments: {type: Constant, ...}")]


def test_a_mistake_behind_a_parameter_is_found_when_the_parameter_is_filled(tmp_path):
    path = tmp_path / "configured.yaml"
    path.write_text(CONFIGURED.replace("decay: 1.0e-4", "decay: -1.0"))
    with pytest.raises(SpecError) as caught:
        load_graph(path)
    [problem] = caught.value.problems
    assert (problem.location.line, problem.message) == (
        8, "node 'ln': expected a number >= 0. Received: l2=-1.0")


@pytest.fixture(scope="module")
def validator():
    return jsonschema.Draft202012Validator(json.loads(schema.schema_text()))


def _spec(**layer) -> dict:
    return {"inputs": {"x": {"shape": [4]}}, "layers": [{"type": "Dense", "units": 2, **layer}]}


def test_the_schema_describes_the_mapping_forms(validator):
    import yaml

    assert list(validator.iter_errors(yaml.safe_load(CONFIGURED))) == []
    for layer in ({"kernel_initializer": {"type": "VarianceScalng"}},
                  {"kernel_initializer": {"type": "VarianceScaling", "scael": 2.0}},
                  {"kernel_initializer": {"type": "VarianceScaling", "mode": "fan_up"}},
                  {"kernel_initializer": {"class_name": "Zeros", "config": {}}},
                  {"kernel_regularizer": {"l3": 0.1}},
                  {"kernel_regularizer": {}},
                  {"kernel_constraint": {"type": "MaxNorm", "max_value": -1}}):
        with pytest.raises(SpecError):
            parse(load_text(json.dumps(_spec(**layer)), "spec.yaml"))
        assert not validator.is_valid(_spec(**layer)), layer
