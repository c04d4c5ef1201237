"""The `builder` command line: one small function per command, the work done by the library.

A `SpecError` becomes `file:line:col: error: message` lines on stderr and exit
code 1 here, at the edge, and nowhere else. Commands that need Keras import it
inside the command, so `builder --help` and `builder validate` stay fast.
"""

from __future__ import annotations

import difflib
import errno
import json
import os
import sys
from pathlib import Path

import click

from builder import __version__
from builder.errors import CommandError, Location, Problem, SpecError
from builder.runs.export import FORMATS as EXPORT_FORMATS
from builder.search import PRUNERS, SAMPLERS
from builder.training.backends.select import BACKENDS, DISTRIBUTE_MODES, BackendError, choose, import_keras


def load_graph(path: str, overrides: dict | None = None):
    """The graph stage's front door, imported when a command needs it (pydantic costs 0.3 s; --help does not);
    with the command's `--small`."""
    from builder.graph import load_graph as load

    ctx = click.get_current_context(silent=True)
    return load(path, overrides, small=bool(ctx is not None and ctx.meta.get("small")))


def parse_overrides(pairs: tuple[str, ...]) -> dict:
    """`--set name=value` pairs; values read as YAML 1.2 scalars (`8` is a number). A dotted name
    (`train.epochs`, `layers.c5.units`) is a path into the spec, placed and checked by the graph stage."""
    from builder.language.loader import resolve_plain_scalar

    overrides = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected NAME=VALUE. Received: {pair!r}", param_hint="--set")
        overrides[name.strip()] = resolve_plain_scalar(value.strip())
    return overrides




def report(problems: list[Problem]) -> None:
    quiet = verbosity() < 0
    for problem in problems:
        if not (quiet and problem.severity == "warning"):   # --quiet: errors only
            click.echo(problem.format(), err=True)


def verbosity() -> int:
    """-1 with --quiet, 1 with --verbose, else 0 (outside a command too)."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get("verbosity", 0) if ctx is not None else 0


def note(message: str) -> None:
    """A note on stderr, which --quiet leaves out."""
    if verbosity() >= 0:
        click.echo(message, err=True)


def fail(error: SpecError) -> None:
    report(error.problems)
    count = len(error.errors)
    click.echo(f"{count} error{'s' * (count != 1)}", err=True)
    sys.exit(1)


def _small(ctx, param, value):
    ctx.meta["small"] = value


def set_option(command):
    """--set NAME=VALUE (repeatable) and --small on a command that loads a spec."""
    command = click.option("--small", is_flag=True, expose_value=False, callback=_small,
                           help="Start from the spec's `small:` parameter values: a version that trains on a CPU "
                                "in minutes (a --set still wins).")(command)
    return click.option("--set", "overrides", multiple=True, metavar="NAME=VALUE",
                        help="Override a spec parameter by name (size=32), or any value by its dotted path "
                             "(train.epochs=3, layers.c5.units=64, train.optimizer.learning_rate=1e-4); "
                             "repeatable.")(command)


def _verbosity(ctx, param, value):
    if not value:
        return
    level = -1 if param.name == "quiet" else 1
    if ctx.meta.get("verbosity", level) != level:
        raise click.UsageError("give --quiet or --verbose, not both")
    ctx.meta["verbosity"] = level


def verbosity_option(command):
    """-q/--quiet and -v/--verbose on a command; it reads the level with `verbosity()`."""
    command = click.option("-v", "--verbose", is_flag=True, expose_value=False, callback=_verbosity,
                           help="More detail where the command has it (train: a line per epoch).")(command)
    return click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=_verbosity,
                        help="Only errors and the result (e.g. the files written): no notes, warnings or "
                             "progress.")(command)


def _choose_backend(ctx, param, value):
    choose(value)   # checks the name only; Keras is imported later, by the command, on this backend


class _BackendName(click.Choice):
    """The backends, for --help and shell completion; a name outside them gets `choose`'s own one-line error."""

    def convert(self, value, param, ctx):
        return value


backend_option = click.option(
    "--backend", type=_BackendName(BACKENDS), default=None, expose_value=False, callback=_choose_backend,
    help="The Keras backend (default: $KERAS_BACKEND, else Keras' default, TensorFlow).")


# what the system says of a file or folder whatever the program: the user's to fix, even unnamed
_SYSTEM_REFUSALS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EMFILE}


class _Commands(click.Group):
    """builder's errors end here, once for every command, each with its exit code:

    - a `SpecError`: `file:line:col: error:` lines (or `path: error:` for a file that is not a spec), 1;
    - a `CommandError` (backend, cluster, Graphviz, export converter): one `Error:` line, 1;
    - an `OSError` on a named file, or a full disk or a refused write anywhere: `path: error: reason`, 1;
    - a usage error: click's message, 2; an interrupt: 130;
    - anything else is a bug in builder: one line that says so and where its traceback was saved, 70
      (`--debug`, or BUILDER_DEBUG=1, lets the traceback through instead).
    """

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SpecError as error:
            fail(error)
        except CommandError as error:
            raise click.ClickException(str(error)) from None
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:   # `builder layers | head`: the reader left; say nothing more, as `cat` does
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())   # (Python would complain once more when it flushes at exit)
            sys.exit(141)
        except Exception as error:   # the boundary: an OSError on a named file is the user's; the rest, a bug
            if isinstance(error, OSError) and (error.filename or error.errno in _SYSTEM_REFUSALS):
                where = f"{error.filename}: " if error.filename else ""   # a read-only folder, a full disk, ...
                click.echo(f"{where}error: {error.strerror or error}", err=True)
                sys.exit(1)
            if ctx.meta.get("debug") or os.environ.get("BUILDER_DEBUG") == "1":
                raise
            internal_error(error)


