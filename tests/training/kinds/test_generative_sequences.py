"""Generative and paired training kinds: seq2seq, language-model, diffusion.

Fast versions: each kind trains briefly on a tiny size and must show a real effect (the loss
far below where it started, decoding that gets held-out pairs right, samples of the right
content and shape), and `builder generate` writes its file; the diffusion run is interrupted
after two epochs and finishes through `builder train --resume`. The full-size measurements are
bench/quality/seq2seq.py, language_model.py and diffusion.py. Then the pieces on their own:
generated data, character windows, noise schedules, beam search on a known distribution, and
the located errors of each kind.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("keras")

from spec_helpers import SPECS, graph_of  # noqa: E402

from builder.cli import main  # noqa: E402
from builder.errors import Location, SpecError  # noqa: E402
from builder.training.run_folder import RunFolder, read_history  # noqa: E402


def train_text(tmp_path, text, overrides=None, **options):
    from builder.training.run import TrainOptions, train

    graph = graph_of(tmp_path, text, overrides)
    return train(graph, tmp_path / "spec.yaml", TrainOptions(out=tmp_path / "run", verbose=0, diagram=False,
                                                             overrides=overrides or {}, **options))


def library_spec(name: str, replace: dict[str, str] | None = None) -> str:
    text = (SPECS / f"{name}.yaml").read_text()
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def generate(run, *args) -> str:
    result = CliRunner().invoke(main, ["generate", str(run.path), *args])
    assert result.exit_code == 0, result.output
    return result.output


# --- seq2seq ---------------------------------------------------------------------------------------------

REVERSE_4 = "{source: synthetic, task: reverse, samples: 1500, length: 4, validation_split: 0.2}"


def test_lstm_attention_learns_to_reverse_and_decodes_held_out_pairs(tmp_path):
    text = library_spec("seq2seq_attention", {
        "{source: synthetic, task: reverse, samples: 6000, length: 8, validation_split: 0.2}": REVERSE_4,
        "learning_rate: 3.0e-3": "learning_rate: 1.0e-2"})
    run = train_text(tmp_path, text, {"source_vocab": 14, "target_vocab": 14, "embed_dim": 16, "units": 32},
                     epochs=6)
    history = read_history(run.history)
    assert history[-1]["val_loss"] < 0.3 * history[0]["loss"]
    transform = json.loads((run.path / "data.json").read_text())
    assert transform["seq2seq"] == {"start": 1, "end": 2, "target_length": 6, "source_length": 4,
                                    "vocabulary_size": 14}

    out = tmp_path / "reversed.txt"
    generate(run, "-n", "40", "-o", str(out))
    lines = out.read_text().splitlines()
    assert len(lines) == 41
    pairs = [re.match(r"^(\d{4}) -> (\d*)   (ok|wrong)", line) for line in lines[:40]]
    assert all(pairs), lines[:5]
    right = sum(m.group(3) == "ok" for m in pairs)
    assert all((m.group(2) == m.group(1)[::-1]) == (m.group(3) == "ok") for m in pairs)
    assert right >= 30, lines          # chance: 1 in 10,000
    assert lines[40] == f"# {right} of 40 held-out sources decoded exactly (greedy)"

    beam = tmp_path / "beam.txt"
    generate(run, "-n", "40", "-o", str(beam), "--option", "beam=3")
    beam_right = int(re.match(r"# (\d+) of 40", beam.read_text().splitlines()[-1]).group(1))
    assert beam_right >= right - 2
    given = tmp_path / "given.npy"
    generate(run, "-o", str(given), "--option", "source=1234,9876", "--option", "beam=2")
    assert np.load(given).tolist() == ["4321", "6789"]

    result = CliRunner().invoke(main, ["evaluate", str(run.path), "--format", "json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output[result.output.index("{"):])
    assert metrics["loss"] == pytest.approx(history[-1]["val_loss"], rel=1e-3)


def test_transformer_encoder_decoder_learns_the_task(tmp_path):
    text = library_spec("transformer", {
        "{source: synthetic, task: reverse, samples: 6000, length: 8, validation_split: 0.2}": REVERSE_4,
        "learning_rate: {type: cosine, initial_learning_rate: 1.0e-3, warmup_steps: 400, alpha: 0.05}":
            "learning_rate: 3.0e-3"})
    run = train_text(tmp_path, text, {"source_vocab": 14, "target_vocab": 14, "embed_dim": 16, "heads": 2,
                                      "ff_dim": 32, "encoder_layers": 1, "dropout": 0.0}, epochs=8)
    history = read_history(run.history)
    assert history[-1]["val_loss"] < 0.4 * history[0]["loss"]
    assert history[-1]["val_accuracy"] > 0.6     # per token; chance is 1 in 10
    out = tmp_path / "out.txt"
    generate(run, "-n", "10", "-o", str(out), "--option", "beam=2")
    assert len(out.read_text().splitlines()) == 11


def test_synthetic_pairs_are_correct_distinct_and_padded():
    from builder.language.spec import SyntheticData
    from builder.training.data import SYNTHETIC_VOCABULARY, load_data

    def decode(row):
        return "".join(SYNTHETIC_VOCABULARY[i] for i in row if i > 2)

    for task, check in (("reverse", lambda s, t: t == s[::-1]), ("sort", lambda s, t: t == "".join(sorted(s))),
                        ("copy", lambda s, t: t == s),
                        ("add", lambda s, t: int(t) == sum(int(v) for v in s.split("+")))):
        spec = SyntheticData(source="synthetic", task=task, samples=300, length=5, min_length=2,
                             validation_split=0.0)
        data = load_data(spec, Path("."), Location("spec.yaml"), 0)
        x, y = data.x_train, data.y_train
        assert (y[:, 0] == 1).all()
        sources = [decode(row) for row in x]
        assert len(set(sources)) == 300
        for row_x, row_y in zip(x, y):
            end = list(row_y).index(2)
            assert not row_y[end + 1:].any() and 0 not in row_y[1:end]
            assert check(decode(row_x), decode(row_y[:end])), (decode(row_x), decode(row_y))
        assert x.shape[1] == (11 if task == "add" else 5)
        again = load_data(spec, Path("."), Location("spec.yaml"), 0)
        assert (again.x_train == x).all()


def test_too_many_samples_for_a_small_task_is_a_located_error(tmp_path):
    text = library_spec("seq2seq_attention", {"samples: 6000, length: 8": "samples: 900, length: 3"})
    with pytest.raises(SpecError) as info:
        train_text(tmp_path, text, {"source_vocab": 14, "target_vocab": 14, "embed_dim": 8, "units": 8})
    problem = info.value.problems[0]
    assert "has only about 1,000 distinct pairs" in problem.message and problem.location.line > 1


class TableModel:
    """A fake decoder: the next-token distribution depends only on the previous token."""

    def __init__(self, table):
        self.table = np.asarray(table, dtype="float64")

    def predict_on_batch(self, inputs):
        _, target_in = inputs
        return self.table[target_in]


def test_beam_search_finds_the_likelier_sequence_that_greedy_misses():
    from builder.training.kinds.seq2seq import beam_decode, greedy_decode

    # tokens: 0 pad, 1 start, 2 end, 3 "a", 4 "b". From start: a 0.6, b 0.4; after a: a or b 0.5
    # each, never the end in time; after b: end 0.99. Greedy takes a (0.6 * 0.5 * ...); the best
    # sequence is "b <end>" (0.4 * 0.99).
    table = np.zeros((5, 5))
    table[1] = [0, 0, 0, 0.6, 0.4]
    table[3] = [0, 0, 0.0, 0.5, 0.5]
    table[4] = [0, 0, 0.99, 0.01, 0]
    table[2] = table[0] = [1, 0, 0, 0, 0]
    model, sources = TableModel(table), np.zeros((2, 3), "int32")
    greedy = greedy_decode(model, sources, 1, 2, 5)
    assert greedy[0, 0] == 3
    best = beam_decode(model, sources, 1, 2, 5, 3)
    assert best.tolist() == [[4, 2, 0, 0]] * 2


def test_seq2seq_on_a_one_input_model_is_a_located_error(tmp_path):
    text = """
    inputs: {tokens: {shape: [null], dtype: int32}}
    layers:
      - {type: Embedding, input_dim: 14, output_dim: 4}
      - {type: Dense, units: 14, activation: softmax}
    train:
      kind: seq2seq
      data: {source: synthetic, task: copy, samples: 100, length: 4}
    """
    with pytest.raises(SpecError) as info:
        train_text(tmp_path, text)
    problem = info.value.problems[0]
    assert "two inputs" in problem.message and problem.location.line == 6


# --- language model -------------------------------------------------------------------------------------

GPT_TINY = {"vocab": 96, "context": 32, "embed_dim": 32, "heads": 2, "ff_dim": 64, "layers": 1, "dropout": 0.0}
CORPUS = "{source: corpus, name: sklearn_descr, tokens: characters, sequence_length: 33}"


def test_character_gpt_learns_and_samples_with_a_temperature(tmp_path):
    text = library_spec("gpt", {
        "{source: corpus, name: python_docs, tokens: characters, sequence_length: 129}": CORPUS,
        "initial_learning_rate: 1.0e-3, warmup_steps: 200": "initial_learning_rate: 3.0e-3, warmup_steps: 20"})
    run = train_text(tmp_path, text, GPT_TINY, epochs=4, batch_size=32)
    history = read_history(run.history)
    transform = json.loads((run.path / "data.json").read_text())
    vocabulary = transform["vocabulary"]
    assert transform["tokens"] == "characters" and " " in vocabulary and 60 < len(vocabulary) <= 96
    # uniform guessing costs ln(V) per character; the model must beat the text's unigram entropy
    assert history[-1]["val_loss"] < 0.65 * math.log(len(vocabulary))
    assert history[-1]["val_loss"] < 2.9

    out = tmp_path / "samples.txt"
    generate(run, "-n", "3", "-o", str(out), "--seed", "1", "--option", "temperature=0.8",
             "--option", "prompt=The", "--option", "length=40")
    text = out.read_text()
    assert text.count("----- sample ") == 3 and text.startswith("----- sample 1 (temperature 0.8) -----\nThe")
    array = tmp_path / "samples.npy"
    generate(run, "-n", "3", "-o", str(array), "--seed", "1", "--option", "temperature=0.8",
             "--option", "prompt=The", "--option", "length=40")
    samples = np.load(array).tolist()
    assert len(samples) == 3 and len(set(samples)) == 3
    assert all(s.startswith("The") and len(s) == 43 for s in samples), samples
    assert all(set(s) <= set(vocabulary) for s in samples)
    assert samples[0] in text          # the same seed gives the same samples
    cold = tmp_path / "cold.npy"
    generate(run, "-n", "2", "-o", str(cold), "--seed", "2", "--option", "temperature=0.01",
             "--option", "length=20")
    first, second = np.load(cold).tolist()
    assert first == second             # near zero temperature: the most likely character every time


def test_character_windows_of_a_text_file(tmp_path):
    from builder.language.spec import TextData
    from builder.training.data import load_data

    (tmp_path / "t.txt").write_text("abcdefghij" * 10)
    spec = TextData(source="text", path="t.txt", tokens="characters", sequence_length=8, validation_split=0.25)
    data = load_data(spec, tmp_path, Location("spec.yaml"), 0)
    assert data.x_train.shape == (9, 8) and data.x_val.shape == (3, 8)
    vocabulary = data.transform["vocabulary"]
    assert vocabulary[:2] == ["", "[UNK]"] and sorted(vocabulary[2:]) == list("abcdefghij")
    rows = ["".join(vocabulary[i] for i in row) for row in np.concatenate([data.x_train, data.x_val])]
    assert sorted(rows) == sorted(("abcdefghij" * 10)[i:i + 8] for i in range(0, 93, 8))


def test_language_model_vocabulary_larger_than_the_model_is_a_located_error(tmp_path):
    text = library_spec("gpt", {
        "{source: corpus, name: python_docs, tokens: characters, sequence_length: 129}": CORPUS})
    with pytest.raises(SpecError) as info:
        train_text(tmp_path, text, {**GPT_TINY, "vocab": 20})
    assert "the model predicts 20 tokens but the data has" in info.value.problems[0].message
    with pytest.raises(SpecError) as info:
        train_text(tmp_path / "b", text, {**GPT_TINY, "context": 16})
    assert "position embedding holds 16" in info.value.problems[0].message


# --- diffusion ------------------------------------------------------------------------------------------

DDPM_TINY = {"filters": 16, "time_dim": 16}


def ddpm_text(steps: int = 50) -> str:
    return library_spec("ddpm", {"diffusion: {steps: 200, schedule: cosine}":
                                 f"diffusion: {{steps: {steps}, schedule: cosine}}",
                                 "initial_learning_rate: 2.0e-3": "initial_learning_rate: 5.0e-3"})


def test_ddpm_interrupted_resumes_learns_to_predict_noise_and_samples_digit_shaped_images(tmp_path, monkeypatch):
    import builder.training.run as training

    original = training.Throughput.on_epoch_end

    def ctrl_c_after_two(self, epoch, logs=None):   # after the checkpoints and the history row
        original(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(training.Throughput, "on_epoch_end", ctrl_c_after_two)
    with pytest.raises(KeyboardInterrupt):
        train_text(tmp_path, ddpm_text(), DDPM_TINY, epochs=5)
    run_path = tmp_path / "run"
    assert json.loads((run_path / "summary.json").read_text())["status"] == "interrupted"
    assert not (run_path / "model.keras").exists() and (run_path / "checkpoints" / "last.keras").exists()
    monkeypatch.setattr(training.Throughput, "on_epoch_end", original)
    result = CliRunner().invoke(main, ["train", "--resume", str(run_path)])
    assert result.exit_code == 0, result.output

    run = RunFolder(run_path)
    history = read_history(run.history)
    assert [row["epoch"] for row in history] == [1, 2, 3, 4, 5]
    # predicting no noise at all costs 1.0 (unit Gaussian noise), where the zero-initialised output starts
    assert history[0]["loss"] < 1.0 and history[-1]["val_loss"] < 0.35
    summary = json.loads(run.summary.read_text())
    assert summary["status"] == "completed" and summary["kind"] == "diffusion"
    assert summary["samples"] == {"train": 1617, "validation": 180}

    grid = tmp_path / "grid.png"
    generate(run, "-n", "4", "-o", str(grid), "--seed", "0")
    assert grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    array = tmp_path / "samples.npy"
    generate(run, "-n", "5", "-o", str(array), "--seed", "0", "--option", "sampler=ddim", "--option", "steps=10")
    samples = np.load(array)
    assert samples.shape == (5, 8, 8, 1) and samples.dtype == np.float32
    assert samples.min() >= 0.0 and samples.max() <= 1.0 and samples.std() > 0.05


def test_noise_schedules_end_in_noise():
    from builder.language.spec import DiffusionSpec
    from builder.training.kinds.diffusion import noise_schedule

    for spec in (DiffusionSpec(), DiffusionSpec(steps=1000), DiffusionSpec(schedule="cosine", steps=50)):
        betas = noise_schedule(spec)
        abar = np.cumprod(1 - betas)
        assert len(betas) == spec.steps and (np.diff(abar) < 0).all()
        assert abar[0] > 0.99 and abar[-1] < 1e-3
    linear = noise_schedule(DiffusionSpec(steps=1000))
    assert linear[0] == pytest.approx(1e-4) and linear[-1] == pytest.approx(0.02)


def test_a_schedule_that_keeps_the_image_is_a_located_error(tmp_path):
    text = library_spec("ddpm", {"diffusion: {steps: 200, schedule: cosine}":
                                 "diffusion: {steps: 20, beta_start: 1.0e-4, beta_end: 0.02}"})
    with pytest.raises(SpecError) as info:
        train_text(tmp_path, text, DDPM_TINY, epochs=1)
    assert "keeps 90% of the image at the last step" in info.value.problems[0].message


def test_diffusion_settings_on_another_kind_are_a_validation_error(tmp_path):
    text = library_spec("lenet", {"train:\n": "train:\n  diffusion: {steps: 10}\n"})
    with pytest.raises(SpecError) as info:
        graph_of(tmp_path, text)
    assert "sets the noise schedule of kind: diffusion" in info.value.problems[0].message
