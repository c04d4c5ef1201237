"""The JSON Schema in the editor: yaml-language-server (what VS Code's YAML extension runs) driven over LSP,
as a user's editor drives it: completion, hover and diagnostics on specs that point at `schemas/spec.schema.json`.

Skipped unless node and the server are installed: `npm install yaml-language-server` and put its
`node_modules/.bin` on PATH, or set YAML_LANGUAGE_SERVER to the server's executable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from spec_helpers import ROOT

from builder.errors import SpecError
from builder.graph import load_graph
from builder.language.catalogue import catalogue

SERVER = os.environ.get("YAML_LANGUAGE_SERVER") or shutil.which("yaml-language-server")
pytestmark = pytest.mark.skipif(not (SERVER and shutil.which("node")),
                                reason="needs node and yaml-language-server (see the module docstring)")
SCHEMA = ROOT / "schemas" / "spec.schema.json"
TIMEOUT = 60
SETTINGS = {"validate": True, "hover": True, "completion": True, "schemaStore": {"enable": False}}


class LanguageServer:
    """A minimal LSP client over the server's stdin/stdout (JSON-RPC with Content-Length headers)."""

    def __init__(self, command: str):
        self.process = subprocess.Popen([command, "--stdio"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL)
        self.changed = threading.Condition()
        self.responses: dict[int, dict] = {}
        self.diagnostics: dict[str, list] = {}
        self.last_id = 0
        threading.Thread(target=self._read, daemon=True).start()
        self.request("initialize", {"processId": os.getpid(), "rootUri": None, "capabilities": {
            "workspace": {"configuration": True},
            "textDocument": {"hover": {"contentFormat": ["markdown"]},
                             "completion": {"completionItem": {"documentationFormat": ["markdown"]}}}}})
        self.notify("initialized", {})
        self.notify("workspace/didChangeConfiguration", {"settings": {"yaml": SETTINGS}})

    def _send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        self.process.stdin.flush()

    def _read(self) -> None:
        stream = self.process.stdout
        while True:
            length = None
            while (line := stream.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if not line or length is None:
                return   # the server exited
            message = json.loads(stream.read(length))
            if "id" in message and "method" in message:   # the server asks: its settings, or anything else
                items = message.get("params", {}).get("items", [])
                answer = [SETTINGS for _ in items] if message["method"] == "workspace/configuration" else None
                self._send({"id": message["id"], "result": answer})
            with self.changed:
                if message.get("method") == "textDocument/publishDiagnostics":
                    self.diagnostics[message["params"]["uri"]] = message["params"]["diagnostics"]
                elif "id" in message and "method" not in message:
                    self.responses[message["id"]] = message
                self.changed.notify_all()

    def notify(self, method: str, params: dict) -> None:
        self._send({"method": method, "params": params})

    def request(self, method: str, params: dict):
        self.last_id += 1
        number = self.last_id
        self._send({"id": number, "method": method, "params": params})
        with self.changed:
            assert self.changed.wait_for(lambda: number in self.responses, TIMEOUT), f"no answer to {method}"
            return self.responses.pop(number).get("result")

    def open(self, path: Path, text: str) -> str:
        uri = path.resolve().as_uri()
        self.diagnostics.pop(uri, None)
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1,
                                                              "text": text}})
        return uri

    def diagnostics_of(self, uri: str) -> list:
        with self.changed:
            assert self.changed.wait_for(lambda: uri in self.diagnostics, TIMEOUT), f"no diagnostics for {uri}"
            return self.diagnostics[uri]

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture(scope="module")
def server():
    client = LanguageServer(SERVER)
    yield client
    client.close()


def _spec_at_cursor(tmp_path: Path, body: str) -> tuple[Path, str, dict]:
    """A spec beside nothing, pointing at the committed schema; `|` in the body marks the cursor."""
    text = f"# yaml-language-server: $schema={SCHEMA}\ninputs:\n  x: {{shape: [4]}}\nlayers:\n{body}"
    before, after = text.split("|")
    position = {"line": before.count("\n"), "character": len(before) - before.rfind("\n") - 1}
    return tmp_path / "spec.yaml", before + after, position


