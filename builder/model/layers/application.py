import keras
from keras.src.backend.common.stateless_scope import in_stateless_scope  # (not in keras' public API)

from builder.language.applications import APPLICATIONS  # the closed list of names, importable without Keras
from builder.model.layers import _checks


@keras.saving.register_keras_serializable(package="builder")
class Application(keras.layers.Layer):
    """A `keras.applications` network (ResNet50, MobileNetV2, EfficientNetB0, ConvNeXtTiny, ...) as one node.

    The network is built for the shape of the node's input, so it fits the graph it sits in; with
    `weights: imagenet` Keras downloads (once, into ~/.keras) the ImageNet weights, which needs the
    network: offline, the node fails with a located error saying so. `trainable: false` freezes the
    whole network (its BatchNormalization layers then run in inference mode, the Keras fine-tuning
    rule); `train.freeze: {until: NODE}` does the same from the spec's training section.

    Keras' applications expect their own input scaling (`keras.applications.<family>.preprocess_input`):
    most take pixels in [0, 255] and scale inside; MobileNetV2 and ResNetV2 expect [-1, 1], ResNet50 and
    VGG caffe-style BGR means. Put a `Rescaling` node in front where the data differs.

    Args:
        architecture: The constructor's name in `keras.applications`, e.g. `MobileNetV2`.
        include_top: Keep the ImageNet classifier (1000 classes, or `classes`); usually false for
            transfer learning. Defaults to `False`.
        weights: `"imagenet"` (downloads them) or `"none"` (random initialisation). Defaults to `"none"`.
        pooling: With `include_top: false`, `"avg"` or `"max"` pools the last feature map into a vector;
            `None` keeps the map. Defaults to `None`.
        classes: With `include_top: true` and `weights: none`, the classifier's classes. Defaults to 1000.

    Input shape:
        `(batch, height, width, channels)`: what the architecture accepts (most need 3 channels and at
        least 32x32; with `include_top: true` and ImageNet weights, its native size such as 224x224).

    Output shape:
        The network's output: `(batch, classes)` with the top, `(batch, features)` with pooling, else the
        last feature map.

    Example:

    ```yaml
    inputs: {image: {shape: [96, 96, 3]}}
    layers:
      - {type: Rescaling, scale: 0.00784313725490196, offset: -1}    # [0, 255] -> [-1, 1] for MobileNetV2
      - {id: base, type: Application, architecture: MobileNetV2, weights: imagenet, pooling: avg,
         trainable: false}
      - {type: Dense, units: 5, activation: softmax}
    ```
    """

    def __init__(self, architecture, include_top=False, weights="none", pooling=None, classes=1000, **kwargs):
        super().__init__(**kwargs)
        if architecture not in APPLICATIONS:
            raise ValueError(f"expected one of keras.applications' networks ({', '.join(APPLICATIONS[:6])}, ...). "
                             f"Received: architecture={architecture!r}")
        if weights not in ("imagenet", "none"):
            raise ValueError(f"expected 'imagenet' or 'none'. Received: weights={weights!r}")
        if pooling not in (None, "avg", "max"):
            raise ValueError(f"expected 'avg', 'max' or null. Received: pooling={pooling!r}")
        self.architecture = architecture
        self.include_top = _checks.boolean("include_top", include_top)
        self.weights_source = weights
        self.pooling = pooling
        self.classes = _checks.positive_int("classes", classes)
        self.network = None

    def build(self, input_shape):
        constructor = getattr(keras.applications, self.architecture)
        # shapes only (a drawing, a cost): variables without values, so nothing to download or load into
        pretrained = self.weights_source == "imagenet" and not in_stateless_scope()
        try:
            self.network = constructor(include_top=self.include_top, weights="imagenet" if pretrained else None,
                                       input_shape=tuple(input_shape[1:]), pooling=self.pooling,
                                       classes=self.classes)
        except ValueError:
            raise
        except Exception as exc:  # a failed download: urllib errors, OSError, or Keras' plain Exception
            if self.weights_source == "imagenet":
                reason = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
                raise ValueError(f"could not download the ImageNet weights of {self.architecture}: offline, use "
                                 f"weights: none (weights: imagenet needs the network once; Keras keeps them in "
                                 f"~/.keras). {reason}") from None
            raise
        self.network.trainable = self.trainable

    def call(self, inputs, training=None):
        return self.network(inputs, training=training)

    def compute_output_shape(self, input_shape):
        if self.network is None:
            self.build(input_shape)
        return self.network.compute_output_shape(input_shape)

    def get_config(self):
        # the weights travel in the saved file: reopening it must not download them again
        return {**super().get_config(), "architecture": self.architecture, "include_top": self.include_top,
                "weights": "none", "pooling": self.pooling, "classes": self.classes}
