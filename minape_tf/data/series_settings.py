"""Settings of a series group chosen from its data: the length, the 2-D view, its window,
hop and bands, and the patch, so that the pathway always has a grid to read.

The rule (:func:`infer_settings`), for series of ``length`` samples after resampling:

* ``length``: the longest series of the column; when the longest is more than twice the
  95th percentile, that percentile (the few longer ones are trimmed, the rest padded).
* the view: the paper's log-Mel (``representation="logmel"``) from
  ``LOGMEL_FROM`` samples on; below, the raw frames (``"frames"``), since a spectrogram of
  a short series has too few frames and bands to patch and discards the level and shape
  that a short or slow series carries.
* log-Mel: ``n_fft`` the largest power of two up to 1024 and up to ``length / 8``; ``hop``
  up to ``n_fft / 2`` and small enough for ``4 * patch`` frames, but large enough for at
  most ``MAX_FRAMES`` frames (for very long series the window then grows, up to 16384
  samples, and beyond that the frames skip samples); ``n_mels`` ``min(64, n_fft / 8)``, at
  least the patch, fewer where a mel filter would be empty. Patch 8 (the model's default).
* frames: a window of ``2**ceil(log2(sqrt(length)))`` samples (4 to 64, at least the patch)
  and a hop that gives about twice as many frames as the window has samples; patch an
  eighth of the window (at least 1), so that the grid is about 16 x 8 positions; a
  pathway ``FRAMES_WIDTH`` (64) wide, since such series are short and their sets small;
  and a depthwise kernel of ``FRAMES_KERNEL`` (5): the model's default 9 is wider than
  the grid's 8 columns, and eight blocks of 5 still see the whole grid. On the five shared
  UCR sets with the newcomer command kernel 5 scored the same mean as 9 (0.891 against
  0.890; ArrowHead +4.6 points, PickupGestureWiimoteZ -4) in 110-168 s a run, where kernel
  9 took 150-237 s, and width 32 lost 4 points on the mean
  (``scripts/results/tsc_frames_kernel_cpu.json``, commands inside).
* raw samples (``"raw"``, only when asked for): the one-dimensional pathway, a patch of
  ``2**floor(log2(length / RAW_POSITIONS))`` samples (at least 1), so that it reads about
  ``RAW_POSITIONS`` (64) to 128 positions, and a ``FRAMES_WIDTH`` pathway. It is not the
  default: with the newcomer command on the shared UCR sets it scored a mean 0.866
  against the frames' 0.890 (``scripts/bench_tsc.py --extra=--group=series.representation=raw``).

Settings the user gives (a group field, or the model's ``patch_size``, ``width`` or
``kernel_size``) are kept, and the others are chosen around them; a combination that cannot
give one patch is a ``ValueError`` naming the flag to change and a value that works.
"""

from __future__ import annotations

import math

import numpy as np

from minape_tf.layers.mel import mel_filters
from minape_tf.stft import frame_count

LOGMEL_FROM = 2048
RAW_POSITIONS = 64
MAX_FRAMES = 512
DEFAULT_PATCH = 8
FRAMES_WIDTH = 64
FRAMES_KERNEL = 5
# The model's settings (build_minape arguments) that the inferred ones are chosen around.
MODEL_SETTINGS = ("patch_size", "width", "kernel_size")
# The fields this module chooses (and a training chooses again around the user's).
INFERRED = ("length", "representation", "n_fft", "hop", "n_mels", "patch_size", "width",
            "kernel_size")


def typical_length(lengths) -> int:
    """The group length for series of these lengths (module docstring)."""
    lengths = np.asarray(list(lengths), dtype=np.int64)
    longest, p95 = int(lengths.max()), int(np.percentile(lengths, 95))
    return p95 if longest > 2 * p95 else longest


def _pow2_floor(n):
    return 1 << (max(int(n), 1).bit_length() - 1)


def _pow2_ceil(n):
    return 1 << max(int(n) - 1, 0).bit_length()


