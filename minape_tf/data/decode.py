"""File readers: graph readers for ``tf.data`` and numpy readers for validation.

Public numpy readers: :func:`read_image` (an image file to float32 ``(h, w, c)`` in
[0, 1]) and :func:`read_series` (a series file to float32 ``(samples, channels)`` and its
rate); both are exported as ``minape_tf.data.read_image`` / ``read_series``.

Images: JPEG, PNG, GIF and BMP, decoded with ``tf.io.decode_image`` to float32 in [0, 1].
Gray and colour images mix freely (:func:`convert_channels`): an image is decoded with its
own channels, then brought to what the group wants per input: gray (or gray+alpha) to RGB
by replicating the gray channel, RGB(A) to gray by luminance with the weights of
``tf.image.rgb_to_grayscale``, alpha dropped. A file's own channels are those
TensorFlow's decoder gives: a palette PNG is RGB, or RGBA with a transparent colour; a GIF
is its first frame in RGB, its transparent pixels black; 1-, 2- and 4-bit images are
scaled to [0, 1] like 8- and 16-bit ones. A group wanting 2 or 4 channels per input
needs images with exactly that many. In-memory integer images are scaled by their
range (:func:`image_array`); float images are taken as they are (expected in [0, 1]).
Series: WAV (16-bit PCM in a plain WAV with ``tf.audio.decode_wav``; other encodings,
and WAVE_FORMAT_EXTENSIBLE files, with ``soundfile``), ``.npy`` (``np.load``) and CSV
(numbers, optional header), read to float32 ``(samples, channels)``. A ``.npy`` or
in-memory array is ``(samples,)`` (one channel) or ``(samples, channels)``, whatever its
shape: nothing is transposed, so a ``(channels, samples)`` array must be saved
transposed (the validation names both readings when the channel count does not fit the
group). Its dtype must hold real numbers (integers or
floats, any width and byte order); booleans, complex numbers, strings and objects are
refused, and so are finite values beyond float32's range. A CSV with a header whose names
include all of the group's ``inputs`` (e.g. ``Fx, Fy, Fz``) gives those columns in that
order; otherwise all its columns, in file order. A first line is a header when none of
its cells is a number (one mixing numbers and names is refused); a header has as many
names as the rows have values, and a name the group takes may not repeat.
"""

from __future__ import annotations

import os
import re
import warnings

import numpy as np
import soundfile as sf
import tensorflow as tf

from minape_tf.data.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp")
SERIES_EXTENSIONS = (".wav", ".npy", ".csv")


def extension(path) -> str:
    return os.path.splitext(str(path))[1].lower()


# --------------------------------------------------------------------------- WAV headers

_TRUNCATED = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


def _fmt_chunk_size(path):
    """Size of a RIFF/WAVE file's ``fmt `` chunk, or ``None`` when its first 64 KiB do not
    hold one."""
    with open(path, "rb") as f:
        head = f.read(65536)
    at = 12
    while at + 8 <= len(head):
        tag, size = head[at:at + 4], int.from_bytes(head[at + 4:at + 8], "little")
        if tag == b"fmt ":
            return size
        at += 8 + size + (size & 1)
    return None


def wav_info(path):
    """``soundfile.info`` of a WAV file (``samplerate``, ``channels``, ``frames``,
    ``subtype``, ...) without reading the samples, plus ``truncated``: ``(announced,
    present)`` bytes of samples when libsndfile finds the file shorter than its header
    says, else ``None``, and ``fmt_size``: the size of its ``fmt `` chunk.

    Raises ``ValueError`` with libsndfile's reason when the file is not a readable WAV.
    """
    try:
        info = sf.info(os.fspath(path))
    except (RuntimeError, sf.SoundFileError) as error:
        raise ValueError(f"not a RIFF/WAVE file that libsndfile reads ({error})") from None
    found = _TRUNCATED.search(info.extra_info)
    info.truncated = (int(found.group(1)), int(found.group(2))) if found else None
    info.fmt_size = _fmt_chunk_size(path)
    return info


def tf_readable_wav(info) -> bool:
    """Whether ``tf.audio.decode_wav`` reads it: 16-bit integer PCM in a plain WAV (a
    16- or 18-byte ``fmt `` chunk; not WAVE_FORMAT_EXTENSIBLE, which it refuses)."""
    return (info.format == "WAV" and info.subtype == "PCM_16"
            and getattr(info, "fmt_size", None) in (16, 18))


