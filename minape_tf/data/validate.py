"""The validation pass: every input file or array is checked before a dataset is built.

Problems found: a missing file, an unknown file type, a corrupt or truncated file (an
image that does not decode, a WAV whose header promises more samples than the file
holds), an empty series, NaN or Inf values, a channel count the group cannot use, a WAV
at another sampling rate than the group's ``source_rate``. Each is reported with the
file (or observation id), the group and input, and what was expected. By default the
first problems raise :class:`DataError`; with ``skip_bad=True`` the observations with a
problem are left out, and listed in ``Source.skipped`` as ``(file or id, reason)``.

Images: gray, gray+alpha, RGB and RGBA files or arrays all fit a group that wants 1 or 3
channels per input (they are converted, see :func:`minape_tf.data.decode.convert_channels`);
a group that wants another count per input (2, 4, or a stack like 6 from one file) needs
exactly that many. A file's channels are those TensorFlow's decoder gives, the one the
pipeline uses (a GIF is RGB; a palette PNG with a transparent colour is RGBA; see
:mod:`minape_tf.data.decode`), and the file is decoded with it here, so an image that
passes decodes in the pipeline. A BMP
must be 24- or 32-bit, or 8-bit gray: TensorFlow ignores a BMP's palette and compression.
An integer image array must hold values in 0-65535 (see
:func:`minape_tf.data.decode.image_array`); an image array's dtype must hold real numbers.

Series: a ``.wav`` file must be a WAV (RIFF), not another format renamed. A ``.npy``
file or an array is ``(samples,)`` or ``(samples, channels)``
(:func:`minape_tf.data.decode.as_series`); when its channels do not fit the group the
problem names the shape and how it is read (and, where the other reading would fit, says
to save the file transposed), so a ``(channels, samples)`` file is never read the wrong
way round. Without level normalisation (``normalize``), a series
must stay small enough for its log-Mel power to be finite in float32
(:func:`peak_limit`).
"""

from __future__ import annotations

import os

import numpy as np

from minape_tf.data import decode
from minape_tf.data.errors import DataError
from minape_tf.data.source import Loaded
from minape_tf.groups import SIGNAL_VIEWS, ImageGroup, SeriesGroup

_TF_IMAGE_FORMATS = {"JPEG", "PNG", "GIF", "BMP"}
_BAND_NAMES = {1: "grayscale", 2: "grayscale+alpha", 3: "RGB", 4: "RGBA"}
_BMP_MASKS = (0x00FF0000, 0x0000FF00, 0x000000FF)  # red, green, blue as TensorFlow reads them


def slot_channels(group, n_inputs: int) -> int:
    """Channels each input of a group contributes (``group.channels / n_inputs``)."""
    if n_inputs < 1 or group.channels % n_inputs:
        raise DataError(f"group {group.name!r}: {group.channels} channels cannot be split "
                        f"evenly over {n_inputs} inputs per observation")
    return group.channels // n_inputs


def image_channels_ok(found: int, wanted: int) -> bool:
    """Whether an image with ``found`` channels can feed ``wanted`` per input: any of
    1-4 channels converts to 1 or 3 (gray replicated, RGB to luminance, alpha dropped);
    other counts must match."""
    return decode.channels_convertible(found, wanted)


def _describe(n):
    return f"{n} ({_BAND_NAMES[n]})" if n in _BAND_NAMES else str(n)


def _bmp_problem(path, mode):
    """Why TensorFlow's BMP decoder would misread a BMP, or ``None``. It reads 24-bit and
    32-bit pixels (blue, green, red, alpha) and 8-bit ones as gray levels, after a
    40-byte or longer header, ignoring any palette and compression."""
    with open(path, "rb") as f:
        head = f.read(70)
    header, bits = int.from_bytes(head[14:18], "little"), int.from_bytes(head[28:30], "little")
    compression = int.from_bytes(head[30:34], "little")
    masks = tuple(int.from_bytes(head[k:k + 4], "little") for k in (54, 58, 62))
    if header < 40:
        return f"BMP with a {header}-byte (OS/2) header; save it as PNG"
    if bits == 8 and mode == "L":
        return None
    if bits in (24, 32) and (compression == 0 or (compression == 3 and masks == _BMP_MASKS)):
        return None
    kind = "a colour palette" if bits <= 8 else f"compression {compression}"
    return (f"{bits}-bit BMP with {kind}; TensorFlow reads only 24- and 32-bit BMPs and "
            "8-bit gray ones (it would misread this one); save it as PNG")


