"""`builder catalogue` records each argument's meaning from the `Args:` of Keras' docstrings, for editors' hover."""

from __future__ import annotations

from builder.model.catalogue_gen import ARG_SECTIONS, CALL_SECTIONS, _doc_section, _docs

DOC = '''2D convolution layer.

Args:
    filters: int, the dimension of the output space (the number of filters
        in the convolution).
    padding: string, either `"valid"` or `"same"`.

        `"same"` pads evenly.
    name (str): the layer's name.

Input shape:
    A 4D tensor.

Call arguments:
    inputs: the input tensor.
    training: Python boolean.
'''


def test_an_args_section_gives_each_argument_its_text_with_continuation_lines_joined():
    assert _doc_section(DOC, ARG_SECTIONS) == {
        "filters": "int, the dimension of the output space (the number of filters in the convolution).",
        "padding": 'string, either `"valid"` or `"same"`.\n\n`"same"` pads evenly.',
        "name": "the layer's name.",
    }
    assert _doc_section(DOC, CALL_SECTIONS) == {"inputs": "the input tensor.", "training": "Python boolean."}
    assert _doc_section("No sections here.", ARG_SECTIONS) == {}


def test_an_argument_a_subclass_leaves_undocumented_takes_its_base_class_text():
    class Base:
        """Base.

        Args:
            trainable: whether the weights train.
            units: the base's units.
        """

    class Child(Base):
        """Child.

        Args:
            units: the child's units.
        """

    assert _docs(Child, ARG_SECTIONS) == {"units": "the child's units.", "trainable": "whether the weights train."}
