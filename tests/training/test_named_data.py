"""Models of several inputs and outputs, trained from named data (`train.data.inputs`, `targets`): a Siamese
network on digit pairs with builder's contrastive loss, Wide & Deep on a tabular vector plus an image with a
loss with arguments and class weights, a triplet network, and two outputs from CSV columns with loss and
sample weights; on every backend. Then the located errors of named data."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("keras")

from spec_helpers import graph_of, write_spec  # noqa: E402

from builder.cli import main  # noqa: E402
from builder.errors import SpecError  # noqa: E402
from builder.training.run_folder import read_history  # noqa: E402


def train_spec(folder, text, **options):
    from builder.training.run import TrainOptions, train

    return train(graph_of(folder, text), folder / "spec.yaml", TrainOptions(out=folder / "run", verbose=0, **options))


def digits():
    """scikit-learn's digits as 8x8x1 images in their own units (0..16), and their labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images[..., None].astype("float32"), bunch.target


def digit_pairs(images, labels, count: int, seed: int):
    """`count` pairs of images, every other one of the same digit (target 1), the rest of two different digits."""
    rng = np.random.default_rng(seed)
    first = rng.integers(0, len(labels), count)
    same = np.arange(count) % 2 == 0
    second = np.array([rng.choice(np.flatnonzero((labels == labels[i]) == s)) for i, s in zip(first, same)])
    return images[first], images[second], same.astype("float32")


# A tower applied to both images through one `model:`, so the two share its weights.
SIAMESE = """
name: siamese
models:
  tower:
    inputs: {image: {shape: [8, 8, 1]}}
    layers:
      - {type: Rescaling, scale: 0.0625}
      - {type: Flatten}
      - {type: Dense, units: 64, activation: relu}
      - {id: embedding, type: Dense, units: 16}
  siamese:
    inputs: {left: {shape: [8, 8, 1]}, right: {shape: [8, 8, 1]}}
    layers:
      - {id: a, model: tower, inputs: left}
      - {id: b, model: tower, inputs: right}
      - {id: difference, type: Subtract, inputs: [a, b]}
      - {id: distance, type: Dot, axes: 1, inputs: [difference, difference]}   # squared distance
train:
  model: siamese
  data: {source: numpy, path: pairs.npz, inputs: {left: first, right: second}, targets: {distance: same}}
  loss: {type: contrastive, margin: 1.0}
  optimizer: {type: adam, learning_rate: 3.0e-3}
  epochs: 6
  batch_size: 32
  seed: 1
"""


