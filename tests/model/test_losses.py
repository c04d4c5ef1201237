"""builder's own losses (builder.model.losses): what they compute, against NumPy, on every backend; their
arguments refused in Keras' style; a model compiled with them saved and reopened in a fresh Python after
`import builder`; and the catalogue knows each, so a spec may name it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from builder.language.catalogue import catalogue  # noqa: E402
from builder.model.losses import LOSSES, ContrastiveLoss, TripletLoss  # noqa: E402


def test_contrastive_pulls_similar_pairs_together_and_pushes_others_past_the_margin():
    distance = np.array([[0.5], [0.5], [2.0], [0.0]], "float32")
    similar = np.array([1, 0, 0, 1], "float32")   # labels of shape (batch,) against outputs (batch, 1)
    expected = np.mean([0.5 ** 2, (1.0 - 0.5) ** 2, 0.0, 0.0])
    assert float(ContrastiveLoss(margin=1.0)(similar, distance)) == pytest.approx(expected, rel=1e-6)
    # a wider margin makes the dissimilar pair at 0.5 cost more, and the one at 2.0 still nothing
    assert float(ContrastiveLoss(margin=3.0)(similar, distance)) == pytest.approx(
        np.mean([0.25, 2.5 ** 2, 1.0, 0.0]), rel=1e-6)


def test_triplet_costs_only_what_the_negative_lacks_of_the_margin():
    distances = np.array([[1.0, 2.0], [2.0, 1.0], [1.0, 1.2]], "float32")   # [to positive, to negative]
    loss = TripletLoss(margin=0.5)(np.zeros(3), distances)   # the targets are not read
    assert float(loss) == pytest.approx(np.mean([0.0, 1.5, 0.3]), rel=1e-6)


@pytest.mark.parametrize("loss", [ContrastiveLoss, TripletLoss])
def test_the_margin_must_be_positive(loss):
    with pytest.raises(ValueError, match=r"expected a number > 0. Received: margin=0"):
        loss(margin=0)


def test_triplet_refuses_an_output_that_is_not_two_distances():
    with pytest.raises(ValueError, match="two distances per sample"):
        TripletLoss()(np.zeros(2), np.ones((2, 3), "float32"))


def test_a_model_compiled_with_them_reopens_in_a_fresh_python_after_import_builder(tmp_path):
    left, right = keras.Input((3,), name="left"), keras.Input((3,), name="right")
    shared = keras.layers.Dense(2, name="embed")
    difference = keras.layers.Subtract()([shared(left), shared(right)])
    distance = keras.layers.Dot(axes=1, name="distance")([difference, difference])
    pair = keras.layers.Concatenate(name="pair")([distance, distance])
    model = keras.Model([left, right], [distance, pair])
    model.compile(optimizer="sgd", loss={"distance": ContrastiveLoss(margin=2.0), "pair": TripletLoss(margin=0.5)})
    x = {"left": np.random.default_rng(0).normal(size=(8, 3)).astype("float32"),
         "right": np.random.default_rng(1).normal(size=(8, 3)).astype("float32")}
    y = [np.arange(8) % 2, np.zeros(8)]
    ours = model.evaluate(x, y, verbose=0, return_dict=True)
    model.save(tmp_path / "model.keras")
    np.savez(tmp_path / "data.npz", **x)
    script = tmp_path / "reopen.py"
    script.write_text(textwrap.dedent(f"""
        import json, numpy as np
        import builder, keras
        model = keras.models.load_model({str(tmp_path / 'model.keras')!r})
        data = np.load({str(tmp_path / 'data.npz')!r})
        x = {{"left": data["left"], "right": data["right"]}}
        scores = model.evaluate(x, [np.arange(8) % 2, np.zeros(8)], verbose=0, return_dict=True)
        losses = model.loss
        print(json.dumps({{"scores": scores, "margins": [losses["distance"].margin, losses["pair"].margin]}}))
    """))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    import json

    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    assert theirs["margins"] == [2.0, 0.5]
    for name, value in ours.items():
        assert theirs["scores"][name] == pytest.approx(value, rel=1e-5), name


def test_the_catalogue_knows_every_builder_loss_and_its_arguments():
    objects = catalogue().objects["losses"]
    for name, cls in LOSSES.items():   # (a new loss fails here until `builder catalogue` records it)
        assert name in catalogue().names["losses"], name
        assert objects["aliases"][name] == cls.__name__
        assert "margin" in objects["classes"][cls.__name__]["args"]
