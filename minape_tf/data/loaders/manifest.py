"""A manifest CSV: a row per observation, a column per input file, a ``label`` column."""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path

import numpy as np

from minape_tf.data import decode
from minape_tf.data.series_settings import INFERRED, infer_settings, typical_length
from minape_tf.data.source import Loaded, Source
from minape_tf.data.errors import DataError, reject
from minape_tf.data.validate import check_series, validate_loaded
from minape_tf.groups import ImageGroup, SeriesGroup

RESERVED = ("label", "group", "split", "id", "order")


# PIL modes that decode to one gray channel (plus alpha for LA/La).
_GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def _gray_palette(im) -> bool:
    """Whether a palette image (e.g. a gray GIF) has only gray colours and no alpha."""
    palette = im.getpalette()
    if not palette or "transparency" in im.info:
        return False
    colours = np.asarray(palette).reshape(-1, 3)
    return bool((colours == colours[:, :1]).all())


def _image_channels(paths) -> int:
    """Channels per input of an inferred image group: 1 when every readable file of its
    column(s) is gray (or gray+alpha, or a gray palette), else 3 (gray files are then
    replicated to RGB)."""
    from PIL import Image

    seen = False
    for path in paths:
        try:
            with Image.open(path) as im:
                gray = im.mode in _GRAY_MODES or (im.mode == "P" and _gray_palette(im))
        except Exception:  # noqa: BLE001 - missing or corrupt: the validation pass says so
            continue
        seen = True
        if not gray:
            return 3
    return 1 if seen else 3


def _series_spec(column, paths):
    """``(rate or None, channels, length)`` of the first of a column's files that has no
    problem of its own (it reads, is not empty, holds finite values, a WAV is not
    truncated); a :class:`DataError` naming the first file and its problem when none has."""
    first = None
    for path in paths:
        reason = check_series(path, None, None)
        if reason is None:
            if decode.extension(path) == ".wav":
                info = decode.wav_info(path)
                return info.samplerate, info.channels, info.frames
            data, _ = decode.read_series_numpy(path)
            return None, data.shape[1], data.shape[0]
        first = first or (path, reason)
    raise DataError(f"column {column!r}: none of its files is a usable series (the first, "
                    f"{first[0]}: {first[1]}); cannot infer its group")


def _series_lengths(paths, most=2000):
    """Samples of (at most ``most``, evenly spaced) files of a column, skipping those that
    do not read (the validation pass names them)."""
    paths = list(paths)
    step = max(1, len(paths) // most)
    lengths = []
    for path in paths[::step]:
        try:
            n = decode.series_length(path)
        except Exception:  # noqa: BLE001 - a bad file: the validation pass says so
            continue
        if n > 0:
            lengths.append(n)
    return lengths


def _series_group(name, cols, rows, root, sample_rate):
    paths = [root / r[cols[0]] for r in rows]
    rate, per_file, length = _series_spec(cols[0], paths)
    rate = rate or sample_rate
    if rate is None:
        raise DataError(f"column {cols[0]!r}: {decode.extension(root / rows[0][cols[0]])} "
                        "files carry no sampling rate; pass sample_rate= or groups=")
    length = typical_length(_series_lengths(paths) or [length])
    return SeriesGroup(name, channels=per_file * len(cols), sample_rate=rate,
                       source_rate=rate, inputs=tuple(cols), inferred=INFERRED,
                       **infer_settings(length, rate))


def _infer_groups(columns, rows, root, sample_rate, image_size, where="the manifest"):
    """Groups from column names: ``name`` or ``name.part`` (same ``name`` = one group;
    ``name`` must be an ASCII identifier).

    Image groups: 3 channels per input unless all the rows' images are gray. Series
    groups: from the first row whose file has no problem of its own. ``where`` (the
    manifest) prefixes the errors.
    """
    by_group = {}
    for col in columns:
        by_group.setdefault(col.split(".")[0], []).append(col)
    groups = []
    for name, cols in by_group.items():
        if not (name.isascii() and name.isidentifier()):
            raise DataError(f"{where}: column {cols[0]!r}: the group name {name!r} (the part "
                            "before any '.') must be ASCII letters, digits and underscores, "
                            "not starting with a digit: it names the model's input and its "
                            "TensorFlow layers; rename the column")
        path = root / rows[0][cols[0]]
        ext = decode.extension(path)
        try:
            if ext in decode.IMAGE_EXTENSIONS:
                per_file = _image_channels(root / r[c] for c in cols for r in rows)
                groups.append(ImageGroup(name, channels=per_file * len(cols),
                                         size=tuple(image_size), inputs=tuple(cols)))
            elif ext in decode.SERIES_EXTENSIONS:
                groups.append(_series_group(name, cols, rows, root, sample_rate))
            else:
                raise DataError(f"column {cols[0]!r}: {path}: unknown file type {ext!r}; if "
                                f"{cols[0]!r} is metadata, not an input, pass "
                                f"ignore_columns=({cols[0]!r},)")
        except ValueError as exc:  # DataError, or a group the columns cannot name
            raise DataError(f"{where}: {exc}") from None
    return groups


def _stratified(labels, val_fraction, test_fraction, rng):
    """Rows of each class to test, val and train by the fractions (rounded per class)."""
    splits = {"train": [], "val": [], "test": []}
    for y in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == y))
        n_test = int(round(test_fraction * len(idx)))
        n_val = int(round(val_fraction * len(idx)))
        splits["test"] += idx[:n_test].tolist()
        splits["val"] += idx[n_test:n_test + n_val].tolist()
        splits["train"] += idx[n_test + n_val:].tolist()
    return splits


