"""Fold a sequence of observations into the batch and back, so that one pathway (shared
weights) reads each of the ``L`` observations (paper Section 3: ``X(1) .. X(l)``)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="minape_tf")
class FoldSequence(keras.layers.Layer):
    """``(batch, L, *shape)`` -> ``(batch * L, *shape)``."""

    def call(self, x):
        return ops.reshape(x, (-1, *x.shape[2:]))

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        folded = None if batch is None or steps is None else batch * steps
        return (folded, *input_shape[2:])


@keras.saving.register_keras_serializable(package="minape_tf")
class UnfoldSequence(keras.layers.Layer):
    """``(batch * L, features)`` -> ``(batch, L, features)``.

    Parameters
    ----------
    steps : int
        ``L``, the number of consecutive observations.
    """

    def __init__(self, steps, **kwargs):
        super().__init__(**kwargs)
        self.steps = int(steps)

    def call(self, x):
        return ops.reshape(x, (-1, self.steps, *x.shape[1:]))

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        return (None if batch is None else batch // self.steps, self.steps, *input_shape[1:])

    def get_config(self):
        return {**super().get_config(), "steps": self.steps}
