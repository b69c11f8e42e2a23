"""What every baseline shares: checking the groups, making the inputs, the classifier.

Baselines take the ``groups`` and ``num_classes`` that :func:`minape_tf.build_minape` takes
and return a functional ``keras.Model`` with one input per group they read, named after
the group, and float32 class probabilities, so that the data pipeline, training,
evaluation and export treat them as they treat Minape.
"""

from __future__ import annotations

import inspect

import keras

from minape_tf.models.minape import check_arguments, check_patch_fits, build_minape


def check_groups(groups, num_classes) -> list:
    """``groups`` as a list, after Minape's checks (non-empty, distinct names, at least
    two classes); Minape's other settings are checked at their defaults."""
    defaults = inspect.signature(build_minape).parameters
    settings = {name: defaults[name].default
                for name, p in inspect.signature(check_arguments).parameters.items()
                if p.kind is p.KEYWORD_ONLY}
    return check_arguments(groups, num_classes, **settings)


def group_input(group, features_in_model=False):
    """``(input, tensor)``: the model input of ``group`` and what the pathway reads: the
    input itself, or for a series group with ``features_in_model`` its log-Mel
    spectrograms computed in the model (as in :func:`minape_tf.build_minape`)."""
    x = inputs = keras.Input(group.input_shape(features_in_model), name=group.name)
    if features_in_model and group.feature_layers():
        for layer in group.feature_layers():
            x = layer(x)
        x = keras.layers.Reshape(group.feature_shape, name=f"{group.name}_features")(x)
    return inputs, x


def check_dtype(dtype, model):
    """The training loop's ``dtype=`` (the dtype policy of every layer): the baselines are
    built in float32 only, for now; anything else is a ``ValueError`` saying so."""
    if dtype not in (None, "float32"):
        raise ValueError(f"{model}: dtype={dtype!r}; the baselines are built in float32 only "
                         "(train them with precision=float32)")


def check_patch(group, patch_size):
    """A ``ValueError`` naming the group when one ``patch_size`` patch does not fit."""
    check_patch_fits(group, patch_size)


def check_positive(**values):
    """A ``ValueError`` naming the first argument that is not a positive integer."""
    for name, value in values.items():
        items = value if isinstance(value, (tuple, list)) else [value]
        if not items or any(not isinstance(v, int) or isinstance(v, bool) or v < 1
                            for v in items):
            raise ValueError(f"{name}={value!r}: expected positive integer(s)")


def check_rate(**values):
    """A ``ValueError`` naming the first rate outside [0, 1)."""
    for name, value in values.items():
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name}={value!r}: expected 0 <= {name} < 1")


def classify(features, num_classes, inputs, name, dropout=0.0):
    """Concatenate the pathways' vectors, optional dropout, ``Dense`` and a float32
    softmax; the functional model from ``inputs``."""
    x = features[0] if len(features) == 1 else keras.layers.Concatenate(name="concat")(
        features)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    logits = keras.layers.Dense(num_classes, name="classifier")(x)
    return softmax_model(inputs, logits, name)


def softmax_model(inputs, logits, name):
    """The model from ``inputs`` to ``softmax(logits)`` in float32 (also under mixed
    precision, as Minape's)."""
    probabilities = keras.layers.Activation("softmax", dtype="float32", name="softmax")(logits)
    return keras.Model(inputs, probabilities, name=name)