def _n_mels(sample_rate, n_fft, at_least) -> int:
    """``min(64, n_fft // 8)``, at least ``at_least`` (and 8), fewer where a filter of the
    bank would have no FFT bin."""

    n = min(64, max(8, at_least, n_fft // 8), n_fft // 2 + 1)
    while n > 1 and not mel_filters(sample_rate, n_fft, n).any(axis=1).all():
        n -= 1
    return n


def _logmel(length, rate, patch, given):
    n_fft = given.get("n_fft") or min(1024, _pow2_floor(length / 8))
    hop = given.get("hop")
    if hop is None:
        hop = max(1, min(n_fft // 2, (length - n_fft) // max(4 * patch - 1, 1)))
        if frame_count(length, n_fft, hop) > MAX_FRAMES:
            hop = math.ceil((length - n_fft) / (MAX_FRAMES - 1))
            if "n_fft" not in given and hop > n_fft:
                n_fft = min(16384, _pow2_ceil(hop))
    n_mels = given.get("n_mels") or _n_mels(rate, n_fft, patch)
    return dict(n_fft=n_fft, hop=hop, n_mels=n_mels)


def _frames(length, patch, given):
    window = given.get("n_fft") or min(64, max(4, patch or 1,
                                                 _pow2_ceil(math.ceil(math.sqrt(length)))))
    window = min(window, length)
    hop = given.get("hop") or max(1, min(window, (length - window) // max(2 * window - 1, 1)))
    return dict(n_fft=window, hop=hop)


def _raw(length, given):
    patch = given.get("patch_size") or min(length, max(1, _pow2_floor(length / RAW_POSITIONS)))
    return dict(patch_size=patch)


def infer_settings(length, rate, given=None) -> dict:
    """The inferred fields of a series group (:data:`INFERRED`), with ``given`` (field ->
    value: what the user set, including ``patch_size``) kept.

    Parameters
    ----------
    length : int
        Samples per series at the group's rate (see :func:`typical_length`).
    rate : int
        The group's sample rate (Hz).
    given : dict or None, default None

    Returns
    -------
    dict
        ``length``, ``representation``, ``n_fft``, ``hop``, ``n_mels`` (log-Mel only),
        ``patch_size``, ``width`` and ``kernel_size`` (None: the model's).

    Raises
    ------
    ValueError
        When the given settings leave fewer frames or bands than one patch.
    """
    given = {k: v for k, v in (given or {}).items() if v is not None}
    length = int(given.get("length", length))
    view = given.get("representation") or ("logmel" if length >= LOGMEL_FROM else "frames")
    patch = given.get("patch_size")
    kernel = given.get("kernel_size", FRAMES_KERNEL if view == "frames" else None)
    if view == "raw":
        settings = dict(length=length, representation=view, **_raw(length, given),
                        width=given.get("width", FRAMES_WIDTH), kernel_size=kernel)
        check_grid(settings, None)
        return settings
    if view == "logmel":
        chosen = _logmel(length, rate, patch or DEFAULT_PATCH, given)
        patch = patch or DEFAULT_PATCH
        bands = chosen["n_mels"]
        width = given.get("width")
    else:
        chosen = _frames(length, patch, given)
        patch = patch or max(1, chosen["n_fft"] // 8)
        bands = chosen["n_fft"]
        width = given.get("width", FRAMES_WIDTH)
    settings = dict(length=length, representation=view, **chosen, patch_size=patch,
                    width=width, kernel_size=kernel)
    check_grid(settings, bands)
    return settings


def check_grid(settings, bands, group="series"):
    """A ``ValueError`` naming the settings to change when ``settings`` give fewer frames or
    bands than one patch."""
    if settings.get("representation") == "raw":
        if settings["length"] < settings["patch_size"]:
            raise ValueError(f"series group {group!r}: length={settings['length']} is shorter "
                             f"than patch_size={settings['patch_size']}; use patch_size="
                             f"{settings['length']} or less")
        return
    length, n_fft, hop, patch = (settings[k] for k in ("length", "n_fft", "hop", "patch_size"))
    if length < n_fft:
        raise ValueError(f"series group {group!r}: length={length} is shorter than the "
                         f"window n_fft={n_fft}; use groups.{group}.n_fft={_pow2_floor(length)}"
                         " or less")
    frames = frame_count(length, n_fft, hop)
    if frames < patch:
        most_hop = (length - n_fft) // (patch - 1) if patch > 1 else hop
        fix = (f"groups.{group}.hop={most_hop} or less" if most_hop >= 1 else
               f"groups.{group}.n_fft={max(1, length - patch + 1)} or less with hop 1")
        raise ValueError(
            f"series group {group!r}: length={length}, n_fft={n_fft}, hop={hop} give "
            f"{frames} frame(s), fewer than patch_size={patch}; use {fix}, or "
            f"patch_size={frames} or less")
    if bands < patch:
        what = "n_mels" if settings.get("representation", "logmel") == "logmel" else "n_fft"
        raise ValueError(f"series group {group!r}: {what}={bands} is smaller than "
                         f"patch_size={patch}; use groups.{group}.{what}={patch} or more, "
                         f"or patch_size={bands} or less")


def describe(group) -> str:
    """One line of a group's inferred settings, for the console and ``run.json``."""
    views = {"logmel": lambda: f"log-Mel {group.n_frames} frames x {group.n_mels} bands "
                               f"(n_fft={group.n_fft}, hop={group.hop})",
             "frames": lambda: f"raw frames {group.n_frames} x {group.n_fft} samples "
                               f"(n_fft={group.n_fft}, hop={group.hop})",
             "raw": lambda: "raw samples, one-dimensional pathway"}
    return (f"series group {group.name!r}: {group.channels} channel(s), {group.length} samples "
            f"at {group.sample_rate} Hz -> {views[group.representation]()}, "
            f"patch {group.patch_size}, width {group.width or 'of the model'}, kernel "
            f"{group.kernel_size or 'of the model'}; inferred: "
            f"{', '.join(group.inferred)}")


def refit(group, overrides=None, model=None):
    """``group`` with the user's field ``overrides``; when it has inferred fields
    (``group.inferred``), those the user did not give are chosen again around the given
    ones and around the model's settings in ``model`` (``patch_size``, ``width``,
    ``kernel_size``: what the user or a preset set). A group without inferred fields just
    takes the overrides."""
    overrides = dict(overrides or {})
    given = {k: v for k, v in overrides.items() if k in INFERRED}
    for key, value in (model or {}).items():
        if value is not None and key in group.inferred:
            given.setdefault(key, value)
    if not group.inferred or not given:
        return group.replace(**overrides) if overrides else group
    settings = infer_settings(group.length, group.sample_rate, given)
    kept = tuple(k for k in group.inferred if k not in given)
    chosen = {k: settings[k] for k in kept if k in settings}
    return group.replace(**{**chosen, **given, **overrides}, inferred=kept)
