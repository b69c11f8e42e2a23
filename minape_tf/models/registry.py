"""The model registry: Minape and the paper's baselines by name (``TrainConfig.architecture``,
``--model``), what each reads, and their arguments.

A builder is ``function(groups, num_classes, *, dtype=None, class_names=None, **arguments)
-> keras.Model`` (``dtype``: the dtype policy of every layer; ``class_names``: kept in the
model's config). It is registered as ``"module:function"``: it is imported only when a model
is built (a run imports no baseline it does not build), and its arguments are read from its
source (:func:`minape_tf.arguments.from_source`), so the command line lists them as flags and
a config file's ``model:`` keys are checked against them before TensorFlow starts. A new
model joins with one line in :data:`BUILDERS`.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
from dataclasses import dataclass

from minape_tf import arguments
from minape_tf.groups import ImageGroup, SeriesGroup


@dataclass(frozen=True)
class Entry:
    """A registered model.

    Attributes
    ----------
    builder : str
        ``"module:function"`` of its builder.
    reads : {"all", "image", "raw series"}
        The groups it reads: every group, photo groups only (:data:`READS`), or series
        groups only, as raw signals whatever ``features_in_model`` says.
    label : str
        Its name in the paper's tables.
    """

    builder: str
    reads: str
    label: str


BUILDERS = {
    "minape": Entry("minape_tf.models.minape:build_minape", "all", "Minape"),
    "vit": Entry("minape_tf.models.baselines.vit:build_vit", "all", "ViT"),
    "sl-vit": Entry("minape_tf.models.baselines.slvit:build_sl_vit", "all", "SL-ViT"),
    "tcn": Entry("minape_tf.models.baselines.tcn:build_tcn", "raw series", "TCN"),
    "efficientnetv2-m": Entry("minape_tf.models.baselines.efficientnet:build_efficientnet", "image",
                              "EfficientNetV2-M"),
    "mulmix": Entry("minape_tf.models.baselines.mulmix:build_mulmix", "all", "Mulmix"),
    "embracenet": Entry("minape_tf.models.baselines.embracenet:build_embracenet", "all", "EmbraceNet"),
}
#: Which groups a single-modality model reads.
READS = {
    # photos (an ImageGroup whose data is images, not rendered spectrograms)
    "image": lambda g: isinstance(g, ImageGroup) and g.data_modality == "image",
    # raw series (a SeriesGroup; rendered spectrogram images cannot be read as a signal)
    "raw series": lambda g: isinstance(g, SeriesGroup),
}
# Not architecture settings: the data decides them, or they only name the model.
# ``dtype`` comes from the training precision, ``class_names`` from the data.
NOT_ARGUMENTS = ("groups", "num_classes", "name", "dtype", "class_names")


def _check(name):
    if name not in BUILDERS:
        raise ValueError(f"model {name!r} is not known; expected one of {sorted(BUILDERS)}")


def get_builder(name: str = "minape"):
    """The builder function registered as ``name`` (imports it)."""
    _check(name)
    module, function = BUILDERS[name].builder.split(":")
    return getattr(importlib.import_module(module), function)


@functools.lru_cache(maxsize=None)
def builder_arguments(name: str = "minape") -> tuple:
    """The architecture arguments of builder ``name`` (:class:`~minape_tf.arguments.Argument`
    s), read from its source without importing it."""
    _check(name)
    module, function = BUILDERS[name].builder.split(":")
    return tuple(arguments.from_source(_source_file(module), function, skip=NOT_ARGUMENTS))


def _source_file(module: str) -> str:
    """The file of ``module``, found without importing it or its parent packages
    (``minape_tf.models.baselines`` imports Keras)."""
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


def build_model(name, groups, num_classes, **kwargs):
    """Build the registered model ``name`` for ``groups``.

    Parameters
    ----------
    name : str
        A key of :data:`BUILDERS`.
    groups : list of ImageGroup / SeriesGroup
        The data's groups; a single-modality model reads the ones of its modality (see
        :func:`groups_read_by`).
    num_classes : int
    **kwargs
        The builder's keyword arguments (``dtype``, ``class_names`` and its architecture
        arguments); an unknown one is a ``ValueError`` listing them.

    Returns
    -------
    keras.Model
    """
    check_model_arguments({k: v for k, v in kwargs.items() if k not in NOT_ARGUMENTS}, name)
    return get_builder(name)(groups, num_classes, **kwargs)


def groups_read(groups, reads: str, model: str) -> list:
    """The groups of ``groups`` that a single-modality ``model`` reads (see :data:`READS`);
    a ``ValueError`` naming the groups when there are none."""
    chosen = [g for g in groups if READS[reads](g)]
    if not chosen:
        found = [f"{g.name} ({type(g).__name__}, modality {g.data_modality})" for g in groups]
        hint = ("an ImageGroup of photos (modality 'image')" if reads == "image" else
                "a SeriesGroup (raw signals: rendered spectrogram images are not signals)")
        raise ValueError(f"{model} reads {reads} groups only, and none of the groups "
                         f"{found} is one; give it {hint}, or choose a multimodal model")
    return chosen


def groups_read_by(name, groups) -> list:
    """The groups of ``groups`` that model ``name`` reads, in order (its inputs)."""
    _check(name)
    reads = BUILDERS[name].reads
    return list(groups) if reads == "all" else groups_read(groups, reads, name)

