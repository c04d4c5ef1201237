"""seq2seq: an encoder-decoder trained with teacher forcing, decoded greedily or by beam search.

The spec's model has two inputs, in this order: the source tokens and the decoder's input
(`target_in`). The data gives source sequences as `x` and target sequences as `y` (token ids,
0-padded), each target starting with the start token; the decoder reads the target shifted
right, `y[:, :-1]`, and learns to predict `y[:, 1:]` at every position (padded positions give
no loss when the decoder's embedding has `mask_zero: true`). `source: synthetic` generates such
pairs (reverse, copy, sort or add digit strings); `source: numpy` reads your own.

`builder generate RUN -n N -o out.txt` decodes N held-out sources (or `--option source=1234,987`),
greedily or with `--option beam=4`, and writes `source -> output` lines, with the expected
target and whether it matched for held-out pairs.
"""

from __future__ import annotations

import numpy as np

from builder.errors import Location, SpecError
from builder.training.kinds.base import (KindMismatch, Plan, Request, Samples, check_options, evaluation, sampler,
                                         scored_as_trained, training_kind)


@training_kind("seq2seq")
def seq2seq(graph, models, data) -> Plan:
    model = models[graph.main]
    if len(model.inputs) != 2:
        raise KindMismatch(f"seq2seq trains a model with two inputs, the source tokens and the decoder's input "
                           f"(the target shifted right); model {graph.main!r} has {len(model.inputs)}")
    y, x = data.y_train, data.x_train
    if y is None or np.ndim(y) != 2 or np.ndim(x) != 2 or y.dtype.kind not in "iu" or x.dtype.kind not in "iu":
        raise KindMismatch("seq2seq needs pairs of token sequences: source ids as x and target ids as y, each "
                           "(samples, length); use `source: synthetic` or an .npz with both (`source: numpy`)")
    if y.shape[1] < 2:
        raise KindMismatch(f"seq2seq targets need a start token and at least one more; these have length {y.shape[1]}")
    settings = _settings(data)
    starts = y[:, 0] != settings["start"]
    if starts.any():
        raise KindMismatch(f"every target must begin with the start token (id {settings['start']}); "
                           f"{int(starts.sum())} of {len(y)} do not")
    predicted = model.outputs[0].shape[-1]
    needed = settings["vocabulary_size"]
    if predicted is not None and predicted < needed:
        raise KindMismatch(f"the model predicts {predicted} tokens but the data has {needed} (ids 0 to {needed - 1}); "
                           f"make the output layer's units (and the embeddings' input_dim) at least {needed}")
    data.transform["seq2seq"] = settings   # kept in the run's data.json for `generate`
    x_val = None if data.x_val is None else (data.x_val, data.y_val[:, :-1])
    y_val = None if data.y_val is None else data.y_val[:, 1:]
    return Plan(model, (x, y[:, :-1]), y[:, 1:], x_val, y_val, "sparse_categorical_crossentropy")


evaluation("seq2seq")(scored_as_trained(seq2seq))   # `builder evaluate` scores what fit saw


def _settings(data) -> dict:
    """Start and end tokens, lengths and vocabulary size, from the source or from the data itself."""
    t = data.transform
    y = data.y_train
    if "start" in t:
        start, end = int(t["start"]), t.get("end")
    else:  # user data: the start token is what targets begin with; the end token, if any, is unknown
        values, counts = np.unique(y[:, 0], return_counts=True)
        start, end = int(values[np.argmax(counts)]), None
    arrays = [data.x_train, y] + ([data.x_val, data.y_val] if data.x_val is not None else [])
    size = len(t["vocabulary"]) if "vocabulary" in t else int(max(a.max() for a in arrays)) + 1
    return {"start": start, "end": None if end is None else int(end), "target_length": int(y.shape[1]),
            "source_length": int(data.x_train.shape[1]), "vocabulary_size": size}


# --- decoding ------------------------------------------------------------------------------------------

def _predict(model, source: np.ndarray, target_in: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict_on_batch([source, target_in]), dtype="float64")


def greedy_decode(model, sources: np.ndarray, start: int, end: int | None, target_length: int) -> np.ndarray:
    """The most likely next token at every step; (n, target_length - 1) ids, 0 after the end token."""
    n, steps = len(sources), target_length - 1
    target_in = np.zeros((n, steps), dtype="int32")
    target_in[:, 0] = start
    out = np.zeros((n, steps), dtype="int32")
    done = np.zeros(n, dtype=bool)
    for t in range(steps):
        probabilities = _predict(model, sources, target_in)[:, t]
        probabilities[:, 0] = -1.0           # never predict padding while decoding
        token = np.where(done, 0, probabilities.argmax(axis=-1))
        out[:, t] = token
        if end is not None:
            done |= token == end
        if t + 1 < steps:
            target_in[:, t + 1] = token
        if done.all():
            break
    return out


