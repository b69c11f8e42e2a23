"""The models that ``--model NAME`` chooses: Minape and the paper's baselines."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from minape_tf.baselines.efficientnet import build_efficientnet
from minape_tf.baselines.embracenet import build_embracenet
from minape_tf.baselines.mulmix import build_mulmix
from minape_tf.baselines.slvit import build_sl_vit
from minape_tf.baselines.tcn import build_tcn
from minape_tf.baselines.vit import build_vit
from minape_tf.model import build_minape


@dataclass(frozen=True)
class Baseline:
    """A registered model.

    Attributes
    ----------
    builder : callable
        ``builder(groups, num_classes, **kwargs) -> keras.Model``.
    reads : {"all", "image", "raw series"}
        The groups it reads: every group, photo groups only, or series groups only.
    raw_series : bool
        Its series inputs are the raw signals (the pipeline's ``features=False``) whatever
        ``features_in_model`` says.
    label : str
        Its name in the paper's tables.
    """

    builder: object
    reads: str
    raw_series: bool
    label: str


BASELINES = {
    "minape": Baseline(build_minape, "all", False, "Minape"),
    "vit": Baseline(build_vit, "all", False, "ViT"),
    "sl-vit": Baseline(build_sl_vit, "all", False, "SL-ViT"),
    "tcn": Baseline(build_tcn, "raw series", True, "TCN"),
    "efficientnetv2-m": Baseline(build_efficientnet, "image", False, "EfficientNetV2-M"),
    "mulmix": Baseline(build_mulmix, "all", False, "Mulmix"),
    "embracenet": Baseline(build_embracenet, "all", False, "EmbraceNet"),
}


def get_baseline(name) -> Baseline:
    """The registry entry of ``name``; a ``ValueError`` listing the names otherwise."""
    if name not in BASELINES:
        raise ValueError(f"model {name!r} is not known; expected one of {sorted(BASELINES)}")
    return BASELINES[name]


def model_arguments(name) -> list:
    """The keyword arguments ``build_model(name, ...)`` takes besides the groups and the
    number of classes."""
    parameters = inspect.signature(get_baseline(name).builder).parameters
    return [p for p in parameters if p not in ("groups", "num_classes", "dtype",
                                               "class_names")]


def build_model(name, groups, num_classes, **kwargs):
    """Build the model ``name`` (a key of :data:`BASELINES`) for ``groups``.

    Parameters
    ----------
    name : str
        ``"minape"`` (:func:`minape_tf.build_minape`), ``"vit"``, ``"sl-vit"``, ``"tcn"``,
        ``"efficientnetv2-m"``, ``"mulmix"`` or ``"embracenet"``.
    groups : list of ImageGroup / SeriesGroup
        The data's groups; a single-modality model reads the ones of its modality (see
        :func:`groups_read_by`).
    num_classes : int
    **kwargs
        The builder's keyword arguments; an unknown one is a ``ValueError`` listing them.
        ``features_in_model`` is accepted by every model (TCN requires True; it changes
        nothing for EfficientNetV2-M, which reads no series).

    Returns
    -------
    keras.Model
    """
    entry = get_baseline(name)
    allowed = model_arguments(name)
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(f"model {name!r}: unknown argument(s) {unknown}; it takes {allowed}")
    return entry.builder(groups, num_classes, **kwargs)


def groups_read_by(name, groups) -> list:
    """The groups of ``groups`` that model ``name`` reads, in order (its inputs)."""
    from minape_tf.baselines.common import groups_read

    reads = get_baseline(name).reads
    return list(groups) if reads == "all" else groups_read(groups, reads, name)


def reads_raw_series(name, kwargs=None) -> bool:
    """Whether model ``name`` built with ``kwargs`` takes raw series (the data pipeline's
    ``features=False``) rather than log-Mel spectrograms."""
    return get_baseline(name).raw_series or bool((kwargs or {}).get("features_in_model"))
