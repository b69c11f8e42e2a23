"""Three ways to compute the same depthwise convolution (``keras.ops`` only).

Each function computes ``DepthwiseConv2D(kernel_size, padding="same")`` without its bias:
``y[b, i, j, c] = sum_{d, e} x[b, i + d - pt, j + e - pl, c] * kernel[d, e, c]`` with
``pt = (kh - 1) // 2`` and ``pl = (kw - 1) // 2`` (Keras' "same" padding puts the extra row
and column of an even kernel at the bottom and right) and zeros outside the grid. Input
``(batch, h, w, c)`` with static ``h, w, c``; ``kernel`` is ``(kh, kw, c)``.

* :func:`depthwise_conv`: ``keras.ops.depthwise_conv`` (a grouped convolution).
* :func:`depthwise_matmul`: one batched matrix product with a per-channel Toeplitz matrix
  ``(h*w, h*w)``. The matrix is built from the kernel by two small products with constant
  0/1 shift selectors, not by a gather, so that its gradient is also a pair of matrix
  products rather than a scatter-add over the whole matrix. It holds ``(h*w)**2 * c``
  numbers (:func:`toeplitz_entries`): fast on a GPU for small grids, impossible for large ones.
* :func:`depthwise_fft`: a correlation through real FFTs of the zero-padded grid; computed
  in float32 whatever the input dtype (16-bit FFTs lose too much), cast back at the end.
"""

import functools

import numpy as np
from keras import ops


def depthwise_conv(x, kernel):
    return ops.depthwise_conv(x, ops.expand_dims(kernel, -1), padding="same")


def toeplitz_entries(h, w, channels):
    """Numbers in the matmul form's Toeplitz matrices for an ``h`` x ``w`` x ``channels`` grid."""
    return (h * w) ** 2 * channels


@functools.lru_cache(maxsize=None)
def _shift_selector(n, k):
    """``s[i, i2, d] = 1`` where input position ``i2`` is tap ``d`` of output ``i`` (same padding)."""
    i, i2, d = np.ogrid[:n, :n, :k]
    return (i2 == i + d - (k - 1) // 2).astype("float32")


def depthwise_matmul(x, kernel):
    _, h, w, c = x.shape
    kh, kw = kernel.shape[:2]
    rows = ops.convert_to_tensor(_shift_selector(h, kh), dtype=x.dtype)
    cols = ops.convert_to_tensor(_shift_selector(w, kw), dtype=x.dtype)
    band = ops.einsum("jJe,dec->djJc", cols, kernel)             # (kh, w, w, c): one per row
    toeplitz = ops.einsum("iId,djJc->ijIJc", rows, band)         # (h, w, h, w, c)
    toeplitz = ops.reshape(toeplitz, (h * w, h * w, c))
    y = ops.einsum("bpc,qpc->bqc", ops.reshape(x, (-1, h * w, c)), toeplitz)
    return ops.reshape(y, (-1, h, w, c))


def fft_length(n, k):
    """FFT length for a grid side ``n`` and kernel side ``k``: at least ``n + k // 2`` (no
    wrap-around into the grid) and ``k`` (room for the kernel), rounded up to a product of
    2, 3 and 5 (fast FFT sizes)."""
    size = max(n + k // 2, k)
    while True:
        rest = size
        for prime in (2, 3, 5):
            while rest % prime == 0:
                rest //= prime
        if rest == 1:
            return size
        size += 1


def _fft_rows(pair):
    """Complex FFT along axis -2 of ``(real, imag)``."""
    real, imag = ops.fft(tuple(ops.swapaxes(t, -1, -2) for t in pair))
    return ops.swapaxes(real, -1, -2), ops.swapaxes(imag, -1, -2)


def _spectrum(x, nh, nw):
    """2-D real FFT over the last two axes, zero-padded to ``(nh, nw)``."""
    x = ops.pad(x, [(0, 0)] * (len(x.shape) - 2) + [(0, nh - x.shape[-2]), (0, 0)])
    return _fft_rows(ops.rfft(x, fft_length=nw))


def depthwise_fft(x, kernel):
    dtype = x.dtype
    _, h, w, c = x.shape
    kh, kw = kernel.shape[:2]
    nh, nw = fft_length(h, kh), fft_length(w, kw)
    xr, xi = _spectrum(ops.transpose(ops.cast(x, "float32"), (0, 3, 1, 2)), nh, nw)
    # The kernel with tap (pt, pl) at the origin: circular correlation is then "same" padding.
    k = ops.pad(ops.transpose(ops.cast(kernel, "float32"), (2, 0, 1)),
                [(0, 0), (0, nh - kh), (0, nw - kw)])
    kr, ki = _spectrum(ops.roll(k, (-((kh - 1) // 2), -((kw - 1) // 2)), axis=(1, 2)), nh, nw)
    # Correlation = x's spectrum times the kernel's conjugate; the inverse FFT along rows is
    # conj(fft(conj(.))) / nh, then the inverse real FFT along columns.
    yr, yi = _fft_rows((xr * kr + xi * ki, xr * ki - xi * kr))
    y = ops.irfft((yr, -yi), fft_length=nw)[:, :, :h, :w] / nh
    return ops.cast(ops.transpose(y, (0, 2, 3, 1)), dtype)


FORMS = {"conv": depthwise_conv, "matmul": depthwise_matmul, "fft": depthwise_fft}