def internal_error(error: Exception) -> None:
    """A bug: one line, the traceback saved to a file for the report, exit code 70 (EX_SOFTWARE)."""
    import tempfile
    import traceback

    handle, path = tempfile.mkstemp(prefix="builder-traceback-", suffix=".txt")
    with os.fdopen(handle, "w") as out:
        out.write(f"builder {__version__}: {' '.join(sys.argv)}\n\n")
        out.write("".join(traceback.format_exception(error)))
    summary = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
    click.echo(f"builder: internal error, a bug in builder rather than in your input: {type(error).__name__}"
               f"{': ' + summary if summary else ''}\n  the traceback is in {path} (rerun with --debug to "
               f"see it here); please report it", err=True)
    sys.exit(70)


def _debug(ctx, param, value):
    ctx.meta["debug"] = value


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="builder")
@click.option("--debug", is_flag=True, expose_value=False, callback=_debug, is_eager=True,
              help="Let the Python traceback of an internal error through (also BUILDER_DEBUG=1).")
def main() -> None:
    """Declarative neural networks: YAML specs validated, drawn, compiled to Keras and trained."""


def _keras_shapes(graph, sizes: dict | None):
    """Keras' shapes without weights for `validate --cost`, when the Keras-free pass cannot follow every node
    (None when it can, or when Keras does not start: the costs then say which nodes went uncounted)."""
    from builder.model.shapes import from_estimate, from_keras

    if from_estimate(graph, sizes) is not None:
        return None
    try:
        import_keras()
    except (ImportError, BackendError) as exc:
        note(f"note: some shapes unknown without Keras ({exc})")
        return None
    return from_keras(graph, sizes)   # a node Keras refuses: a located SpecError, as with --shapes


@main.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json prints every problem as a list, for editors and tools.")
@click.option("--shapes", is_flag=True, help="Also build each model's shapes with Keras, without weights, and "
                                             "report shape errors at their nodes (imports Keras: seconds).")
@click.option("--cost", "show_cost", is_flag=True, help="Also print each node's parameters, multiply-accumulates "
                                                        "and activation memory per sample, and the totals with "
                                                        "weight and optimizer memory (no weights; Keras only "
                                                        "for layers builder's shape pass cannot follow).")
@click.option("--null-size", type=click.IntRange(min=1), default=None, metavar="N",
              help="With --cost: count every size an input leaves open (null), such as a sequence length, as N.")
@set_option
@verbosity_option
def validate(specs: tuple[str, ...], fmt: str, shapes: bool, show_cost: bool, null_size: int | None,
             overrides: tuple[str, ...]) -> None:
    """Check spec files: YAML, keys, types, layer arguments, references, cycles; with --shapes, shapes too."""
    values = parse_overrides(overrides)
    results, failed = [], False
    for path in specs:
        problems, summary, costs = [], None, None
        try:
            graph = load_graph(path, values)
            problems = list(graph.warnings)
            if shapes:   # Keras only here: validate without --shapes stays free of it, and fast
                import_keras()
                from builder.model.compile import compile_graph

                compile_graph(graph, weights=False)
            summary = f"{path}: ok ({graph.node_count()} nodes in {len(graph.models)} " \
                      f"model{'s' * (len(graph.models) != 1)}; shapes {'checked' if shapes else 'not checked: --shapes'})"
            if show_cost:
                from builder.graph.cost import cost, open_sizes

                sizes = open_sizes(graph, null_size) if null_size else None
                found = _keras_shapes(graph, sizes)
                costs = cost(graph, inputs=sizes) if found is None else cost(graph, found.shapes, found.params)
        except SpecError as error:
            problems = sorted(problems + error.problems, key=lambda p: (p.location.line, p.location.column))
            failed = True
        results.append({"file": path, "ok": summary is not None, "shapes_checked": shapes,
                        "problems": [p.to_dict() for p in problems]} | ({"cost": costs.to_dict()} if costs else {}))
        if fmt == "text":
            report(problems)
            if summary and verbosity() >= 0:   # --quiet: only the errors (the exit code says ok)
                click.echo(summary)
            if costs is not None:
                click.echo("\n".join(costs.lines()))
                if any("open (null)" in why for m in costs.models.values() for why in m.not_counted.values()):
                    note("hint: --null-size N counts the sizes left open (null) as N, e.g. a sequence length")
    if fmt == "json":
        click.echo(json.dumps(results, indent=2))
    elif failed:
        count = sum(1 for r in results for p in r["problems"] if p["severity"] == "error")
        click.echo(f"{count} error{'s' * (count != 1)}", err=True)
    sys.exit(1 if failed else 0)


@main.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Where to write it (default: the packaged copy and, in a checkout, schemas/spec.schema.json).")
@click.option("--check", is_flag=True, help="Exit 1 if a written schema differs from the models.")
@verbosity_option
def schema(output: str | None, check: bool) -> None:
    """Write the spec's JSON Schema, generated from the pydantic models."""
    from builder.language import schema as schema_module

    paths = [Path(output)] if output else schema_module.default_paths()
    text = schema_module.schema_text()
    for path in paths:
        if check:
            current = path.read_text() if path.is_file() else ""
            if current != text:
                click.echo(f"{path} is out of date: run `builder schema{' -o ' + output if output else ''}`",
                           err=True)
                sys.exit(1)
            click.echo(f"{path} is up to date")
        else:
            # `-o .builder/spec.schema.json` in a fresh project; a refused folder or file is the group's
            # `path: error: reason` line (an OSError naming the path)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError):   # mkdir's own words would not say which part
                blocker = next((p for p in reversed(path.parents) if p.exists() and not p.is_dir()), None)
                if blocker is None:
                    raise
                raise CommandError(f"cannot write {path}: {blocker} is a file, not a folder") from None
            path.write_text(text)
            click.echo(f"wrote {path}")
    if output and not check:
        note(f"editors: make a spec's first line  # yaml-language-server: $schema={output}  "
             "(a path from the spec's folder, or absolute)")


