"""The house: stages import only the stages before them, and every extension point is one place.

The import graph is read from the source with `ast` (lazy imports inside functions included), so a
cycle or a backward import fails here before it surprises anyone at run time.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest

ROOT = Path(__file__).resolve().parent.parent   # the checkout (this file sits in tests/)
PACKAGE = ROOT / "builder"

# The stages in the order data flows through them; a module may import its own stage and the ones before.
ORDER = ["errors", "registry", "files", "resources", "language", "graph", "model", "importing", "training", "runs",
         "search", "api", "cli", "__main__"]


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports(name: str, path: Path, known: dict) -> set[str]:
    """The builder modules `name` imports, anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.module == "builder" and [alias.name for alias in node.names] == ["__version__"]:
                continue   # the version is the package's one fact every stage may read
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known]
            names = submodules or [base]
        else:
            continue
        for imported in names:
            while imported and imported not in known:
                imported = imported.rpartition(".")[0]
            if imported.startswith("builder") and imported != name and not name.startswith(imported + "."):
                targets.add(imported)
    return targets


def stage(name: str) -> str:
    return name.split(".")[1] if "." in name else ""


def test_every_module_belongs_to_a_stage_of_the_flow():
    strays = sorted(n for n in modules() if n != "builder" and stage(n) not in ORDER)
    assert not strays, f"modules outside the stages {ORDER}: {strays}"


def test_stages_import_only_themselves_and_the_stages_before_them():
    known = modules()
    backward = []
    for name, path in known.items():
        if name == "builder":
            continue   # the package root: its lazy `builder.load` ... and the layer registration hook
        for target in imports(name, path, known):
            if target != "builder" and ORDER.index(stage(target)) > ORDER.index(stage(name)):
                backward.append(f"{name} imports {target}")
            if target == "builder":
                backward.append(f"{name} imports the package root (import from builder.errors instead)")
    assert not backward, "\n".join(sorted(backward))


def cycles(edges: dict[str, set]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan): each is an import cycle."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_has_no_cycles():
    known = modules()
    edges = {name: imports(name, path, known) - {"builder"} for name, path in known.items() if name != "builder"}
    assert not cycles(edges), cycles(edges)


def test_the_checker_sees_a_cycle_and_a_backward_import(tmp_path):
    """The two tests above can fail: a made-up package with both faults trips them."""
    fake = tmp_path / "builder"
    (fake / "language").mkdir(parents=True)
    (fake / "graph").mkdir()
    (fake / "language" / "a.py").write_text("from builder.graph import b\n")
    (fake / "graph" / "b.py").write_text("def f():\n    from builder.language import a\n")
    known = {"builder.language.a": fake / "language" / "a.py", "builder.graph.b": fake / "graph" / "b.py"}
    edges = {name: imports(name, path, known) for name, path in known.items()}
    assert edges == {"builder.language.a": {"builder.graph.b"}, "builder.graph.b": {"builder.language.a"}}
    assert cycles(edges) == [["builder.graph.b", "builder.language.a"]]   # the lazy import counts too
    assert ORDER.index(stage("builder.graph.b")) > ORDER.index(stage("builder.language.a"))   # backward


def test_light_entry_points_import_neither_keras_nor_pydantic():
    """--help, the CLI's option tables and backend selection run before Keras is chosen, in about 0.1 s."""
    code = ("import sys; import builder, builder.cli, builder.search, builder.runs.export, "
            "builder.training.backends.select\n"
            "print(sorted(m for m in ('keras', 'tensorflow', 'pydantic', 'optuna', 'numpy') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- extension points: one place each, held by these contracts ---------------------------------------------

def test_the_training_kinds_are_the_spec_languages_kinds():
    from builder.language.spec import TrainingKind
    from builder.training.kinds import EVALUATIONS, KINDS, SAMPLERS

    assert set(KINDS) == set(get_args(TrainingKind))
    assert set(KINDS) - {"supervised"} == set(SAMPLERS)   # every kind but supervised has `builder generate`
    # supervised: named targets in the model's output order; the others: the default
    assert set(EVALUATIONS) == {"supervised", "autoencoder", "seq2seq", "language-model", "diffusion"}
    for name, function in KINDS.items():   # each kind is its own module in builder/training/kinds/
        assert function.__module__.startswith("builder.training.kinds."), (name, function.__module__)


def test_the_data_sources_are_the_spec_languages_sources():
    from builder.language.spec import DataSpec
    from builder.registry import Registry
    from builder.training.data import SOURCES

    assert isinstance(SOURCES, Registry)
    tags = set()
    for model in get_args(get_args(DataSpec)[0]):
        tags |= set(get_args(model.model_fields["source"].annotation))
    assert set(SOURCES) == tags


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_every_backend_adapter_has_the_adapter_functions(backend):
    from builder.training.backends import ADAPTER_FUNCTIONS

    source = (PACKAGE / "training" / "backends" / f"{backend}.py").read_text()
    tree = ast.parse(source)
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    for node in tree.body:   # functions an adapter takes from batches.py
        if isinstance(node, ast.ImportFrom):
            defined |= {alias.asname or alias.name for alias in node.names}
    assert set(ADAPTER_FUNCTIONS) <= defined, sorted(set(ADAPTER_FUNCTIONS) - defined)


def test_the_option_tables_are_the_ones_the_library_runs():
    import optuna

    from builder.language.spec import LABEL_MIXERS, TrainSpec
    from builder.search import PRUNERS, SAMPLERS
    from builder.search.study import make_pruner, make_sampler
    from builder.training.augment import MIXING
    from builder.training.backends.select import DISTRIBUTE, DISTRIBUTE_MODES

    assert DISTRIBUTE_MODES == get_args(TrainSpec.model_fields["distribute"].annotation)
    assert all(set(modes) <= set(DISTRIBUTE_MODES) for modes in DISTRIBUTE.values())
    assert tuple(MIXING) == LABEL_MIXERS
    spec = type("Spec", (), {"search": type("Search", (), {"space": {}})()})()
    for name in SAMPLERS:
        if name != "grid":   # grid needs a space; test_search runs it
            assert isinstance(make_sampler(name, spec, 0, 10), optuna.samplers.BaseSampler)
    for name in PRUNERS:
        assert isinstance(make_pruner(name, 10), optuna.pruners.BasePruner)


def test_the_cli_turns_builders_errors_into_messages_in_one_place():
    """No command catches SpecError to print it; the group does (validate and render collect on purpose, and diff
    exits 2 on one, since its 1 means "the specs differ", as diff(1)'s does)."""
    tree = ast.parse((PACKAGE / "cli.py").read_text())
    catching = []
    for function in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
        for node in ast.walk(function):
            if isinstance(node, ast.ExceptHandler) and "SpecError" in ast.unparse(node.type or ast.Name("")):
                catching.append(function.name)
    assert sorted(catching) == ["diff_command", "render_command", "validate"]


def test_the_readmes_where_a_new_piece_goes_names_files_that_exist():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("Where a new piece goes:"):]
    section = section.split("\n\n")[1]   # the list after the colon
    paths = re.findall(r"`(builder/[^`]+?)`", section)
    assert len(paths) >= 5, section
    missing = [p for p in paths if not (ROOT / p.split("'")[0]).exists()]
    assert not missing, missing
