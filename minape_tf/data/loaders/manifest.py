"""A manifest CSV: a row per observation, a column per input file, a ``label`` column."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from minape_tf.data import decode
from minape_tf.data.source import Loaded, Source
from minape_tf.data.validate import DataError, validate_loaded
from minape_tf.groups import ImageGroup, SeriesGroup

RESERVED = ("label", "group", "split", "id")


def _infer_groups(columns, first_row, root, sample_rate, image_size):
    """Groups from column names: ``name`` or ``name.part`` (same ``name`` = one group)."""
    by_group = {}
    for col in columns:
        by_group.setdefault(col.split(".")[0], []).append(col)
    groups = []
    for name, cols in by_group.items():
        path = root / first_row[cols[0]]
        ext = decode.extension(path)
        if ext in decode.IMAGE_EXTENSIONS:
            from PIL import Image

            with Image.open(path) as im:
                bands = {"RGBA": 3, "LA": 1, "P": 3}.get(im.mode, len(im.getbands()))
            groups.append(ImageGroup(name, channels=bands * len(cols), size=tuple(image_size),
                                     inputs=tuple(cols)))
        elif ext in decode.SERIES_EXTENSIONS:
            rate = sample_rate
            if ext == ".wav":
                info = decode.wav_info(path)
                rate, per_file, length = info.sample_rate, info.channels, info.frames
            else:
                data, _ = decode.read_series_numpy(path)
                per_file, length = data.shape[1], data.shape[0]
            if rate is None:
                raise DataError(f"column {cols[0]!r}: {ext} files carry no sampling rate; "
                                "pass sample_rate= or groups=")
            n_fft = min(1024, 1 << (max(length, 2).bit_length() - 1))
            groups.append(SeriesGroup(name, channels=per_file * len(cols), sample_rate=rate,
                                      source_rate=rate, length=max(length, n_fft), n_fft=n_fft,
                                      hop=n_fft // 2, n_mels=min(64, n_fft // 4),
                                      inputs=tuple(cols)))
        else:
            raise DataError(f"column {cols[0]!r}: {path}: unknown file type {ext!r}")
    return groups


def _group_split(keys, labels, val_fraction, test_fraction, seed):
    """Whole groups (or, without groups, observations stratified by label) to splits."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    splits = {"train": [], "val": [], "test": []}
    if keys is None:
        for y in np.unique(labels):
            idx = rng.permutation(np.flatnonzero(labels == y))
            n_test = int(round(test_fraction * len(idx)))
            n_val = int(round(val_fraction * len(idx)))
            splits["test"] += idx[:n_test].tolist()
            splits["val"] += idx[n_test:n_test + n_val].tolist()
            splits["train"] += idx[n_test + n_val:].tolist()
    else:
        unique = rng.permutation(np.unique(keys))
        n_test = max(1, int(round(test_fraction * len(unique)))) if len(unique) > 2 else 0
        n_val = max(1, int(round(val_fraction * len(unique)))) if len(unique) > 2 else 0
        part = {k: ("test" if i < n_test else "val" if i < n_test + n_val else "train")
                for i, k in enumerate(unique)}
        for i in range(n):
            splits[part[keys[i]]].append(i)
    return {k: np.sort(np.asarray(v, dtype=np.int64)) for k, v in splits.items()}


