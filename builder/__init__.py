"""builder: declarative neural networks from YAML specs, compiled to Keras 3.

The data flows one way, one package per stage, each importing only the ones before it:

    language (load, parse) -> graph (resolve, render) -> model (compile) -> training -> runs, search

The Python API is `builder.load`, `builder.build`, `builder.render` and `builder.train`
(from `builder.api`; errors are `builder.SpecError`), documented in docs/python-api.md.

`import builder` stays light (no Keras, no TensorFlow) so that `builder
validate` and `builder --help` start fast. builder's own Keras layers are
registered the moment Keras is imported (or at once, if it already is), so
`keras.models.load_model` reopens a saved model after a plain `import builder`.
"""

import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"

from builder.errors import SpecError  # noqa: E402  (light)

__all__ = ["SpecError", "__version__", "build", "load", "load_graph", "render", "train"]
_API = ("build", "load", "load_graph", "render", "train")


def __getattr__(name: str):
    """`builder.load`, `builder.build`, ...: `builder.api`'s functions, imported on first use."""
    if name in _API:
        from builder import api

        return getattr(api, name)
    raise AttributeError(f"module 'builder' has no attribute {name!r}")


def _register_layers() -> None:
    import builder.model.layers  # noqa: F401  (registration happens at definition)
    import builder.model.losses  # noqa: F401  (the same for builder's losses, which a compiled model holds)


class _RegisterOnKerasImport(importlib.abc.MetaPathFinder):
    """Registers builder's layers right after `keras` finishes importing."""

    def find_spec(self, name, path=None, target=None):
        if name != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            sys.modules[name] = module
            _register_layers()

        spec.loader.exec_module = exec_then_register
        return spec


if sys.modules.get("keras") is not None:   # (None: marked absent)
    _register_layers()
elif not any(isinstance(f, _RegisterOnKerasImport) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterOnKerasImport())
