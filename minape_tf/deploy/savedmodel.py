"""SavedModel export in the TF Serving layout: ``DIR/<name>/<version>/``."""

from __future__ import annotations

import os

import keras

from minape_tf.deploy.histories import split_model
from minape_tf.deploy.serving import SIGNATURES, encoder_function, head_function, serving_function
from minape_tf.outputs.atomic import atomic_path


def export_savedmodel(model, served, version=1) -> str:
    """Write ``model`` as a SavedModel at ``served/version`` and return that path.

    Signatures (see :mod:`minape_tf.deploy.serving`): ``serving_default`` takes encoded
    image bytes and raw float32 series at the group's rate, ``serving_arrays`` uint8 image
    arrays and raw series, ``serving_rates`` encoded images and series at any rate it
    names (``<input>_rate``); all return ``probabilities``, ``class`` and ``class_names``.
    A model of device histories has them return the observations' ``vectors`` and one
    more, ``head``, from ``steps`` to the three outputs. TF Serving serves the folder ``served`` (it picks
    the highest version).

    Parameters
    ----------
    model : Minape
        Built with ``features_in_model=False``.
    served : path
        The folder TF Serving serves (an export folder's ``<name>``, from
        :meth:`~minape_tf.outputs.export_folder.ExportFolder.savedmodel_path`).
    version : int, default 1
    """

    path = os.path.join(os.fspath(served), str(int(version)))
    archive = keras.export.ExportArchive()
    archive.track(model)
    if model.arguments.get("sequence_length", 1) > 1:
        encoder, head = split_model(model)
        for signature in SIGNATURES:
            archive.add_endpoint(signature, encoder_function(encoder, model.groups, signature))
        archive.add_endpoint("head", head_function(head, model.class_names))
    else:
        for signature in SIGNATURES:
            archive.add_endpoint(signature, serving_function(model, signature))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_path(path) as temporary:
        archive.write_out(temporary, verbose=False)
    return path
