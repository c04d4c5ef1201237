"""The committed JSON Schema and layer catalogue are generated, and must not drift from their sources; the
schema works outside a checkout, and refuses what parse refuses wherever JSON Schema can say it."""

from __future__ import annotations

import json

import jsonschema
import pytest
from spec_helpers import ROOT

from builder import resources
from builder.language import schema
from builder.language.catalogue import catalogue
from builder.model.catalogue_gen import CATALOGUE_PATH


def test_committed_schema_matches_the_pydantic_models():
    generated = schema.schema_text()
    assert resources.read_text(resources.SPEC_SCHEMA) == generated, "run `builder schema` and commit the result"
    assert (ROOT / "schemas" / "spec.schema.json").read_text() == generated, "the editors' copy drifted: run `builder schema`"


def test_schema_writes_the_packaged_copy_and_the_editors_copy_in_a_checkout():
    assert schema.default_paths() == [ROOT / "builder" / "resources" / "spec.schema.json",
                                      ROOT / "schemas" / "spec.schema.json"]


def _layer_rule(generated: dict, layer: str) -> dict:
    """What the schema requires of a node of one layer type: the `then` of its `if: {type: layer}`."""
    rules = [rule["then"] for rule in generated["$defs"]["LayerNode"]["allOf"] if rule["then"]["title"] == layer]
    assert len(rules) == 1, layer
    return rules[0]


def test_schema_documents_fields_and_layer_arguments():
    generated = schema.spec_schema()
    dense = _layer_rule(generated, "Dense")
    assert dense["required"] == ["units"] and dense["additionalProperties"] is False
    assert dense["properties"]["units"]["anyOf"][0] == {"type": "integer", "minimum": 1, "maximum": 2**31 - 1,
                                                        "title": "Dense"}
    assert "relu" in dense["properties"]["activation"]["anyOf"][0]["enum"]
    assert generated["$defs"]["BlockNode"]["properties"]["per_repeat"]["description"].startswith("Per-repeat")


def test_one_type_list_offers_every_layer_name_and_one_rule_checks_each_layer():
    """yaml-language-server completes `type:` from this one list (it offered only 80 of 162 names when each type
    was a `oneOf` variant of its own); an alias (Convolution2D) is checked by its layer's rule."""
    generated = schema.spec_schema()
    node = generated["$defs"]["LayerNode"]
    offered = [alternative["const"] for alternative in node["properties"]["type"]["anyOf"]]
    assert offered == catalogue().layer_names and {"Dense", "Conv2D", "LSTM", "Convolution2D"} <= set(offered)
    assert [rule["then"]["title"] for rule in node["allOf"]] == sorted(catalogue().layers)
    conv = next(rule for rule in node["allOf"] if rule["then"]["title"] == "Conv2D")
    assert conv["if"]["properties"]["type"] == {"pattern": "^(Conv2D|Convolution2D)$"}
    validator = jsonschema.Draft202012Validator(generated)
    assert validator.is_valid(_layer(type="Convolution2D", filters=4, kernel_size=3))
    alias = _layer(type="Convolution2D", filters=4, kernel_size=3, strides="2")
    assert jsonschema.exceptions.best_match(validator.iter_errors(alias)).json_path == "$.layers[0].strides"


def test_layer_and_optimizer_arguments_carry_keras_descriptions():
    """Hover in an editor shows what an argument means, from the `Args:` of Keras' docstrings (via the
    catalogue), not the `${...}` placeholder's text."""
    generated = schema.spec_schema()
    units = _layer_rule(generated, "Dense")["properties"]["units"]
    filters = _layer_rule(generated, "Conv2D")["properties"]["filters"]
    assert units["description"] == "Positive integer, dimensionality of the output space."
    assert filters["description"] == "int, the dimension of the output space (the number of filters in the convolution)."
    assert catalogue().layer("Dense").args["units"]["description"] == units["description"]
    use_causal_mask = _layer_rule(generated, "MultiHeadAttention")["properties"]["call"]["anyOf"][0]["properties"]
    assert "causal mask" in use_causal_mask["use_causal_mask"]["description"]
    sgd = next(v for v in generated["$defs"]["OptimizerSpec"]["oneOf"] if v["title"] == "sgd")
    assert "accelerates gradient descent" in sgd["properties"]["momentum"]["description"]
    assert "description" not in generated["$defs"]["Placeholder"]   # it would hide the argument's own on hover