@main.command()
@backend_option
@verbosity_option
def catalogue() -> None:
    """Regenerate the layer catalogue (builder/resources/keras_layers.json) from the installed Keras (imports Keras)."""
    import_keras()
    from builder.model import catalogue_gen

    click.echo(f"wrote {catalogue_gen.write()}")


@main.command()
@click.argument("name", metavar="[FAMILY|LAYER]", required=False)
@verbosity_option
def layers(name: str | None) -> None:
    """List the layer types a spec may name, by family, or describe one layer type's arguments."""
    from builder.errors import did_you_mean
    from builder.language.catalogue import catalogue

    cat = catalogue()
    by_family: dict[str, list[str]] = {}
    for layer in sorted(cat.layers):
        by_family.setdefault(cat.layers[layer]["family"], []).append(layer)
    if name is not None and name not in by_family:
        layer = cat.layer(name) or cat.layer({n.lower(): n for n in cat.layer_names}.get(name.lower(), ""))
        if layer is not None:
            return describe_layer(cat, layer.name)
        if name in cat.excluded:
            raise click.BadParameter(f"{name} is not available in a spec: {cat.excluded[name]}")
        family = difflib.get_close_matches(name.lower(), list(by_family), n=1, cutoff=0.75)
        if not family:   # no family this close (convolutional, normalisation): the closest of everything
            hint = did_you_mean(name, cat.layer_names + sorted(by_family))
            raise click.BadParameter(f"no layer type or family {name!r}; " +
                                     (hint or f"families: {', '.join(sorted(by_family))}"))
        note(f"note: {name!r} taken as the family {family[0]!r}")
        name = family[0]
    for fam in sorted(by_family):
        if name in (None, fam):
            click.echo(f"{fam}: {', '.join(by_family[fam])}")


def describe_layer(cat, name: str) -> None:
    """One layer type: family, other names, each constructor argument (required first) with its Keras default
    and what it takes, and its call arguments."""
    from builder.language import argtypes

    info = cat.layer(name)
    aliases = sorted(alias for alias, canonical in cat.aliases.items() if canonical == info.name)
    click.echo(f"{info.name}: {info.summary}" if info.summary else info.name)
    click.echo(f"  family: {info.family}" + (f"; also named {', '.join(aliases)}" if aliases else ""))
    click.echo("  arguments:")
    for arg, entry in sorted(info.args.items(), key=lambda item: (not item[1].get("required"), item[0])):
        if entry.get("required"):
            default = "required"
        elif "default_text" in entry:
            default = f"default {entry['default_text']}"
        else:
            default = f"default {json.dumps(entry.get('default'))}"
        takes = "a layer: {type: ..., arguments}" if entry.get("kind") == "layer" else \
            argtypes.describe(info.name, arg, entry)
        click.echo(f"    {arg:<28} {default:<24} {takes}")
    calls = [arg for arg in info.call if arg != "training"]
    if calls:
        click.echo(f"  call arguments (keyword inputs): {', '.join(calls)}")
    if verbosity() > 0:   # the whole docstring needs the class, so Keras: only when asked
        import inspect

        import_keras()
        from builder.model.compile import layer_class

        click.echo("")
        click.echo(inspect.getdoc(layer_class(info.name)) or "(no docstring)")
    else:
        click.echo("  (-v: the layer's whole docstring)")


def print_summary(graph, models) -> None:
    """Each node: id, type, output shape, parameters, MACs and activations per sample; then each model's totals."""
    from builder.graph.cost import cost, macs_text, size, totals
    from builder.model.compile import layer_name
    from builder.model.inspect import shape_text, trainable_counts

    costs = cost(graph, models.shapes, models.params, trainable_counts(graph, models, layer_name))
    for name, mgraph in graph.models.items():
        model = models[name]
        click.echo(f"model {name}")
        click.echo(f"  {'node':<34} {'type':<24} {'output shape':<24} {'MACs':>9} {'activations':>11} {'params':>12}")
        for node in mgraph.nodes.values():
            shape = models.shapes[name][node.id]
            text = ", ".join(map(shape_text, shape)) if isinstance(shape, list) else shape_text(shape)
            kind = f"model {node.type}" if node.op == "model" else node.type
            # a call of a spec model holds that model's weights, shared by every call and counted once in the total
            count = f"{models[node.type].count_params():,} shared" if node.op == "model" else \
                f"{models.params[name].get(node.id, 0):,}"
            c, each = costs[name].nodes.get(node.id), costs[name].value_bytes
            macs, memory = ("", "") if c is None else (macs_text(c), "?" if c.values is None else size(c.values * each))
            click.echo(f"  {node.id:<34.34} {kind:<24.24} {text:<24} {macs:>9} {memory:>11} {count:>12}")
        trainable = sum(int(_size(w)) for w in model.trainable_weights)
        total = model.count_params()
        click.echo(f"  total {total:,} parameters ({trainable:,} trainable, {total - trainable:,} non-trainable), "
                   f"{len(model.weights)} weight tensors")
        for line in totals(costs[name]):
            click.echo(f"  {line}")


def _size(weight) -> int:
    size = 1
    for d in weight.shape:
        size *= int(d)
    return size


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(file_okay=False), default=None,
              help="Folder for the .keras files (default: out/<spec name>).")
@click.option("--max-params", type=click.IntRange(min=1), default=None,
              help="Refuse models with more parameters than this (default 250,000,000).")
@click.option("--no-save", is_flag=True, help="Only build and print the summary.")
@click.option("--init", "init_path", type=click.Path(exists=True), default=None,
              help="Weights from a run folder, a .keras or a .weights.h5 file (as train.init; `builder import "
                   "--weights` writes one), saved in the .keras files.")
