"""language-model: a causal model trained to predict the next token, sampled with a temperature.

The spec's model reads token ids `(batch, length)` and gives a distribution over the vocabulary
at every position (a GPT: causal self-attention, so position t sees tokens <= t only). The data
is token windows: `source: text` or `source: corpus` (with `tokens: characters` for a
character-level model); the model reads `window[:, :-1]` and learns `window[:, 1:]`.

`builder generate RUN -n N -o out.txt` continues a prompt N times, one token at a time:
`--option prompt=...` (default: a new line), `--option temperature=0.8` (lower: safer, higher:
more varied), `--option length=300` (tokens to add), `--option top_k=20` (sample among the k
most likely only).
"""

from __future__ import annotations

import numpy as np

from builder.errors import Location, SpecError
from builder.model.inspect import every_layer
from builder.training.kinds.base import (KindMismatch, Plan, Request, Samples, check_options, evaluation, sampler,
                                         scored_as_trained, training_kind)


def longest_sequence(model) -> int | None:
    """The most positions the model's position embeddings accept (None: no such limit)."""
    limits = [layer.sequence_length for layer in every_layer(model)
              if type(layer).__name__ in ("TokenAndPositionEmbedding", "PositionEmbedding")]
    return min(limits) if limits else None


@training_kind("language-model")
def language_model(graph, models, data) -> Plan:
    model = models[graph.main]
    if len(model.inputs) != 1:
        raise KindMismatch(f"language-model trains a model with one input, the token ids; model {graph.main!r} "
                           f"has {len(model.inputs)}")
    x = data.x_train
    if np.ndim(x) != 2 or x.dtype.kind not in "iu":
        raise KindMismatch("language-model trains on token sequences: use `source: text` or `source: corpus`")
    if x.shape[1] < 2:
        raise KindMismatch("language-model needs windows of at least 2 tokens (sequence_length >= 2)")
    vocabulary = data.transform.get("vocabulary")
    needed = len(vocabulary) if vocabulary else int(x.max()) + 1
    predicted = model.outputs[0].shape[-1]
    if predicted is not None and predicted < needed:
        raise KindMismatch(f"the model predicts {predicted} tokens but the data has {needed}; set the model's "
                           f"vocabulary size (output units and embedding) to at least {needed}")
    limit = longest_sequence(model)
    if limit is not None and limit < x.shape[1] - 1:
        raise KindMismatch(f"the model reads windows of {x.shape[1] - 1} tokens (train.data.sequence_length - 1) "
                           f"but its position embedding holds {limit}; lower sequence_length to at most "
                           f"{limit + 1} or raise the model's context")
    x_val = None if data.x_val is None else data.x_val[:, :-1]
    y_val = None if data.x_val is None else data.x_val[:, 1:]
    return Plan(model, x[:, :-1], x[:, 1:], x_val, y_val, "sparse_categorical_crossentropy")


evaluation("language-model")(scored_as_trained(language_model))   # `builder evaluate` scores what fit saw


# --- sampling -----------------------------------------------------------------------------------------------

def next_token_distribution(probabilities: np.ndarray, temperature: float, top_k: int | None,
                            banned: list[int], vocabulary_size: int | None = None) -> np.ndarray:
    """Rows of model outputs (probabilities, or logits) -> the distribution to sample from.

    `banned` ids (padding, out-of-vocabulary) and ids past `vocabulary_size` (a model with
    more outputs than the data has tokens) get no probability.
    """
    p = np.asarray(probabilities, dtype="float64")
    is_probability = np.all(p >= 0) and np.allclose(p.sum(axis=-1), 1.0, atol=1e-3)
    logits = np.log(np.maximum(p, 1e-30)) if is_probability else p.copy()
    logits = logits / temperature
    logits[:, banned] = -np.inf
    if vocabulary_size is not None:
        logits[:, vocabulary_size:] = -np.inf
    if top_k is not None and top_k < logits.shape[-1]:
        cut = np.partition(logits, -top_k, axis=-1)[:, -top_k][:, None]
        logits = np.where(logits < cut, -np.inf, logits)
    logits -= logits.max(axis=-1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=-1, keepdims=True)


def generate_tokens(model, prompt: list[int], n: int, length: int, context: int, temperature: float,
                    top_k: int | None, banned: list[int], rng: np.random.Generator,
                    vocabulary_size: int | None = None) -> np.ndarray:
    """Continue `prompt` n times by `length` tokens; the model sees at most `context` tokens at once.

    Every call reads a fixed-size window (causal attention: what follows the current position,
    padding, cannot change its prediction), so the model is traced once.
    """
    tokens = np.tile(np.asarray(prompt, dtype="int32"), (n, 1))
    for _ in range(length):
        window = tokens[:, -context:]
        position = window.shape[1] - 1
        if window.shape[1] < context:
            window = np.pad(window, ((0, 0), (0, context - window.shape[1])))
        outputs = np.asarray(model.predict_on_batch(window))[:, position]
        distribution = next_token_distribution(outputs, temperature, top_k, banned, vocabulary_size)
        cumulative = distribution.cumsum(axis=-1)
        choice = (cumulative < rng.random((n, 1)) * cumulative[:, -1:]).sum(axis=-1)
        tokens = np.concatenate([tokens, np.minimum(choice, distribution.shape[-1] - 1)[:, None]
                                 .astype("int32")], axis=1)
    return tokens


@sampler("language-model")
def sample_language_model(request: Request) -> Samples:
    from builder.training.data import split_tokens
    from builder.training.run_folder import read_transform

    options = check_options(request, {
        "temperature": (float, lambda v: 0 < v <= 100, "a number > 0 (1: the model's own distribution)"),
        "prompt": (str, lambda v: True, "text"),
        "length": (int, lambda v: 1 <= v <= 100_000, "a number of tokens from 1 to 100000"),
        "top_k": (int, lambda v: v >= 1, "a positive number of tokens"),
    })
    location = Location(str(request.run.path))
    transform = read_transform(request.run)
    vocabulary = transform.get("vocabulary")
    if not vocabulary:
        raise SpecError.single(location, "this run's data has no vocabulary (data.json); it cannot turn text "
                                         "into tokens")
    mode = transform.get("tokens", "words")
    model = request.models.get(request.graph.main) or next(iter(request.models.values()))
    context = int(transform["sequence_length"]) - 1
    index = {word: i for i, word in enumerate(vocabulary) if word}
    text = options.get("prompt")
    if text is None:
        text = "\n" if mode == "characters" and "\n" in index else vocabulary[min(2, len(vocabulary) - 1)]
    text = text.replace("\\n", "\n")
    prompt = [index.get(word, 1) for word in split_tokens(text, mode)]
    if not prompt:
        raise SpecError.single(location, "option prompt: the prompt has no tokens of this run's vocabulary")
    rng = np.random.default_rng(request.seed)
    tokens = generate_tokens(model, prompt, request.n, options.get("length", 300 if mode == "characters" else 60),
                             context, options.get("temperature", 1.0), options.get("top_k"), [0, 1], rng,
                             len(vocabulary))
    separator = "" if mode == "characters" else " "
    texts = [separator.join(vocabulary[i] for i in row if i > 1) for row in tokens]
    lines = []
    for i, sample in enumerate(texts):
        lines += [f"----- sample {i + 1} (temperature {options.get('temperature', 1.0)}) -----", sample]
    return Samples(texts=lines, array=np.array(texts))
