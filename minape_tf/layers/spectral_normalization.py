"""Per-recording normalisation of log-Mel features: mean/variance, per band, or PCEN."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from minape_tf.layers.dtypes import float32_policy

SPECTRAL_NORMALISATIONS = (None, "mean_var", "band", "pcen")


@keras.saving.register_keras_serializable(package="minape_tf")
class SpectralNormalization(keras.layers.Layer):
    """Normalise each observation's log-Mel spectrogram by its own statistics.

    A new speaker, microphone or sensor shifts and scales the log-Mel as a whole (level,
    gain of the channel) and per band (the channel's frequency response); statistics of
    the recording itself remove that, so a model trained on a few devices sees the next
    one in the same range.

    Parameters
    ----------
    mode : {"mean_var", "band"}
        ``"mean_var"``: subtract the mean and divide by the standard deviation over all
        frames and mel bands, per observation and channel. ``"band"``: the same per mel band,
        over the frames (cepstral mean/variance normalisation in the mel domain). For
        per-channel energy normalisation see :class:`PCEN`.
    eps : float, default 1e-3
        Added to the standard deviation, so a constant (e.g. all-silent) input stays finite.
    dtype : dtype policy, default None
        Computes in float32 under any policy (see :func:`~minape_tf.layers.dtypes.float32_policy`).

    Input and output ``(batch, frames, n_mels, channels)``. The statistics include the
    frames of zero padding (a short recording padded to the group's length), as the
    pipeline pads before the STFT.
    """

    def __init__(self, mode="mean_var", eps=1e-3, dtype=None, **kwargs):
        super().__init__(dtype=float32_policy(dtype), **kwargs)
        if mode not in ("mean_var", "band"):
            raise ValueError(f"SpectralNormalization: mode={mode!r}; expected 'mean_var' or "
                             "'band' (PCEN is the layer PCEN)")
        self.mode = mode
        self.eps = float(eps)

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        axes = (1, 2) if self.mode == "mean_var" else (1,)
        mean = ops.mean(x, axis=axes, keepdims=True)
        std = ops.sqrt(ops.mean(ops.square(x - mean), axis=axes, keepdims=True))
        return (x - mean) / (std + self.eps)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode, eps=self.eps)
        return config


def pcen_smoothing(frames: int, b: float) -> np.ndarray:
    """The ``(frames, frames)`` matrix ``W`` with ``M = W @ E`` the first-order IIR smoother
    ``M[t] = b E[t] + (1 - b) M[t-1]`` started in its steady state for the first frame
    (``M[-1] = E[0]``): lower triangular, ``W[t, k] = b (1 - b)**(t - k)``, plus
    ``(1 - b)**(t + 1)`` on the first column."""
    t = np.arange(frames)
    lag = t[:, None] - t[None, :]
    w = np.where(lag >= 0, b * (1.0 - b) ** np.maximum(lag, 0), 0.0)
    w[:, 0] += (1.0 - b) ** (t + 1)
    return w.astype("float32")


@keras.saving.register_keras_serializable(package="minape_tf")
class PCEN(keras.layers.Layer):
    """Per-channel energy normalisation (Wang et al., 2017) of a log-Mel spectrogram.

    The mel power is recovered from the log-Mel (``E = 10**x - log_eps``), smoothed over
    time per band with a first-order IIR filter ``M[t] = b E[t] + (1 - b) M[t-1]``, and
    ``(E / (eps + M)**gain + bias)**power - bias**power`` is returned. Equal to
    ``librosa.pcen(E, sr=sample_rate, hop_length=hop, zi=(1 - b) * E[..., :1])`` with the
    same parameters: the filter starts in the steady state of the first frame (librosa's
    default start, ``M[-1] = 1``, assumes int32-scaled audio and is not invariant to gain).
    The filter is a constant ``(frames, frames)`` matrix product, so the layer is plain
    ``keras.ops`` and converts to TFLite with built-in ops.

    Parameters
    ----------
    sample_rate : int
        Rate of the series (Hz), for the time constant.
    hop : int
        STFT hop (samples), for the time constant.
    log_eps : float, default 1e-6
        The ``eps`` the log-Mel added before ``log10`` (the group's ``eps``).
    time_constant : float, default 0.4
        Of the smoother, in seconds (librosa's default); ``b`` follows as in librosa.
    gain, bias, power, eps : float, default 0.98, 2.0, 0.5, 1e-6
        librosa's defaults.
    dtype : dtype policy, default None
        Computes in float32 under any policy.

    Input and output ``(batch, frames, n_mels, channels)``; ``frames`` must be known.
    """

    def __init__(self, sample_rate, hop, log_eps=1e-6, time_constant=0.4, gain=0.98,
                 bias=2.0, power=0.5, eps=1e-6, dtype=None, **kwargs):
        super().__init__(dtype=float32_policy(dtype), **kwargs)
        self.sample_rate, self.hop = int(sample_rate), int(hop)
        self.log_eps, self.time_constant = float(log_eps), float(time_constant)
        self.gain, self.bias, self.power, self.eps = (float(gain), float(bias), float(power),
                                                      float(eps))
        if self.time_constant <= 0 or self.bias <= 0 or self.power <= 0:
            raise ValueError("PCEN: time_constant, bias and power must be positive, got "
                             f"{self.time_constant}, {self.bias}, {self.power}")
        t_frames = self.time_constant * self.sample_rate / self.hop
        self.b = float((np.sqrt(1 + 4 * t_frames ** 2) - 1) / (2 * t_frames ** 2))
        self._smoothing = None

    def build(self, input_shape):
        frames = input_shape[1]
        if frames is None:
            raise ValueError("PCEN needs a known number of frames (axis 1 of the input)")
        self._smoothing = pcen_smoothing(frames, self.b)

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        power = ops.maximum(ops.power(10.0, x) - self.log_eps, 0.0)
        smooth = ops.einsum("tk,bkmc->btmc", ops.convert_to_tensor(self._smoothing), power)
        ratio = power / ops.power(self.eps + smooth, self.gain)
        return ops.power(ratio + self.bias, self.power) - self.bias ** self.power

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(sample_rate=self.sample_rate, hop=self.hop, log_eps=self.log_eps,
                      time_constant=self.time_constant, gain=self.gain, bias=self.bias,
                      power=self.power, eps=self.eps)
        return config
