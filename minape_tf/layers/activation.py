"""The activations a Minape pathway may use (paper Eq. 4)."""

import keras

ACTIVATIONS = ("gelu_approx", "gelu", "relu")


def check_activation(name):
    if name not in ACTIVATIONS:
        raise ValueError(f"activation={name!r} is not known; expected one of {ACTIVATIONS}")
    return name


def apply_activation(x, name):
    """Exact GELU ("gelu", Eq. 4 as printed, with erf; ``build_minape``'s default), GELU with
    the tanh approximation ("gelu_approx", the paper's "fast GELU"), or ReLU (the paper's
    ablation)."""
    if name == "gelu_approx":
        return keras.activations.gelu(x, approximate=True)
    if name == "gelu":
        return keras.activations.gelu(x, approximate=False)
    return keras.activations.relu(x)
