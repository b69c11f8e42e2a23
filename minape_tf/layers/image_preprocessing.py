"""Image preprocessing as a layer: scale to [0, 1] by the pixel type, resize, clip."""

from __future__ import annotations

import keras
from keras import ops

# Integer pixel types and the value that means "full intensity".
_FULL_SCALE = {"uint8": 255.0, "uint16": 65535.0}


@keras.saving.register_keras_serializable(package="minape_tf")
class ImagePreprocessing(keras.layers.Layer):
    """Bring images of any size to one group's size, as float32 in [0, 1].

    ``uint8`` pixels are divided by 255 and ``uint16`` by 65535; float pixels are taken as
    already in [0, 1] (the pipeline's decoders give that). Then a bilinear resize with
    antialiasing to ``size`` (``keep_aspect=True``: the image is first padded with zeros,
    centred, to the target aspect ratio, so it is not stretched), and a clip to [0, 1]
    (bilinear antialiasing can overshoot slightly). The data pipeline applies it to each
    decoded image and the exported SavedModel to each request, so both see the same pixels.

    Parameters
    ----------
    size : (int, int)
        (height, width) of the output.
    keep_aspect : bool, default False
        Pad to the aspect ratio instead of stretching.

    Input ``(height, width, channels)`` or ``(batch, height, width, channels)`` of any
    height and width; output float32 ``(..., size[0], size[1], channels)``.
    """

    def __init__(self, size, keep_aspect=False, **kwargs):
        super().__init__(**kwargs)
        size = tuple(size)
        if len(size) != 2 or any(not isinstance(s, int) or s < 1 for s in size):
            raise ValueError(f"ImagePreprocessing: size={size!r}; expected (height, width) "
                             "of positive integers")
        self.size = size
        self.keep_aspect = bool(keep_aspect)

    def call(self, images):
        dtype = keras.backend.standardize_dtype(images.dtype)
        x = ops.cast(images, "float32")
        if dtype in _FULL_SCALE:
            x = x / _FULL_SCALE[dtype]
        x = ops.image.resize(x, self.size, interpolation="bilinear", antialias=True,
                             pad_to_aspect_ratio=self.keep_aspect)
        return ops.clip(x, 0.0, 1.0)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-3], *self.size, input_shape[-1])

    def compute_output_spec(self, images):
        shape = self.compute_output_shape(images.shape)
        return keras.KerasTensor(shape, dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update(size=list(self.size), keep_aspect=self.keep_aspect)
        return config
