"""TempMixer, the paper's temporal ("prime") learner (Section 3.1, Eq. 2; Section 4.1)."""

import keras

from minape_tf.layers.activation import apply_activation, check_activation


@keras.saving.register_keras_serializable(package="minape_tf")
class TempMixer(keras.layers.Layer):
    """Four dilated causal ``Conv1D`` layers of 64 filters with residual connections (TCN).

    Input ``(batch, steps, features)``: the fused vectors of ``steps`` consecutive observations
    of one device, oldest first. Layer ``i`` is ``Conv1D(filters, kernel_size,
    dilation_rate=2**i, padding="causal")`` followed by the activation, added to its input
    (through a 1x1 ``Conv1D`` where the channel count changes, as in Bai et al.'s TCN). Being
    causal, the last step has seen the whole history; its vector ``(batch, filters)`` is the
    output. With one step the convolutions see only the current observation and TempMixer is
    a residual stack of per-observation projections.

    Parameters
    ----------
    filters : int, default 64
    kernel_size : int, default 3
        Temporal kernel; with dilations 1, 2, 4, 8 the receptive field is 31 steps.
    layers : int, default 4
    activation : {"gelu", "gelu_approx", "relu"}, default "gelu"
    """

    def __init__(self, filters=64, kernel_size=3, layers=4, activation="gelu", **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.num_layers = int(layers)
        self.activation = check_activation(activation)
        self.convs = [keras.layers.Conv1D(self.filters, self.kernel_size, dilation_rate=2 ** i,
                                          padding="causal", dtype=self.dtype_policy,
                                          name=f"conv_{i}")
                      for i in range(self.num_layers)]
        self.shortcut = None

    def build(self, input_shape):
        if input_shape[-1] != self.filters:
            self.shortcut = keras.layers.Conv1D(self.filters, 1, dtype=self.dtype_policy,
                                                name="shortcut")
            self.shortcut.build(input_shape)
        shape = tuple(input_shape)
        for conv in self.convs:
            conv.build(shape)
            shape = shape[:-1] + (self.filters,)

    def call(self, x):
        for i, conv in enumerate(self.convs):
            residual = self.shortcut(x) if i == 0 and self.shortcut is not None else x
            x = apply_activation(conv(x), self.activation) + residual
        return x[:, -1, :]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "layers": self.num_layers, "activation": self.activation}