def test_committed_catalogue_matches_installed_keras_and_builder_layers():
    keras = pytest.importorskip("keras")
    from builder.model import catalogue_gen as catalogue_gen

    committed = json.loads(CATALOGUE_PATH.read_text())
    if committed["keras_version"] != keras.__version__:
        pytest.skip(f"catalogue made with Keras {committed['keras_version']}, installed {keras.__version__}")
    assert json.loads(json.dumps(catalogue_gen.generate(), sort_keys=True)) == committed, \
        "run `builder catalogue` and commit the result"


def test_catalogue_refuses_code_running_layers():
    cat = catalogue()
    for name in ("Lambda", "TFSMLayer", "TorchModuleWrapper", "JaxLayer"):
        assert cat.layer(name) is None and name in cat.excluded
    assert cat.layer("Convolution2D").name == "Conv2D"  # aliases resolve to one class


def test_every_keras_default_passes_its_argument_check():
    """A Keras default is always valid; a checker that rejects one is wrong, not the default."""
    from builder.language import argtypes

    cat = catalogue()
    rejected = []
    for name in sorted(cat.layers):
        info = cat.layer(name)
        for arg, entry in info.args.items():
            if "default" in entry and entry.get("kind") != "layer":
                message = argtypes.check_value(info.name, arg, entry["default"], entry)
                if message:
                    rejected.append(f"{name}.{arg}: {message}")
    assert rejected == []


# --- the schema as an editor or check-jsonschema uses it -----------------------------------------------------

def _validator(schema_text: str):
    document = json.loads(schema_text)
    jsonschema.Draft202012Validator.check_schema(document)
    return jsonschema.Draft202012Validator(document)


def test_schema_written_outside_the_checkout_checks_a_copied_spec(tmp_path, monkeypatch):
    """`builder schema -o` in a project far from the checkout, then the README's modeline: the schema file
    is where the modeline points, and it accepts LeNet and refuses a broken copy of it."""
    from click.testing import CliRunner

    from builder.cli import main
    from builder.language import load

    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    result = CliRunner().invoke(main, ["schema", "-o", ".builder/spec.schema.json"])
    assert result.exit_code == 0, result.output
    assert "$schema=.builder/spec.schema.json" in result.output

    text = (ROOT / "specs" / "lenet.yaml").read_text()
    first, rest = text.split("\n", 1)
    assert first == "# yaml-language-server: $schema=../schemas/spec.schema.json"   # the checkout's modeline
    spec = project / "lenet.yaml"
    spec.write_text("# yaml-language-server: $schema=.builder/spec.schema.json\n" + rest)
    pointed = spec.parent / spec.read_text().split("$schema=", 1)[1].split("\n", 1)[0]   # as the editor reads it
    validator = _validator(pointed.read_text())
    assert not validator.schema["$id"].startswith(("http:", "https:"))   # nothing for an editor to fetch
    assert list(validator.iter_errors(load(spec).data)) == []

    broken = project / "broken.yaml"
    broken.write_text(spec.read_text().replace('units: "${c5}"', "units: 4294967296"))
    c5 = [node.get("id") for node in load(spec).data["layers"]].index("c5")
    best = jsonschema.exceptions.best_match(validator.iter_errors(load(broken).data))
    assert best.json_path == f"$.layers[{c5}].units"


@pytest.fixture(scope="module")
def validator():
    return _validator(schema.schema_text())


DROP = object()
TRAIN = {"data": {"source": "builtin", "name": "iris"}, "loss": "sparse_categorical_crossentropy"}
GAN_MODELS = {"generator": {"inputs": {"z": {"shape": [4]}}, "layers": [{"type": "Dense", "units": 4}]},
              "discriminator": {"inputs": {"x": {"shape": [4]}}, "layers": [{"type": "Dense", "units": 1}]}}


