"""What a model reads, and the one function that makes its batches from observations.

Every place that feeds a model -- training and its validation, ``minape evaluate``,
``predict``, int8 calibration at export, adaptation to a new device -- goes through
:func:`model_dataset`, so that what a model reads (its groups, series as raw signals or as
their features, one observation or a device's history) is decided once, by
:class:`ModelInputs`, and not spelled again at each call of
:func:`~minape_tf.data.pipeline.make_dataset`.
"""

from __future__ import annotations

from dataclasses import dataclass

from minape_tf.data.pipeline import make_dataset
from minape_tf.models.registry import builder_arguments, groups_read_by


@dataclass(frozen=True)
class ModelInputs:
    """What a model reads.

    Parameters
    ----------
    groups : tuple of ImageGroup / SeriesGroup
        Its inputs, in order; each is fed under the group's name.
    features_in_model : bool, default False
        Series are fed as raw signals and the model computes their features itself.
    sequence_length : int, default 1
        Observations per input (a device's history, oldest first).
    """

    groups: tuple
    features_in_model: bool = False
    sequence_length: int = 1

    @classmethod
    def of_arguments(cls, groups, kwargs=None, architecture="minape") -> "ModelInputs":
        """What model ``architecture`` built on ``groups`` with ``kwargs`` reads: the groups
        it reads, and ``features_in_model`` as given or by the builder's default (TCN reads
        raw series)."""
        defaults = {a.name: a.default for a in builder_arguments(architecture)}
        kwargs = {**defaults, **(kwargs or {})}
        return cls(tuple(groups_read_by(architecture, groups)),
                   bool(kwargs.get("features_in_model", False)),
                   int(kwargs.get("sequence_length", 1) or 1))

    @classmethod
    def of_model(cls, model) -> "ModelInputs":
        """What a :class:`~minape_tf.models.minape.Minape` reads (its own description)."""
        arguments = model.arguments
        return cls(tuple(model.groups), bool(arguments.get("features_in_model", False)),
                   int(arguments.get("sequence_length", 1) or 1))

    def one_at_a_time(self) -> "ModelInputs":
        """The same inputs, one observation each: what a history model's encoder reads."""
        return ModelInputs(self.groups, self.features_in_model, 1)


def model_dataset(source, inputs: ModelInputs, *, training=False, batch_size=32,
                  cache=False, **options):
    """Batches of ``source`` as the model described by ``inputs`` reads them.

    Parameters
    ----------
    source : Source
        The observations.
    inputs : ModelInputs
        What the model reads.
    training : bool, default False
        Shuffled and augmented batches (``options`` may set ``augment``, ``augmentation``,
        ``seed``, ``drop_remainder``); ``False``: unaugmented batches in order.
    batch_size : int, default 32
    cache : bool or str, default False
        As in :func:`~minape_tf.data.pipeline.make_dataset`.
    **options
        Further :func:`~minape_tf.data.pipeline.make_dataset` options.

    Returns
    -------
    tf.data.Dataset
        ``({group name: tensor}, label)`` batches.
    """
    if not training:
        options["augment"] = False
    return make_dataset(source, list(inputs.groups), training=training, batch_size=batch_size,
                        cache=cache, features_in_model=inputs.features_in_model,
                        sequence_length=inputs.sequence_length, **options)
