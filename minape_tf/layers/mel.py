"""The Slaney mel filter bank, in numpy (no librosa needed at run time).

Same numbers as ``librosa.filters.mel(sr=..., n_fft=..., n_mels=..., fmin=..., fmax=...)``
with librosa's defaults ``htk=False`` (Slaney's mel scale: linear below 1 kHz, logarithmic
above) and ``norm="slaney"`` (each triangle divided by its width in Hz, so that the filters
have roughly constant energy).
"""

from __future__ import annotations

import numpy as np

_F_SP = 200.0 / 3  # Hz per mel in the linear part
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(frequencies):
    """Hz to Slaney mel (array in, array out)."""
    f = np.asarray(frequencies, dtype=np.float64)
    mels = f / _F_SP
    log_part = _MIN_LOG_MEL + np.log(np.maximum(f, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(f >= _MIN_LOG_HZ, log_part, mels)


def mel_to_hz(mels):
    """Slaney mel to Hz (array in, array out)."""
    m = np.asarray(mels, dtype=np.float64)
    freqs = _F_SP * m
    log_part = _MIN_LOG_HZ * np.exp(_LOGSTEP * (m - _MIN_LOG_MEL))
    return np.where(m >= _MIN_LOG_MEL, log_part, freqs)


def mel_filters(sample_rate, n_fft, n_mels=128, fmin=0.0, fmax=None, dtype=np.float32):
    """Slaney-normalised triangular mel filter bank.

    Parameters
    ----------
    sample_rate : int
        Sampling rate (Hz) of the signal.
    n_fft : int
        FFT length; the bank has ``1 + n_fft // 2`` frequency bins.
    n_mels : int, default 128
        Number of mel bands.
    fmin : float, default 0.0
        Lowest band edge (Hz).
    fmax : float or None, default None
        Highest band edge (Hz); ``None`` means ``sample_rate / 2``.
    dtype : numpy dtype, default float32
        Output dtype (computed in float64, then cast, as librosa does).

    Returns
    -------
    ndarray, shape (n_mels, 1 + n_fft // 2)
    """
    if fmax is None:
        fmax = float(sample_rate) / 2
    n_bins = 1 + n_fft // 2
    fft_freqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sample_rate)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    weights = np.zeros((n_mels, n_bins), dtype=np.float64)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(dtype)