def _tf_reason(exc) -> str:
    """The decoder's own words from a TensorFlow error (without its op prefix)."""
    message = getattr(exc, "message", None) or str(exc)
    return message.split("}} ", 1)[-1].strip()


def decoded_channels(path, image_format) -> int:
    """Channels of an image file as the pipeline decodes it, decoding it entirely with
    TensorFlow (a JPEG at 1/8 scale: the same decoder, as strict, faster)."""
    import tensorflow as tf

    data = tf.io.read_file(path)
    if image_format == "JPEG":
        image = tf.io.decode_jpeg(data, ratio=8)
    else:
        image = tf.io.decode_image(data, channels=0, expand_animations=False)
    return int(image.shape[-1])


def _image_file_problem(path):
    """``(reason, None)`` for an image file the pipeline cannot decode as it is, else
    ``(None, channels)``."""
    from PIL import Image

    if not os.path.isfile(path):
        return "file not found", None
    if decode.extension(path) not in decode.IMAGE_EXTENSIONS:
        return f"unknown image type; expected one of {decode.IMAGE_EXTENSIONS}", None
    try:
        with Image.open(path) as im:
            image_format, mode = im.format, im.mode
    except Exception as exc:  # noqa: BLE001 - any reader failure is a corrupt file
        return f"corrupt or truncated image ({exc})", None
    if image_format not in _TF_IMAGE_FORMATS:
        return f"{image_format} image; expected one of {sorted(_TF_IMAGE_FORMATS)}", None
    if image_format == "BMP":
        problem = _bmp_problem(path, mode)
        if problem:
            return problem, None
    try:
        return None, decoded_channels(path, image_format)
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a corrupt file
        return f"corrupt or truncated {image_format} image ({_tf_reason(exc)})", None


def check_image(item, wanted: int):
    """Reason string for a bad image (path or array), or ``None`` when it is fine."""
    if isinstance(item, np.ndarray):
        if item.ndim not in (2, 3) or item.size == 0:
            return f"image array has shape {item.shape}; expected (height, width, channels)"
        found = 1 if item.ndim == 2 else item.shape[-1]
        if item.dtype.kind not in "iuf":
            return f"image array has dtype {item.dtype}; expected real numbers"
        if not np.all(np.isfinite(item)):
            return "image array contains NaN or Inf"
        problem = decode.integer_image_problem(item)
        if problem:
            return problem
    else:
        problem, found = _image_file_problem(str(item))
        if problem:
            return problem
    if not image_channels_ok(found, wanted):
        return (f"{_describe(found)} channels; expected {_describe(wanted)} (images are "
                "converted to 1 or 3 channels per input; other counts must match)")
    return None


def _channels_problem(samples, channels, wanted):
    reason = (f"{channels} channels; expected {wanted} (shape ({samples}, {channels}) is read "
              f"as (samples, channels): {samples} samples of {channels} channels")
    if samples == wanted:
        reason += "; if it is (channels, samples), save it transposed"
    return reason + ")"


def peak_limit(group):
    """The largest absolute value a series of ``group`` may hold for its power spectrum
    and log-Mel to stay finite in float32 (with a factor 2 to spare for resampling), or
    ``None`` when the group normalises the level first (``normalize``) or reads the signal
    itself (raw frames or samples).
    A Hann window's STFT is at most ``peak * n_fft / 2``; a mel band at most its filter's
    weights' sum times the largest power."""
    from minape_tf.layers.mel import mel_filters

    if group.normalize is not None or group.representation in SIGNAL_VIEWS:
        return None
    bank = mel_filters(group.sample_rate, group.n_fft, group.n_mels, group.fmin, group.fmax,
                       dtype=np.float64)
    widest = max(float(bank.sum(axis=1).max()), 1.0)
    return float(np.sqrt(float(np.finfo(np.float32).max) / widest) / (group.n_fft / 2) / 2)


