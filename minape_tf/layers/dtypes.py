"""Dtype policies of layers that must compute in float32."""

import keras

_HALF = ("float16", "bfloat16")


def float32_policy(dtype):
    """The policy for a layer that computes in float32 whatever mixed policy it is given.

    ``None``, ``"mixed_float16"``, ``"mixed_bfloat16"``, ``"float16"`` and ``"bfloat16"``
    become ``"float32"``; any other policy (``"float32"``, ``"float64"``) is kept. Layers
    that use it say so in their docstring, and their ``dtype_policy`` shows it.
    """
    if dtype is None:
        return "float32"
    policy = keras.dtype_policies.get(dtype)
    return "float32" if policy.compute_dtype in _HALF else policy