def _spec(**top) -> dict:
    """A one-Dense spec on iris, with top-level keys replaced (DROP removes one)."""
    data = {"inputs": {"x": {"shape": [4]}}, "layers": [{"id": "out", "type": "Dense", "units": 3}], "train": TRAIN}
    data.update(top)
    return {key: value for key, value in data.items() if value is not DROP}


def _layer(**node) -> dict:
    return _spec(layers=[node])


def _train(**settings) -> dict:
    return _spec(train={**TRAIN, **settings})


def _parse_problems(tmp_path, data: dict) -> list[str]:
    import yaml

    from builder.errors import SpecError
    from builder.language import load, parse

    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        parse(load(path))
    except SpecError as error:
        return [problem.message for problem in error.problems]
    return []


# Everything parse refuses that JSON Schema can say, the schema refuses too.
REFUSED = {
    "units above the largest size": _layer(type="Dense", units=2**32),
    "a Reshape size above the largest": _layer(type="Reshape", target_shape=[2**31, -1]),
    "an axis list too long": _layer(type="LayerNormalization", axis=list(range(9))),
    "a text argument that is a path": _layer(type="StringLookup", oov_token="/etc/passwd"),
    "a mapping as an untyped argument": _layer(type="Dense", units=3, lora_rank={"a": 1}),
    "a call flag the layer lacks": _layer(type="Dense", units=3, call={"use_causal_mask": True}),
    "an argument of another optimizer": _train(optimizer={"type": "adam", "nesterov": True}),
    "an optimizer argument out of range": _train(optimizer={"type": "sgd", "momentum": 1.5}),
    "an unknown argument of the default optimizer": _train(optimizer={"learning_rate": 0.01, "betas": 0.9}),
    "a learning rate of 0": _train(optimizer={"type": "adam", "learning_rate": 0}),
    "a phase's learning rate below 0": _train(phases=[{"epochs": 1, "learning_rate": -1.0}]),
    "boundaries on a cosine schedule": _train(optimizer={"learning_rate": {"type": "cosine", "boundaries": [10]}}),
    "layers and models both": _spec(models=GAN_MODELS),
    "neither layers nor models": _spec(inputs=DROP, layers=DROP),
    "inputs without layers": _spec(layers=DROP),
    "models beside outputs": _spec(inputs=DROP, layers=DROP, outputs=["out"], models=GAN_MODELS),
    "a block name with a dash": _spec(blocks={"my-block": {"layers": [{"type": "ReLU"}]}}),
    "a data path that is a URL": _train(data={"source": "csv", "path": "https://example.com/d.csv", "label": "y"}),
    "discriminator and critic roles both": _train(kind="gan", roles={"discriminator": "d", "critic": "c"}),
    "phases beside epochs": _train(epochs=3, phases=[{"epochs": 1}]),
    "phases beside freeze": _train(freeze={"until": "out"}, phases=[{"epochs": 1}]),
    "model_parallel without its mesh": _train(distribute="model_parallel"),
    "a diffusion schedule on a supervised run": _train(diffusion={"steps": 10}),
    "gan settings on the default kind": _train(gan={"critic_steps": 2}),
    "per-network optimizers on a vae": _train(kind="vae", optimizers={"generator": "adam"}),
    "a gradient penalty on a plain gan": _train(kind="gan", gan={"gradient_penalty": 10.0}),
    "label smoothing on wgan-gp": _train(kind="wgan-gp", gan={"label_smoothing": 0.1}),
    "an encoder role on a gan": _train(kind="gan", roles={"encoder": "e"}),
}