@set_option
@backend_option
@verbosity_option
def build(spec: str, output: str | None, max_params: int | None, no_save: bool, init_path: str | None,
          overrides: tuple[str, ...]) -> None:
    """Compile a spec into Keras models, print a summary, save each as .keras."""
    graph = load_graph(spec, parse_overrides(overrides))
    report(graph.warnings)
    import_keras()
    from builder.model.compile import DEFAULT_MAX_PARAMS, compile_graph

    models = compile_graph(graph, max_params or DEFAULT_MAX_PARAMS)
    if init_path:
        from builder.training.transfer import load_initial_weights

        loaded = load_initial_weights(graph, models[graph.main], None, Path(init_path),
                                      lambda *path: Location(init_path), max_params or DEFAULT_MAX_PARAMS)
        for line in loaded.lines():
            note(line)
    if verbosity() >= 0:   # --quiet: the files written, or with --no-save only the exit code
        print_summary(graph, models)
    if no_save:
        return
    folder = Path(output or Path("out") / graph.name)
    folder.mkdir(parents=True, exist_ok=True)
    for name, model in models.items():
        path = folder / f"{name}.keras"
        model.save(path)
        click.echo(f"wrote {path}")
    from builder.graph import render as drawing

    diagram = folder / f"{graph.name}.build.svg"   # beside, not over, a diagram `render` wrote there
    try:
        drawing.write_diagram(graph, diagram, models)
        click.echo(f"wrote {diagram}")
    except drawing.RenderError as error:
        note(f"note: no diagram: {error}")


def _shape(ctx, param, value):
    if value is None:
        return None
    try:
        shape = tuple(int(part) for part in value.split(","))
    except ValueError:
        shape = ()
    if not shape or any(d < 1 for d in shape):
        raise click.BadParameter(f"expected sizes such as 32,32,3. Received: {value!r}")
    return shape


@main.command("import")
@click.argument("source", metavar="MODEL")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The spec to write (.yaml).")
@click.option("--flat", is_flag=True, help="One node per layer: no blocks for repeated structure.")
@click.option("--weights", is_flag=True, help="Also write the model's weights beside the spec as <name>.weights.h5, "
                                              "for `builder build SPEC --init` and train.init.")
@click.option("--input-shape", default=None, callback=_shape, metavar="H,W,C",
              help="keras.applications only: the input size to build the network for (default: its own).")
@backend_option
@verbosity_option
def import_command(source: str, output: str, flat: bool, weights: bool, input_shape: tuple | None) -> None:
    """Write a spec that rebuilds a Keras model exactly: MODEL is a .keras file (opened with safe_mode) or
    keras.applications.NAME (built with weights=None)."""
    import_keras()
    from builder.importing import import_model

    imported = import_model(source, output, flat=flat, weights=weights, input_shape=input_shape)
    for line in imported.report():
        (click.echo if line.startswith("wrote") else note)(line)


class _Depth(click.ParamType):
    """render --depth: a whole number from 0, or `all`."""

    name = "N|all"

    def convert(self, value, param, ctx):
        text = str(value).strip().lower()
        if text == "all" or isinstance(value, int):
            return text if text == "all" else value
        if text.isdigit():
            return int(text)
        self.fail(f"expected a whole number from 0, or all. Received: {value!r}", param, ctx)


