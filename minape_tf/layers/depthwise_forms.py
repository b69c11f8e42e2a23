"""Four ways to compute the same depthwise convolution (``keras.ops`` only).

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
* :func:`depthwise_fft`: a correlation in the frequency domain of the zero-padded grid
  (discrete Fourier transforms as small matrix products); computed in float32 whatever
  the input dtype (16-bit transforms lose too much), cast back at the end.
* :func:`depthwise_tiles`: the kernel cut into rectangles of at most :data:`MAX_TILE_TAPS`
  taps (:func:`kernel_tiles`), each a "valid" depthwise convolution of a shifted window of
  one zero-padded input, the results summed. XNNPACK (LiteRT's CPU runtime) computes a
  depthwise convolution of up to 25 taps in one pass, on AVX-512, AVX2 and ARM NEON alike,
  and a larger one as a grouped matrix product that uses a sixteenth of the vector lanes
  or less, so the sum of small ones is the faster form there (its kernels of 3, 4, 9 and
  25 taps: ``src/configs/dwconv-config.c`` of the XNNPACK TensorFlow 2.21 pins).
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
    """``s[i, i2, d] = 1`` where input ``i2`` is tap ``d`` of output ``i`` ("same" padding)."""
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
    """Transform length along a grid side ``n`` for a kernel side ``k``: at least ``n + k // 2``
    (no wrap-around into the grid) and ``k`` (room for the kernel)."""
    return max(n + k // 2, k)


@functools.lru_cache(maxsize=None)
def _dft_matrices(n, k, real):
    """Constant matrices of the transforms along one grid axis of ``n`` positions.

    With ``m = fft_length(n, k)`` and ``f`` frequencies: all ``m``, or for a ``real``
    signal the ``m // 2 + 1`` that determine the others (their conjugates):

    * ``data`` ``(n, 2f)``: ``[cos | -sin](2 pi p u / m)``: real and imaginary spectrum of
      a zero-padded signal of ``n`` samples (``signal @ data``);
    * ``kernel`` ``(k, 2f)``: the same for the kernel, tap ``d`` placed at offset ``d - pt``;
    * ``inverse`` ``(2f, n)``: ``[w cos ; -w sin](2 pi u p / m)``: the real part of the
      inverse transform of ``[real | imag]``, ``w = 1 / m``; for a ``real`` signal each
      frequency counts twice except 0 and m/2 (Hermitian symmetry).
    """
    m = fft_length(n, k)
    u = np.arange(m // 2 + 1 if real else m)
    weight = (np.where((u == 0) | (2 * u == m), 1.0, 2.0) if real else np.ones(m)) / m

    def pair(positions):
        angle = 2 * np.pi * np.outer(positions, u) / m
        return np.concatenate([np.cos(angle), -np.sin(angle)], axis=1).astype("float32")

    angle = 2 * np.pi * np.outer(u, np.arange(n)) / m
    inverse = np.concatenate([weight[:, None] * np.cos(angle),
                              -weight[:, None] * np.sin(angle)], axis=0).astype("float32")
    return pair(np.arange(n)), pair(np.arange(k) - (k - 1) // 2), inverse


def _spectrum(images, cols, rows):
    """2-D DFT of real ``(n, h, w)`` images: ``(real, imag)``, each ``(n, fw, fh)``, with the
    ``(w, 2fw)`` and ``(h, 2fh)`` matrices of :func:`_dft_matrices`."""
    n, h, w = images.shape
    fw, fh = cols.shape[1] // 2, rows.shape[1] // 2
    z = ops.matmul(ops.reshape(images, (-1, w)), cols)                       # (n*h, 2fw)
    z = ops.reshape(ops.swapaxes(ops.reshape(z, (-1, h, 2 * fw)), 1, 2), (-1, h))
    z = ops.reshape(ops.matmul(z, rows), (-1, 2, fw, 2, fh))               # [w re/im, h re/im]
    return (z[:, 0, :, 0] - z[:, 1, :, 1], z[:, 0, :, 1] + z[:, 1, :, 0])


def depthwise_fft(x, kernel):
    """Correlation in the frequency domain. The 2-D real DFTs are products with constant DFT
    matrices along each axis (:func:`_dft_matrices`): ``keras.ops`` has no ``rfft2``, and
    composing ``ops.rfft`` and ``ops.fft`` needs transposes that cost more than these
    products on the grids Minape uses: for grids of tens of positions the O(n^2) products
    cost little more than an FFT."""
    dtype = x.dtype
    _, h, w, c = x.shape
    kh, kw = kernel.shape[:2]
    (x_cols, k_cols, inv_cols), (x_rows, k_rows, inv_rows) = [
        [ops.convert_to_tensor(m) for m in _dft_matrices(n, k, real)]
        for n, k, real in ((w, kw, True), (h, kh, False))]
    fw, fh = x_cols.shape[1] // 2, x_rows.shape[1] // 2
    xr, xi = _spectrum(ops.reshape(ops.transpose(ops.cast(x, "float32"), (0, 3, 1, 2)),
                                   (-1, h, w)), x_cols, x_rows)            # (b*c, fw, fh)
    kr, ki = _spectrum(ops.transpose(ops.cast(kernel, "float32"), (2, 0, 1)), k_cols, k_rows)
    xr, xi = ops.reshape(xr, (-1, c, fw, fh)), ops.reshape(xi, (-1, c, fw, fh))
    # Correlation: the input's spectrum times the kernel's conjugate.
    yr, yi = xr * kr + xi * ki, xi * kr - xr * ki
    # Inverse along rows (a complex product), then along columns (real output).
    inv_r, inv_i = inv_rows[:fh], -inv_rows[fh:]   # real and imaginary parts of e^{+i..} / m
    rows = ops.concatenate([ops.concatenate([inv_r, inv_i], 1),
                            ops.concatenate([-inv_i, inv_r], 1)], 0)        # (2fh, 2h)
    z = ops.matmul(ops.reshape(ops.concatenate([yr, yi], -1), (-1, 2 * fh)), rows)
    z = ops.reshape(ops.swapaxes(ops.reshape(z, (-1, fw, 2, h)), 1, 3), (-1, 2 * fw))
    y = ops.reshape(ops.matmul(z, inv_cols), (-1, c, h, w))
    return ops.cast(ops.transpose(y, (0, 2, 3, 1)), dtype)


#: The most taps of a tile: XNNPACK's one-pass depthwise kernels take up to 25.
MAX_TILE_TAPS = 25
# 13 x 13 in seven rectangles of at most 25 taps (3x8, 5x5, 5x5, 7x3, 5x5, 5x5, 3x8), a
# "pinwheel" round the centre column: the fewest pieces, without a zero tap.
_PINWHEEL_13 = ((0, 0, 3, 8), (0, 8, 5, 5), (3, 0, 5, 5), (3, 5, 7, 3), (5, 8, 5, 5),
                (8, 0, 5, 5), (10, 5, 3, 8))


@functools.lru_cache(maxsize=None)
def kernel_tiles(kh, kw) -> tuple:
    """Rectangles ``(row, col, rows, cols)`` that tile a ``kh`` x ``kw`` kernel exactly, each
    of at most :data:`MAX_TILE_TAPS` taps: the pinwheel for 13 x 13, else the grid of
    near-equal bands with the fewest pieces (one piece for a kernel that fits)."""
    if (kh, kw) == (13, 13):
        return _PINWHEEL_13
    best = None
    for a in range(1, kh + 1):
        for b in range(1, kw + 1):
            if -(-kh // a) * -(-kw // b) <= MAX_TILE_TAPS and (best is None or a * b < best[0]):
                best = (a * b, a, b)
    _, a, b = best
    rows = np.array_split(np.arange(kh), a)
    cols = np.array_split(np.arange(kw), b)
    return tuple((int(r[0]), int(c[0]), len(r), len(c)) for r in rows for c in cols)


def depthwise_tiles(x, kernel):
    _, h, w, _ = x.shape
    kh, kw = kernel.shape[:2]
    pt, pl = (kh - 1) // 2, (kw - 1) // 2
    padded = ops.pad(x, ((0, 0), (pt, kh - 1 - pt), (pl, kw - 1 - pl), (0, 0)))
    y = None
    for r, c, rows, cols in kernel_tiles(kh, kw):
        window = padded[:, r:r + h + rows - 1, c:c + w + cols - 1, :]
        part = ops.depthwise_conv(window, ops.expand_dims(kernel[r:r + rows, c:c + cols], -1),
                                  padding="valid")
        y = part if y is None else y + part
    return y


FORMS = {"conv": depthwise_conv, "matmul": depthwise_matmul, "fft": depthwise_fft,
         "tiles": depthwise_tiles}
