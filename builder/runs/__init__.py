"""Stage 6, runs: what a finished (or interrupted) run folder is used for.

Modules:

    evaluate   `builder evaluate`: the run's metrics on its validation data or a file
    predict    `builder predict`: the model on arrays, CSV, images or a folder of images
    generate   `builder generate`: samples from a generative run (each kind's `@sampler`)
    export     `builder export`: SavedModel, ONNX, LiteRT, OpenVINO or .keras (`FORMATS`)
    listing    `builder runs`: run and search folders, a row each, read from their files (no Keras)
    compare    `builder compare`: runs' metrics, curves and spec differences side by side (no Keras)

Importing this package imports nothing heavy.
"""