@main.command("render")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The drawing: .svg, .png, .pdf (need Graphviz's dot) or .dot.")
@click.option("--rankdir", type=click.Choice(["TB", "LR"]), default=None,
              help="Top to bottom or left to right. Default: the spec's diagram.rankdir, else TB.")
@click.option("--shapes/--no-shapes", default=None,
              help="Label edges with tensor shapes and nodes with parameter counts, without weights (a "
                   "Keras-free pass; Keras' symbolic build for layers it cannot follow). Default: on.")
@click.option("--collapse/--no-collapse", default=None,
              help="Draw the repeats of a block once, marked xN. Default: on above 150 nodes.")
@click.option("--depth", type=_Depth(), default=None,
              help="Expand nested blocks this many levels; deeper ones become single boxes; all: every level. "
                   "Default: all, or as deep as fits 40 boxes for big graphs.")
@click.option("--search", "show_search", is_flag=True,
              help="Mark the nodes the spec's search section changes, with their ranges.")
@click.option("--show", "show", multiple=True, metavar="FIELD,...",
              help="What each box shows, in order, instead of the spec's diagram.show: layer arguments by name, "
                   "arguments (the ones that matter), params, macs, output_shape, activation, trainable, dtype. "
                   "Default: arguments,params.")
@click.option("--style", "styles", multiple=True, metavar="NAME=KEY:VALUE,...",
              help="Colours and shape of a layer type or tag, over the spec's diagram.types/tags: "
                   "Conv2D=fill:lightblue,shape:box3d or encoder=fill:#FFCCBC (keys fill, border, shape, label).")
@click.option("--fold", "fold", multiple=True, metavar="FAMILY,...",
              help="Draw layers of these families inside the node before (activation, normalization, ...); "
                   "none: fold nothing. Default: the spec's diagram.fold.")
@click.option("--legend/--no-legend", default=None, help="A legend of what the colours mean. Default: on.")
@set_option
@backend_option
@verbosity_option
def render_command(spec: str, output: str, rankdir: str | None, shapes: bool | None, collapse: bool | None,
                   depth: int | str | None, show_search: bool, show: tuple[str, ...], styles: tuple[str, ...],
                   fold: tuple[str, ...], legend: bool | None, overrides: tuple[str, ...]) -> None:
    """Draw a spec's architecture with Graphviz; the spec's `diagram:` section says how, these flags over it."""
    from builder.graph import render as drawing

    drawing.check_dot(output)   # before the slow part
    graph = load_graph(spec, parse_overrides(overrides))
    report(graph.warnings)
    diagram = _diagram(graph, show=show, styles=styles, fold=fold, legend=legend, depth=depth, collapse=collapse,
                       rankdir=rankdir)
    facts = {}
    if shapes is not False:   # shapes without weights: the Keras-free pass where it follows every node, else Keras'
        from builder.model.shapes import from_estimate

        found = from_estimate(graph)
        if found is None:
            try:
                import_keras()
                from builder.model.shapes import from_keras
            except (ImportError, BackendError) as exc:
                if shapes:
                    raise click.ClickException(f"--shapes needs Keras: {exc}") from None
                note(f"note: drawing without shapes ({exc})")
            else:
                try:
                    found = from_keras(graph)
                except SpecError as error:
                    if shapes:
                        fail(error)
                    report(error.problems)   # still draw: the picture helps find the mistake
                    note("note: drawing without shapes, the model does not build")
        if found is not None:
            facts = {"shapes": found.shapes, "params": found.params}
    if show_search:
        from builder.graph import search_space

        if graph.spec.search is None:
            raise click.ClickException(f"{spec} has no `search:` section to draw")
        facts["search"] = search_space.annotations(graph, graph.document)
    depth = diagram.depth
    if depth is None:   # not given: a big graph is drawn shallower, and the user told how to see more
        depth = drawing.auto_depth(graph, diagram.collapse, diagram)
        if depth is not None:
            note(f"note: {graph.node_count():,} nodes: drawn to depth {depth} (--depth N for more, --depth all "
                 "for every level)")
    drawing.write(drawing.render(graph, diagram=diagram, depth=None if depth == "all" else depth, **facts), output)
    click.echo(f"wrote {output}")


def _diagram(graph, **flags):
    """The spec's `diagram:` section with render's flags over it; a bad flag value is a usage error (exit 2)."""
    from builder.graph.diagram import Diagram, DiagramFlagError
    from builder.language.spec.diagram import written_tags

    try:
        return Diagram.of(graph.spec.diagram).with_flags(**flags, tags=written_tags(graph.document.data
                                                                                    if graph.document else {}))
    except DiagramFlagError as error:
        raise click.BadParameter(str(error), param_hint=f"'{error.flag}'") from None


@main.command("resolve")
@click.argument("spec", metavar="SPEC|RUN", type=click.Path())
@click.option("--defaults", is_flag=True, help="Also give every layer argument the spec leaves out, at its Keras "
                                               "default (from the layer catalogue).")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True,
              help="yaml: a spec with a comment on each value saying where it came from; json: the spec and a "
                   "`sources` map beside it.")
@set_option
@verbosity_option
def resolve_command(spec: str, defaults: bool, fmt: str, overrides: tuple[str, ...]) -> None:
    """Print the fully expanded spec the compiler sees (itself a spec that builds the same model), every value
    marked with where it came from: a line, a block parameter and its instance, a --set, a search trial, a
    default. SPEC may be a run folder (its spec.yaml with run.json's --set values)."""
    from builder.graph.resolved import open_spec, resolve_spec

    opened = open_spec(spec, parse_overrides(overrides), small=bool(click.get_current_context().meta.get("small")))
    report(opened.graph.warnings)
    resolved = resolve_spec(opened, defaults)
    click.echo(resolved.yaml() if fmt == "yaml" else json.dumps(resolved.json(), indent=2) + "\n", nl=False)


@main.command("diff")
@click.argument("a", metavar="A", type=click.Path())
@click.argument("b", metavar="[B]", required=False, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Also draw the differences (.svg, .png, .pdf or .dot): added nodes green, removed red, changed "
                   "amber, block instances without a change as one box.")
@set_option
@verbosity_option
def diff_command(a: str, b: str | None, fmt: str, output: str | None, overrides: tuple[str, ...]) -> None:
    """Compare two specs or run folders, or spec A with its own --set/--small version: nodes added, removed,
    renamed and changed (with both values), shape and parameter deltas, and train settings. --set and --small
    apply to B alone when B is not given, else to both. Exit code, as diff(1): 0 the same, 1 different, 2
    trouble (a spec error, a bad option)."""
    small = bool(click.get_current_context().meta.get("small"))
    values = parse_overrides(overrides)
    if b is None and not values and not small:
        raise click.UsageError("give B (a spec or run folder) to compare A with, or --set/--small to compare A "
                               "with its own version")
    from builder.graph import diff as diffing, render as drawing
    from builder.graph.resolved import open_spec

    try:   # trouble exits 2 here, so that 1 means "they differ"
        if output:
            drawing.check_dot(output)
        left = open_spec(a) if b is None else open_spec(a, values, small)
        right = open_spec(a if b is None else b, values, small)
        report(list(dict.fromkeys(left.graph.warnings + right.graph.warnings)))
        result = diffing.compare(left, right)
        if output:
            drawing.write(result.dot(), output)
    except SpecError as error:
        report(error.problems)
        click.echo(f"{len(error.errors)} error{'s' * (len(error.errors) != 1)}", err=True)
        sys.exit(2)
    except CommandError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(2)
    if fmt == "json":
        click.echo(json.dumps(result.json(), indent=2))
    else:
        text = result.text()
        click.echo(text if verbosity() >= 0 else text.splitlines()[-1] + "\n", nl=False)   # --quiet: the summary
    if output:
        click.echo(f"wrote {output}", err=True)   # stdout holds the differences alone
    sys.exit(0 if result.equal else 1)