def _check_values(data, wanted, limit=None):
    samples, channels = data.shape
    if data.size == 0:
        return f"empty signal ({samples} samples of {channels} channel(s))"
    if wanted is not None and channels != wanted:
        return _channels_problem(samples, channels, wanted)
    bad = ~np.isfinite(data)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        return f"{int(bad.sum())} NaN/Inf values (first at sample {row}, channel {col})"
    peak = float(np.abs(data).max())
    if limit is not None and peak > limit:
        return (f"values up to {peak:.3g}: their log-Mel power would overflow float32 (the "
                f"group allows {limit:.3g}); scale the series down or set the group's "
                "normalize ('peak' or 'rms')")
    return None


def _check_wav(path, wanted, rate):
    """Reason for a bad WAV from its header, ``"ok"`` when its samples need no reading
    (integer PCM that TensorFlow decodes), else ``None``."""
    info = decode.wav_info(path)
    if info.format not in ("WAV", "WAVEX", "RF64"):   # only RIFF files show truncation
        return f"{info.format_info} audio, not a WAV; convert it to WAV"
    if info.truncated:
        return (f"truncated WAV: the header announces {info.truncated[0]} bytes of "
                f"samples, the file holds {info.truncated[1]}")
    if info.frames == 0:
        return "empty signal (0 samples)"
    if rate is not None and info.samplerate != rate:
        return (f"sample rate {info.samplerate} Hz; expected {rate} Hz "
                "(the group's source_rate)")
    if wanted is not None and info.channels != wanted:
        return f"{info.channels} channels; expected {wanted}"
    return "ok" if decode.tf_readable_wav(info) else None


def check_series(item, wanted, rate, columns=(), limit=None):
    """Reason string for a bad series (path or array), or ``None`` when it is fine.

    ``wanted`` (channels), ``rate`` (a WAV's sampling rate) and ``limit`` (the largest
    absolute value, :func:`peak_limit`) are not checked when ``None``.
    """
    if isinstance(item, np.ndarray):
        try:
            data = decode.series_array(item)
        except DataError as exc:
            return f"series array: {exc}"
        return _check_values(data, wanted, limit)
    path = str(item)
    if not os.path.isfile(path):
        return "file not found"
    ext = decode.extension(path)
    if ext not in decode.SERIES_EXTENSIONS:
        return f"unknown series file type {ext!r}; expected one of {decode.SERIES_EXTENSIONS}"
    try:
        if ext == ".wav":
            reason = _check_wav(path, wanted, rate)
            if reason:
                return None if reason == "ok" else reason  # integer samples: nothing else
        data, _ = decode.read_series_numpy(path, columns)
    except DataError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a corrupt file
        return f"corrupt or unreadable file ({exc})"
    return _check_values(data, wanted, limit)


def find_problems(source, groups):
    """All problems: a list of ``(observation index, file or id, reason)``."""
    names = [g.name for g in groups]
    missing = [n for n in names if n not in source.inputs]
    if missing:
        raise DataError(f"the source has no inputs for group(s) {missing}; "
                        f"it has {sorted(source.inputs)}")
    problems = []
    for group in groups:
        items = source.inputs[group.name]
        n_inputs = {len(t) for t in items}
        if len(n_inputs) > 1:
            raise DataError(f"group {group.name!r}: observations have different numbers of "
                            f"inputs {sorted(n_inputs)}")
        if not items:
            continue
        wanted = slot_channels(group, n_inputs.pop())
        rate = group.input_rate if isinstance(group, SeriesGroup) else None
        limit = peak_limit(group) if isinstance(group, SeriesGroup) else None
        for i, row in enumerate(items):
            for j, item in enumerate(row):
                path = isinstance(item, (str, os.PathLike))
                if not path and not isinstance(item, np.ndarray):
                    reason = (f"a {type(item).__name__} ({str(item)[:40]}); expected a file "
                              "path or a numpy array")
                elif isinstance(group, ImageGroup):
                    reason = check_image(item, wanted)
                elif isinstance(group, SeriesGroup):
                    reason = check_series(item, wanted, rate, group.inputs, limit)
                else:
                    raise TypeError(f"unknown group type {type(group).__name__}")
                if reason:
                    where = str(item) if path else f"observation {source.ids[i]!r}"
                    problems.append((i, where, f"group {group.name!r}, input {j}: {reason}"))
    return problems


