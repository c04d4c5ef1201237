"""`train.data`: one model per data source, told apart by `source` (a discriminated union)."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Union

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from builder.language.spec.fields import ParamName, Size, Strict

# --- data sources ---------------------------------------------------------------

URL_PATTERN = r"^[A-Za-z][A-Za-z0-9+.-]*://"
NOT_A_URL = {"not": {"pattern": URL_PATTERN}}   # `_local_path` in the JSON Schema


def _local_path(value: str) -> str:
    if re.match(URL_PATTERN, value):
        raise ValueError(f"expected a local path, not a URL. Received: path={value[:80]!r}")
    return value


DataPath = Annotated[str, Field(min_length=1, max_length=4096, json_schema_extra=NOT_A_URL,
                                description="A local path, relative to the spec's folder (no URLs)."),
                     AfterValidator(_local_path)]


ClassLabel = Annotated[int, Field(ge=0, le=1_000_000)]


class DataCommon(Strict):
    validation_split: float = Field(0.2, ge=0, lt=1, description="Share of the data held out for validation.")
    shuffle: bool = True
    normalize: bool = Field(True, description="Scale features to zero mean and unit variance (images: to [0, 1]).")
    classes: list[ClassLabel] | None = Field(
        None, min_length=1, max_length=100_000,
        description="Keep only the samples of these integer labels, relabelled 0, 1, ... in the order given "
                    "(`[5, 6, 7, 8, 9]`: digit 5 becomes class 0).")
    per_class: int | None = Field(
        None, ge=1, le=10_000_000,
        description="Train on this many samples of each class (drawn with the seed); every other sample "
                    "(of the kept classes) is the validation data, and `validation_split` is not used.")

    @model_validator(mode="after")
    def _per_class_replaces_the_split(self):
        if self.per_class is not None and "validation_split" in self.model_fields_set:
            raise ValueError(f"per_class takes {self.per_class} samples of each class for training and keeps the "
                             f"rest for validation; validation_split does not apply. Received: "
                             f"validation_split={self.validation_split}")
        return self


class BuiltinData(DataCommon):
    """A small data set that ships inside scikit-learn: no network needed."""

    source: Literal["builtin"]
    name: Literal["digits", "iris", "wine", "breast_cancer"]
    image: bool = Field(False, description="digits only: give 8x8x1 images instead of 64 features.")


# --- named data: models with several inputs or outputs -----------------------------------------

ArrayKey = Annotated[str, Field(min_length=1, max_length=200, description="The name of an array in the .npz file.")]
Column = Annotated[str, Field(min_length=1, max_length=1000, description="A column of the CSV file, by its header.")]
NAMED_INPUTS = ("Model input name -> what it reads, for models with several inputs (Siamese networks, Wide & Deep); "
                "every model input must be named. ")
NAMED_TARGETS = "Model output name -> its targets, for models with several outputs. "
SAMPLE_WEIGHT = ("A weight per sample, multiplying that sample's loss in training and validation (with "
                 "`train.class_weight`, the two multiply). ")


def inputs_hint(source: str, names: list[str]) -> str:
    """The `train.data.inputs` mapping to write for a model with several inputs, in the source's terms."""
    if source == "numpy":
        return f"name each input's .npz array under train.data: inputs: {{{', '.join(f'{n}: ARRAY' for n in names)}}}"
    if source == "csv":
        return f"name each input's columns under train.data: inputs: {{{', '.join(f'{n}: [COLUMN, ...]' for n in names)}}}"
    return (f"source {source} gives one array; save the data as an .npz file with an array per input and use "
            f"source: numpy, inputs: {{{', '.join(f'{n}: ARRAY' for n in names)}}}")


def _one_of_pair(spec, named: str, plain: str, what: str) -> None:
    if getattr(spec, named) is not None and plain in spec.model_fields_set:
        raise ValueError(f"give `{named}` ({what}) or `{plain}`, not both")


class CsvData(DataCommon):
    model_config = ConfigDict(json_schema_extra={"anyOf": [{"required": ["label"]}, {"required": ["targets"]}]})

    source: Literal["csv"]
    path: DataPath
    label: str | int | None = Field(None, description="The label column, by name or index (or `targets`).")
    features: list[str] | None = Field(None, description="Feature columns; default: every other column.")
    inputs: dict[ParamName, Annotated[list[Column], Field(min_length=1, max_length=100_000)]] | None = Field(
        None, min_length=1, max_length=1000,
        description=NAMED_INPUTS + "Here: the columns of each input, `{wide: [age, hours], deep: [p0, p1, ...]}` "
                                   "(replaces `features`).")
    targets: dict[ParamName, Column | Annotated[list[Column], Field(min_length=1, max_length=100_000)]] | None = \
        Field(None, min_length=1, max_length=1000,
              description=NAMED_TARGETS + "Here: a column (class labels or numbers) or a list of columns (a vector "
                                          "per sample) for each output (replaces `label`).")
    sample_weight: Column | None = Field(None, description=SAMPLE_WEIGHT + "Here: the column holding it.")

    @model_validator(mode="after")
    def _named_columns(self):
        if self.label is None and self.targets is None:
            raise ValueError("give the label column under `label`, or each output's columns under `targets`")
        _one_of_pair(self, "targets", "label", "each output's columns")
        _one_of_pair(self, "inputs", "features", "each input's columns")
        return self


