"""`builder.graph.wiring`: a node with several outputs read whole where one tensor goes is a validate error at
the reader, with the outputs to pick; no Keras needed."""

from __future__ import annotations

import pytest
from spec_helpers import encoder_decoder, write_spec

from builder.errors import SpecError
from builder.graph import load_graph

def problem_of(tmp_path, text):
    with pytest.raises(SpecError) as caught:
        load_graph(write_spec(tmp_path, text))
    [problem] = caught.value.problems
    return problem


def test_initial_state_given_the_encoder_whole_asks_for_its_states(tmp_path):
    problem = problem_of(tmp_path, encoder_decoder("LSTM", "encoder"))
    assert problem.message == ("node 'decoder' takes 'encoder' whole as initial_state, but 'encoder' (LSTM with "
                               "return_state) gives its output first, then its states")
    assert problem.hint == ('give the states only: initial_state: ["encoder[1]", "encoder[2]"] for an LSTM, '
                            '["encoder[1]"] for a GRU')
    assert (problem.location.line, problem.node) == (9, "decoder")
    assert load_graph(write_spec(tmp_path, encoder_decoder("LSTM", '["encoder[1]", "encoder[2]"]')))


def test_a_layer_reading_an_rnn_with_its_states_whole_is_told_to_pick_one(tmp_path):
    text = encoder_decoder("LSTM", '["encoder[1]", "encoder[2]"]').replace(
        "activation: softmax}", "activation: softmax, inputs: encoder}") + "outputs: [out, decoder]\n"
    problem = problem_of(tmp_path, text)
    assert problem.message == ("node 'out' reads 'encoder' whole as an input, but 'encoder' (LSTM) gives several "
                               "outputs (its output and its states)")
    assert problem.hint.startswith("read one of them: encoder[0] for the output, encoder[1], ... for the states")


TWO_HEADS = """
name: heads
models:
  trunk:
    inputs: {x: {shape: [4]}}
    layers:
      - {id: a, type: Dense, units: 3}
      - {id: b, type: Dense, units: 2, inputs: x}
    outputs: [a, b]
  top:
    inputs: {x: {shape: [4]}}
    layers:
      - {id: both, model: trunk}
      - {id: score, type: Dense, units: 1, inputs: READ}
"""


def test_a_model_with_two_outputs_read_whole_lists_them(tmp_path):
    problem = problem_of(tmp_path, TWO_HEADS.replace("READ", "both"))
    assert problem.message == "node 'score' reads 'both' whole as an input, but 'both' (model trunk) gives 2 outputs"
    assert problem.hint == "read one of them: both[0], both[1]"
    assert load_graph(write_spec(tmp_path, TWO_HEADS.replace("READ", '"both[1]"')))
