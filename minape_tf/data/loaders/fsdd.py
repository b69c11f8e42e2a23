"""The Free Spoken Digit Dataset: ``recordings/{digit}_{speaker}_{index}.wav`` at 8 kHz."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from minape_tf.data.source import Loaded, Source, stratified_holdout
from minape_tf.data.errors import DataError, reject
from minape_tf.data.validate import validate_loaded
from minape_tf.groups import SeriesGroup

FSDD_RATE = 8000
_NAME = re.compile(r"^(\d)_([A-Za-z0-9-]+)_(\d+)\.wav$")


def recordings_dir(root) -> Path:
    """``root/recordings`` when it exists, else ``root`` itself."""
    root = Path(root)
    return root / "recordings" if (root / "recordings").is_dir() else root


def scan(root, skip_bad=False):
    """Sorted ``(path, digit, speaker, index)`` of the recordings, and skipped names."""
    folder = recordings_dir(root)
    if not folder.is_dir():
        raise DataError(f"{folder}: FSDD folder not found (expected recordings/*.wav)")
    rows, skipped = [], []
    for name in sorted(os.listdir(folder)):
        if not name.lower().endswith(".wav"):
            continue
        m = _NAME.match(name)
        if not m:
            reject(folder / name, "file name does not match {digit}_{speaker}_{index}.wav",
                   skipped, skip_bad)
            continue
        rows.append((str(folder / name), int(m.group(1)), m.group(2), int(m.group(3))))
    rows.sort(key=lambda r: (r[2], r[1], r[3]))
    if not rows:
        raise DataError(f"{folder}: no FSDD recordings ({{digit}}_{{speaker}}_{{index}}.wav)")
    return rows, skipped


def audio_group(name="audio", *, sample_rate=FSDD_RATE, length=8000, n_fft=256, hop=128,
                n_mels=32, normalize="peak", spectral_norm=None, equalize=True):
    """The FSDD series group: one channel, 1 s at 8 kHz by default (longer recordings are
    trimmed, shorter ones zero-padded), peak-normalised since speakers' levels differ.
    No spectral normalisation by default: per recording, per band or PCEN did not raise
    leave-one-speaker-out accuracy (docs/unseen-devices.md). Device equalisation on:
    adapting to a new speaker then removes the speaker's frequency response as well (the
    adapted leave-one-speaker-out accuracy rose from 0.86 to 0.88,
    docs/unseen-devices.md); unadapted, it
    changes nothing."""
    return SeriesGroup(name, channels=1, sample_rate=sample_rate, length=length,
                       source_rate=FSDD_RATE, n_fft=n_fft, hop=hop, n_mels=n_mels,
                       normalize=normalize, spectral_norm=spectral_norm, equalize=equalize,
                       inputs=("audio",))


def fsdd_splits(digits, speakers, indices, split="speaker", test_speakers=("theo",),
                val_speakers=None, val_fraction=0.1, seed=0):
    """Train/val/test indices; see :func:`fsdd` for the rules."""
    digits, speakers, indices = map(np.asarray, (digits, speakers, indices))
    everything = np.arange(len(digits))
    if split == "official":
        test = everything[indices < 5]
        val = everything[(indices >= 5) & (indices < 10)]
        train = everything[indices >= 10]
    elif split == "speaker":
        unknown = sorted(set(test_speakers) - set(speakers.tolist()))
        if unknown:
            raise DataError(f"test_speakers {unknown} not among the speakers "
                            f"{sorted(set(speakers.tolist()))}")
        is_test = np.isin(speakers, list(test_speakers))
        test = everything[is_test]
        rest = everything[~is_test]
        if val_speakers:
            is_val = np.isin(speakers, list(val_speakers))
            # A speaker who both validates and tests: indices 0-4 (the official test set)
            # test, 5-49 validate, so that no recording is on two sides.
            both = is_test & is_val
            test = everything[is_test & ~(both & (indices >= 5))]
            val = everything[is_val & ~(both & (indices < 5))]
            train = everything[~is_test & ~is_val]
        else:
            strata = np.char.add(np.char.add(digits[rest].astype(str), "_"), speakers[rest])
            val = rest[stratified_holdout(strata, val_fraction, seed)]
            train = np.setdiff1d(rest, val)
    else:
        raise ValueError(f"split={split!r}; expected 'speaker' or 'official'")
    return {"train": train, "val": val, "test": test}


def fsdd(root, split="speaker", test_speakers=("theo",), *, val_speakers=None,
         val_fraction=0.1, seed=0, group=None, validate=True, skip_bad=False) -> Loaded:
    """Load the Free Spoken Digit Dataset.

    Parameters
    ----------
    root : path
        The FSDD folder (holding ``recordings/``) or the recordings folder itself.
    split : {"speaker", "official"}, default "speaker"
        ``"speaker"``: the ``test_speakers`` are the test set (an unseen-speaker test);
        validation is ``val_speakers`` if given, else a deterministic ``val_fraction`` of
        every (digit, speaker) stratum of the other speakers. ``"official"``: indices
        0-4 of every digit and speaker are the test set (the FSDD convention), indices
        5-9 the validation set, 10-49 the training set.
    test_speakers : tuple of str, default ("theo",)
        Test speakers for ``split="speaker"`` (theo records about 10x quieter).
    val_speakers : tuple of str or None, default None
        Held-out validation speakers for ``split="speaker"``. A speaker in both
        ``test_speakers`` and ``val_speakers`` is split by index: the official test indices
        0-4 test, 5-49 validate (e.g. train on four speakers, validate on theo, test on
        theo's official test recordings).
    val_fraction : float, default 0.1
        Validation fraction when ``val_speakers`` is None.
    seed : int, default 0
        Fixes the validation draw.
    group : SeriesGroup or None, default None
        The group to use; ``None`` means :func:`audio_group` (8 kHz, 8000 samples,
        n_fft 256, hop 128, 32 mels, peak normalisation).
    validate : bool, default True
        Check every file now (header, length, rate) and raise a ``DataError`` naming
        bad files.
    skip_bad : bool, default False
        Leave bad files out instead (listed in ``source.skipped``).

    Returns
    -------
    Loaded
        Group ``audio``; classes ``"0"``-``"9"``; ``split_keys`` = speaker.
    """
    rows, skipped = scan(root, skip_bad)
    paths, digits, speakers, indices = zip(*rows)
    group = group or audio_group()
    source = Source(inputs={group.name: [(p,) for p in paths]}, labels=np.array(digits),
                    classes=[str(d) for d in range(10)],
                    ids=[Path(p).stem for p in paths], split_keys=np.array(speakers),
                    skipped=skipped)
    splits = fsdd_splits(digits, speakers, indices, split, tuple(test_speakers),
                         val_speakers, val_fraction, seed)
    loaded = Loaded(source, [group], splits)
    return validate_loaded(loaded, skip_bad=skip_bad) if validate else loaded