def _group_split(keys, labels, val_fraction, test_fraction, seed, where="the manifest"):
    """Whole groups (or, without groups, observations stratified by label) to splits.

    With too few distinct groups for a group of its own in every non-empty split (val
    and test when their fractions are > 0, plus train), rows are split stratified by
    label instead, with a warning; then val and test get at least one row each (taken
    from the biggest class's training rows), or a ``DataError`` says it cannot be done.
    """
    rng = np.random.default_rng(seed)
    if keys is None:
        splits = _stratified(labels, val_fraction, test_fraction, rng)
    else:
        unique = rng.permutation(np.unique(keys))
        needed = 1 + (val_fraction > 0) + (test_fraction > 0)
        if len(unique) >= needed:
            n_test = max(1, int(round(test_fraction * len(unique)))) if test_fraction > 0 else 0
            n_val = max(1, int(round(val_fraction * len(unique)))) if val_fraction > 0 else 0
            n_val = min(n_val, len(unique) - n_test - 1)  # leave a group to train on
            part = {k: ("test" if i < n_test else "val" if i < n_test + n_val else "train")
                    for i, k in enumerate(unique)}
            splits = {"train": [], "val": [], "test": []}
            for i, k in enumerate(keys):
                splits[part[k]].append(i)
        else:
            warnings.warn(
                f"{where}: the 'group' column has {len(unique)} distinct value(s), too few "
                f"for group-aware splits (validation and test need a group each, plus one "
                "to train on); splitting the rows stratified by label instead, so rows of "
                "one group can be on several sides. Add groups or a 'split' column to keep "
                "them apart.", UserWarning, stacklevel=3)
            splits = _stratified(labels, val_fraction, test_fraction, rng)
            for name, fraction in (("test", test_fraction), ("val", val_fraction)):
                if fraction <= 0 or splits[name]:
                    continue
                train = np.asarray(splits["train"], dtype=np.int64)
                counts = np.bincount(labels[train]) if len(train) else np.zeros(1, int)
                if counts.max() < 2:
                    raise DataError(f"{where}: {len(labels)} row(s) are too few for a {name} "
                                    f"split (and the 'group' column has only {len(unique)} "
                                    f"value(s)); add rows or a 'split' column, or pass "
                                    f"{name}_fraction=0")
                pick = int(rng.choice(train[labels[train] == counts.argmax()]))
                splits["train"].remove(pick)
                splits[name].append(pick)
    return {k: np.sort(np.asarray(v, dtype=np.int64)) for k, v in splits.items()}


