"""The compile stage: every connection kind of the spec language builds a working Keras model,
and every way Keras can reject a node comes back as one located line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from spec_helpers import build, encoder_decoder, graph_of, write_spec  # noqa: E402

from builder.errors import SpecError  # noqa: E402
from builder.model.compile import compile_graph  # noqa: E402


def run(model, *inputs):
    return model.predict(list(inputs) if len(inputs) > 1 else inputs[0], verbose=0)


def test_chain_builds_and_names_layers_after_node_ids(tmp_path):
    graph, models = build(tmp_path, """
        name: mlp
        inputs: {x: {shape: [16]}}
        layers:
          - {type: Dense, units: 8, activation: relu, kernel_regularizer: {l2: 1.0e-4}}
          - {type: Dropout, rate: 0.1}
          - {id: logits, type: Dense, units: 3}
    """)
    model = models["mlp"]
    assert [layer.name for layer in model.layers] == ["x", "dense_1", "dropout_1", "logits"]
    assert run(model, np.zeros((2, 16), "float32")).shape == (2, 3)
    assert model.count_params() == 16 * 8 + 8 + 8 * 3 + 3
    assert models.shapes["mlp"]["logits"] == (None, 3)
    assert models.params["mlp"]["dense_1"] == 136


def test_dag_with_two_inputs_two_outputs_and_every_merge(tmp_path):
    _, models = build(tmp_path, """
        name: merges
        inputs: {a: {shape: [4]}, b: {shape: [4]}}
        layers:
          - {id: add, type: Add, inputs: [a, b]}
          - {id: sub, type: Subtract, inputs: [a, b]}
          - {id: mul, type: Multiply, inputs: [a, b]}
          - {id: avg, type: Average, inputs: [a, b]}
          - {id: mx, type: Maximum, inputs: [a, b]}
          - {id: mn, type: Minimum, inputs: [a, b]}
          - {id: dot, type: Dot, axes: 1, inputs: [a, b]}
          - {id: cat, type: Concatenate, inputs: [add, sub, mul, avg, mx, mn, dot]}
          - {id: head, type: Dense, units: 2, inputs: cat}
        outputs: [head, add, sub, mul, avg, mx, mn, dot, cat]
    """)
    a = np.arange(8, dtype="float32").reshape(2, 4) - 3.0
    b = np.array([[1, -2, 0.5, 4], [-1, 2, 3, -0.5]], "float32")
    head, add, sub, mul, avg, mx, mn, dot, cat = run(models["merges"], a, b)
    assert head.shape == (2, 2)
    for got, expected in ((add, a + b), (sub, a - b), (mul, a * b), (avg, (a + b) / 2), (mx, np.maximum(a, b)),
                          (mn, np.minimum(a, b)), (dot, (a * b).sum(axis=1, keepdims=True))):
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_allclose(cat, np.concatenate([add, sub, mul, avg, mx, mn, dot], axis=1))   # in input order


def test_residual_with_projection_shortcut_and_per_repeat_stride(tmp_path):
    _, models = build(tmp_path, """
        name: res
        inputs: {image: {shape: [16, 16, 3]}}
        blocks:
          residual:
            params: {filters: null, stride: 1}
            layers:
              - {type: Conv2D, filters: "${filters}", kernel_size: 3, strides: "${stride}", padding: same}
              - {type: BatchNormalization}
              - {id: proj, type: Conv2D, filters: "${filters}", kernel_size: 1, strides: "${stride}", inputs: $in}
              - {id: sum, type: Add, inputs: [-2, proj]}
        layers:
          - {id: stage, block: residual, repeat: 2, with: {filters: 8}, per_repeat: [{stride: 2}]}
          - {type: GlobalAveragePooling2D}
    """)
    shapes = models.shapes["res"]
    assert shapes["stage_1.sum"] == (None, 8, 8, 8)   # stride 2 on the first repeat only
    assert shapes["stage_2.sum"] == (None, 8, 8, 8)
    assert run(models["res"], np.zeros((1, 16, 16, 3), "float32")).shape == (1, 8)


def test_dense_concatenation_inside_nested_blocks(tmp_path):
    _, models = build(tmp_path, """
        name: dense
        inputs: {x: {shape: [8, 8, 4]}}
        blocks:
          layer:
            params: {growth: 4}
            layers:
              - {type: Conv2D, filters: "${growth}", kernel_size: 3, padding: same}
              - {type: Concatenate, inputs: [$in, -1]}
          dense_block:
            params: {n: 2, growth: 4}
            layers:
              - {block: layer, repeat: "${n}", with: {growth: "${growth}"}}
        layers:
          - {id: db, block: dense_block, with: {n: 3, growth: 2}}
    """)
    assert models.shapes["dense"]["db.layer_1_3.concatenate_1"] == (None, 8, 8, 4 + 3 * 2)


def test_attention_self_cross_and_causal(tmp_path):
    _, models = build(tmp_path, """
        name: attn
        inputs: {tokens: {shape: [6, 8]}, memory: {shape: [5, 8]}}
        layers:
          - {id: self_attn, type: MultiHeadAttention, num_heads: 2, key_dim: 4,
             inputs: {query: tokens, value: tokens}, call: {use_causal_mask: true}}
          - {id: cross, type: MultiHeadAttention, num_heads: 2, key_dim: 4,
             inputs: {query: self_attn, value: memory, key: memory}}
          - {id: scores, type: Attention, inputs: [cross, memory]}
        outputs: [scores]
    """)
    out = run(models["attn"], np.random.rand(2, 6, 8).astype("float32"), np.random.rand(2, 5, 8).astype("float32"))
    assert out.shape == (2, 6, 8)


def test_causal_mask_really_masks_the_future(tmp_path):
    _, models = build(tmp_path, """
        name: causal
        inputs: {x: {shape: [4, 2]}}
        layers:
          - {type: MultiHeadAttention, num_heads: 1, key_dim: 2, inputs: {query: x, value: x},
             call: {use_causal_mask: true}}
    """)
    x = np.random.rand(1, 4, 2).astype("float32")
    changed = x.copy()
    changed[0, 3] += 5.0  # only the last step changes
    before, after = run(models["causal"], x), run(models["causal"], changed)
    np.testing.assert_allclose(before[0, :3], after[0, :3], rtol=1e-5, atol=1e-6)


def test_encoder_decoder_through_lstm_states(tmp_path):
    _, models = build(tmp_path, """
        name: seq2seq
        inputs: {source: {shape: [7, 3]}, target: {shape: [5, 3]}}
        layers:
          - {id: enc, type: LSTM, units: 6, return_state: true, inputs: source}
          - {id: dec, type: LSTM, units: 6, return_sequences: true,
             inputs: {sequences: target, initial_state: ["enc[1]", "enc[2]"]}}
          - {id: out, type: Dense, units: 3}
    """)
    assert models.shapes["seq2seq"]["enc"] == [(None, 6), (None, 6), (None, 6)]
    out = run(models["seq2seq"], np.zeros((2, 7, 3), "float32"), np.zeros((2, 5, 3), "float32"))
    assert out.shape == (2, 5, 3)


def test_generator_discriminator_and_combined_model(tmp_path):
    _, models = build(tmp_path, """
        name: gan
        models:
          generator:
            inputs: {z: {shape: [4]}}
            layers:
              - {type: Dense, units: 16, activation: relu}
              - {id: image, type: Reshape, target_shape: [4, 4, 1]}
          discriminator:
            inputs: {image: {shape: [4, 4, 1]}}
            layers:
              - {type: Flatten}
              - {id: score, type: Dense, units: 1}
          combined:
            inputs: {z: {shape: [4]}}
            layers:
              - {id: fake, model: generator}
              - {id: verdict, model: discriminator, inputs: fake}
    """)
    assert list(models) == ["generator", "discriminator", "combined"]
    combined = models["combined"]
    # the combined model shares the networks' weights rather than copying them
    assert combined.count_params() == models["generator"].count_params() + models["discriminator"].count_params()
    assert run(combined, np.zeros((3, 4), "float32")).shape == (3, 1)


def test_vae_sampling_adds_its_kl_loss(tmp_path):
    _, models = build(tmp_path, """
        name: vae
        inputs: {x: {shape: [8]}}
        layers:
          - {id: mean, type: Dense, units: 2, inputs: x}
          - {id: log_var, type: Dense, units: 2, inputs: x}
          - {id: z, type: VAESampling, inputs: [mean, log_var]}
    """)
    import keras

    model = models["vae"]
    x = np.random.default_rng(0).random((4, 8)).astype("float32")
    mean, log_var = keras.Model(model.inputs, [model.get_layer("mean").output, model.get_layer("log_var").output])(x)
    mean, log_var = np.asarray(mean), np.asarray(log_var)
    model(x)
    # KL(N(mean, exp(log_var)) || N(0, I)), summed over the latent axis and averaged over the batch
    expected = np.mean(-0.5 * np.sum(1 + log_var - mean ** 2 - np.exp(log_var), axis=-1))
    assert len(model.losses) == 1 and expected > 0
    np.testing.assert_allclose(float(model.losses[0]), expected, rtol=1e-5)


def test_saved_model_reopens_with_only_import_builder(tmp_path):
    _, models = build(tmp_path, """
        name: saved
        inputs: {x: {shape: [6, 4]}}
        layers:
          - {type: SinusoidalPositionEncoding}
          - {type: GlobalAveragePooling1D}
    """)
    path = tmp_path / "saved.keras"
    models["saved"].save(path)
    x = np.random.rand(2, 6, 4).astype("float32")
    np.save(tmp_path / "x.npy", x)
    expected = run(models["saved"], x)
    code = (f"import builder, keras, numpy as np; m = keras.models.load_model({str(path)!r}); "
            f"np.save({str(tmp_path / 'y.npy')!r}, m.predict(np.load({str(tmp_path / 'x.npy')!r}), verbose=0))")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-5)


# --- located errors ------------------------------------------------------------------------------

def compile_error(tmp_path, text, **kwargs) -> str:
    graph = graph_of(tmp_path, text)
    with pytest.raises(SpecError) as info:
        compile_graph(graph, **kwargs)
    [problem] = info.value.problems
    return problem.format()


def test_rank_mismatch_names_node_shapes_and_source(tmp_path):
    text = compile_error(tmp_path, """
        inputs: {x: {shape: [64]}}
        layers:
          - {id: dense1, type: Dense, units: 128}
          - {id: conv3, type: Conv2D, filters: 8, kernel_size: 3}
    """)
    assert text.startswith(f"{tmp_path / 'spec.yaml'}:4:5: error: node 'conv3' (Conv2D) expects a 4-D input, "
                           "got (None, 128) from 'dense1'")


def test_convolution_that_shrinks_to_zero(tmp_path):
    text = compile_error(tmp_path, """
        inputs: {x: {shape: [2, 2, 3]}}
        layers:
          - {id: big, type: Conv2D, filters: 4, kernel_size: 5}
    """)
    assert ":3:5: error: node 'big' (Conv2D) shrinks a dimension to zero or less: input (None, 2, 2, 3) from 'x'" in text


def test_merge_of_incompatible_shapes(tmp_path):
    text = compile_error(tmp_path, """
        inputs: {a: {shape: [3]}, b: {shape: [4]}}
        layers:
          - {id: sum, type: Add, inputs: [a, b]}
    """)
    assert ":3:5: error: node 'sum' (Add) cannot take input (None, 3) from 'a', (None, 4) from 'b'" in text


def test_output_index_past_the_end(tmp_path):
    text = compile_error(tmp_path, """
        inputs: {x: {shape: [5, 2]}}
        layers:
          - {id: enc, type: LSTM, units: 3, return_state: true}
          - {id: h, type: Dense, units: 1, inputs: "enc[3]"}
    """)
    assert "node 'h' reads enc[3], but 'enc' has 3 outputs (0 to 2)" in text


def test_parameter_budget_refuses_before_allocating(tmp_path):
    text = compile_error(tmp_path, """
        inputs: {x: {shape: [224, 224, 64]}}
        layers:
          - {type: Flatten}
          - {id: fc, type: Dense, units: 65536}
    """)
    assert "node 'fc' (Dense) would bring model 'spec' to 210,453,463,040 parameters, over the budget" in text


def test_budget_is_overridable(tmp_path):
    text = compile_error(tmp_path, """
        inputs: {x: {shape: [10]}}
        layers:
          - {id: fc, type: Dense, units: 10}
    """, max_params=50)
    assert "to 110 parameters, over the budget of 50" in text


@pytest.mark.parametrize("layer, count", [
    ("{type: LSTM, units: 12000}", "576,432,000"),
    # 2 x 3 x (8 x 9000 + 9000 x 9000 + 2 x 9000): a GRU's three gates, with reset_after's second bias
    ("{type: Bidirectional, layer: {type: GRU, units: 9000}}", "486,540,000"),
    # query, key, value: 3 x (8 x 128 x 65536 + 128 x 65536); output: 128 x 65536 x 8 + 8
    ("{type: MultiHeadAttention, num_heads: 128, key_dim: 65536, inputs: {query: x, value: x}}", "293,601,288"),
])
def test_a_layer_without_a_formula_is_counted_before_anything_is_allocated(tmp_path, layer, count):
    """The budget holds for every layer: a throwaway copy is built with shapes and no values first."""
    import subprocess
    import sys

    spec = tmp_path / "big.yaml"
    spec.write_text(f"name: big\ninputs: {{x: {{shape: [10, 8]}}}}\nlayers:\n  - {layer}\n")
    # the peak from /proc (VmHWM, this process's own), not getrusage: Linux carries ru_maxrss across exec, so a
    # child of a big pytest worker would report the worker's peak
    code = ("import sys; from builder.cli import main\n"
            "try:\n    main(['build', sys.argv[1], '--no-save'])\nexcept SystemExit as exit:\n    code = exit.code\n"
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
            "print('peak', int(hwm) // 1024); sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", code, str(spec)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr[-2000:]
    assert f"to {count} parameters, over the budget of 250,000,000" in result.stderr
    peak_mb = int(result.stdout.split("peak")[1])
    assert peak_mb < 1500, f"{peak_mb} MB: the weights were allocated before the budget said no"   # 3.1 GB if so


def compile_problems(tmp_path, text: str, **kwargs) -> list[str]:
    graph = graph_of(tmp_path, text)
    with pytest.raises(SpecError) as info:
        compile_graph(graph, **kwargs)
    return [f"{p.location.line}:{p.message}" for p in info.value.problems]


def test_every_independent_shape_error_comes_out_and_nodes_after_a_failure_are_skipped(tmp_path):
    problems = compile_problems(tmp_path, """
        models:
          body:
            inputs: {x: {shape: [8]}, image: {shape: [8, 8, 3]}}
            layers:
              - {id: flat, type: Dense, units: 16, inputs: x}
              - {id: conv, type: Conv2D, filters: 4, kernel_size: 3}
              - {id: after_conv, type: Dense, units: 2}
              - {id: pool, type: MaxPooling2D, pool_size: 16, inputs: image}
              - {id: ok, type: Dense, units: 2, inputs: x}
            outputs: [after_conv, pool, ok]
          head:
            inputs: {x: {shape: [8]}, image: {shape: [8, 8, 3]}}
            layers:
              - {id: body, model: body, inputs: [x, image]}
              - {id: bad, type: Conv1D, filters: 2, kernel_size: 3, inputs: x}
            outputs: [body, bad]
    """)
    # after_conv reads the failed conv and model `head` calls the failed `body`: no echo of either
    assert problems == [
        "6:node 'conv' (Conv2D) expects a 4-D input, got (None, 16) from 'flat'",
        "8:node 'pool' (MaxPooling2D) shrinks a dimension to zero or less: input (None, 8, 8, 3) from 'image'",
        "15:node 'bad' (Conv1D) expects a 3-D input, got (None, 8) from 'x'",
    ]


@pytest.mark.parametrize("layer", ["BatchNormalization", "LayerNormalization"])
def test_an_axis_past_the_input_rank_is_named_not_an_index_error(tmp_path, layer):
    problems = compile_problems(tmp_path, f"""
        inputs: {{x: {{shape: [8, 8, 3]}}}}
        layers:
          - {{id: norm, type: {layer}, axis: 5}}
    """)
    assert problems == [f"3:node 'norm' ({layer}): axis 5 is out of range for an input of rank 4 (axes -4..3): "
                        "(None, 8, 8, 3) from 'x'"]


def test_a_concatenation_axis_past_the_rank_is_named_too(tmp_path):
    problems = compile_problems(tmp_path, """
        inputs: {x: {shape: [4, 3]}}
        layers:
          - {id: both, type: Concatenate, axis: -4, inputs: [x, x]}
    """)
    assert problems == ["3:node 'both' (Concatenate): axis -4 is out of range for an input of rank 3 (axes -3..2): "
                        "(None, 4, 3) from 'x', (None, 4, 3) from 'x'"]


def test_shapes_without_weights_allocate_nothing_and_report_the_same_errors(tmp_path):
    graph = graph_of(tmp_path, """
        inputs: {x: {shape: [224, 224, 64]}}
        layers:
          - {type: Flatten}
          - {id: fc, type: Dense, units: 1000}
    """)
    models = compile_graph(graph, max_params=10**12, weights=False)   # 3.2 G parameters, as shapes only
    assert models.params["spec"]["fc"] == 224 * 224 * 64 * 1000 + 1000 and models.shapes["spec"]["fc"] == (None, 1000)
    assert models["spec"].weights and all(v._value is None for v in models["spec"].weights)   # no values
    problems = compile_problems(tmp_path, """
        inputs: {x: {shape: [64]}}
        layers:
          - {id: dense1, type: Dense, units: 128}
          - {id: conv3, type: Conv2D, filters: 8, kernel_size: 3}
    """, weights=False)
    assert problems == ["4:node 'conv3' (Conv2D) expects a 4-D input, got (None, 128) from 'dense1'"]


# --- wiring of nodes with several outputs (an LSTM with return_state) -------------------------------------------

def test_initial_state_with_the_wrong_count_of_states_is_located_with_the_fix(tmp_path):
    """Keras builds a recurrent layer given the wrong number of initial states and fails only when training starts
    ("Too few leaves for PyTreeSpec" on JAX): builder says so at build, at the node, with the fix."""
    with pytest.raises(SpecError) as caught:
        build(tmp_path, encoder_decoder("GRU", '["encoder[1]", "encoder[2]"]'))
    [problem] = caught.value.problems
    assert problem.message == "node 'decoder' (GRU) takes 1 initial state tensor, and initial_state gives 2"
    assert problem.hint == 'give 1 tensor, e.g. ["encoder[1]"] for a GRU\'s state' and problem.location.line == 9
    with pytest.raises(SpecError, match='an LSTM\'s states are h and c: initial_state: \\["encoder\\[1\\]", '):
        build(tmp_path, encoder_decoder("LSTM", '["encoder[1]"]'))
    _, models = build(tmp_path, encoder_decoder("LSTM", '["encoder[1]", "encoder[2]"]'))
    assert models["s2s"].count_params() == 4850
    assert build(tmp_path, encoder_decoder("GRU", '["encoder[1]"]'))[1]["s2s"].count_params() > 0


def test_the_compiler_names_each_output_of_a_node_read_whole_even_past_validation(tmp_path):
    """validate catches this first (tests/graph/test_wiring.py); the compiler checks again with real tensors."""
    from builder.graph import expand
    from builder.language import load, parse

    text = encoder_decoder("LSTM", '["encoder[1]", "encoder[2]"]').replace(
        "{id: out, type: Dense, units: 50, activation: softmax}",
        "{id: out, type: Dense, units: 50, activation: softmax, inputs: encoder}") + "outputs: [out, decoder]\n"
    document = load(write_spec(tmp_path, text))
    graph, errors = expand.expand(parse(document), document)
    assert errors == []
    with pytest.raises(SpecError) as caught:
        compile_graph(graph)
    [problem] = caught.value.problems
    assert problem.message == ("node 'out' reads 'encoder' whole as an input, but 'encoder' (LSTM with return_state) "
                               "gives 3 outputs")
    assert problem.hint == "read one of them: encoder[0] (None, 16), encoder[1] (None, 16), encoder[2] (None, 16)"