def validate(source, groups, *, skip_bad=False, return_index=False):
    """Check every input of ``source`` for ``groups``; see the module docstring.

    Parameters
    ----------
    source : Source
        The observations.
    groups : list of ImageGroup / SeriesGroup
        What the inputs must fit.
    skip_bad : bool, default False
        ``False``: raise :class:`DataError` naming the bad files. ``True``: leave the bad
        observations out and list them in the returned source's ``skipped``.
    return_index : bool, default False
        Also return the indices (into ``source``) of the observations kept.

    Returns
    -------
    Source (marked ``validated``), or ``(Source, kept_indices)``.
    """
    problems = find_problems(source, groups)
    bad = sorted({i for i, _, _ in problems})
    if problems and not skip_bad:
        lines = [f"  {where}: {reason}" for _, where, reason in problems[:20]]
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise DataError(f"{len(problems)} bad input(s) in {len(bad)} observation(s) "
                        "(pass skip_bad=True to leave them out):\n" + "\n".join(lines) + more,
                        [(w, r) for _, w, r in problems])
    keep = np.setdiff1d(np.arange(len(source)), np.asarray(bad, dtype=np.int64))
    out = source.subset(keep) if bad else source.subset(np.arange(len(source)))
    out.skipped = list(source.skipped) + [(w, r) for _, w, r in problems]
    out.validated = True
    return (out, keep) if return_index else out


def remap_splits(splits: dict, keep) -> dict:
    """Splits (indices into the old source) as indices into ``old.subset(keep)``."""
    new_index = -np.ones(int(max([keep.max() + 1 if len(keep) else 0] +
                                 [int(np.max(v)) + 1 for v in splits.values() if len(v)])),
                         dtype=np.int64)
    new_index[keep] = np.arange(len(keep))
    out = {}
    for name, idx in splits.items():
        mapped = new_index[np.asarray(idx, dtype=np.int64)]
        out[name] = mapped[mapped >= 0]
    return out


def validate_loaded(loaded, *, skip_bad=False):
    """Validate a loader's ``Loaded`` and re-index its splits after skipping."""
    source, keep = validate(loaded.source, loaded.groups, skip_bad=skip_bad,
                            return_index=True)
    return Loaded(source, loaded.groups, remap_splits(loaded.splits, keep))


def skip_summary(skipped, shown=3) -> str:
    """One line saying how many observations were skipped and the first few, for the
    console (the report lists them all); ``""`` when none were."""
    if not skipped:
        return ""
    first = "; ".join(f"{item}: {reason}" for item, reason in skipped[:shown])
    more = f"; ... and {len(skipped) - shown} more" if len(skipped) > shown else ""
    return (f"Skipped {len(skipped)} bad observation(s) (skip_bad=True; all listed in "
            f"report.md): {first}{more}")


def check_split_classes(source, splits, where="data"):
    """Raise :class:`DataError` when a class occurs in a validation or test split but not in
    training: the model could never predict it, and the metrics would count it silently."""
    if "train" not in splits:
        return
    seen = set(source.labels[np.asarray(splits["train"], np.int64)].tolist())
    unseen = {}
    for name, index in splits.items():
        for label in sorted(set(source.labels[np.asarray(index, np.int64)].tolist()) - seen):
            unseen.setdefault(source.classes[label], []).append(name)
    if unseen:
        listed = "; ".join(f"class {c!r} is in {'/'.join(s)} but not in train"
                           for c, s in unseen.items())
        raise DataError(f"{where}: {listed}. A model trained without a class cannot learn it; "
                        "move some of its observations into the training split, or leave "
                        "the class out")