def _stratified_share(labels, fraction, seed):
    """``{"train", "val"}`` row indices: ``round(fraction * n)`` rows (at least one) to
    val, shared among the classes in proportion to their rows (largest remainders first),
    never a class's last row."""
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    wanted = max(1, int(round(fraction * len(labels))))
    quota = fraction * counts
    take = np.minimum(np.floor(quota).astype(int), counts - 1)
    for k in np.argsort(-(quota - take), kind="stable"):
        if take.sum() >= wanted:
            break
        take[k] += int(take[k] < counts[k] - 1)
    val = [i for c, n in zip(classes, take)
           for i in rng.permutation(np.flatnonzero(labels == c))[:n]]
    val = np.sort(np.asarray(val, dtype=np.int64))
    return {"train": np.setdiff1d(np.arange(len(labels)), val), "val": val}


def _carve_validation(splits, source, val_fraction, seed, where):
    """``val_fraction`` of the training rows as the validation split (whole groups when the
    manifest has a ``group`` column; else stratified by label), said in a warning."""
    train = splits["train"]
    keys = None if source.split_keys is None else source.split_keys[train]
    if keys is None:
        part = _stratified_share(source.labels[train], val_fraction, seed)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)     # too few groups: said below
            part = _group_split(keys, source.labels[train], val_fraction, 0.0, seed, where)
    warnings.warn(f"{where}: the 'split' column has no 'val' rows; {len(part['val'])} of the "
                  f"{len(train)} training rows are the validation split (val_fraction="
                  f"{val_fraction:g}, {'by group' if keys is not None else 'stratified by label'}"
                  "); pass val_fraction=0 to train on them all", UserWarning, stacklevel=3)
    return {**splits, "train": train[part["train"]], "val": train[part["val"]]}


def label_key(spelling: str) -> str:
    """What a label means, whatever its spelling: case and surrounding spaces dropped, and
    a number read as a number ("1", "01", "1.0" and "1e0" are one label)."""
    text = spelling.strip().casefold()
    try:
        number = float(text)
    except ValueError:
        return text
    return repr(number + 0.0) if math.isfinite(number) else text     # -0 is 0


def check_label_spellings(csv_path, header, body):
    """Raise :class:`DataError` when two rows spell one label differently (by case,
    surrounding spaces, or as numbers: "Sharp" and "sharp ", "1" and "01"): they would be
    two classes, or one by accident. Names both spellings and a line of each."""
    column = header.index("label")
    first = {}                               # spelling -> first line
    for line, cells in body:
        if column < len(cells):
            first.setdefault(cells[column], line)
    by_name = {}
    for spelling, line in first.items():
        if spelling.strip():
            by_name.setdefault(label_key(spelling), []).append((spelling, line))
    clashes = [found for found in by_name.values() if len(found) > 1]
    if clashes:
        listed = "; ".join(" and ".join(f"{s!r} (line {line})" for s, line in found[:3])
                           for found in clashes[:5])
        raise DataError(f"{csv_path}: labels that differ only by case, surrounding spaces "
                        f"or the spelling of a number: {listed}; spell each class one way")


def order_column(csv_path, records):
    """The ``order`` cells of ``records`` (``(line, row dict)``) as numbers; a
    :class:`DataError` naming the line of one that is not a finite number."""
    order = []
    for line, row in records:
        try:
            value = float(row.get("order", ""))
        except ValueError:
            value = np.nan
        if not np.isfinite(value):
            raise DataError(f"{csv_path}, line {line}: order={row.get('order')!r}; expected a "
                            "finite number (larger is later within the row's group)")
        order.append(value)
    return np.array(order)