def _complete(server, tmp_path, body: str) -> list[str]:
    path, text, position = _spec_at_cursor(tmp_path, body)
    uri = server.open(path, text)
    result = server.request("textDocument/completion", {"textDocument": {"uri": uri}, "position": position})
    return [item["label"] for item in (result["items"] if isinstance(result, dict) else result)]


def _hover(server, tmp_path, body: str) -> str:
    path, text, position = _spec_at_cursor(tmp_path, body)
    uri = server.open(path, text)
    result = server.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": position})
    return result["contents"]["value"] if result else ""


@pytest.mark.parametrize("body", ["  - type: |\n", "  - {type: |}\n", "  - {type: |, units: 3}\n"])
def test_completing_a_layer_type_offers_every_layer(server, tmp_path, body):
    """Dense, Conv2D, LSTM and the other layers with a required argument too (80 of 162 names came with one
    `oneOf` variant per type)."""
    offered = _complete(server, tmp_path, body)
    assert sorted(offered) == sorted(catalogue().layer_names)


def test_completing_a_key_after_the_type_offers_that_layers_arguments(server, tmp_path):
    offered = _complete(server, tmp_path, "  - type: Dense\n    |\n")
    assert {"units", "activation", "kernel_initializer", "id", "inputs"} <= set(offered)
    assert "filters" not in offered


@pytest.mark.parametrize(("body", "title", "meaning"), [
    ("  - {type: Dense, un|its: 3}\n", "Dense", "Positive integer, dimensionality of the output space."),
    ('  - {type: Dense, un|its: "${classes}"}\n', "parameter", "Positive integer, dimensionality of the output space."),
    ("  - {type: Conv2D, fil|ters: 8, kernel_size: 3}\n", "Conv2D", "the number of filters in the convolution"),
    ("  - type: Conv2D\n    filters: 8\n    kernel_|size: [3, 3]\n", "Conv2D", "specifying the size of the"),
    ("  - {type: Conv|2D, filters: 8, kernel_size: 3}\n", "Conv2D", "2D convolution layer."),
])
def test_hover_shows_what_the_argument_means_in_keras(server, tmp_path, body, title, meaning):
    shown = _hover(server, tmp_path, body)
    assert shown.startswith(f"#### {title}\n\n") and meaning in shown
    assert "||" not in shown   # the server's way of showing an anyOf it took for matched in full


BROKEN = {
    "a quoted integer": '  - {type: Dense, units: "8"}\n',
    "a misspelt argument": "  - {type: Dense, units: 3, unts: 4}\n",
    "a missing required argument": "  - {type: Dense}\n",
    "an unknown layer type": "  - {type: Dens, units: 3}\n",
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_the_editor_flags_the_line_builder_flags(server, tmp_path, case):
    path, text, _ = _spec_at_cursor(tmp_path, BROKEN[case] + "|")
    path.write_text(text)
    with pytest.raises(SpecError) as raised:
        load_graph(path)
    shown = server.diagnostics_of(server.open(path, text))
    assert [d["range"]["start"]["line"] + 1 for d in shown] == [p.location.line for p in raised.value.problems]


LIBRARY_SPECS = sorted([*(ROOT / "specs").rglob("*.yaml"), *(ROOT / "tests" / "good_specs").glob("*.yaml")])


def test_every_shipped_spec_opens_without_a_diagnostic(server):
    """The library specs through their own modelines (`../schemas/spec.schema.json`), the good specs through the
    same schema: what a user opening them in VS Code sees."""
    uris = {}
    for path in LIBRARY_SPECS:
        text = path.read_text()
        if "yaml-language-server: $schema=" not in text.split("\n", 1)[0]:
            text = f"# yaml-language-server: $schema={SCHEMA}\n{text}"
        uris[path.relative_to(ROOT).as_posix()] = server.open(path, text)
    shown = {name: [f"{d['range']['start']['line'] + 1}: {d['message'][:120]}" for d in server.diagnostics_of(uri)]
             for name, uri in uris.items()}
    assert {name: found for name, found in shown.items() if found} == {}
