"""The channel-point block (paper Eqs. 5-6)."""

import keras

from minape_tf.layers.activation import apply_activation, check_activation
from minape_tf.layers.depthwise import DepthwiseConv, check_form


@keras.saving.register_keras_serializable(package="minape_tf")
class ChannelPointBlock(keras.layers.Layer):
    """One isotropic block: spatial mixing per channel, then channel mixing per position.

    ``h = BN(act(DepthwiseConv2D(kernel_size, padding="same")(x))) + x``   (Eq. 5)
    ``y = BN(act(Conv2D(channels, 1)(h)))``                                 (Eq. 6)

    The output has the shape of the input (isotropic), so blocks stack freely.

    On a one-dimensional input ``(batch, time, channels)`` (the ``"raw"`` series view) the
    depthwise convolution is ``keras.layers.DepthwiseConv1D(kernel_size, padding="same")``
    over time and the pointwise one a ``Conv1D(channels, 1)``: the same block in one
    dimension, made when the layer is built, from the input's rank. Its depthwise
    convolution has one form (Keras's); ``depthwise`` then only matters for 2-D inputs.

    Parameters
    ----------
    kernel_size : int
        Depthwise kernel side; large kernels (the paper uses 5 to 13) mix distant positions.
    activation : {"gelu", "gelu_approx", "relu"}, default "gelu"
    bn_momentum : float, default 0.9
    depthwise : {"auto", "conv", "matmul", "fft", "tiles"}, default "auto"
        How the depthwise convolution is computed (:class:`DepthwiseConv`): the same weights
        and results in every form, so a model saved with one runs with any other.
    """

    def __init__(self, kernel_size, activation="gelu", bn_momentum=0.9, depthwise="auto",
                 **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = int(kernel_size)
        self.activation = check_activation(activation)
        self.bn_momentum = float(bn_momentum)
        self.depthwise_form = check_form(depthwise)
        dtype = self.dtype_policy
        self.depthwise = None
        self.depthwise_norm = keras.layers.BatchNormalization(momentum=self.bn_momentum,
                                                              dtype=dtype, name="depthwise_bn")
        self.pointwise = None
        self.pointwise_norm = keras.layers.BatchNormalization(momentum=self.bn_momentum,
                                                              dtype=dtype, name="pointwise_bn")

    def build(self, input_shape):
        dtype = self.dtype_policy
        if len(input_shape) == 3:
            self.depthwise = keras.layers.DepthwiseConv1D(self.kernel_size, padding="same",
                                                          dtype=dtype, name="depthwise")
            self.pointwise = keras.layers.Conv1D(input_shape[-1], 1, dtype=dtype,
                                                 name="pointwise")
        else:
            self.depthwise = DepthwiseConv(self.kernel_size, form=self.depthwise_form,
                                           dtype=dtype, name="depthwise")
            self.pointwise = keras.layers.Conv2D(input_shape[-1], 1, dtype=dtype,
                                                 name="pointwise")
        for layer in (self.depthwise, self.depthwise_norm, self.pointwise, self.pointwise_norm):
            layer.build(input_shape)

    def call(self, x, training=None):
        h = self.depthwise_norm(apply_activation(self.depthwise(x), self.activation),
                                training=training) + x
        return self.pointwise_norm(apply_activation(self.pointwise(h), self.activation),
                                   training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size,
                "activation": self.activation, "bn_momentum": self.bn_momentum,
                "depthwise": self.depthwise_form}
