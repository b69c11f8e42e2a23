"""``adapt``: a trained model's batch norms re-estimated on a new device's unlabelled files.

The deployment form of :func:`minape_tf.adaptation.statistics.adapt_statistics` (AdaBN): record
a while on the new device (a new speaker, tool or machine), give those files, get a model
whose batch-norm statistics (and, for series groups with ``equalize``, equalisation) are
the device's own; the weights stay as trained and no label is read. The files are given
as to ``predict`` (files or folders for a one-group model, a manifest CSV otherwise) and
checked by the same validation pass.

``self_training="on"`` then fine-tunes the weights too, on the device's files with the
model's own most confident predictions as targets
(:func:`minape_tf.adaptation.self_training.self_train`); ``self_training="balanced"`` takes the
targets from the device's clusters balanced over the classes, for a device whose classes
are about equally frequent. It reads no label either, but needs more files:
:data:`MIN_PER_CLASS` per class. What each gains on unseen FSDD speakers is in
docs/unseen-devices.md ("Adapting to a new device without labels").

The result is written where ``out`` says: a ``.keras`` file, or a folder that is a run
folder again (``model.keras``, the source run's ``config.json`` and ``run.json`` when it is
a run folder, and ``adaptation.json`` saying what adapted it), so that ``minape evaluate``,
``export`` (int8 calibration included) and ``predict`` take it as they take the original.
A folder is locked while it is written (:mod:`minape_tf.outputs.lock`), and its
``model.keras`` written atomically.
"""

from __future__ import annotations

import os
import shutil

from minape_tf.adaptation.self_training import check_self_training, self_train
from minape_tf.adaptation.statistics import adapt_statistics
from minape_tf.data.validate import DataError
from minape_tf.deploy.predictor import KerasPredictor, read_observations
from minape_tf.models.saving import load_minape
from minape_tf.outputs.atomic import atomic_path, write_json
from minape_tf.outputs.digest import digest
from minape_tf.outputs.lock import contents, holds_lock
from minape_tf.outputs.run_folder import FILES, RunFolder

# Fewer observations estimate the statistics poorly; adapting is refused below this count.
MIN_OBSERVATIONS = 8
# Self-training takes a share of each predicted class as targets: it needs a few of each.
MIN_PER_CLASS = 5


@holds_lock("out", when=lambda arguments: _is_folder(os.fspath(arguments["out"])))
def adapt(path, files=(), *, manifest=None, out, batch_size=32, strict=False,
          overwrite=False, self_training="off", seed=0, say=None) -> dict:
    """Adapt the model of ``path`` (run folder or ``.keras`` file) to the observations in
    ``files`` / ``manifest`` and save it to ``out``; returns what ``adaptation.json`` holds.

    Unreadable or unfit files are left out and listed (``strict=True``: they stop it);
    fewer than :data:`MIN_OBSERVATIONS` readable observations (with ``self_training``:
    :data:`MIN_PER_CLASS` per class of the model) raise :class:`DataError`.
    ``self_training``: "off", "on" or "balanced" (the device's classes about equally
    frequent; :func:`minape_tf.adaptation.self_training.self_train`). ``seed`` fixes
    self-training's shuffling. WAV files at another rate than the model's are resampled
    to it and named once, by ``say(line)`` (default: a warning).
    """

    self_training = check_self_training(self_training)

    if bool(files) == bool(manifest):
        raise ValueError("give either files or manifest=CSV")
    out, model_path = os.fspath(out), os.path.abspath(os.fspath(path))
    _check_out(out, model_path, overwrite)
    model, run_dir = load_minape(path)
    length = model.arguments.get("sequence_length", 1)
    if length > 1:
        raise ValueError(f"the model reads device histories (sequence_length={length}): adapt "
                         "takes models of single observations")
    predictor = KerasPredictor(model)
    source = read_observations(predictor.groups, files, manifest, strict, say)
    need, why = MIN_OBSERVATIONS, "to estimate the batch-norm statistics"
    if self_training != "off":
        need = max(need, MIN_PER_CLASS * len(predictor.classes))
        why = f"to self-train ({MIN_PER_CLASS} per class of {len(predictor.classes)})"
    if len(source) < need:
        raise DataError(f"{len(source)} readable observations to adapt to (of "
                        f"{len(source) + len(source.skipped)} given); need at least "
                        f"{need} {why}")
    data = predictor.data(source, batch_size)
    batches = adapt_statistics(model, data)
    if not batches:
        raise ValueError(f"{path}: the model has no batch normalisation; nothing to adapt")
    info = {"source": model_path, "observations": len(source),
            "skipped": [f"{where}: {why}" for where, why in source.skipped],
            "batches": batches}
    if self_training != "off":
        balanced = self_training == "balanced"
        info["self_training"] = {"seed": seed, "balanced": balanced, "rounds": self_train(
            model, data, batch_size=batch_size, balanced=balanced, seed=seed)}
    _save(model, out, run_dir, info)
    return info


def _is_folder(out) -> bool:
    """Whether ``out`` names a folder to write (a run folder), not a ``.keras`` file."""
    return not (out.endswith(".keras") or os.path.isfile(out))


def _check_out(out, model_path, overwrite):
    """Refuse an ``out`` that is (or holds) the model, or that exists without
    ``overwrite``; ``overwrite`` replaces only a file or a run folder."""
    if model_path == os.path.abspath(out) or \
            model_path.startswith(os.path.join(os.path.abspath(out), "")):
        raise ValueError(f"out={out} is the model itself or holds it; give another path")
    if os.path.isfile(out) or os.path.isdir(out) and contents(out):
        if not overwrite:
            raise FileExistsError(f"{out} exists; give another out=PATH or overwrite=True")
        if os.path.isdir(out) and not os.path.isfile(os.path.join(out, FILES["model"])):
            raise FileExistsError(f"{out} is a folder but not a run folder (no "
                                  f"{FILES['model']}); overwrite=True replaces only those")


def _save(model, out, run_dir, info):
    """``model`` to a ``.keras`` file, or a run folder with the source run's config and
    ``adaptation.json`` (``info``)."""
    if out.endswith(".keras"):
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with atomic_path(out) as temporary:
            model.save(temporary)
        return
    os.makedirs(out, exist_ok=True)
    for entry in contents(out):          # the folder's lock stays
        path = os.path.join(out, entry)
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    if run_dir and os.path.isfile(os.path.join(run_dir, FILES["config"])):
        shutil.copy2(os.path.join(run_dir, FILES["config"]), os.path.join(out, FILES["config"]))
    with atomic_path(os.path.join(out, FILES["model"])) as temporary:
        model.save(temporary)
    folder = RunFolder(run_dir) if run_dir else None
    if folder is not None and os.path.isfile(folder.info):   # the run's, for the new model
        RunFolder(out).write_info({**folder.read_info(),
                                   "model_sha256": digest(os.path.join(out, FILES["model"]))})
    write_json(os.path.join(out, FILES["adaptation"]), info)