def beam_decode(model, sources: np.ndarray, start: int, end: int | None, target_length: int,
                width: int) -> np.ndarray:
    """Beam search: keeps the `width` most likely partial targets of each source (sum of log-probabilities)."""
    n, steps = len(sources), target_length - 1
    src = np.repeat(sources, width, axis=0)
    target_in = np.zeros((n * width, steps), dtype="int32")
    target_in[:, 0] = start
    seqs = np.zeros((n, width, steps), dtype="int32")
    scores = np.full((n, width), -np.inf)
    scores[:, 0] = 0.0                       # one live beam at first: the others would repeat it
    done = np.zeros((n, width), dtype=bool)
    rows = np.arange(n)[:, None]
    for t in range(steps):
        probabilities = _predict(model, src, target_in)[:, t]
        vocab = probabilities.shape[-1]
        logp = np.log(np.maximum(probabilities, 1e-30)).reshape(n, width, vocab)
        logp[..., 0] = -np.inf               # a live beam never pads
        logp[done] = -np.inf                 # a finished beam only pads, at no cost
        logp[..., 0][done] = 0.0
        candidates = (scores[..., None] + logp).reshape(n, width * vocab)
        top = np.argsort(-candidates, axis=1, kind="stable")[:, :width]
        beam, token = top // vocab, top % vocab
        scores = np.take_along_axis(candidates, top, axis=1)
        seqs = seqs[rows, beam]
        seqs[:, :, t] = token
        done = done[rows, beam] | ((token == end) if end is not None else False)
        target_in = target_in.reshape(n, width, steps)[rows, beam].reshape(n * width, steps)
        if t + 1 < steps:
            target_in[:, t + 1] = token.reshape(-1)
        if done.all():
            break
    return seqs[:, 0]                         # candidates are sorted: beam 0 is the best


def decode_text(ids, vocabulary: list | None, end: int | None, separator: str) -> str:
    """Token ids -> text, up to the end token, without padding or the start token."""
    words = []
    for i in (int(v) for v in ids):
        if end is not None and i == end:
            break
        if i == 0:
            continue
        words.append(vocabulary[i] if vocabulary and i < len(vocabulary) else str(i))
    return separator.join(words)


def _encode(text: str, transform: dict, length: int, location: Location) -> np.ndarray:
    from builder.training.data import split_tokens

    vocabulary = transform.get("vocabulary")
    if not vocabulary:
        try:
            ids = [int(v) for v in text.split()]
        except ValueError:
            raise SpecError.single(location, f"this run's data has no vocabulary; give sources as token ids "
                                             f"separated by spaces. Received: {text!r}") from None
    else:
        index = {word: i for i, word in enumerate(vocabulary) if word}
        tokens = split_tokens(text, transform.get("tokens", "words"))
        unknown = [w for w in tokens if w not in index]
        if unknown:
            raise SpecError.single(location, f"{unknown[0]!r} is not in this run's vocabulary",
                                   f"its tokens: {' '.join(w for w in vocabulary[:40] if w)}")
        ids = [index[w] for w in tokens]
    if len(ids) > length:
        raise SpecError.single(location, f"the source {text!r} has {len(ids)} tokens; this run's model "
                                         f"trained on at most {length}")
    row = np.zeros(length, dtype="int32")
    row[: len(ids)] = ids
    return row


@sampler("seq2seq")
def sample_seq2seq(request: Request) -> Samples:
    from builder.training.run_folder import read_transform, run_data

    options = check_options(request, {
        "beam": (int, lambda v: 1 <= v <= 64, "a beam width from 1 to 64 (1: greedy)"),
        "source": (str, lambda v: len(v) > 0, "source sequences separated by commas"),
    })
    transform = read_transform(request.run)
    settings = transform.get("seq2seq")
    location = Location(str(request.run.path))
    if settings is None:
        raise SpecError.single(location, "this run has no seq2seq settings in data.json (did it start training?)")
    model = request.models.get(request.graph.main) or next(iter(request.models.values()))
    vocabulary = transform.get("vocabulary")
    separator = "" if transform.get("tokens") == "characters" else " "
    if "source" in options:
        texts = [s.strip() for s in options["source"].split(",") if s.strip()]
        sources = np.stack([_encode(s, transform, settings["source_length"], location) for s in texts])
        expected = None
    else:
        _, data = run_data(request.run)
        x, y = (data.x_val, data.y_val) if data.x_val is not None else (data.x_train, data.y_train)
        sources, targets = x[: request.n], y[: request.n]
        expected = [decode_text(t[1:], vocabulary, settings["end"], separator) for t in targets]
    width = options.get("beam", 1)
    args = (model, sources, settings["start"], settings["end"], settings["target_length"])
    ids = greedy_decode(*args) if width == 1 else beam_decode(*args, width)
    outputs = [decode_text(row, vocabulary, settings["end"], separator) for row in ids]
    lines = []
    for i, out in enumerate(outputs):
        line = f"{decode_text(sources[i], vocabulary, None, separator)} -> {out}"
        if expected is not None:
            line += "   ok" if out == expected[i] else f"   wrong (expected {expected[i]})"
        lines.append(line)
    if expected is not None:
        right = sum(o == e for o, e in zip(outputs, expected))
        lines.append(f"# {right} of {len(outputs)} held-out sources decoded exactly "
                     f"({'greedy' if width == 1 else f'beam search, width {width}'})")
    return Samples(texts=lines, array=np.array(outputs))
