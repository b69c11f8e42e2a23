"""File readers: graph readers for ``tf.data`` and numpy readers for validation.

Images: JPEG, PNG, GIF and BMP, decoded with ``tf.io.decode_image`` to float32 in [0, 1].
Series: WAV (16-bit PCM with ``tf.audio.decode_wav``; other WAV encodings with
``soundfile``), ``.npy`` (``np.load``) and CSV (numbers, optional header), read to float32
``(samples, channels)``. A 2-D ``.npy`` or array with fewer rows than columns is taken as
``(channels, samples)`` and transposed. A CSV with a header whose names include all of the
group's ``inputs`` (e.g. ``Fx, Fy, Fz``) gives those columns in that order; otherwise all
its columns, in file order.
"""

from __future__ import annotations

import os
import struct

import numpy as np
import tensorflow as tf

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp")
SERIES_EXTENSIONS = (".wav", ".npy", ".csv")


def extension(path) -> str:
    return os.path.splitext(str(path))[1].lower()


# --------------------------------------------------------------------------- WAV headers


class WavInfo(tuple):
    """(format_tag, channels, sample_rate, bits, frames, data_bytes, data_bytes_present)."""

    __slots__ = ()
    fields = ("format_tag", "channels", "sample_rate", "bits", "frames", "data_bytes",
              "data_bytes_present")

    def __getattr__(self, name):
        return self[self.fields.index(name)]


def wav_info(path) -> WavInfo:
    """Parse a RIFF/WAVE header without reading the samples.

    Raises ``ValueError`` with the reason when the header is not a readable WAV header.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise ValueError("not a RIFF/WAVE file")
        fmt = None
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                raise ValueError("no 'data' chunk (file truncated?)")
            cid, csize = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"fmt ":
                body = f.read(csize)
                if len(body) < 16:
                    raise ValueError("'fmt ' chunk too short")
                tag, channels, rate, _, block, bits = struct.unpack("<HHIIHH", body[:16])
                if tag == 0xFFFE and len(body) >= 26:  # WAVE_FORMAT_EXTENSIBLE
                    tag = struct.unpack("<H", body[24:26])[0]
                fmt = (tag, channels, rate, bits, block)
                if csize % 2:
                    f.read(1)
            elif cid == b"data":
                if fmt is None:
                    raise ValueError("'data' chunk before 'fmt ' chunk")
                tag, channels, rate, bits, block = fmt
                present = size - f.tell()
                frames = csize // block if block else 0
                return WavInfo((tag, channels, rate, bits, frames, csize, present))
            else:
                f.seek(csize + (csize % 2), 1)


def tf_readable_wav(info: WavInfo) -> bool:
    """Whether ``tf.audio.decode_wav`` reads it (16-bit integer PCM only)."""
    return info.format_tag == 1 and info.bits == 16


# --------------------------------------------------------------------------- numpy readers


def _as_2d(array):
    a = np.asarray(array)
    if a.ndim == 1:
        a = a[:, None]
    elif a.ndim == 2 and 0 < a.shape[0] < a.shape[1]:
        a = a.T
    elif a.ndim != 2:
        raise ValueError(f"expected a 1-D or 2-D series, got shape {a.shape}")
    return a


def _is_number(token: str) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False


def read_csv_numpy(path, columns=()) -> np.ndarray:
    """CSV to float32 ``(samples, channels)``; see the module docstring for columns."""
    with open(path, "r", newline="") as f:
        first = f.readline()
        rest = f.read()
    tokens = [t.strip() for t in first.strip().split(",")]
    header = None if all(_is_number(t) for t in tokens if t) else tokens
    text = rest if header is not None else first + rest
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return np.zeros((0, len(tokens)), np.float32)
    data = np.array([[float(t) if t.strip() else np.nan for t in line.split(",")]
                     for line in lines], dtype=np.float64)
    if header is not None and columns and all(c in header for c in columns):
        data = data[:, [header.index(c) for c in columns]]
    return data.astype(np.float32)


def read_series_numpy(path, columns=()) -> tuple:
    """Read one series file to ``(float32 (samples, channels), sample_rate or None)``."""
    ext = extension(path)
    if ext == ".wav":
        import soundfile as sf

        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        return data, rate
    if ext == ".npy":
        return _as_2d(np.load(str(path), allow_pickle=False)).astype(np.float32), None
    if ext == ".csv":
        return _as_2d(read_csv_numpy(path, columns)), None
    raise ValueError(f"unknown series file type {ext!r}; expected one of {SERIES_EXTENSIONS}")


def series_array(array) -> np.ndarray:
    """An in-memory series as float32 ``(samples, channels)``."""
    return _as_2d(array).astype(np.float32)


def image_array(array) -> np.ndarray:
    """An in-memory image as float32 ``(h, w, c)`` in [0, 1] (uint8 / uint16 are scaled)."""
    a = np.asarray(array)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3:
        raise ValueError(f"expected an image (h, w) or (h, w, c), got shape {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    if a.dtype == np.uint16:
        return a.astype(np.float32) / 65535.0
    return a.astype(np.float32)


# --------------------------------------------------------------------------- graph readers


def decode_image_file(path, channels: int):
    """Graph: read an image file to float32 ``(h, w, channels)`` in [0, 1].

    ``channels`` 3 from an RGBA file drops alpha; 1 from a gray+alpha file drops alpha.
    """
    data = tf.io.read_file(path)
    image = tf.io.decode_image(data, channels=channels, dtype=tf.float32,
                               expand_animations=False)
    image.set_shape([None, None, channels])
    return image


def decode_wav_file(path):
    """Graph: a 16-bit PCM WAV to float32 ``(samples, channels)`` in [-1, 1)."""
    audio, _ = tf.audio.decode_wav(tf.io.read_file(path))
    return audio


def numpy_series_reader(columns=()):
    """Graph: a reader of any series file through ``tf.numpy_function`` (WAV of any
    encoding via soundfile, ``.npy``, CSV)."""
    columns = tuple(columns)

    def _read(path):
        path = path.decode() if isinstance(path, bytes) else str(path)
        return read_series_numpy(path, columns)[0]

    def reader(path):
        out = tf.numpy_function(_read, [path], tf.float32, stateful=False)
        out.set_shape([None, None])
        return out

    return reader