def _check_scaling(graph, distribute, coordinator, num_processes, process_id):
    """Before Keras starts: the backend is installed, runs this distribute mode, and a multi_worker run knows its
    cluster (options, environment, TF_CONFIG). Returns the Cluster, or None. One-line errors naming the fix."""
    from builder.training.backends.select import check_distribute, require

    backend = require()
    spec_mode = graph.spec.train.distribute if graph is not None and graph.spec.train else None
    mode = distribute or spec_mode
    if mode:
        try:
            check_distribute(backend, mode)
        except BackendError as error:
            if distribute:
                raise
            raise SpecError.single(graph.locate("train", "distribute"), str(error)) from None
    given = (coordinator, num_processes, process_id) != (None,) * 3
    if given and mode not in ("multi_worker", None):
        raise BackendError(f"--coordinator, --num-processes and --process-id go with distribute: multi_worker; "
                           f"this run is {mode}: add --distribute multi_worker")
    if mode == "multi_worker" or (mode is None and given):
        from builder.training.cluster import resolve_cluster

        return resolve_cluster(coordinator, num_processes, process_id)
    return None


@main.command()
@click.argument("spec", required=False, type=click.Path(dir_okay=False))
@click.option("--resume", "resume_run", type=click.Path(file_okay=False), default=None,
              help="Continue an interrupted run from its last finished epoch.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="The run folder (default: runs/<name>-<time>).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Override train.epochs.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Override train.batch_size.")
@click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), default=None,
              help="Override train.seed (as --set train.seed=N: recorded in run.json, kept by --resume).")
@click.option("--data", "data_path", type=click.Path(exists=True), default=None,
              help="Override train.data.path (relative to the current folder).")
@click.option("--init", "init_path", type=click.Path(), default=None,
              help="Initial weights from this run folder or .keras/.weights.h5 file (overrides train.init.from; "
                   "relative to the current folder).")
@click.option("--max-params", type=click.IntRange(min=1), default=None,
              help="Refuse models with more parameters than this (default 250,000,000).")
@click.option("--distribute", type=click.Choice(DISTRIBUTE_MODES), default=None,
              help="Override train.distribute: mirrored (every local device), multi_worker (JAX: one process per "
                   "machine), model_parallel (JAX: as train.model_parallel says).")
@click.option("--coordinator", metavar="HOST:PORT", default=None,
              help="multi_worker: process 0's address, the same on every process "
                   "(default: $KERAS_DISTRIBUTION_JOB_ADDRESSES, $JAX_COORDINATOR_ADDRESS or TF_CONFIG).")
@click.option("--num-processes", type=click.IntRange(min=1), default=None,
              help="multi_worker: how many processes train together.")
@click.option("--process-id", type=click.IntRange(min=0), default=None,
              help="multi_worker: this process's number, 0 to N-1 (0 coordinates and writes the run folder; "
                   "process k writes <run folder>-process<k>).")
@set_option
@backend_option
@verbosity_option
def train(spec, resume_run, out, epochs, batch_size, seed, data_path, init_path, max_params, distribute, coordinator,
          num_processes, process_id, overrides) -> None:
    """Train a spec (or --resume a run) into a run folder."""
    if (spec is None) == (resume_run is None):
        raise click.UsageError("give a SPEC to train, or --resume RUN")
    if resume_run and (overrides or seed is not None or click.get_current_context().meta.get("small")):
        raise click.UsageError("--resume continues with the --set, --small and --seed values the run started with "
                               "(run.json); start a new run to change them")
    try:
        values = parse_overrides(overrides) | ({"train.seed": seed} if seed is not None else {})
        graph = load_graph(spec, values) if spec else None
        if graph is not None:
            report(graph.warnings)
        cluster = _check_scaling(graph, distribute, coordinator, num_processes, process_id)
        import_keras()
        from builder.model.compile import DEFAULT_MAX_PARAMS
        from builder.training import run as training
        from builder.training.run_folder import RunFolder

        options = training.TrainOptions(out=Path(out) if out else None, epochs=epochs, batch_size=batch_size,
                                        data_path=Path(data_path) if data_path else None,
                                        overrides=graph.overrides if graph is not None else values,  # --small's too
                                        init_path=Path(init_path) if init_path else None,
                                        max_params=max_params or DEFAULT_MAX_PARAMS, distribute=distribute,
                                        cluster=cluster, verbose={-1: 0, 0: None, 1: 2}[verbosity()])
        if resume_run:
            if cluster is not None and training.worker_folder(Path(resume_run), cluster.process_id).is_dir():
                resume_run = training.worker_folder(Path(resume_run), cluster.process_id)
            run = training.resume(RunFolder.open(resume_run), options)
        else:
            run = training.train(graph, spec, options)
    except KeyboardInterrupt as stop:
        where = stop.args[0] if stop.args else ""
        if where:
            click.echo(f"\ninterrupted; the last finished epoch is saved. Resume with: builder train --resume "
                       f"{where}", err=True)
        else:   # stopped while setting up or in the first epoch: train() removed the new run folder
            click.echo("\ninterrupted before the first epoch finished; nothing was saved", err=True)
        sys.exit(130)
    summary = json.loads(run.summary.read_text())
    final = ", ".join(f"{k} {v:.4f}" for k, v in summary["final"].items() if isinstance(v, float))
    epochs = summary["epochs"]
    if verbosity() >= 0:   # --quiet: the run folder alone
        click.echo(f"{summary['status']}: {epochs} epoch{'s' * (epochs != 1)}, {final}")
    click.echo(f"run folder: {run.path}")
    if run.model.exists() and verbosity() >= 0:
        click.echo(f"reopen the model: import builder, keras; keras.models.load_model({str(run.model)!r})")


@main.command("search")
@click.argument("spec", required=False, type=click.Path(dir_okay=False, exists=True))
@click.option("--trials", type=click.IntRange(min=1), default=10, show_default=True,
              help="Finished trials the study should have (on --resume: in all, the earlier ones counted).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stop starting trials after this many seconds (the trial under way finishes).")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes sharing the study.")
