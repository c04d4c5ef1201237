"""`${...}` in `train:` (`builder.graph.train_values`): parameters and expressions wherever a number goes,
so one `--set` changes a model and its data together; filled before parse, checked and located like the
written values."""

from __future__ import annotations

import pytest
from spec_helpers import write_spec

from builder.errors import SpecError
from builder.graph import load_graph

LANGUAGE_MODEL = """
name: chars
params: {context: 16, width: 8, epochs: 2}
inputs: {tokens: {shape: ["${context}"], dtype: int32}}
layers:
  - {type: Embedding, input_dim: 64, output_dim: "${width}"}
  - {type: LSTM, units: "${width}", return_sequences: true}
  - {type: Dense, units: 64, activation: softmax}
train:
  kind: language-model
  data: {source: corpus, name: sklearn_descr, sequence_length: "${context + 1}", vocabulary_size: 64}
  optimizer: {type: adam, learning_rate: "${0.001 * width / 8}"}
  epochs: "${epochs}"
  batch_size: 32
"""


def test_one_set_changes_the_model_and_its_data_together(tmp_path):
    graph = load_graph(write_spec(tmp_path, LANGUAGE_MODEL), {"context": 32, "width": 16})
    assert graph.models["chars"].nodes["tokens"].args["shape"] == [32]
    train = graph.spec.train
    assert train.data.sequence_length == 33 and train.epochs == 2
    assert train.optimizer.learning_rate == pytest.approx(0.002)


def test_a_filled_value_is_checked_at_its_line_like_a_written_one(tmp_path):
    with pytest.raises(SpecError) as caught:
        load_graph(write_spec(tmp_path, LANGUAGE_MODEL), {"epochs": 0})
    [problem] = caught.value.problems
    assert problem.location.line == 12 and "epochs" in problem.message


def test_an_unknown_name_in_train_is_located_and_suggests_the_parameter(tmp_path):
    with pytest.raises(SpecError) as caught:
        load_graph(write_spec(tmp_path, LANGUAGE_MODEL.replace("${context + 1}", "${contxt + 1}")))
    [problem] = caught.value.problems
    assert problem.location.line == 10
    assert problem.message == "train.data.sequence_length: unknown parameter 'contxt' (did you mean 'context'?)"
