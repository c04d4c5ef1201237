"""diffusion: a denoising diffusion model (DDPM, Ho, Jain, Abbeel 2020) with the spec's model as denoiser.

The spec's model reads a noisy image and its timestep (two inputs: the image, of rank 3 without
the batch axis, and a timestep of shape [] or [1]) and predicts the noise that was added. The
noise schedule is `train.diffusion` (`steps`, `schedule: linear | cosine`, `beta_start`,
`beta_end`). Training is Keras' own `fit` on a wrapper model: a `DiffusionNoise` layer draws a
timestep t and Gaussian noise for every image of every batch, makes
`x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise`, the denoiser predicts the noise, and the
wrapper's output is `prediction - noise`, trained towards 0 with the mean squared error: the
"simple" loss of the paper. No custom train step, so it runs on every backend; the images are
scaled to [-1, 1] first.

`builder generate RUN -n N -o grid.png` runs the reverse process from pure noise: ancestral
DDPM sampling over all `steps` (clipping each estimate of x_0 to [-1, 1]), or with
`--option sampler=ddim --option steps=50`, deterministic DDIM (Song et al. 2021) over fewer steps.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from builder.errors import Location, SpecError
from builder.language.spec import DiffusionSpec
from builder.training.kinds.base import (KindMismatch, Plan, Request, Samples, check_options, evaluation, sampler,
                                         scored_as_trained, training_kind)


def noise_schedule(spec: DiffusionSpec | None) -> np.ndarray:
    """The betas of the forward process, float64, one per step."""
    spec = spec or DiffusionSpec()
    steps = spec.steps
    if spec.schedule == "cosine":   # Nichol & Dhariwal 2021, eq. 17
        s = 0.008
        f = np.cos((np.arange(steps + 1) / steps + s) / (1 + s) * math.pi / 2) ** 2
        return np.clip(1 - f[1:] / f[:-1], 0.0, 0.999)
    start = spec.beta_start if spec.beta_start is not None else min(1e-4 * 1000 / steps, 0.999)
    end = spec.beta_end if spec.beta_end is not None else min(0.02 * 1000 / steps, 0.999)
    return np.linspace(start, end, steps, dtype="float64")


@keras.saving.register_keras_serializable(package="builder")
class DiffusionNoise(keras.layers.Layer):
    """x_0 -> (x_t, t, noise): a random timestep and Gaussian noise per sample (the forward process)."""

    def __init__(self, alphas_cumprod, timestep_shape=(1,), timestep_dtype="int32", seed=None, **kwargs):
        super().__init__(**kwargs)
        self.alphas_cumprod = [float(a) for a in alphas_cumprod]
        self.timestep_shape = tuple(int(d) for d in timestep_shape)
        self.timestep_dtype = timestep_dtype
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x0):
        batch = ops.shape(x0)[0]
        steps = len(self.alphas_cumprod)
        t = keras.random.randint((batch,), 0, steps, dtype="int32", seed=self.seed_generator)
        noise = keras.random.normal(ops.shape(x0), dtype=x0.dtype, seed=self.seed_generator)
        abar = ops.take(ops.convert_to_tensor(np.asarray(self.alphas_cumprod, "float32")), t)
        abar = ops.cast(ops.reshape(abar, (-1,) + (1,) * (len(x0.shape) - 1)), x0.dtype)
        noisy = ops.sqrt(abar) * x0 + ops.sqrt(1.0 - abar) * noise
        timestep = ops.cast(ops.reshape(t, (-1,) + self.timestep_shape), self.timestep_dtype)
        return noisy, timestep, noise

    def compute_output_spec(self, x0):
        timestep = keras.KerasTensor((x0.shape[0],) + self.timestep_shape, dtype=self.timestep_dtype)
        return (keras.KerasTensor(x0.shape, dtype=x0.dtype), timestep, keras.KerasTensor(x0.shape, dtype=x0.dtype))

    def get_config(self):
        return {**super().get_config(), "alphas_cumprod": self.alphas_cumprod,
                "timestep_shape": list(self.timestep_shape), "timestep_dtype": self.timestep_dtype,
                "seed": self.seed}


def _roles(model) -> tuple[int, int]:
    """(index of the image input, index of the timestep input) of a denoiser."""
    if len(model.inputs) != 2:
        raise KindMismatch(f"diffusion trains a denoiser with two inputs, the noisy image and its timestep; model "
                           f"{model.name!r} has {len(model.inputs)}")
    ranks = [len(t.shape) - 1 for t in model.inputs]
    images = [i for i, r in enumerate(ranks) if r >= 2]
    steps = [i for i, r in enumerate(ranks) if r <= 1 and all(d in (1,) for d in model.inputs[i].shape[1:])]
    if len(images) != 1 or len(steps) != 1:
        raise KindMismatch("diffusion's denoiser needs an image input (e.g. shape [8, 8, 1]) and a timestep input "
                           "of shape [] or [1]; this model's inputs have shapes "
                           f"{[list(t.shape[1:]) for t in model.inputs]}")
    return images[0], steps[0]


@training_kind("diffusion")
def diffusion(graph, models, data) -> Plan:
    from builder.training.data import check_data_shapes

    denoiser = models[graph.main]
    wrapper = _trained_wrapper(denoiser)   # a run's saved model (`builder evaluate`): already wrapped
    if wrapper is not None:
        denoiser = next(layer for layer in wrapper.layers if isinstance(layer, keras.Model))
    image, step = _roles(denoiser)
    x = data.x_train
    if np.ndim(x) < 3 or x.dtype.kind != "f":
        raise KindMismatch("diffusion trains on images; use e.g. `{source: builtin, name: digits, image: true}`")
    timestep_input = denoiser.inputs[step]
    dummy = [None, None]
    dummy[image], dummy[step] = x[:1], np.zeros((1,) + tuple(timestep_input.shape[1:]), "int32")
    check_data_shapes(graph, denoiser, dummy)
    if tuple(denoiser.outputs[0].shape[1:]) != tuple(x.shape[1:]):
        raise KindMismatch(f"the denoiser predicts the noise, so its output must have the image's shape "
                           f"{list(x.shape[1:])}; it gives {list(denoiser.outputs[0].shape[1:])}")
    train = graph.spec.train
    betas = noise_schedule(train.diffusion)
    abar = np.cumprod(1 - betas)
    if math.sqrt(abar[-1]) > 0.1:
        raise KindMismatch(f"the noise schedule keeps {math.sqrt(abar[-1]):.0%} of the image at the last step, so "
                           f"sampling from pure noise cannot work; raise diffusion.beta_end or steps")
    low, high = float(x.min()), float(x.max())
    span = (high - low) or 1.0
    data.transform["diffusion"] = {"low": low, "high": high}   # kept in data.json for `generate`

    def scaled(a):
        return None if a is None else ((a - low) / span * 2 - 1).astype("float32")

    if wrapper is None:
        clean = keras.Input(shape=x.shape[1:], name="clean")
        noisy, t, noise = DiffusionNoise(abar.tolist(), tuple(timestep_input.shape[1:]),
                                         timestep_input.dtype, seed=train.seed, name="forward_process")(clean)
        inputs = [None, None]
        inputs[image], inputs[step] = noisy, t
        error = keras.layers.Subtract(name="noise_error")([denoiser(inputs), noise])
        wrapper = keras.Model(clean, error, name=f"{graph.main}_diffusion")
    x_val = scaled(data.x_val)
    return Plan(wrapper, scaled(x), np.zeros_like(x, "float32"), x_val,
                None if x_val is None else np.zeros_like(x_val), "mean_squared_error", checked=True)


evaluation("diffusion")(scored_as_trained(diffusion))   # `builder evaluate` scores what fit saw


def _trained_wrapper(model):
    """The model itself when it is a diffusion training wrapper (a run's model.keras), else None."""
    return model if any(isinstance(layer, DiffusionNoise) for layer in model.layers) else None


# --- sampling ----------------------------------------------------------------------------------------

def _denoiser(request: Request):
    for model in request.models.values():
        if _trained_wrapper(model) is not None:
            return next(layer for layer in model.layers if isinstance(layer, keras.Model))
    return request.models.get(request.graph.main) or next(iter(request.models.values()))


def reverse_process(denoiser, shape: tuple, n: int, betas: np.ndarray, rng: np.random.Generator,
                    method: str = "ddpm", steps: int | None = None) -> np.ndarray:
    """Samples in [-1, 1], from pure noise, by DDPM ancestral sampling or DDIM (eta 0)."""
    image, step = _roles(denoiser)
    timestep_input = denoiser.inputs[step]
    alphas = 1 - betas
    abar = np.cumprod(alphas)
    total = len(betas)
    x = rng.standard_normal((n,) + tuple(shape))

    def predict_noise(xt, t):
        inputs = [None, None]
        inputs[image] = xt.astype("float32")
        inputs[step] = np.full((n,) + tuple(timestep_input.shape[1:]), t, dtype=timestep_input.dtype)
        return np.asarray(denoiser.predict_on_batch(inputs), dtype="float64")

    def clean_estimate(xt, eps, t):
        x0 = np.clip((xt - math.sqrt(1 - abar[t]) * eps) / math.sqrt(abar[t]), -1, 1)
        return x0, (xt - math.sqrt(abar[t]) * x0) / math.sqrt(1 - abar[t])

    if method == "ddim":
        times = np.unique(np.linspace(0, total - 1, steps or 50).round().astype(int))[::-1]
        for i, t in enumerate(times):
            x0, eps = clean_estimate(x, predict_noise(x, t), t)
            previous = abar[times[i + 1]] if i + 1 < len(times) else 1.0
            x = math.sqrt(previous) * x0 + math.sqrt(1 - previous) * eps
        return np.clip(x, -1, 1)
    for t in range(total - 1, -1, -1):
        x0, _ = clean_estimate(x, predict_noise(x, t), t)
        previous = abar[t - 1] if t > 0 else 1.0
        mean = (betas[t] * math.sqrt(previous) * x0 + (1 - previous) * math.sqrt(alphas[t]) * x) / (1 - abar[t])
        if t > 0:
            variance = betas[t] * (1 - previous) / (1 - abar[t])
            x = mean + math.sqrt(variance) * rng.standard_normal(x.shape)
        else:
            x = mean
    return np.clip(x, -1, 1)


@sampler("diffusion")
def sample_diffusion(request: Request) -> Samples:
    from builder.training.run_folder import read_transform

    options = check_options(request, {
        "sampler": (str, lambda v: v in ("ddpm", "ddim"), "ddpm or ddim"),
        "steps": (int, lambda v: v >= 1, "a positive number of steps (ddim)"),
    })
    denoiser = _denoiser(request)
    scale = read_transform(request.run).get("diffusion")
    if scale is None:
        raise SpecError.single(Location(str(request.run.path)), "this run has no diffusion settings in data.json "
                                                                "(did it start training?)")
    betas = noise_schedule(request.graph.spec.train.diffusion)
    image, _ = _roles(denoiser)
    shape = tuple(denoiser.inputs[image].shape[1:])
    samples = reverse_process(denoiser, shape, request.n, betas, np.random.default_rng(request.seed),
                              options.get("sampler", "ddpm"), options.get("steps"))
    unit = (samples + 1) / 2                                   # [0, 1], for the image grid
    low, high = scale["low"], scale["high"]
    return Samples(images=unit.astype("float32"), array=(unit * (high - low) + low).astype("float32"))