def test_a_siamese_network_learns_which_digit_pairs_match(tmp_path):
    images, labels = digits()
    # pairs for training from the first 1,200 images, held-out pairs from the other 597
    first, second, same = digit_pairs(images[:1200], labels[:1200], 1200, seed=0)
    np.savez(tmp_path / "pairs.npz", first=first, second=second, same=same)
    run = train_spec(tmp_path, SIAMESE)
    summary = json.loads(run.summary.read_text())
    assert summary["status"] == "completed" and summary["samples"] == {"train": 960, "validation": 240}
    history = read_history(run.history)
    assert history[-1]["val_loss"] < 0.6 * history[0]["val_loss"]

    runner = CliRunner()   # builder evaluate scores the validation pairs as training did
    result = runner.invoke(main, ["evaluate", str(run.path), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["loss"] == pytest.approx(summary["final"]["val_loss"], rel=1e-4)

    left, right, match = digit_pairs(images[1200:], labels[1200:], 400, seed=1)
    np.savez(tmp_path / "new_pairs.npz", left=left, right=right)   # predict takes an array per input name
    result = runner.invoke(main, ["predict", str(run.path), str(tmp_path / "new_pairs.npz"),
                                  "-o", str(tmp_path / "distances.npy")])
    assert result.exit_code == 0, result.output
    distance = np.load(tmp_path / "distances.npy")[:, 0]
    accuracy = np.mean((distance < 0.5) == (match == 1))   # half the margin; chance is 0.5
    assert accuracy > 0.8, accuracy   # measured 0.86 (TensorFlow), 0.88 (JAX, PyTorch)


def summary_features(images):
    """Four numbers per digit image: its ink, and the ink of its top half, left half and middle."""
    return np.stack([images.sum(axis=(1, 2, 3)), images[:, :4].sum(axis=(1, 2, 3)),
                     images[:, :, :4].sum(axis=(1, 2, 3)), images[:, 2:6, 2:6].sum(axis=(1, 2, 3))], axis=1)


WIDE_AND_DEEP = """
name: wide-and-deep
inputs:
  wide: {shape: [4]}             # summary features: standardised by the data source
  deep: {shape: [8, 8, 1]}       # the image, 0..16
layers:
  - {type: Rescaling, scale: 0.0625, inputs: deep}
  - {type: Conv2D, filters: 8, kernel_size: 3, activation: relu}
  - {type: Flatten}
  - {id: deep_features, type: Dense, units: 32, activation: relu}
  - {id: both, type: Concatenate, inputs: [wide, deep_features]}
  - {id: digit, type: Dense, units: 10}    # logits
train:
  data: {source: numpy, path: digits.npz, inputs: {wide: features, deep: images}, targets: {digit: label}}
  loss: {type: sparse_categorical_crossentropy, from_logits: true}
  metrics: [accuracy]
  class_weight: balanced
  optimizer: {type: adam, learning_rate: 3.0e-3}
  epochs: 8
  batch_size: 32
  seed: 2
"""


def test_wide_and_deep_learns_digits_from_features_and_images_with_class_weights(tmp_path):
    images, labels = digits()
    keep = (labels < 5) | (np.arange(len(labels)) % 3 == 0)   # the digits 5-9 three times rarer
    images, labels = images[keep], labels[keep]
    np.savez(tmp_path / "digits.npz", features=summary_features(images), images=images, label=labels)
    run = train_spec(tmp_path, WIDE_AND_DEEP)
    summary = json.loads(run.summary.read_text())
    # measured 0.95 (TensorFlow), 0.94 (JAX, PyTorch); always answering the commonest digit: about 0.15
    assert summary["final"]["val_accuracy"] > 0.85, summary["final"]
    weights = summary["class_weight"]   # balanced, from the training labels: rare digits weigh about 3x more
    assert sorted(weights) == [str(d) for d in range(10)]
    assert 2.5 < weights["7"] / weights["2"] < 3.5 and weights["2"] < 1 < weights["7"]
    data = json.loads((run.path / "data.json").read_text())
    assert data["kind"] == "inputs" and set(data["inputs"]) == {"wide", "deep"}
    assert "mean" in data["inputs"]["wide"] and "mean" not in data["inputs"]["deep"]   # only the table standardised


TRIPLET = """
name: triplet
models:
  tower:
    inputs: {image: {shape: [8, 8, 1]}}
    layers:
      - {type: Rescaling, scale: 0.0625}
      - {type: Flatten}
      - {type: Dense, units: 32, activation: relu}
      - {id: embedding, type: Dense, units: 8}
  triplet:
    inputs: {anchor: {shape: [8, 8, 1]}, positive: {shape: [8, 8, 1]}, negative: {shape: [8, 8, 1]}}
    layers:
      - {id: a, model: tower, inputs: anchor}
      - {id: p, model: tower, inputs: positive}
      - {id: n, model: tower, inputs: negative}
      - {id: to_positive, type: Subtract, inputs: [a, p]}
      - {id: to_negative, type: Subtract, inputs: [a, n]}
      - {id: d_positive, type: Dot, axes: 1, inputs: [to_positive, to_positive]}
      - {id: d_negative, type: Dot, axes: 1, inputs: [to_negative, to_negative]}
      - {id: distances, type: Concatenate, inputs: [d_positive, d_negative]}
train:
  model: triplet
  data: {source: numpy, path: triples.npz, inputs: {anchor: a, positive: p, negative: n}}
  loss: {type: triplet, margin: 1.0}
  optimizer: {type: adam, learning_rate: 3.0e-3}
  epochs: 4
  seed: 3
"""


def triples(images, labels, count: int, seed: int):
    rng = np.random.default_rng(seed)
    anchor = rng.integers(0, len(labels), count)
    positive = np.array([rng.choice(np.flatnonzero(labels == labels[i])) for i in anchor])
    negative = np.array([rng.choice(np.flatnonzero(labels != labels[i])) for i in anchor])
    return images[anchor], images[positive], images[negative]


def test_a_triplet_network_trains_without_targets(tmp_path):
    images, labels = digits()
    a, p, n = triples(images[:1200], labels[:1200], 1000, seed=0)
    np.savez(tmp_path / "triples.npz", a=a, p=p, n=n)   # no targets: the triplet loss reads none
    run = train_spec(tmp_path, TRIPLET)
    import keras

    import builder  # noqa: F401  (registers the triplet loss the saved model was compiled with)

    model = keras.models.load_model(run.model)
    a, p, n = triples(images[1200:], labels[1200:], 300, seed=1)
    distances = np.asarray(model.predict({"anchor": a, "positive": p, "negative": n}, verbose=0))
    nearer = np.mean(distances[:, 0] < distances[:, 1])   # chance: 0.5
    assert nearer > 0.8, nearer   # measured 0.91 (TensorFlow), 0.94 (JAX, PyTorch)


IRIS_TWO_OUTPUTS = """
name: iris-two
inputs:
  petal: {shape: [2]}
  sepal: {shape: [1]}
layers:
  - {id: both, type: Concatenate, inputs: [petal, sepal]}
  - {id: hidden, type: Dense, units: 16, activation: relu}
  - {id: species, type: Dense, units: 3, activation: softmax, inputs: hidden}
  - {id: length, type: Dense, units: 1, inputs: hidden}
outputs: [species, length]
train:
  data:
    source: csv
    path: iris.csv
    inputs: {petal: [petal_length, petal_width], sepal: [sepal_width]}
    targets: {species: species, length: [sepal_length]}
    sample_weight: weight
  loss: {species: sparse_categorical_crossentropy, length: {type: huber, delta: 0.5}}
  loss_weights: {length: 0.5}
  metrics: {species: [accuracy]}
  optimizer: {type: adam, learning_rate: 0.02}
  epochs: 30
  batch_size: 16
  seed: 3
"""


def write_iris(path, weights=None):
    from sklearn.datasets import load_iris

    iris = load_iris()
    weights = np.ones(len(iris.target)) if weights is None else weights
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sepal_length", "sepal_width", "petal_length", "petal_width", "species", "weight"])
        for row, label, weight in zip(iris.data, iris.target, weights):
            writer.writerow([*row, iris.target_names[label], weight])


def test_two_outputs_from_csv_columns_with_loss_and_sample_weights(tmp_path):
    write_iris(tmp_path / "iris.csv")
    run = train_spec(tmp_path, IRIS_TWO_OUTPUTS)
    last = read_history(run.history)[-1]
    assert {"species_loss", "length_loss", "val_species_accuracy"} <= set(last)
    assert last["val_species_accuracy"] > 0.85   # chance is 0.33
    import keras

    config = keras.models.load_model(run.model).get_compile_config()   # what the run compiled, as saved
    assert config["loss_weights"] == {"species": 1.0, "length": 0.5}
    assert config["loss"]["length"]["class_name"] == "Huber"   # the loss with arguments, by its class


def test_training_batches_carry_the_sample_weights_on_every_backend():
    from builder.training.run import fit_arguments

    x = {"a": np.arange(8, dtype="float32")[:, None], "b": np.ones((8, 2), "float32")}
    y, w = [np.arange(8), np.zeros((8, 1), "float32")], np.linspace(0, 1, 8).astype("float32")
    arguments = fit_arguments(x, y, x, y, 4, False, 0, weights=([w, w], None))
    training = arguments["x"]
    first = next(iter(training)) if hasattr(training, "element_spec") else training[0]
    inputs, targets, weights = first
    assert set(inputs) == {"a", "b"} and len(targets) == 2
    np.testing.assert_allclose(np.asarray(weights[0]), w[:4])
    assert len(next(iter(arguments["validation_data"])) if hasattr(training, "element_spec")
               else arguments["validation_data"][0]) == 2   # validation: no weights given, none carried


def test_class_weights_written_as_keras_writes_them(tmp_path):
    from spec_helpers import iris_mlp

    spec = iris_mlp(epochs=1).replace("  seed: 3", "  seed: 3\n  class_weight: {0: 1.0, 2: 5.0}")
    run = train_spec(tmp_path, spec)
    # integer keys, as in Keras' class_weight={0: 1.0, 2: 5.0}; class 1, not named, weighs 1
    assert json.loads(run.summary.read_text())["class_weight"] == {"0": 1.0, "2": 5.0}
    with pytest.raises(SpecError, match="class_weight names class 7, which no training label has"):
        train_spec(tmp_path / "again", spec.replace("2: 5.0", "7: 5.0"))


# --- located errors ---------------------------------------------------------------------------------------


def problem(tmp_path, text) -> str:
    with pytest.raises(SpecError) as caught:
        train_spec(tmp_path, text)
    (only,) = caught.value.problems
    return f"{only.location.line}: {only.message} | {only.hint}"


def test_a_key_the_npz_file_lacks_is_located_at_its_entry_and_the_keys_are_listed(tmp_path):
    images, labels = digits()
    np.savez(tmp_path / "pairs.npz", first=images[:10], secnd=images[:10], same=np.ones(10, "float32"))
    message = problem(tmp_path, SIAMESE)
    spec = (tmp_path / "spec.yaml").read_text().splitlines()
    assert message.startswith(f"{next(i for i, line in enumerate(spec, 1) if 'inputs: {left: first' in line)}: ")
    assert "has no array 'second'; it has first, secnd, same" in message and "did you mean 'secnd'?" in message


def test_arrays_of_different_lengths_are_a_located_error(tmp_path):
    images, _ = digits()
    np.savez(tmp_path / "pairs.npz", first=images[:10], second=images[:9], same=np.ones(10, "float32"))
    message = problem(tmp_path, SIAMESE)
    assert "different numbers of samples: left=first 10, right=second 9, distance=same 10" in message
    assert "one row per sample" in message


def test_class_weight_of_a_model_with_two_outputs_is_a_located_error(tmp_path):
    write_iris(tmp_path / "iris.csv")
    message = problem(tmp_path, IRIS_TWO_OUTPUTS.replace("  loss_weights:", "  class_weight: balanced\n  loss_weights:"))
    assert "class_weight weighs the classes of one output; this model has 2 outputs" in message
    assert "train.data.sample_weight" in message


def test_negative_sample_weights_are_refused(tmp_path):
    write_iris(tmp_path / "iris.csv", weights=np.r_[np.ones(149), -1.0])
    assert "sample weights must be >= 0; 1 are negative" in problem(tmp_path, IRIS_TWO_OUTPUTS)


def test_several_inputs_and_data_without_names_are_refused_by_validate_with_the_mapping_to_write(tmp_path):
    spec = write_spec(tmp_path, SIAMESE.replace(
        "{source: numpy, path: pairs.npz, inputs: {left: first, right: second}, targets: {distance: same}}",
        "{source: numpy, path: pairs.npz}"))
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code == 1
    assert "model 'siamese' has 2 inputs (left, right); the data gives one array" in result.output
    assert "inputs: {left: ARRAY, right: ARRAY}" in result.output
