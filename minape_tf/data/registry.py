"""The ``--dataset`` names: a registry of loaders, and choosing / changing groups.

Each loader returns ``Loaded(source, groups, splits)`` (``minape_tf.data``); ``seed`` is
passed to the loaders that draw something (demo data, FSDD's validation draw, AV-digits'
pairing, a manifest's split).
"""

from __future__ import annotations

import inspect
import os

from minape_tf.data.loaders.demo import demo
from minape_tf.data.loaders import avdigits, fsdd, manifest, mudestreda
from minape_tf.data.series_settings import refit
from minape_tf.data.source import Loaded
from minape_tf.groups import SeriesGroup


def _demo(data_dir, seed, **options):
    return demo(seed=seed, **options)


def _fsdd(data_dir, seed, **options):
    return fsdd(_need(data_dir, "fsdd"), seed=seed, **options)


def _avdigits(data_dir, seed, **options):
    return avdigits(_need(data_dir, "avdigits"), seed=seed, **options)


def _mudestreda(data_dir, seed, **options):
    return mudestreda(_need(data_dir, "mudestreda"), **options)


def _manifest(data_dir, seed, csv=None, root=None, **options):
    data_dir = _need(data_dir, "manifest")
    if csv is None:
        csv = data_dir if data_dir.endswith(".csv") else os.path.join(data_dir, "manifest.csv")
    else:
        root = root or data_dir
    return manifest(csv, root, seed=seed, **options)


DATASETS = {"demo": _demo, "fsdd": _fsdd, "avdigits": _avdigits, "mudestreda": _mudestreda,
            "manifest": _manifest}
LOADERS = {"demo": demo, "fsdd": fsdd, "avdigits": avdigits, "mudestreda": mudestreda,
           "manifest": manifest}


def _need(data_dir, name):
    if not data_dir:
        raise ValueError(f"dataset={name} needs data_dir=DIR (the folder holding the data)")
    return os.fspath(data_dir)


def load_dataset(name: str, data_dir=None, *, seed: int = 0, **options) -> Loaded:
    """Load a registered data set.

    Parameters
    ----------
    name : {"demo", "fsdd", "avdigits", "mudestreda", "manifest"}
    data_dir : path or None
        Its folder (a manifest: the CSV, or a folder holding ``manifest.csv``; the demo
        needs none).
    seed : int, default 0
    **options
        The loader's keyword arguments (e.g. ``split="speaker"``, ``test_speakers=["theo"]``).
    """
    if name not in DATASETS:
        raise ValueError(f"dataset={name!r} is not known; expected one of {sorted(DATASETS)}")
    for key in ("test_speakers", "val_speakers", "image_size", "spec_size"):
        if isinstance(options.get(key), list):
            options[key] = tuple(options[key])
    try:
        return DATASETS[name](data_dir, seed, **options)
    except TypeError as error:
        if "unexpected keyword argument" not in str(error):
            raise
        raise ValueError(f"dataset={name}: {error}; the loader takes "
                         f"{_loader_options(name)}") from error


def _loader_options(name):
    """The keyword options (``-D KEY=VALUE``) the loader behind ``name`` accepts."""
    loader = LOADERS[name]
    skip = {"root", "fsdd_root", "csv_path", "seed", "validate"}
    return sorted(p for p in inspect.signature(loader).parameters if p not in skip)


def select_groups(groups, modalities="all", overrides=None, model=None) -> list:
    """The groups a model reads, with per-group field overrides applied; a series group's
    settings that were inferred from the data are chosen again around the overrides and
    ``model``'s settings (:func:`minape_tf.data.series_settings.refit`).

    Parameters
    ----------
    groups : list of ImageGroup / SeriesGroup
    modalities : "all", "image", "series", or list of group names, default "all"
    overrides : dict or None
        Group name -> {field: value}.
    model : dict or None, default None
        The model's ``patch_size``, ``width`` and ``kernel_size`` where the user (or a
        preset) sets them.
    """
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - {g.name for g in groups})
    if unknown:
        raise ValueError(f"group overrides for {unknown}: no such group; the groups are "
                         f"{[g.name for g in groups]}")
    if modalities in (None, "all"):
        chosen = list(groups)
    elif modalities in ("image", "series"):
        chosen = [g for g in groups if g.data_modality == modalities]
    else:
        names = [modalities] if isinstance(modalities, str) else list(modalities)
        missing = sorted(set(names) - {g.name for g in groups})
        if missing:
            raise ValueError(f"modalities {missing}: no such group; the groups are "
                             f"{[g.name for g in groups]}")
        chosen = [g for g in groups if g.name in names]
    if not chosen:
        raise ValueError(f"modalities={modalities!r} selects no group from "
                         f"{[f'{g.name} ({g.data_modality})' for g in groups]}")
    result = []
    for group in chosen:
        changes = dict(overrides.get(group.name, {}))
        for key in ("size", "inputs"):
            if isinstance(changes.get(key), list):
                changes[key] = tuple(changes[key])
        if isinstance(group, SeriesGroup):
            result.append(refit(group, changes, model))
        else:
            result.append(group.replace(**changes) if changes else group)
    return result


def modality_code(groups) -> str:
    """The paper's modality column: i (images only), t (time series only), m (both); by
    each group's ``data_modality``, so spectrogram images count as time series."""
    kinds = {g.data_modality for g in groups}
    return "m" if len(kinds) > 1 else ("i" if kinds == {"image"} else "t")
