"""Stage 6, runs: what a finished (or interrupted) run folder is used for.

Modules:

    evaluate   `builder evaluate`: the run's metrics on its validation data or a file
    predict    `builder predict`: the model on arrays, CSV, images or a folder of images
    generate   `builder generate`: samples from a generative run (each kind's `@sampler`)
    export     `builder export`: SavedModel, ONNX, LiteRT, OpenVINO or .keras (`FORMATS`)

Importing this package imports nothing heavy.
"""