# --------------------------------------------------------------------------- numpy readers


def series_dtype_problem(dtype):
    """Why a series of this dtype cannot be read as float32 numbers, or ``None``: only
    integers and floats can (a boolean, complex, string or object array cannot)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iuf":
        return None
    return f"dtype {dtype}; expected real numbers (integers or floats)"


def as_series(array) -> np.ndarray:
    """A ``(samples,)`` or ``(samples, channels)`` array as float32 ``(samples, channels)``.

    The orientation is never guessed: a 1-D array is one channel, a 2-D array is taken as
    ``(samples, channels)``. Raises :class:`~minape_tf.data.DataError` for another rank, a
    dtype :func:`series_dtype_problem` refuses, or finite values beyond float32's range
    (they would become Inf).
    """
    a = np.asarray(array)
    if a.ndim not in (1, 2):
        raise DataError(f"shape {a.shape}; expected a series (samples,) or (samples, channels)")
    problem = series_dtype_problem(a.dtype)
    if problem:
        raise DataError(problem)
    with np.errstate(over="ignore"):  # reported below
        out = (a[:, None] if a.ndim == 1 else a).astype(np.float32)
    if a.dtype.kind == "f" and a.dtype.itemsize > 4 and np.isinf(out).any():
        overflow = np.isinf(out) & np.isfinite(a.reshape(out.shape))
        if overflow.any():
            row, col = np.argwhere(overflow)[0]
            raise DataError(f"{int(overflow.sum())} finite value(s) beyond float32's range "
                            f"(first {a.reshape(out.shape)[row, col]!r} at sample {row}, "
                            f"channel {col})")
    return out


def _is_number(token: str) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False


def _number_or_nan(token: str) -> float:
    """A CSV cell: a number, or NaN when empty (the validation then reports it)."""
    return float(token) if token.strip() else np.nan


def _csv_header(path):
    """The first line's names when it is a header (no cell a number), ``None`` when it is
    a data row (every cell a number or empty); a line that mixes the two is a
    :class:`~minape_tf.data.DataError` (a bad first row would otherwise pass as a header)."""
    with open(path, "r", newline="", encoding="utf-8-sig") as f:  # Excel writes a BOM
        first = f.readline()
    tokens = [t.strip() for t in first.strip().split(",")]
    numbers = [_is_number(t) for t in tokens if t]
    if all(numbers):
        return None
    if any(numbers):
        raise DataError(f"line 1 mixes numbers and text ({first.strip()!r}): a header names "
                        "every column, a data row holds only numbers")
    return tokens


def _csv_problem(path, skip):
    """Where a CSV that ``numpy.loadtxt`` refused goes wrong: the first line whose number
    of values differs, or the first cell that is not a number, or ``None``."""
    width = None
    with open(path, "r", newline="", encoding="utf-8-sig") as f:
        for line, text in enumerate(f, start=1):
            if line <= skip or not text.strip("\r\n"):
                continue
            cells = text.rstrip("\r\n").split(",")
            width = width or len(cells)
            if len(cells) != width:
                return f"line {line} has {len(cells)} values, the rows before it {width}"
            for column, cell in enumerate(cells, start=1):
                if cell.strip() and not _is_number(cell):
                    return f"line {line}, column {column}: {cell.strip()!r} is not a number"
    return None


def read_csv_numpy(path, columns=()) -> np.ndarray:
    """CSV to float32 ``(samples, channels)`` with ``numpy.loadtxt``; see the module
    docstring for the header and ``columns``. A first line is a header when none of its
    cells is a number, a data row when all are (one that mixes them is an error). A cell
    that is not a number, or a row with another number of values, is an error naming its
    line (and column); an empty cell is NaN. A header with another number of names than
    the rows have values, or repeating a name that ``columns`` takes, is an error too;
    all are :class:`~minape_tf.data.DataError`, and so is a file that is not UTF-8."""
    try:
        return _read_csv(path, columns)
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _read_csv(path, columns):
    header = _csv_header(path)
    skip = 0 if header is None else 1
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "loadtxt: input contained no data", UserWarning)
            data = np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2,
                              encoding="utf-8-sig", converters=_number_or_nan,
                              dtype=np.float64)
    except UnicodeDecodeError:
        raise
    except ValueError as exc:
        raise DataError(_csv_problem(path, skip) or str(exc)) from None
    if not data.size:
        return np.zeros((0, len(header or [""])), np.float32)
    if header is not None and len(header) != data.shape[1]:
        raise DataError(f"the header has {len(header)} names, the rows {data.shape[1]} values")
    if header is not None and columns and all(c in header for c in columns):
        repeated = sorted({c for c in columns if header.count(c) > 1})
        if repeated:
            raise DataError(f"the header names column(s) {repeated} more than once")
        data = data[:, [header.index(c) for c in columns]]
    return as_series(data)


def series_length(path) -> int:
    """Samples of one series file, read from its header where it has one (WAV, ``.npy``:
    the first axis, as :func:`as_series` reads it) and from its rows for CSV."""
    ext = extension(path)
    if ext == ".wav":
        return int(wav_info(path).frames)
    if ext == ".npy":
        shape = np.load(str(path), mmap_mode="r", allow_pickle=False).shape
        return int(shape[0]) if shape else 0
    return int(read_series_numpy(path)[0].shape[0])


def read_series_numpy(path, columns=()) -> tuple:
    """Read one series file to ``(float32 (samples, channels), sample_rate or None)``."""
    ext = extension(path)
    if ext == ".wav":
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        return data, rate
    if ext == ".npy":
        return as_series(np.load(str(path), allow_pickle=False)), None
    if ext == ".csv":
        return read_csv_numpy(path, columns), None
    raise ValueError(f"unknown series file type {ext!r}; expected one of {SERIES_EXTENSIONS}")


def series_array(array) -> np.ndarray:
    """An in-memory series as float32 ``(samples, channels)`` (:func:`as_series`)."""
    return as_series(array)


# Luminance weights of ``tf.image.rgb_to_grayscale`` (ITU-R BT.601).
GRAY_WEIGHTS = (0.2989, 0.5870, 0.1140)


def channels_convertible(found: int, wanted: int) -> bool:
    """Whether an image with ``found`` channels can feed ``wanted`` per input.

    1 (gray), 2 (gray+alpha), 3 (RGB) and 4 (RGBA) all convert to 1 or 3 (see
    :func:`convert_channels`); any other ``wanted`` needs exactly that many channels.
    """
    return found == wanted or (wanted in (1, 3) and found in (1, 2, 3, 4))


def convert_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """A float ``(h, w, c)`` image with ``channels`` channels (numpy twin of the graph's).

    Gray(+alpha) to RGB replicates the gray channel; RGB(A) to gray is the luminance
    (``GRAY_WEIGHTS``); alpha is dropped. Raises ``ValueError`` when
    :func:`channels_convertible` says no.
    """
    found = image.shape[-1]
    if not channels_convertible(found, channels):
        raise ValueError(f"an image with {found} channels cannot give {channels}")
    if found == channels:
        return image
    if channels == 3:
        return np.repeat(image[..., :1], 3, axis=-1) if found < 3 else image[..., :3]
    if found < 3:  # channels == 1
        return image[..., :1]
    return (image[..., :3] @ np.asarray(GRAY_WEIGHTS, image.dtype))[..., None]


def integer_image_problem(array):
    """Why an integer image array cannot be scaled to [0, 1] (see :func:`image_array`),
    or ``None``."""
    a = np.asarray(array)
    if not np.issubdtype(a.dtype, np.integer) or a.dtype in (np.uint8, np.uint16) or not a.size:
        return None
    low, high = int(a.min()), int(a.max())
    if low < 0 or high > 65535:
        return (f"integer image of dtype {a.dtype} has values in [{low}, {high}]; expected "
                "0-255 (8-bit) or 0-65535 (16-bit), or floats in [0, 1]")
    return None


def image_array(array, channels=None, name="image array") -> np.ndarray:
    """An in-memory image as float32 ``(h, w, c)`` in [0, 1].

    ``uint8`` is divided by 255 and ``uint16`` by 65535. Any other integer dtype is scaled
    by its values: at most 255 as 8-bit (/255), at most 65535 as 16-bit (/65535); larger
    or negative values raise :class:`~minape_tf.data.DataError` naming ``name`` and the
    dtype (the choice is per array: cast to ``uint8``/``uint16`` to fix it for a whole
    data set). Floats are taken as they are: they are expected in [0, 1] (the pipeline
    clips to it after resizing). ``channels``: convert with :func:`convert_channels`.
    """
    a = np.asarray(array)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3:
        raise ValueError(f"expected an image (h, w) or (h, w, c), got shape {a.shape}")
    reason = integer_image_problem(a)
    if reason:
        raise DataError(f"{name}: {reason}")
    if a.dtype == np.uint8:
        out = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        out = a.astype(np.float32) / 65535.0
    elif np.issubdtype(a.dtype, np.integer) and a.size:
        out = a.astype(np.float32) / (255.0 if a.max() <= 255 else 65535.0)
    else:
        out = a.astype(np.float32)
    return out if channels is None else convert_channels(out, channels)


def read_image(path, channels=None) -> np.ndarray:
    """Read an image file (JPEG, PNG, GIF, BMP) to float32 ``(h, w, c)`` in [0, 1].

    ``channels=None`` keeps the channels the file decodes to; 1 or 3 converts as the
    pipeline does (:func:`convert_channels`). Raises :class:`~minape_tf.data.DataError`
    naming the file when it is missing, of an unknown type or not decodable.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: file not found")
    if extension(path) not in IMAGE_EXTENSIONS:
        raise DataError(f"{path}: unknown image type; expected one of {IMAGE_EXTENSIONS}")
    try:
        image = decode_image_file(tf.constant(path), channels or 0)
    except (tf.errors.OpError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the image ({exc})") from exc
    return image.numpy()


def read_series(path, columns=()) -> tuple:
    """Read a series file (WAV, ``.npy``, CSV) to ``(float32 (samples, channels), rate)``.

    ``rate`` is the WAV's sampling rate, ``None`` for ``.npy``/CSV. ``columns``: CSV
    header names to take, in that order (see the module docstring). Raises
    :class:`~minape_tf.data.DataError` naming the file when it cannot be read.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: file not found")
    try:
        return read_series_numpy(path, columns)
    except Exception as exc:  # noqa: BLE001 - any reader failure names the file
        raise DataError(f"{path}: cannot read the series ({exc})") from exc


# --------------------------------------------------------------------------- graph readers


def decode_image_file(path, channels: int):
    """Graph: read an image file to float32 ``(h, w, channels)`` in [0, 1].

    The file is decoded with its own channels, then converted like
    :func:`convert_channels` (gray to RGB replicated, RGB to gray by luminance, alpha
    dropped), so gray, RGB and RGBA files of any supported format mix in one group
    (``tf.io.decode_image`` itself cannot give 1 channel from a GIF or BMP).
    ``channels=0`` keeps the file's own.
    """
    return decode_image_bytes(tf.io.read_file(path), channels)


def decode_image_bytes(data, channels: int):
    """Graph: encoded image bytes (one scalar ``tf.string``) to float32 ``(h, w, channels)``
    in [0, 1], converted as :func:`decode_image_file` says (also used by the exported
    SavedModel's signature). JPEGs are decoded with libjpeg's accurate integer DCT, the
    default of Pillow, OpenCV and libjpeg itself, so that a device decoding the same file
    with them gets the same pixels (TensorFlow's own default, the fast DCT, differs by up
    to 5/255)."""
    image = tf.cond(
        tf.io.is_jpeg(data),
        lambda: tf.image.convert_image_dtype(
            tf.io.decode_jpeg(data, channels=0, dct_method="INTEGER_ACCURATE"), tf.float32),
        lambda: tf.io.decode_image(data, channels=0, dtype=tf.float32,
                                   expand_animations=False))
    if channels == 0:
        return image
    found = tf.shape(image)[-1]
    if channels == 3:
        image = tf.cond(found < 3, lambda: tf.tile(image[..., :1], [1, 1, 3]),
                        lambda: image[..., :3])
    elif channels == 1:
        image = tf.cond(found < 3, lambda: image[..., :1],
                        lambda: tf.image.rgb_to_grayscale(image[..., :3]))
    return tf.ensure_shape(image, [None, None, channels])


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
