"""``load_model``: the one loader of a saved model -- a ``.keras`` file or a run folder's
``model.keras`` -- with its custom layers known; :func:`load_minape` is the same for the
callers that need a model that describes itself (export, predict, adapt)."""

from __future__ import annotations

import importlib
import os
import zipfile

import keras

import minape_tf.layers  # noqa: F401  (registers Minape's custom layers)
from minape_tf.data.errors import DataError
from minape_tf.models.minape import Minape
from minape_tf.models.registry import BUILDERS
from minape_tf.outputs.digest import digest
from minape_tf.outputs.run_folder import FILES, RunFolder


def load_model(path, *, compile: bool = False):
    """Load a ``.keras`` file written by minape-tf, or the ``model.keras`` of a run folder.

    ``keras.saving.load_model`` alone fails with "Could not locate class 'PatchEmbedding'"
    unless the custom layers were registered first: importing ``minape_tf.layers`` registers
    Minape's, and this function imports every registered builder's module first, which
    registers the baselines' (a file may hold any of them).

    Parameters
    ----------
    path : path
        A ``.keras`` file, or a run folder holding ``model.keras``.
    compile : bool, default False
        Restore the training configuration as well (the saved models have none).

    Returns
    -------
    keras.Model

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    DataError
        A file that is not a readable ``.keras`` archive (truncated or corrupt), naming it.
    """
    given = os.fspath(path)
    folder = RunFolder(given) if os.path.isdir(given) else None
    path = folder.model if folder else given
    if not os.path.exists(path):
        raise FileNotFoundError(f"{given}: no {FILES['model']}; expected a .keras file or a "
                                "finished `minape train` run folder")
    if folder:
        _check_described(folder)
    for entry in BUILDERS.values():
        importlib.import_module(entry.builder.split(":")[0])
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a .keras file (a zip archive): the file is truncated or "
                        "corrupt, or another format; train or export it again")
    try:
        return keras.saving.load_model(path, compile=compile)
    except (ValueError, OSError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: a .keras file that cannot be read (truncated, corrupt, or "
                        f"not a minape-tf model): {type(exc).__name__}: {exc}") from exc


def _check_described(folder):
    """Refuse a run folder's ``model.keras`` that is not the one its ``run.json`` records
    (replaced or changed since the run wrote it), naming the file."""
    recorded = folder.read_info_or_empty().get("model_sha256")
    if recorded and digest(folder.model) != recorded:
        raise DataError(f"{folder.model}: not the model {FILES['info']} describes (its "
                        "SHA-256 differs: replaced or changed since the run); train it again "
                        "or load the .keras file itself")


def load_minape(path):
    """``(model, run_dir)``: :func:`load_model` of ``path``, which must be a
    :class:`~minape_tf.models.minape.Minape` (a model that describes its groups and classes),
    and the run folder it came from (``None`` for a ``.keras`` file).

    Raises
    ------
    DataError
        A model that does not describe itself (a baseline, or a plain Keras model), naming
        the file.
    """

    model = load_model(path)
    if not isinstance(model, Minape):
        raise DataError(f"{path}: a {type(model).__name__} model without its groups and "
                        "classes; export, predict and adapt take models of build_minape "
                        "(Minape), which describe themselves")
    return model, os.fspath(path) if os.path.isdir(path) else None
