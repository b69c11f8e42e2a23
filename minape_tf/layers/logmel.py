"""The log-Mel layer (paper Eq. 9), with ``keras.ops`` only: it runs on every backend."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from minape_tf.layers.dtypes import float32_policy
from minape_tf.layers.mel import mel_filters
from minape_tf.stft import frame_count


@keras.saving.register_keras_serializable(package="minape_tf")
class LogMel(keras.layers.Layer):
    """``log10(mel(|STFT(x, hann(n_fft), hop)|**2) + eps)`` per channel.

    The STFT uses a periodic Hann window of ``n_fft`` samples (as ``librosa`` and
    ``scipy.signal.get_window("hann", n)``), ``fft_length = n_fft`` and no centring
    (``center=False``: frame ``t`` covers samples ``t*hop ... t*hop + n_fft - 1``), so
    there are ``1 + (length - n_fft) // hop`` frames. The mel filter bank is librosa's
    Slaney bank (:func:`minape_tf.layers.mel.mel_filters`). The result equals
    ``log10(librosa.feature.melspectrogram(y, sr, n_fft=n_fft, hop_length=hop,
    center=False, n_mels=n_mels, fmin=fmin, fmax=fmax) + eps)`` to float32 round-off.

    Input ``(batch, length, channels)`` float; output ``(batch, frames, n_mels, channels)``.

    Parameters
    ----------
    sample_rate : int
        Sampling rate of the input (Hz), for the filter bank.
    n_fft : int
        Window and FFT length.
    hop : int
        Hop between frames (samples).
    n_mels : int
        Mel bands.
    fmin : float, default 0.0
        Lowest mel frequency (Hz).
    fmax : float or None, default None
        Highest mel frequency (Hz); ``None`` means ``sample_rate / 2``.
    eps : float, default 1e-6
        Added to the mel power before ``log10``.
    dtype : dtype policy, default None
        The layer computes in float32 under any policy: power spectra overflow float16
        (max 65504) and lose the quiet bands in bfloat16's 8-bit mantissa. A 16-bit or mixed
        policy given here becomes ``"float32"`` (see ``dtype_policy``); the next layer casts
        the output to its own compute dtype.
    """

    def __init__(self, sample_rate, n_fft, hop, n_mels, fmin=0.0, fmax=None, eps=1e-6,
                 dtype=None, **kwargs):
        super().__init__(dtype=float32_policy(dtype), **kwargs)
        self.sample_rate = int(sample_rate)
        self.n_fft = int(n_fft)
        self.hop = int(hop)
        self.n_mels = int(n_mels)
        self.fmin = float(fmin)
        self.fmax = None if fmax is None else float(fmax)
        self.eps = float(eps)
        # Periodic Hann, as librosa.filters.get_window("hann", n_fft, fftbins=True).
        n = np.arange(self.n_fft)
        self._window = (0.5 - 0.5 * np.cos(2 * np.pi * n / self.n_fft)).astype("float32")
        # The filter bank is a constant of the configuration, not a weight: it is rebuilt
        # from get_config on loading and does not count as a model parameter.
        self._mel_bank = np.ascontiguousarray(
            mel_filters(self.sample_rate, self.n_fft, self.n_mels, self.fmin, self.fmax).T)

    @property
    def window(self) -> np.ndarray:
        """The periodic Hann window, float32 ``(n_fft,)``."""
        return self._window

    @property
    def mel_bank(self) -> np.ndarray:
        """The mel filter bank, float32 ``(n_fft // 2 + 1, n_mels)``."""
        return self._mel_bank

    @classmethod
    def from_group(cls, group, **kwargs):
        """The layer for a :class:`~minape_tf.groups.SeriesGroup`."""
        return cls(group.sample_rate, group.n_fft, group.hop, group.n_mels, fmin=group.fmin,
                   fmax=group.fmax, eps=group.eps, name=kwargs.pop("name", f"{group.name}_logmel"),
                   **kwargs)

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)  # integer PCM too
        x = ops.transpose(x, (0, 2, 1))  # (batch, channels, length)
        real, imag = ops.stft(x, self.n_fft, self.hop, self.n_fft, window=self._window,
                              center=False)
        power = ops.square(real) + ops.square(imag)  # (batch, channels, frames, bins)
        mel = ops.matmul(power, ops.convert_to_tensor(self._mel_bank, dtype=power.dtype))
        out = ops.log10(mel + self.eps)
        return ops.transpose(out, (0, 2, 3, 1))  # (batch, frames, n_mels, channels)

    def n_frames(self, length):
        return frame_count(length, self.n_fft, self.hop)

    def compute_output_shape(self, input_shape):
        batch, length, channels = input_shape
        frames = None if length is None else self.n_frames(length)
        return (batch, frames, self.n_mels, channels)

    def get_config(self):
        config = super().get_config()
        config.update(sample_rate=self.sample_rate, n_fft=self.n_fft, hop=self.hop,
                      n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax, eps=self.eps)
        return config