@click.option("--sampler", type=click.Choice(SAMPLERS), default="tpe", show_default=True)
@click.option("--pruner", type=click.Choice(PRUNERS), default="median", show_default=True,
              help="Stops bad trials early on the objective's per-epoch validation metric.")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="Continue an interrupted search folder (its own sampler, pruner and budget).")
@click.option("--storage", metavar="URL", default=None,
              help="An Optuna storage URL (e.g. postgresql://...) shared by several machines; default: "
                   "study.db (SQLite) in the search folder.")
@click.option("--max-params", type=click.IntRange(min=1), default=None,
              help="Trials whose model has more parameters are pruned before training (default 250,000,000).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Each trial's epochs (else train.epochs).")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Seed of the sampler.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="The search folder (default: search/<name>-<time>).")
@set_option
@backend_option
@verbosity_option
def search_command(spec, trials, timeout, jobs, sampler, pruner, resume_dir, storage, max_params, epochs, seed,
                   out, overrides) -> None:
    """Search a spec's `search:` space with Optuna: each trial a run folder, the best as best.yaml."""
    if (spec is None) == (resume_dir is None):
        raise click.UsageError("give a SPEC to search, or --resume DIR")
    try:
        import_keras()
        try:
            from builder.search import study as searching
        except ImportError as exc:
            raise click.ClickException(f"builder search needs Optuna ({exc}): pip install 'builder[search]'") from None
        from builder.model.compile import DEFAULT_MAX_PARAMS

        options = searching.SearchOptions(
            trials=trials, timeout=timeout, jobs=jobs, sampler=sampler, pruner=pruner, storage=storage,
            max_params=max_params or DEFAULT_MAX_PARAMS, out=Path(out) if out else None,
            overrides=parse_overrides(overrides), epochs=epochs, seed=seed,
            resume=Path(resume_dir) if resume_dir else None, verbose=verbosity() >= 0)
        folder = searching.search(spec, options)
    except KeyboardInterrupt:
        click.echo("\ninterrupted; the finished trials are saved. Resume with: builder search --resume "
                   "<the search folder>", err=True)
        sys.exit(130)
    click.echo(f"search folder: {folder.path}")
    if folder.best.exists():
        click.echo(f"best spec: {folder.best}  (builder train {folder.best})")
    else:
        click.echo("no trial completed, so there is no best.yaml", err=True)


@main.command()
@click.argument("run", type=click.Path(file_okay=False, exists=True))
@click.option("--data", "data_path", type=click.Path(exists=True), default=None,
              help="Evaluate on this file instead (same source kind as the spec's train.data).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@backend_option
@verbosity_option
def evaluate(run: str, data_path: str | None, fmt: str) -> None:
    """Print a run's metrics on its validation data (or on --data)."""
    import_keras()
    from builder.runs.evaluate import evaluate_run
    from builder.training.run_folder import RunFolder

    samples, results = evaluate_run(RunFolder.open(run), Path(data_path) if data_path else None)
    if fmt == "json":
        click.echo(json.dumps({k: float(v) for k, v in results.items()}, indent=2))
    else:
        if verbosity() >= 0:
            click.echo(f"{samples} samples")
        for key, value in results.items():
            click.echo(f"{key}: {float(value):.4f}")


@main.command()
@click.argument("run", type=click.Path(file_okay=False, exists=True))
@click.argument("inputs", type=click.Path(exists=True))
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="Where to write predictions: .csv (class and probabilities) or .npy (raw outputs).")
@backend_option
@verbosity_option
def predict(run: str, inputs: str, output: str) -> None:
    """Predict with a run's model on a .npy/.npz/.csv file, an image, or a folder of images."""
    import_keras()
    from builder.runs import predict as predicting
    from builder.training.run_folder import RunFolder

    written = predicting.predict_files(RunFolder.open(run), Path(inputs), Path(output))
    click.echo(f"wrote {written} predictions to {output}")


@main.command()
@click.argument("run", type=click.Path(file_okay=False, exists=True))
@click.option("--format", "fmt", type=click.Choice(list(EXPORT_FORMATS)), required=True,
              help="keras (.keras), saved_model (TensorFlow SavedModel folder), onnx (.onnx), litert (.tflite), "
                   "openvino (.xml + .bin).")
@click.option("-o", "--output", type=click.Path(), default=None,
              help="Where to write it (default, under RUN/export/: model.keras, saved_model/, model.onnx, "
                   "model.tflite, openvino/model.xml).")
@click.option("--model", "model_name", default=None,
              help="Which model of a several-model run (default: the one that trained).")
@click.option("--transform/--no-transform", default=True, show_default=True,
              help="Build the run's input transform (e.g. digit pixels x 0.0625, standardisation) into the export, "
                   "so it takes the data's own units, as `builder predict` does.")
@backend_option
@verbosity_option
def export(run: str, fmt: str, output: str | None, model_name: str | None, transform: bool) -> None:
    """Export a run's model for serving: SavedModel, ONNX, LiteRT, OpenVINO or .keras."""
    from builder.runs import export as exporting

    backend = import_keras().backend.backend()
    exporting.check_converter(fmt, backend)   # a missing converter is said before the slow part
    exported = exporting.export_run(run, fmt, output, model_name, transform)
    click.echo(f"wrote {exported.path} ({fmt})")
    click.echo(f"  inputs: {'; '.join(exported.inputs)}")
    if exported.units:
        click.echo(f"  units: {exported.units}")
    click.echo(f"  run it with: {exported.reopen}")


@main.command()
@click.argument("run", type=click.Path(file_okay=False, exists=True))
@click.option("-n", "count", type=click.IntRange(min=1, max=10_000), default=16, show_default=True,
              help="How many samples.")
