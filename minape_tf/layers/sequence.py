"""Fold a sequence of observations into the batch and back, so that one pathway (shared
weights) reads each of the ``L`` observations (paper Section 3: ``X(1) .. X(l)``).

Both are reshapes: they never cast (``autocast=False``) and their output has the dtype of
their input, whatever their policy, so that a raw float32 signal folded before the float32
log-Mel layer is not rounded to the model's 16-bit compute dtype on the way.
"""

import keras
from keras import ops


class _Reshape(keras.layers.Layer):
    """A reshape that keeps its input's dtype."""

    def __init__(self, **kwargs):
        super().__init__(autocast=False, **kwargs)

    def compute_output_spec(self, x):
        return keras.KerasTensor(self.compute_output_shape(x.shape), dtype=x.dtype)


@keras.saving.register_keras_serializable(package="minape_tf")
class FoldSequence(_Reshape):
    """``(batch, L, *shape)`` -> ``(batch * L, *shape)``."""

    def call(self, x):
        return ops.reshape(x, (-1, *x.shape[2:]))

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        folded = None if batch is None or steps is None else batch * steps
        return (folded, *input_shape[2:])


@keras.saving.register_keras_serializable(package="minape_tf")
class UnfoldSequence(_Reshape):
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