def manifest(csv_path, root=None, *, groups=None, classes=None, sample_rate=None,
             image_size=(224, 224), val_fraction=0.1, test_fraction=0.2, seed=0,
             validate=True, skip_bad=False) -> Loaded:
    """Load observations listed in a CSV file.

    Columns: ``label`` (class name) and one column per input file (paths relative to
    ``root``); optional ``id`` (used in messages; default the row number), ``group`` (a key
    kept on one side of every split, e.g. a subject or a machine) and ``split``
    (``train``/``val``/``test``: used as is when present).

    Parameters
    ----------
    csv_path : path
        The manifest.
    root : path or None, default None
        Folder the file paths are relative to; ``None`` means the manifest's folder.
    groups : list of ImageGroup / SeriesGroup or None, default None
        The groups, whose ``inputs`` name their columns in channel order. ``None`` infers
        them: columns ``name`` or ``name.part`` form the group ``name`` (e.g. ``spec.x``,
        ``spec.y``); its kind and channels come from the first row's file (images sized
        ``image_size``; series at the WAV's rate or ``sample_rate``, as long as the first
        row's, with ``n_fft`` up to 1024, hop ``n_fft/2``, 64 mels).
    classes : list of str or None, default None
        Class names in index order; ``None``: the sorted distinct labels. A label outside
        ``classes`` is an error that names the row.
    sample_rate : int or None, default None
        Rate of ``.npy``/CSV series when groups are inferred.
    image_size : (int, int), default (224, 224)
        Image size when groups are inferred.
    val_fraction, test_fraction : float, default 0.1, 0.2
        Without a ``split`` column: the fractions of ``group`` values (or, without a
        ``group`` column, of each class's rows) put into validation and test.
    seed : int, default 0
        Fixes that split.
    validate, skip_bad
        Check every file now; leave bad rows out instead of raising.

    Returns
    -------
    Loaded
    """
    csv_path = Path(csv_path)
    root = Path(root) if root is not None else csv_path.parent
    if not csv_path.is_file():
        raise DataError(f"{csv_path}: manifest not found")
    with open(csv_path, newline="") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        body = [(line, r) for line, r in enumerate(reader, start=2) if any(c.strip() for c in r)]
    if "label" not in header:
        raise DataError(f"{csv_path}: no 'label' column in the header {header}")
    file_cols = [c for c in header if c not in RESERVED]
    if groups is not None:
        wanted = [c for g in groups for c in (g.inputs or (g.name,))]
        absent = [c for c in wanted if c not in header]
        if absent:
            raise DataError(f"{csv_path}: the groups' input column(s) {absent} are not in "
                            f"the header {header}")
        file_cols = wanted
    if not file_cols:
        raise DataError(f"{csv_path}: no input file columns in the header {header}")

    records, skipped = [], []
    for line, cells in body:
        row = dict(zip(header, (c.strip() for c in cells)))
        missing = [c for c in file_cols + ["label"] if not row.get(c)]
        problem = None
        if len(cells) != len(header):
            problem = f"{len(cells)} fields; the header has {len(header)}"
        elif missing:
            problem = f"missing value(s) for column(s) {missing}"
        elif classes is not None and row["label"] not in classes:
            problem = f"label {row['label']!r} is not one of the classes {list(classes)}"
        if problem:
            where = f"{csv_path}, line {line}"
            if not skip_bad:
                raise DataError(f"{where}: {problem}")
            skipped.append((where, problem))
            continue
        records.append((line, row))
    if not records:
        raise DataError(f"{csv_path}: no usable rows")

    if groups is None:
        groups = _infer_groups(file_cols, records[0][1], root, sample_rate, image_size)
    classes = list(classes) if classes is not None else sorted({r["label"] for _, r in records})
    inputs = {g.name: [tuple(str(root / r[c]) for c in (g.inputs or (g.name,)))
                       for _, r in records] for g in groups}
    has_group = "group" in header
    source = Source(
        inputs=inputs, labels=np.array([classes.index(r["label"]) for _, r in records]),
        classes=classes, ids=[r.get("id") or f"line {line}" for line, r in records],
        split_keys=np.array([r.get("group", "") for _, r in records]) if has_group else None,
        skipped=skipped)
    if "split" in header:
        names = np.array([r.get("split", "") for _, r in records])
        bad = sorted(set(names) - {"train", "val", "test"})
        if bad:
            raise DataError(f"{csv_path}: split values {bad}; expected train, val or test")
        splits = {s: np.flatnonzero(names == s) for s in ("train", "val", "test")}
    else:
        splits = _group_split(source.split_keys, source.labels, val_fraction, test_fraction,
                              seed)
    loaded = Loaded(source, list(groups), splits)
    return validate_loaded(loaded, skip_bad=skip_bad) if validate else loaded