@click.option("--label", type=click.IntRange(min=0), default=None, help="The class to generate (conditional models).")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Seed for the sampling noise.")
@click.option("--option", "options", multiple=True, metavar="NAME=VALUE",
              help="Kind-specific sampling settings, e.g. temperature=0.8 or beam=4 (repeatable).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help=".png (image grid, or text for sequences), .txt, or .npy (the raw samples).")
@click.option("--input", "given", type=click.Path(exists=True), default=None,
              help="pix2pix, cyclegan: translate these images (an image, a folder of them, or an .npy array).")
@click.option("--direction", type=click.Choice(["a2b", "b2a"]), default=None,
              help="cyclegan: translate from domain A to B (a2b, the default) or back.")
@backend_option
@verbosity_option
def generate(run: str, count: int, label: int | None, seed: int | None, options: tuple[str, ...], output: str,
             given: str | None, direction: str | None) -> None:
    """Sample from a trained generative run (autoencoder, VAE, GAN, seq2seq, language model, diffusion), or
    translate images (pix2pix, cyclegan)."""
    values = parse_overrides(options)
    # the translating kinds' options; other kinds refuse them as unknown options
    values.update({key: value for key, value in (("input", given), ("direction", direction)) if value is not None})
    import_keras()
    from builder.runs import generate as sampling
    from builder.training.run_folder import RunFolder

    written = sampling.generate(RunFolder.open(run), count, Path(output), label, seed, values)
    click.echo(f"wrote {written}")


@main.command("runs")
@click.argument("folder", metavar="[DIR]", default="runs", type=click.Path())
@click.option("--metric", default=None, help="The metric of the `best` column (default: the spec's early-stopping "
                                             "monitor, else val_accuracy, else val_loss).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@verbosity_option
def runs_command(folder: str, metric: str | None, fmt: str) -> None:
    """List the run folders under DIR (default runs/): spec, status, epochs, best validation metric, wall time,
    backend, device, oldest first. A search folder is a row with its trials; DIR may be a search folder (a row
    per trial) or one run. Damaged or unfinished folders are rows that say what is wrong."""
    from builder.runs import listing

    if not Path(folder).is_dir():
        raise CommandError(f"{folder}: no such folder; `builder train` writes runs under runs/ (give the folder: "
                           "builder runs DIR)")
    rows, skipped = listing.list_runs(folder, metric)
    hint = listing.check_metric(rows, metric) if metric else None
    if hint:
        raise click.BadParameter(f"no run here logged {metric!r}; {hint}", param_hint="--metric")
    if fmt == "json":
        click.echo(json.dumps([row.to_dict() for row in rows], indent=2))
        return
    if not rows:
        note(f"no run or search folders in {folder}")
        return
    click.echo(listing.table(rows), nl=False)
    if skipped:
        note(f"({len(skipped)} other folder{'s' * (len(skipped) != 1)} skipped: no run files)")


@main.command("compare")
@click.argument("runs", metavar="RUN... | SEARCH_DIR", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--top", type=click.IntRange(min=1, max=100), default=1, show_default=True,
              help="A search folder stands for this many of its best trials.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Also plot the runs' curves (.png, .svg, .pdf): a panel per metric, training solid, "
                   "validation dashed.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@verbosity_option
def compare_command(runs: tuple[str, ...], top: int, output: str | None, fmt: str) -> None:
    """Compare runs side by side: final and best metrics, and what differs in their specs (builder diff's
    comparison, against the first run). A search folder alone: its best trial (--top K: its K best) against
    the spec it searched."""
    from builder.runs.compare import compare_runs

    if output and Path(output).suffix.lower() not in (".png", ".svg", ".pdf"):
        raise click.BadParameter(f"expected a .png, .svg or .pdf file. Received: {output}", param_hint="-o")
    result = compare_runs(list(runs), top)
    if output:
        result.plot(output)
    if fmt == "json":
        click.echo(json.dumps(result.json() | {"plot": output}, indent=2))
    else:
        click.echo(result.text(), nl=False)
    if output:
        click.echo(f"wrote {output}", err=True)


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="The grid: .png, .svg or .pdf (matplotlib).")
@click.option("-n", "count", type=click.IntRange(min=1, max=64), default=6, show_default=True,
              help="How many training samples (rows).")
@click.option("--copies", type=click.IntRange(min=1, max=32), default=7, show_default=True,
              help="Augmented versions of each sample (columns after the original).")
@set_option
@backend_option
@verbosity_option
def augment(spec: str, output: str, count: int, copies: int, overrides: tuple[str, ...]) -> None:
    """Draw training samples beside augmented copies, as train.augment makes them."""
    graph = load_graph(spec, parse_overrides(overrides))
    import_keras()
    from builder.training import augment as augmenting
    from builder.training.data import load_data

    train_spec = graph.spec.train
    if train_spec is None or not train_spec.augment:
        raise SpecError.single(Location(spec), "this spec has no train.augment to show",
                               "add e.g. `augment: [{type: RandomRotation, factor: 0.05}]` under train")
    data = load_data(train_spec.data, Path(spec).resolve().parent, graph.locate("train", "data"), train_spec.seed)
    if data.x_train.ndim != 4:
        raise SpecError.single(graph.locate("train", "data"), f"augment draws images; this data's samples have "
                               f"shape {list(data.x_train.shape[1:])}", "use image data (e.g. `image: true`)")
    pipeline = augmenting.augmentation(train_spec.augment, train_spec.seed,
                                       lambda i: graph.locate("train", "augment", i, "type"))
    written = augmenting.draw_grid(data.x_train[:count], pipeline, Path(output), copies)
    click.echo(f"wrote {written}")


if __name__ == "__main__":  # pragma: no cover
    main()