ACCEPTED = {
    "the largest size": _layer(type="Dense", units=2**31 - 1),
    "parameters inside a list": _layer(type="Reshape", target_shape=["${steps}", 1]),
    "a parameter inside a regularizer": _layer(type="Dense", units=3, kernel_regularizer={"l2": "${wd}"}),
    "a call flag the layer has": _layer(type="MultiHeadAttention", num_heads=2, key_dim=4,
                                        inputs={"query": "x", "value": "x"}, call={"use_causal_mask": True}),
    "an optimizer's own argument": _train(optimizer={"type": "sgd", "momentum": 0.9, "nesterov": True}),
    "the default optimizer without its type": _train(optimizer={"learning_rate": 0.01, "beta_1": 0.8}),
    "a piecewise schedule": _train(optimizer={"learning_rate": {"type": "piecewise", "boundaries": [10],
                                                                "values": [0.1, 0.01]}}),
    "several models": _spec(inputs=DROP, layers=DROP, models=GAN_MODELS, train={**TRAIN, "kind": "gan"}),
    "a null beside several models": _spec(inputs=None, layers=DROP, models=GAN_MODELS,
                                          train={**TRAIN, "kind": "gan"}),
    "a critic role on wgan-gp": _train(kind="wgan-gp", roles={"critic": "c"}, gan={"gradient_penalty": 5.0}),
    "null gan settings on the default kind": _train(gan=None),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_the_schema_refuses_what_parse_refuses(case, validator, tmp_path):
    data = REFUSED[case]
    assert _parse_problems(tmp_path, data), "parse should refuse this case"
    assert not validator.is_valid(data)


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_the_schema_accepts_what_parse_accepts(case, validator, tmp_path):
    data = ACCEPTED[case]
    assert _parse_problems(tmp_path, data) == []
    assert [e.message for e in validator.iter_errors(data)] == []


# `${...}` in train: is filled from params before parse (builder.graph.train_values), so an editor must not flag it
TRAIN_PLACEHOLDERS = {
    "epochs": {"epochs": "${epochs}"},
    "a learning rate expression": {"optimizer": {"type": "adam", "learning_rate": "${1e-3 * batch / 32}"}},
    "a data setting": {"data": {"source": "builtin", "name": "iris", "validation_split": "${split}"}},
    "a phase's epochs": {"phases": [{"epochs": "${epochs}"}]},
}


@pytest.mark.parametrize("case", sorted(TRAIN_PLACEHOLDERS))
def test_the_schema_accepts_parameters_in_train_as_validate_does(case, validator, tmp_path):
    import yaml

    from builder.graph import load_graph

    data = _spec(params={"epochs": 2, "batch": 64, "split": 0.25}, train={**TRAIN, **TRAIN_PLACEHOLDERS[case]})
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    load_graph(path)   # validate's stages: no SpecError
    assert [e.message for e in validator.iter_errors(data)] == []
    data["train"]["epochs" if "epochs" in data["train"] else "loss"] = "${epochs"   # not a placeholder: refused
    assert not validator.is_valid(data)


# --- every spec the project ships, against the schema editors use -------------------------------------------

LIBRARY_SPECS = sorted(p.relative_to(ROOT).as_posix() for p in [*(ROOT / "specs").rglob("*.yaml"),
                                                                 *(ROOT / "tests" / "good_specs").glob("*.yaml")])


@pytest.fixture(scope="module")
def committed_validator():
    return _validator((ROOT / "schemas" / "spec.schema.json").read_text())


@pytest.mark.parametrize("name", LIBRARY_SPECS)
def test_every_shipped_spec_passes_the_committed_schema(name, committed_validator):
    """What an editor checks with the committed schema: zero errors for every spec in `specs/` and
    `tests/good_specs/`. The data comes from builder's loader (YAML 1.2, as the editor reads it: `1e-3` is a number);
    a library spec's modeline points at that schema file."""
    from builder.language import load

    path = ROOT / name
    errors = [f"{e.json_path}: {e.message[:200]}" for e in committed_validator.iter_errors(load(path).data)]
    assert errors == []
    first = path.read_text().split("\n", 1)[0]
    if name.startswith("specs/"):
        assert first.startswith("# yaml-language-server: $schema=")
        assert (path.parent / first.split("$schema=", 1)[1]).resolve() == ROOT / "schemas" / "spec.schema.json"
