"""Data sources on their own (`builder.training.data`): what each gives, split and scaled, before any training."""

from __future__ import annotations

import numpy as np
import pytest

from builder.errors import Location, SpecError
from builder.language.spec import BuiltinData, CsvData, NumpyData
from builder.training.data import load_data

HERE = Location("spec.yaml", 9, 3)


def test_builtin_digits_split_with_the_seed_and_scaled_to_the_unit_interval(tmp_path):
    spec = BuiltinData(source="builtin", name="digits", image=True)
    data = load_data(spec, tmp_path, HERE, seed=0)
    again = load_data(spec, tmp_path, HERE, seed=0)
    assert data.x_train.shape == (1438, 8, 8, 1) and data.x_val.shape == (359, 8, 8, 1)   # 1,797 at 0.2
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0
    assert data.transform["scale"] == 1 / 16                    # raw digit pixels run 0..16
    np.testing.assert_array_equal(data.y_train, again.y_train)   # the same seed, the same split
    assert sorted(set(data.y_train.tolist())) == list(range(10))


def test_csv_labels_that_are_text_become_class_indices(tmp_path):
    (tmp_path / "data.csv").write_text("a,b,kind\n" + "".join(f"{i},{i * 2},{'odd' if i % 2 else 'even'}\n"
                                                             for i in range(10)))
    data = load_data(CsvData(source="csv", path="data.csv", label="kind", validation_split=0.0), tmp_path, HERE)
    assert data.classes == ["even", "odd"]
    assert data.x_train.shape == (10, 2) and data.x_val is None
    assert sorted(data.y_train.tolist()) == [0] * 5 + [1] * 5


def test_features_are_standardised_with_the_training_split_alone(tmp_path):
    x = np.arange(40, dtype="float32").reshape(20, 2)
    np.savez(tmp_path / "data.npz", x=x, y=np.arange(20) % 2)
    spec = NumpyData(source="numpy", path="data.npz", validation_split=0.25, shuffle=False)
    data = load_data(spec, tmp_path, HERE)
    held_out, train = x[:5], x[5:]                         # unshuffled: the first quarter is held out
    mean, std = train.mean(axis=0), train.std(axis=0)
    np.testing.assert_allclose(data.x_train, (train - mean) / std, rtol=1e-6)
    np.testing.assert_allclose(data.x_val, (held_out - mean) / std, rtol=1e-6)   # the validation data too
    assert data.transform["mean"] == mean.tolist() and data.transform["std"] == std.tolist()   # for predict
    raw = load_data(spec.model_copy(update={"normalize": False}), tmp_path, HERE)
    np.testing.assert_array_equal(np.concatenate([raw.x_val, raw.x_train]), x)


def test_a_missing_file_is_an_error_where_the_data_is_named(tmp_path):
    with pytest.raises(SpecError) as caught:
        load_data(CsvData(source="csv", path="nowhere.csv", label="y"), tmp_path, HERE)
    [problem] = caught.value.problems
    assert problem.location == HERE and problem.message == f"{tmp_path / 'nowhere.csv'}: no such file"
    assert problem.hint == "data paths are relative to the spec's folder"