class NumpyData(DataCommon):
    source: Literal["numpy"]
    path: DataPath
    x: str = Field("x", description="The array of features in an .npz file.")
    y: str = Field("y", description="The array of labels in an .npz file.")
    inputs: dict[ParamName, ArrayKey] | None = Field(
        None, min_length=1, max_length=1000,
        description=NAMED_INPUTS + "Here: the .npz array of each input, `{left: pairs_a, right: pairs_b}` "
                                   "(replaces `x`).")
    targets: dict[ParamName, ArrayKey] | None = Field(
        None, min_length=1, max_length=1000,
        description=NAMED_TARGETS + "Here: the .npz array of each output's targets, `{similar: same}` (replaces "
                                    "`y`; without it, `y` is the one output's targets).")
    sample_weight: ArrayKey | None = Field(None, description=SAMPLE_WEIGHT + "Here: the .npz array holding it.")
    domains: list[ArrayKey] | None = Field(
        None, min_length=2, max_length=2, description="kind cyclegan: the .npz arrays of the two unpaired "
        "domains, `[a, b]` (of any sizes; replaces `x` and `y`: the data are their images, labelled 0 for A and "
        "1 for B).")

    @model_validator(mode="after")
    def _named_arrays(self):
        _one_of_pair(self, "inputs", "x", "one array per model input")
        _one_of_pair(self, "targets", "y", "one array per model output")
        for given in ("inputs", "targets", "sample_weight"):
            if self.domains is not None and getattr(self, given) is not None:
                raise ValueError(f"give `domains` (two unpaired image sets) or `{given}`, not both")
        return self


class ImageFolderData(DataCommon):
    source: Literal["images"]
    path: DataPath
    image_size: list[Size] = Field(min_length=2, max_length=2)
    color_mode: Literal["grayscale", "rgb", "rgba"] = "rgb"
    pairs: list[Annotated[DataPath, Field(max_length=255)]] | None = Field(
        None, min_length=2, max_length=2, description="kind pix2pix: `[INPUTS, TARGETS]`, two sub-folders of "
        "`path` whose images are matched by file name (each input's target has its name); without it, each "
        "sub-folder of `path` is a class (for cyclegan: two sub-folders, the two domains A and B, by name).")


class TextData(DataCommon):
    source: Literal["text"]
    path: DataPath
    column: str | None = Field(None, description="For a CSV file, the text column; default: one text per line.")
    label: str | None = None
    sequence_length: int = Field(128, ge=1, le=1_000_000)
    vocabulary_size: int = Field(20_000, ge=2, le=10_000_000)
    tokens: Literal["words", "characters"] = Field(
        "words", description="words: one text per line (or CSV row), word ids padded to sequence_length. "
                             "characters: the whole text as one stream of characters, cut into consecutive "
                             "windows of sequence_length (for character-level language models).")


class CorpusData(DataCommon):
    """A text that ships inside an installed package (no network), for language models."""

    source: Literal["corpus"]
    name: Literal["python_docs", "sklearn_descr"] = Field(
        description="python_docs: Python's help topics (the standard library's pydoc_data, about 460,000 "
                    "characters); sklearn_descr: scikit-learn's data set descriptions (about 47,000).")
    tokens: Literal["words", "characters"] = Field("characters", description="As for `source: text`.")
    sequence_length: int = Field(128, ge=2, le=1_000_000, description="Tokens per window.")
    vocabulary_size: int = Field(20_000, ge=2, le=10_000_000)


class SyntheticData(DataCommon):
    """Generated sequence-to-sequence pairs over digit strings (no files, no network).

    `x`: source token ids; `y`: target token ids starting with the start token and ending with the
    end token; both 0-padded. Token ids: 0 pad, 1 start, 2 end, 3..12 the digits 0..9, 13 `+`.
    """

    source: Literal["synthetic"]
    task: Literal["reverse", "copy", "sort", "add"] = Field(
        description="reverse/copy/sort: a digit string -> reversed, the same, sorted; add: `a+b` -> the sum, "
                    "a and b of at most `length` digits each.")
    samples: int = Field(5000, ge=1, le=1_000_000, description="Distinct pairs generated (at most 1,000,000: "
                         "pairs are made one by one in Python).")
    length: int = Field(8, ge=1, le=1000, description="The longest digit string (for add: each operand).")
    min_length: int | None = Field(None, ge=1, le=1000, description="The shortest; default: `length` "
                                   "(every string as long).")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seeds the generator: the same pairs every run.")

    @model_validator(mode="after")
    def _lengths(self):
        if self.min_length is not None and self.min_length > self.length:
            raise ValueError(f"expected min_length <= length. Received: min_length={self.min_length}, "
                             f"length={self.length}")
        return self


class KerasData(DataCommon):
    """A `keras.datasets` set; downloads on first use, so it needs the network."""

    source: Literal["keras"]
    name: Literal["mnist", "fashion_mnist", "cifar10", "cifar100", "imdb", "reuters", "boston_housing"]


DataSpec = Annotated[Union[BuiltinData, CsvData, NumpyData, ImageFolderData, TextData, CorpusData,
                           SyntheticData, KerasData],
                     Field(discriminator="source")]