def _read_rows(csv_path):
    """The header (names stripped) and the non-blank rows as ``(line, cells)``, ``line``
    being the row's first line in the file; a :class:`DataError` for a file that is not
    UTF-8 or not CSV."""
    reader = None
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:  # Excel writes a BOM
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            body, start = [], reader.line_num + 1
            for cells in reader:
                if any(c.strip() for c in cells):
                    body.append((start, cells))
                start = reader.line_num + 1
    except UnicodeDecodeError as exc:
        raise DataError(f"{csv_path}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                        "save it as UTF-8") from None
    except csv.Error as exc:
        line = f", line {reader.line_num}" if reader is not None else ""
        raise DataError(f"{csv_path}{line}: not a readable CSV row ({exc})") from None
    return header, body


def _check_header(csv_path, header):
    """A :class:`DataError` for a header with an unnamed or a repeated column (a row's
    value for it would be dropped)."""
    blank = [k + 1 for k, name in enumerate(header) if not name]
    if blank and len(header) > 1:
        raise DataError(f"{csv_path}: header column(s) {blank} have no name; name them or "
                        "remove the empty columns")
    repeated = sorted({name for name in header if name and header.count(name) > 1})
    if repeated:
        raise DataError(f"{csv_path}: the header names column(s) {repeated} more than once; "
                        "each column needs a name of its own")


def _input_columns(csv_path, header, groups, ignore_columns) -> list:
    """The header's input columns: the groups' inputs when given, else every column that is
    neither reserved nor ignored; a :class:`DataError` naming what is missing."""
    _check_header(csv_path, header)
    if "label" not in header:
        raise DataError(f"{csv_path}: no 'label' column in the header {header}")
    absent = [c for c in ignore_columns if c not in header]
    if absent:
        raise DataError(f"{csv_path}: ignore_columns {absent} are not in the header {header}")
    file_cols = [c for c in header if c not in RESERVED and c not in ignore_columns]
    if groups is not None:
        file_cols = [c for g in groups for c in (g.inputs or (g.name,))]
        absent = [c for c in file_cols if c not in header]
        if absent:
            raise DataError(f"{csv_path}: the groups' input column(s) {absent} are not in "
                            f"the header {header}")
    if not file_cols:
        raise DataError(f"{csv_path}: no input file columns in the header {header}")
    return file_cols


def _records(csv_path, header, body, file_cols, groups, classes, skip_bad) -> tuple:
    """``(records, skipped)``: the usable rows as ``(line, {column: cell})``, and the
    refused ones (with ``skip_bad``; else the first raises, naming its line)."""
    records, skipped = [], []
    for line, cells in body:
        row = dict(zip(header, (c.strip() for c in cells)))
        missing = [c for c in file_cols + ["label"] if not row.get(c)]
        problem = None
        if len(cells) != len(header):
            problem = f"{len(cells)} fields; the header has {len(header)}"
        elif missing:
            problem = f"missing value(s) for column(s) {missing}"
            if groups is None and missing != ["label"]:
                problem += " (metadata columns that are not inputs go in ignore_columns)"
        elif classes is not None and row["label"] not in classes:
            problem = f"label {row['label']!r} is not one of the classes {list(classes)}"
        if problem:
            reject(f"{csv_path}, line {line}", problem, skipped, skip_bad)
            continue
        records.append((line, row))
    if not records:
        raise DataError(f"{csv_path}: no usable rows")
    return records, skipped


def _splits(csv_path, header, records, source, val_fraction, test_fraction, seed) -> dict:
    """The ``split`` column's splits (a validation carved from train when it has none), or
    group-aware splits of the given fractions without the column."""
    if "split" not in header:
        return _group_split(source.split_keys, source.labels, val_fraction, test_fraction,
                            seed, where=str(csv_path))
    names = np.array([r.get("split", "") for _, r in records])
    bad = sorted(set(names) - {"train", "val", "test"})
    if bad:
        raise DataError(f"{csv_path}: split values {bad}; expected train, val or test")
    splits = {s: np.flatnonzero(names == s) for s in ("train", "val", "test")}
    if not len(splits["val"]) and val_fraction > 0:
        splits = _carve_validation(splits, source, val_fraction, seed, str(csv_path))
    return splits


def manifest(csv_path, root=None, *, groups=None, classes=None, sample_rate=None,
             image_size=(224, 224), val_fraction=0.1, test_fraction=0.2, seed=0,
             ignore_columns=(), validate=True, skip_bad=False) -> Loaded:
    """Load observations listed in a CSV file.

    Columns: ``label`` (class name) and one column per input file (paths relative to
    ``root``); optional ``id`` (used in messages; default the row number), ``group`` (a key
    kept on one side of every split, e.g. a subject or a machine; also the device whose
    history ``sequence_length`` follows), ``order`` (a number: within a group, or the whole
    file without one, larger is later; needed for histories) and ``split``
    (``train``/``val``/``test``: used as is when present). Any other column is an input,
    unless named in ``ignore_columns``. The file is read as UTF-8, with or without the
    byte-order mark that Excel writes; header names and cells are stripped of surrounding
    spaces, a header names each column once, and blank rows are skipped. A row with
    another number of fields than the header, or an empty input or label cell, is an
    error that names its line (or, with ``skip_bad``, is left out).

    Parameters
    ----------
    csv_path : path
        The manifest.
    root : path or None, default None
        Folder the file paths are relative to; ``None`` means the manifest's folder.
    groups : list of ImageGroup / SeriesGroup or None, default None
        The groups, whose ``inputs`` name their columns in channel order. ``None`` infers
        them: columns ``name`` or ``name.part`` form the group ``name`` (e.g. ``spec.x``,
        ``spec.y``); its kind comes from the first row's file. Images: sized
        ``image_size``, 3 channels per input (gray files are replicated, RGBA loses its
        alpha) unless every row's image is gray, then 1. Series: the channels of the first
        row whose file has no problem of its own (it reads, is not empty, holds finite
        values, a WAV is not truncated), as ``(samples, channels)``, at the WAV's rate or
        ``sample_rate``; the length, the 2-D view (log-Mel or raw frames), its window,
        hop and bands and the patch from the lengths of the column's files
        (:func:`minape_tf.data.series_settings.infer_settings`, which has the rule),
        listed in the group's ``inferred``.
    classes : list of str or None, default None
        Class names in index order; ``None``: the sorted distinct labels. A label outside
        ``classes`` is an error that names the row.
    sample_rate : int or None, default None
        Rate of ``.npy``/CSV series when groups are inferred.
    image_size : (int, int), default (224, 224)
        Image size when groups are inferred.
    val_fraction, test_fraction : float, default 0.1, 0.2
        With a ``split`` column that has no ``val`` rows: ``val_fraction`` of the training
        rows become the validation split, as below (``val_fraction=0``: none). Without a
        ``split`` column: the fractions of ``group`` values (or, without a
        ``group`` column, of each class's rows) put into validation and test. A
        fraction > 0 gives that split at least one group. When the ``group`` column has
        too few distinct values for that (e.g. 2 with both fractions > 0), the rows are
        split stratified by label instead, with a warning, and validation and test get
        at least one row each (a ``DataError`` when there are too few rows even for that).
    seed : int, default 0
        Fixes that split.
    ignore_columns : tuple of str, default ()
        Metadata columns that are not inputs (e.g. ``("notes", "date")``); they are left
        out of the inferred groups and not checked. A column outside ``ignore_columns``
        whose values are not files of a known type is an error that suggests it.
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
    header, body = _read_rows(csv_path)
    file_cols = _input_columns(csv_path, header, groups, tuple(ignore_columns))
    check_label_spellings(csv_path, header, body)
    if classes is not None:        # names, whatever a YAML config made of them (0 -> "0")
        classes = [str(c) for c in classes]
    records, skipped = _records(csv_path, header, body, file_cols, groups, classes, skip_bad)
    if groups is None:
        groups = _infer_groups(file_cols, [r for _, r in records], root, sample_rate,
                               image_size, where=str(csv_path))
    classes = list(classes) if classes is not None else sorted({r["label"] for _, r in records})
    inputs = {g.name: [tuple(str(root / r[c]) for c in (g.inputs or (g.name,)))
                       for _, r in records] for g in groups}
    source = Source(
        inputs=inputs, labels=np.array([classes.index(r["label"]) for _, r in records]),
        classes=classes, ids=[r.get("id") or f"line {line}" for line, r in records],
        split_keys=(np.array([r.get("group", "") for _, r in records])
                    if "group" in header else None),
        order=order_column(csv_path, records) if "order" in header else None,
        skipped=skipped)
    splits = _splits(csv_path, header, records, source, val_fraction, test_fraction, seed)
    loaded = Loaded(source, list(groups), splits)
    return validate_loaded(loaded, skip_bad=skip_bad) if validate else loaded
