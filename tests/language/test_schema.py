"""The committed JSON Schema and layer catalogue are generated, and must not drift from their sources."""

from __future__ import annotations

import json

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


def test_schema_documents_fields_and_layer_arguments():
    generated = schema.spec_schema()
    dense = next(v for v in generated["$defs"]["LayerNode"]["oneOf"] if v["title"] == "Dense")
    assert dense["required"] == ["type", "units"]
    assert dense["properties"]["units"]["anyOf"][0] == {"type": "integer", "minimum": 1}
    assert "relu" in dense["properties"]["activation"]["anyOf"][0]["enum"]
    assert generated["$defs"]["BlockNode"]["properties"]["per_repeat"]["description"].startswith("Per-repeat")


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
