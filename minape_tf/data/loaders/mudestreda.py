"""Mudestreda, the multimodal device-state data set of the Minape paper (Zenodo 8238653)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from minape_tf.arguments import named_choice
from minape_tf.data.source import Loaded, Source
from minape_tf.data.errors import DataError, reject
from minape_tf.data.validate import validate_loaded
from minape_tf.groups import ImageGroup, SeriesGroup

SPLITS = ("train", "val", "test")
FORCE_RATE = 10_000
FORCE_LENGTH = 150_000


def mudestreda_force_group(**changes) -> SeriesGroup:
    """Mudestreda's force group: the three cutting-force axes (Fx, Fy, Fz), 15 s at 10 kHz,
    log-Mel with a 1024-sample window, hop 512, 64 mels; ``changes`` override fields."""
    return SeriesGroup("force", channels=3, sample_rate=FORCE_RATE, length=FORCE_LENGTH,
                       source_rate=FORCE_RATE, n_fft=1024, hop=512, n_mels=64,
                       inputs=("Fx", "Fy", "Fz")).replace(**changes)


def _find_dataset_dir(root: Path, labels: str) -> Path:
    for name in (f"dataset_{labels}", "dataset_original"):
        if (root / name).is_dir():
            return root / name
    raise DataError(f"{root}: no dataset_{labels}/ (or dataset_original/) folder; expected "
                    "the Zenodo layout dataset_original/{tool,specX,specY,specZ}/<id>.*")


def read_split_csv(path: Path):
    """Rows ``(id, class name, class number, line)`` of one split CSV, checked."""
    if not path.is_file():
        raise DataError(f"{path}: split file not found")
    rows = []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        need = {"id", "image_label", "tool_label"}
        if not need <= set(reader.fieldnames or ()):
            raise DataError(f"{path}: header {reader.fieldnames}; expected the columns "
                            f"{sorted(need)}")
        for line, row in enumerate(reader, start=2):
            empty = [k for k in sorted(need) if not (row.get(k) or "").strip()]
            if empty:
                raise DataError(f"{path}, line {line}: missing value(s) for {empty}")
            try:
                number = int(row["tool_label"])
            except ValueError:
                raise DataError(f"{path}, line {line}: tool_label={row['tool_label']!r}; "
                                "expected an integer class number") from None
            rows.append((row["id"].strip(), row["image_label"].strip(), number, line))
    return rows


def history_order(ids):
    """Rank of each id by (run, image) for ids ``T<tool>R<run>B<image>``: within a tool, a
    larger rank is a later observation. ``None`` when an id has another form."""
    parsed = [re.fullmatch(r"T\d+R(\d+)B(\d+)", i) for i in ids]
    if not parsed or not all(parsed):
        return None
    runs, images = np.array([[int(m.group(1)), int(m.group(2))] for m in parsed]).T
    order = np.empty(len(ids), dtype=np.int64)
    order[np.lexsort((images, runs))] = np.arange(len(ids))
    return order


def _find_file(folders, stem, extensions):
    for folder in folders:
        for ext in extensions:
            p = folder / f"{stem}{ext}"
            if p.is_file():
                return p
    return None


def mudestreda(root, labels="original", distribution="tool", *, forces="auto",
               image_size=(256, 256), spec_size=(256, 256), force_group=None,
               validate=True, skip_bad=False) -> Loaded:
    """Load Mudestreda in its Zenodo layout.

    ``root`` holds ``dataset_<labels>/tool/<id>.jpg``, ``dataset_<labels>/spec{X,Y,Z}/<id>.png``
    and ``labels_<labels>/<distribution>_distribution/{train,val,test}.csv`` (header
    ``id,image_label,tool_label``). The splits are the CSVs'.

    Groups: ``tool`` (the RGB photo, 3 channels) and ``spec`` (the three colour-mapped
    force spectrogram images, alpha dropped, stacked to 9 channels, as the official Minape
    code feeds them). When raw forces are present, ``forces/<id>.csv`` or ``.npy`` under
    ``dataset_<labels>/`` or ``root`` (columns ``Fx, Fy, Fz`` at 10 kHz), the group
    ``force`` (series, 3 channels, log-Mel computed in the graph) replaces ``spec``.

    Parameters
    ----------
    root : path
        The folder that holds ``dataset_<labels>/`` and ``labels_<labels>/``.
    labels : str, default "original"
        Label set: the suffix of ``labels_<labels>/`` (and of ``dataset_<labels>/``, which
        falls back to ``dataset_original/``).
    distribution : {"tool", "random"}, default "tool"
        ``"tool"``: the split by tool (no tool in two splits); ``"random"``: by image.
    forces : {"auto", "on", "off"}, default "auto"
        Use raw force files: when present (``"auto"``), always (``"on"``: an id without a
        force file is an error), or never (``"off"``).
    image_size : (int, int), default (256, 256)
        (height, width) of the tool photo.
    spec_size : (int, int), default (256, 256)
        (height, width) of the spectrogram images.
    force_group : SeriesGroup or None, default None
        The force group; ``None`` means 10 kHz, 150,000 samples (15 s, Mudestreda's
        length), n_fft 1024, hop 512, 64 mels, no level normalisation.
    validate : bool, default True
        Check every file now and raise a ``DataError`` that names the bad ones.
    skip_bad : bool, default False
        Leave observations with a bad or missing file out (listed in ``source.skipped``).

    Returns
    -------
    Loaded
        Classes in ``tool_label`` order (``["sharp", "used", "dulled"]`` for the original
        labels); ``split_keys`` = the tool (``"T1"`` from ``"T1R11B4"``); ``order`` = run,
        then image number (11, then 4 in ``"T1R11B4"``), the tool's history, or ``None`` when
        an id does not have the form ``T<tool>R<run>B<image>``.
    """
    root = Path(root)
    if distribution not in ("tool", "random"):
        raise ValueError(f"distribution={distribution!r}; expected 'tool' or 'random'")
    data_dir = _find_dataset_dir(root, labels)
    label_dir = root / f"labels_{labels}" / f"{distribution}_distribution"
    rows = {s: read_split_csv(label_dir / f"{s}.csv") for s in SPLITS}

    names = {}
    for split, split_rows in rows.items():
        for ident, name, number, line in split_rows:
            if names.setdefault(number, name) != name:
                raise DataError(f"{label_dir / (split + '.csv')}, line {line}: class number "
                                f"{number} is {name!r} here but {names[number]!r} elsewhere")
    classes = [names[k] for k in sorted(names)]

    force_dirs = [d / "forces" for d in (data_dir, root) if (d / "forces").is_dir()]
    forces = named_choice("forces", forces, ("auto", "on", "off"))
    use_forces = bool(force_dirs) if forces == "auto" else forces == "on"
    if use_forces and not force_dirs:
        raise DataError(f"{root}: forces='on' but no forces/ folder in {data_dir} or {root}")

    inputs = {"tool": [], "force" if use_forces else "spec": []}
    ids, labels_, keys, skipped = [], [], [], []
    splits = {s: [] for s in SPLITS}
    for split in SPLITS:
        for ident, name, number, line in rows[split]:
            where = f"{label_dir / (split + '.csv')}, line {line} (id {ident!r})"
            files = {"tool": _find_file([data_dir / "tool"], ident, (".jpg", ".jpeg", ".png"))}
            if use_forces:
                files["force"] = _find_file(force_dirs, ident, (".csv", ".npy"))
            else:
                for axis in "XYZ":
                    files[f"spec{axis}"] = _find_file([data_dir / f"spec{axis}"], ident,
                                                      (".png", ".jpg"))
            missing = [k for k, v in files.items() if v is None]
            if missing:
                reject(where, f"no file for input(s) {missing} under {data_dir}", skipped,
                       skip_bad)
                continue
            splits[split].append(len(ids))
            inputs["tool"].append((str(files["tool"]),))
            if use_forces:
                inputs["force"].append((str(files["force"]),))
            else:
                inputs["spec"].append(tuple(str(files[f"spec{a}"]) for a in "XYZ"))
            ids.append(ident)
            labels_.append(classes.index(name))
            m = re.match(r"^(T\d+)", ident)
            keys.append(m.group(1) if m else ident)

    groups = [ImageGroup("tool", channels=3, size=tuple(image_size), inputs=("tool",))]
    if use_forces:
        groups.append(force_group or mudestreda_force_group())
    else:
        # Rendered spectrograms of the forces: an image pathway, the time-series modality.
        groups.append(ImageGroup("spec", channels=9, size=tuple(spec_size),
                                 inputs=("specX", "specY", "specZ"), modality="series"))
    source = Source(inputs=inputs, labels=np.array(labels_, dtype=np.int64), classes=classes,
                    ids=ids, split_keys=np.array(keys), order=history_order(ids),
                    skipped=skipped)
    loaded = Loaded(source, groups, {s: np.array(v, dtype=np.int64) for s, v in splits.items()})
    return validate_loaded(loaded, skip_bad=skip_bad) if validate else loaded
