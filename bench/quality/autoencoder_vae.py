"""Quality of `kind: autoencoder` and `kind: vae`: do they rebuild held-out digits better than PCA?

Trains specs/autoencoder.yaml, specs/denoising_autoencoder.yaml and specs/vae.yaml (at their
default sizes, and the VAE also at other latent sizes) on scikit-learn's 8x8 digits through
builder's own training stage, then measures the reconstruction error on the run's held-out
validation digits (20%, never trained on): the mean squared error per pixel, pixels in [0, 1].
The baseline is PCA with as many components as the model's code has numbers, fitted on the same
training digits. The VAE rebuilds from the mean of its code (the encoder's z_mean, decoded);
the error through a sampled code is shown beside it. The denoising autoencoder is also measured
on inputs with its training noise added (stddev 0.2), against PCA applied to the same noisy inputs.

Target: the held-out reconstruction error of the autoencoder and the VAE (the specs' defaults) is
below PCA's with the same code size; for the denoising autoencoder, its error on noisy inputs is
below PCA's on the same noisy inputs. The other rows (the denoising autoencoder on clean inputs, the
VAE at other latent sizes) are shown for information.

    .venv/bin/python bench/quality/autoencoder_vae.py                  # the full run (minutes)
    .venv/bin/python bench/quality/autoencoder_vae.py --tiny             # a smoke run (1 epoch)

Prints a markdown table and writes it to bench/quality/results/autoencoder_vae.md.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import ROOT, Arguments, numbers, pixels, train_spec, write_report  # noqa: E402

RESULTS = ROOT / "bench" / "quality" / "results" / "autoencoder_vae.md"
NOISE = 0.2


def train_run(spec: Path, overrides: dict, epochs: int | None, folder: Path):
    from builder.training.run_folder import load_run_models, run_data

    trained = train_spec(spec, folder, overrides, epochs)
    _, data = run_data(trained.run)
    return load_run_models(trained.run), data, trained.summary, trained.seconds


def pca_error(x_train, x_val, components: int, noisy_val=None) -> float:
    import numpy as np
    from sklearn.decomposition import PCA

    pca = PCA(components, random_state=0).fit(pixels(x_train))
    source = pixels(x_val if noisy_val is None else noisy_val)
    rebuilt = pca.inverse_transform(pca.transform(source))
    return float(np.mean((rebuilt - pixels(x_val)) ** 2))


def mse(a, b) -> float:
    import numpy as np

    return float(np.mean((np.asarray(a, "float64") - np.asarray(b, "float64")) ** 2))


def main() -> int:
    parser = Arguments(__doc__, RESULTS, tiny={"epochs": 1, "vae_latents": ""})
    parser.add_argument("--epochs", type=int, default=None, help="default: each spec's")
    parser.add_argument("--vae-latents", default="2,20", help="extra VAE latent sizes besides the spec's "
                        "(comma-separated; empty for none)")
    args = parser.parse_args()

    import numpy as np

    from builder.training.backends.select import import_keras

    import_keras()
    rows = []
    specs = ROOT / "specs"
    with tempfile.TemporaryDirectory() as tmp:
        # the plain autoencoder
        models, data, summary, seconds = train_run(specs / "autoencoder.yaml", {}, args.epochs, Path(tmp) / "ae")
        code = int(models["encoder"].outputs[0].shape[-1])
        error = mse(models["autoencoder"].predict(data.x_val, verbose=0), data.x_val)
        rows.append(("autoencoder.yaml", "clean", code, error, pca_error(data.x_train, data.x_val, code),
                     summary["epochs"], seconds, True))

        # the denoising autoencoder: clean inputs, and inputs with its training noise
        models, data, summary, seconds = train_run(specs / "denoising_autoencoder.yaml", {}, args.epochs,
                                                   Path(tmp) / "dae")
        code = int(np.prod(models["encoder"].outputs[0].shape[1:]))
        rng = np.random.default_rng(0)
        noisy = (data.x_val + rng.normal(0, NOISE, data.x_val.shape)).astype("float32")
        denoiser = models["denoising_autoencoder" if "denoising_autoencoder" in models else "denoiser"]
        rows.append(("denoising_autoencoder.yaml", "clean", code, mse(denoiser.predict(data.x_val, verbose=0),
                                                                      data.x_val),
                     pca_error(data.x_train, data.x_val, code), summary["epochs"], seconds, False))
        rows.append(("denoising_autoencoder.yaml", f"noisy (stddev {NOISE}) -> clean", code,
                     mse(denoiser.predict(noisy, verbose=0), data.x_val),
                     pca_error(data.x_train, data.x_val, code, noisy), summary["epochs"], seconds, True))

        # the VAE, at the spec's latent size and others
        latents = [None] + numbers(args.vae_latents)
        for latent in latents:
            overrides = {} if latent is None else {"latent": latent}
            models, data, summary, seconds = train_run(specs / "vae.yaml", overrides, args.epochs,
                                                       Path(tmp) / f"vae{latent}")
            code = int(models["decoder"].inputs[0].shape[-1])
            mean, _, sampled = models["encoder"].predict(data.x_val, verbose=0)
            by_mean = mse(models["decoder"].predict(mean, verbose=0), data.x_val)
            by_sample = mse(models["decoder"].predict(sampled, verbose=0), data.x_val)
            label = "vae.yaml" + ("" if latent is None else f" --set latent={latent}")
            rows.append((label, f"from z_mean (sampled z: {by_sample:.4f}; KL {summary.get('kl_nats', 0):.1f} nats)",
                         code, by_mean, pca_error(data.x_train, data.x_val, code), summary["epochs"], seconds,
                         latent is None))

    lines = [
        "# Autoencoder and VAE: reconstruction of held-out digits against PCA",
        "",
        "Held-out: the run's validation split of scikit-learn's digits (359 of 1,797, seed 0), never trained on.",
        "Error: mean squared error per pixel (pixels in [0, 1]). PCA: as many components as the code has numbers,",
        "fitted on the same training split. Target: the specs' defaults below PCA (the denoising autoencoder on",
        "its task, noisy inputs); other rows for information.",
        "",
        "| spec | inputs | code size | model MSE | PCA MSE | model / PCA | target | epochs | train time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    met = True
    for spec, inputs, code, model_error, pca, epochs, seconds, target in rows:
        ok = model_error < pca
        if target:
            met &= ok
            verdict = "met" if ok else "MISSED"
        else:
            verdict = "(information: " + ("below" if ok else "above") + " PCA)"
        lines.append(f"| {spec} | {inputs} | {code} | {model_error:.4f} | {pca:.4f} | {model_error / pca:.2f} | "
                     f"{verdict} | {epochs} | {seconds:.0f} s |")
    from machine import machine_line

    lines += ["", machine_line(), ""]
    write_report("\n".join(lines), args.output)
    return 0 if met or args.tiny else 1   # a smoke run's figures are not a verdict


if __name__ == "__main__":
    sys.exit(main())
