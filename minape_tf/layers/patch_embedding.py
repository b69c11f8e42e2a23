"""Patch embedding (paper Eqs. 3-4)."""

import keras

from minape_tf.layers.activation import apply_activation, check_activation


@keras.saving.register_keras_serializable(package="minape_tf")
class PatchEmbedding(keras.layers.Layer):
    """Cut the input into non-overlapping ``patch_size`` x ``patch_size`` patches and embed
    each linearly: ``BN(act(Conv2D(width, patch_size, strides=patch_size)(x)))``.

    The paper (Eq. 3) writes the kernel ``k`` and the stride ``p`` separately but describes
    patches; as in ConvMixer the kernel equals the stride, so patches do not overlap.
    ``patch_size=1`` gives Minape-dagger (no patches: a 1x1 embedding at full resolution).

    On a one-dimensional input ``(batch, time, channels)`` (a series read as it is,
    ``SeriesGroup(representation="raw")``) the patches are ``patch_size`` consecutive
    samples: ``Conv1D(width, patch_size, strides=patch_size)``. The convolution is made
    when the layer is built, from the input's rank.

    Parameters
    ----------
    width : int
        Embedding channels (the isotropic width of the pathway).
    patch_size : int
        Patch side in pixels (or in frames x mel bands for spectrograms).
    activation : {"gelu", "gelu_approx", "relu"}, default "gelu"
    bn_momentum : float, default 0.9
        Batch-norm momentum. Lower than Keras' 0.99 so that the moving statistics follow the
        data on small data sets with few steps per epoch.
    """

    def __init__(self, width, patch_size, activation="gelu", bn_momentum=0.9, **kwargs):
        super().__init__(**kwargs)
        self.width = int(width)
        self.patch_size = int(patch_size)
        self.activation = check_activation(activation)
        self.bn_momentum = float(bn_momentum)
        self.conv = None
        self.norm = keras.layers.BatchNormalization(momentum=self.bn_momentum,
                                                    dtype=self.dtype_policy, name="bn")

    def build(self, input_shape):
        conv = keras.layers.Conv1D if len(input_shape) == 3 else keras.layers.Conv2D
        self.conv = conv(self.width, self.patch_size, strides=self.patch_size,
                         dtype=self.dtype_policy, name="conv")
        self.conv.build(input_shape)
        self.norm.build(self.conv.compute_output_shape(input_shape))

    def call(self, x, training=None):
        return self.norm(apply_activation(self.conv(x), self.activation), training=training)

    def compute_output_shape(self, input_shape):
        steps = [None if n is None else n // self.patch_size for n in input_shape[1:-1]]
        return (input_shape[0], *steps, self.width)

    def get_config(self):
        return {**super().get_config(), "width": self.width, "patch_size": self.patch_size,
                "activation": self.activation, "bn_momentum": self.bn_momentum}
