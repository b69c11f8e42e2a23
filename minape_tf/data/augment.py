"""Train-only augmentation, applied after the cache (so every epoch sees new draws).

Series (per observation, stateless random ops seeded from the dataset's seed), with the
strengths of a :class:`SeriesAugmentation`: its defaults, changed by
``TrainConfig.augmentation`` (the CLI's ``--augmentation KEY=VALUE``). Equalisation,
speed, warp, shift and noise are off by default: on FSDD's unseen speakers they did not
raise the mean (docs/unseen-devices.md, "What generalises to an unseen speaker"), and for machine signals,
whose frequencies are physical quantities, a warped spindle frequency would be another
machine state.

On log-Mel features, in this order, before the group's spectral normalisation
(``SeriesGroup.spectral_norm``), so that each step is exact in the domain it is defined in:

* random gain: the signal times ``g`` with ``20 log10 g`` uniform in ``[-gain_db, gain_db]``,
  applied in the log domain as ``log10(g**2 * (10**F - eps) + eps)``, i.e. as if the
  (level-normalised) signal had been scaled before the STFT.
* equalisation (``eq_db``): the power of each mel band times ``10**(c(m) / 10)``, where the
  curve ``c(m) = sum_k a_k / k * cos(pi * k * (m + 1/2) / n_mels)`` (k = 1, 2, 3; ``a_k``
  uniform in ``[-eq_db, eq_db]`` dB) is smooth over the bands: another microphone's or
  sensor's frequency response, a tilt and a few broad bumps. FSDD's speakers differ in
  just that (george's recordings lack the lowest bands by 10-20 dB against the others').
* noise: white noise at a signal-to-noise ratio uniform in ``noise_snr_db`` (dB, against
  the observation's mean mel power). The Slaney mel filters have equal areas, so white
  noise adds the same expected power to every band; it is added in the power domain.
* speed (``stretch``): the spectrogram resized along time by a factor uniform in
  ``[1 - stretch, 1 + stretch]`` (as if spoken or run faster / slower), then cut or padded
  at the end to its frame count.
* pitch / vocal-tract length (``warp``): resized along the mel axis by a factor uniform in
  ``[1 - warp, 1 + warp]``, cut or padded at the top (a linear warp of the mel scale, the
  spectrogram form of VTLP; Jaitly & Hinton, 2013).
* time shift (``shift``): moved later or earlier by up to ``shift`` of the frames.
* SpecAugment (Park et al., 2019): ``time_masks`` spans of at most ``time_width`` of the
  frames and ``freq_masks`` spans of at most ``freq_width`` of the mel bands, each set to
  the observation's mean log-Mel value (a log-Mel of 0 is not silence, so the mean is the
  neutral fill).

Padding (stretch, warp, shift) uses the observation's minimum log-Mel, i.e. its silence.
Raw series (``make_dataset(features_in_model=True)``) get the gain and the time masks (set to zero) only. Raw
frames and samples (``representation="frames"`` and ``"raw"``: short series, small sets)
get none: the gain and time masks trained worse models on the UCR sets
(``scripts/bench_tsc.py``).

Images (per batch, ``keras.layers``): 3-channel groups get ``keras.layers.RandAugment``
(2 ops, factor 0.5, values in [0, 1]); other channel counts (stacked spectrogram images,
gray digits) get small random translations and zooms, since colour operations are not
defined for them.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from minape_tf.groups import SIGNAL_VIEWS


@dataclasses.dataclass(frozen=True)
class SeriesAugmentation:
    """Strengths of the series augmentation (see the module docstring); 0 switches a step
    off.

    Parameters
    ----------
    gain_db : float, default 6.0
    eq_db : float, default 0.0
    noise_snr_db : (float, float) or None, default None
        SNR range in dB of the added white noise; None: no noise.
    stretch : float, default 0.0
    warp : float, default 0.0
    shift : float, default 0.0
    time_masks : int, default 2
    time_width : float, default 0.1
    freq_masks : int, default 2
    freq_width : float, default 0.1
    """

    gain_db: float = 6.0
    eq_db: float = 0.0
    noise_snr_db: tuple | None = None
    stretch: float = 0.0
    warp: float = 0.0
    shift: float = 0.0
    time_masks: int = 2
    time_width: float = 0.1
    freq_masks: int = 2
    freq_width: float = 0.1

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "noise_snr_db":
                if value is not None:
                    value = tuple(float(v) for v in value)
                    if len(value) != 2 or value[0] > value[1]:
                        raise ValueError(f"augmentation noise_snr_db={value!r}; expected "
                                         "[low, high] in dB, low <= high")
                    object.__setattr__(self, f.name, value)
            elif not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"augmentation {f.name}={value!r}; expected a number >= 0")
        for name in ("stretch", "warp", "shift", "time_width", "freq_width"):
            if getattr(self, name) >= 1:
                raise ValueError(f"augmentation {name}={getattr(self, name)!r}; expected a "
                                 "fraction below 1")

    @classmethod
    def make(cls, value):
        """``None`` / ``{}`` (the defaults), a dict of fields, or an instance."""
        if isinstance(value, cls):
            return value
        unknown = sorted(set(value or {}) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"augmentation {unknown}: not known; the keys are "
                             f"{[f.name for f in dataclasses.fields(cls)]}")
        return cls(**(value or {}))


def _uniform(seed, k, low, high):
    return tf.random.stateless_uniform([], tf.random.experimental.stateless_fold_in(seed, k),
                                       low, high)


def _mask_axis(x, axis, n_masks, width, seed, fill):
    size = tf.shape(x)[axis]
    max_w = tf.maximum(tf.cast(tf.cast(size, tf.float32) * width, tf.int32), 1)
    positions = tf.range(size)
    keep = tf.ones([size], tf.bool)
    for k in range(n_masks):
        s = tf.random.experimental.stateless_fold_in(seed, 10 + k)
        w = tf.random.stateless_uniform([], s, 0, max_w + 1, dtype=tf.int32)
        start = tf.random.stateless_uniform(
            [], tf.random.experimental.stateless_fold_in(s, 1), 0,
            tf.maximum(size - w, 0) + 1, dtype=tf.int32)
        keep &= ~((positions >= start) & (positions < start + w))
    shape = [1] * len(x.shape)
    shape[axis] = -1
    return tf.where(tf.reshape(keep, shape), x, fill)


def _fit(x, axis, size, fill):
    """Cut ``x`` at the end of ``axis`` or pad it there with ``fill`` to ``size``."""
    x = x[:size] if axis == 0 else x[:, :size]
    missing = size - tf.shape(x)[axis]
    pad = [[0, 0]] * len(x.shape)
    pad[axis] = [0, missing]
    return tf.pad(x, pad, constant_values=fill)


def _resize(spec, axis, factor, fill):
    """Resize one axis of ``(frames, n_mels, channels)`` by ``factor``, keep its size."""
    frames, mels = spec.shape[0], spec.shape[1]
    size = frames if axis == 0 else mels
    new = tf.maximum(tf.cast(tf.round(factor * size), tf.int32), 1)
    target = tf.stack([new, mels]) if axis == 0 else tf.stack([frames, new])
    out = tf.image.resize(spec, target, method="bilinear")
    return tf.ensure_shape(_fit(out, axis, size, fill), spec.shape)


def _shift(spec, frames, fill):
    size = spec.shape[0]
    padded = tf.pad(spec, [[size, size], [0, 0], [0, 0]], constant_values=fill)
    return tf.ensure_shape(padded[size - frames:2 * size - frames], spec.shape)


def _equalisation(seed, eq_db, n_mels, terms=3):
    """The power factor of each mel band, shape ``(1, n_mels, 1)`` (module docstring)."""
    k = tf.range(1, terms + 1, dtype=tf.float32)[:, None]
    bands = (tf.range(n_mels, dtype=tf.float32)[None, :] + 0.5) / n_mels
    amplitude = tf.random.stateless_uniform([terms, 1], seed, -eq_db, eq_db) / k
    curve_db = tf.reduce_sum(amplitude * tf.cos(np.pi * k * bands), axis=0)
    return tf.reshape(tf.pow(10.0, curve_db / 10.0), [1, n_mels, 1])


def random_gain_factor(seed, gain_db):
    db = tf.random.stateless_uniform([], seed, -gain_db, gain_db)
    return tf.pow(10.0, db / 20.0)


def augment_logmel(spec, seed, eps, strengths=None):
    """Augment one ``(frames, n_mels, channels)`` log-Mel (see the module docstring)."""
    a = SeriesAugmentation.make(strengths)
    fold = tf.random.experimental.stateless_fold_in
    power = tf.maximum(tf.pow(10.0, spec) - eps, 0.0)
    if a.gain_db:
        gain = random_gain_factor(fold(seed, 1), a.gain_db)
        power = gain * gain * power
    if a.eq_db:
        power = power * _equalisation(fold(seed, 8), a.eq_db, spec.shape[1])
    if a.noise_snr_db is not None:
        snr = _uniform(seed, 4, a.noise_snr_db[0], a.noise_snr_db[1])
        power = power + tf.reduce_mean(power) * tf.pow(10.0, -snr / 10.0)
    spec = tf.math.log(power + eps) / tf.math.log(10.0)
    silence = tf.reduce_min(spec)
    if a.stretch:
        spec = _resize(spec, 0, _uniform(seed, 5, 1 - a.stretch, 1 + a.stretch), silence)
    if a.warp:
        spec = _resize(spec, 1, _uniform(seed, 6, 1 - a.warp, 1 + a.warp), silence)
    if a.shift:
        most = int(a.shift * spec.shape[0])
        frames = tf.random.stateless_uniform([], fold(seed, 7), -most, most + 1, dtype=tf.int32)
        spec = _shift(spec, frames, silence)
    fill = tf.reduce_mean(spec)
    spec = _mask_axis(spec, 0, a.time_masks, a.time_width, fold(seed, 2), fill)
    return _mask_axis(spec, 1, a.freq_masks, a.freq_width, fold(seed, 3), fill)


def augments(group, features) -> bool:
    """Whether the series augmentation changes ``group``'s observations (raw frames and
    samples are left as they are: module docstring)."""
    return not (features and group.representation in SIGNAL_VIEWS)


def augment_series(group, x, seed, features, strengths=None):
    """Augment one observation of a series ``group``: its log-Mel when ``features`` (raw
    frames and samples are left as they are), else its raw series (module docstring)."""
    if not features:
        return augment_raw(x, seed, strengths)
    if group.representation in SIGNAL_VIEWS:
        return x
    return augment_logmel(x, seed, group.eps, strengths)


def augment_raw(x, seed, strengths=None):
    """Random gain + time masks (zeros) on one raw ``(length, channels)`` series."""
    a = SeriesAugmentation.make(strengths)
    fold = tf.random.experimental.stateless_fold_in
    if a.gain_db:
        x = x * random_gain_factor(fold(seed, 1), a.gain_db)
    return _mask_axis(x, 0, a.time_masks, a.time_width, fold(seed, 2), 0.0)


def image_augmenter(group, seed=None):
    """The keras augmentation layer for a batch of an image group (see module docstring)."""
    if group.channels == 3:
        return keras.layers.RandAugment(value_range=(0.0, 1.0), num_ops=2, factor=0.5,
                                        seed=seed)
    return keras.Sequential([
        keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed),
        keras.layers.RandomZoom(0.1, fill_mode="constant", seed=seed),
    ])
