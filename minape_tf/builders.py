"""The model builders by name (``TrainConfig.architecture``, ``--model``) and their
arguments.

A builder is ``function(groups, num_classes, *, dtype=None, class_names=None, **arguments)
-> keras.Model`` (``dtype``: the dtype policy of every layer; ``class_names``: kept in the
model's config), registered as
``"module:function"`` so that its arguments can be read from its source
(:func:`minape_tf.arguments.from_source`) without importing it: the command line lists
them as flags, and a config file's ``model:`` keys are checked against them, before
TensorFlow starts.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os

from minape_tf import arguments

BUILDERS = {"minape": "minape_tf.model:build_minape",
            "vit": "minape_tf.baselines.vit:build_vit",
            "sl-vit": "minape_tf.baselines.slvit:build_sl_vit",
            "tcn": "minape_tf.baselines.tcn:build_tcn",
            "efficientnetv2-m": "minape_tf.baselines.efficientnet:build_efficientnet",
            "mulmix": "minape_tf.baselines.mulmix:build_mulmix",
            "embracenet": "minape_tf.baselines.embracenet:build_embracenet"}
# Not architecture settings: the data decides them, or they only name the model.
# ``dtype`` comes from the training precision, ``class_names`` from the data.
NOT_ARGUMENTS = ("groups", "num_classes", "name", "dtype", "class_names")


def _check(name):
    if name not in BUILDERS:
        raise ValueError(f"model {name!r} is not known; expected one of {sorted(BUILDERS)}")


def get_builder(name: str = "minape"):
    """The builder function registered as ``name`` (imports it)."""
    _check(name)
    module, function = BUILDERS[name].split(":")
    return getattr(importlib.import_module(module), function)


@functools.lru_cache(maxsize=None)
def builder_arguments(name: str = "minape") -> tuple:
    """The architecture arguments of builder ``name`` (:class:`~minape_tf.arguments.Argument`
    s), read from its source without importing it."""
    _check(name)
    module, function = BUILDERS[name].split(":")
    return tuple(arguments.from_source(_source_file(module), function, skip=NOT_ARGUMENTS))


def _source_file(module: str) -> str:
    """The file of ``module``, found without importing it or its parent packages
    (``minape_tf.baselines`` imports Keras)."""
    package, *parts = module.split(".")
    if not parts:                                   # a top-level module
        return importlib.util.find_spec(module).origin
    root = os.path.dirname(importlib.util.find_spec(package).origin)
    path = os.path.join(root, *parts)
    return os.path.join(path, "__init__.py") if os.path.isdir(path) else path + ".py"


def check_model_arguments(model: dict, name: str = "minape"):
    """Raise ``ValueError`` for keys of ``model`` that builder ``name`` does not take."""
    allowed = {a.name for a in builder_arguments(name)}
    unknown = sorted(set(model) - allowed)
    if unknown:
        raise ValueError(f"model: unknown {name} arguments {unknown}; known: {sorted(allowed)}")
