"""Generated inputs and their oracles, shared by ``tests/test_fuzz_inputs.py`` (a few
hundred cases) and ``tests/fuzz_inputs.py`` (thousands).

A case is drawn by one of three strategies as plain data: :func:`file_cases` (a column of
generated series or image files, loaded through a manifest or a ``Source``),
:func:`manifest_cases` (generated manifests over small good files) and
:func:`array_cases` (in-memory series and images). :func:`run_case` writes it to a
folder, loads it as a user does (``manifest``, ``load_dataset("manifest")`` or a
``Source``, then ``make_dataset``) and returns ``"loaded"``, ``"refused"`` or
``"partial"`` (some observations left out by ``skip_bad``). It raises :class:`Failure`
when the outcome breaks the contract:

* an observation that loads must decode to what was written: series to the values in
  ``(samples, channels)`` order, as float32, trimmed or zero-padded to the group's length
  (a WAV to ``soundfile``'s own reading); images to their pixels in [0, 1] with the
  documented conversion (gray replicated to RGB, RGB to gray by ``GRAY_WEIGHTS``, alpha
  dropped); a JPEG to Pillow's decoding within the two decoders' rounding;
* a file with a problem must be refused by a ``DataError`` (or a ``ValueError`` /
  ``FileNotFoundError`` raised inside ``minape_tf``) whose message names the file (or the
  manifest and line) and matches the problem;
* any other exception, a refusal of a good input, or a bad input that loads, fails.

The oracles compute the expected outcome from what the case wrote, not from the library.
"""

from __future__ import annotations

import csv
import io
import os
import re
import struct
import tempfile
import traceback
import zlib
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf
from hypothesis import strategies as st
from PIL import Image

from minape_tf.data.errors import DataError

GRAY = (0.2989, 0.5870, 0.1140)         # the documented luminance weights
JPEG_ATOL = 10 / 255    # Pillow's and TensorFlow's libjpeg builds differ by up to 8 levels
LABELS = ("sharp", "worn", "Ω-class", "0")
_F32_MAX = float(np.finfo(np.float32).max)


class Failure(AssertionError):
    """A case whose outcome breaks the contract (a traceback or a changed meaning)."""


# --------------------------------------------------------------------------- truths


@dataclass
class Truth:
    """What a generated input means: ``value`` (the decoded array it must give),
    ``problems`` (regexes, one of which a refusal must match; empty: it must load),
    ``optional`` (a damaged file whose data is complete: it may load or be refused)."""

    value: np.ndarray | None = None
    problems: list = field(default_factory=list)
    optional: bool = False
    channels: int | None = None          # series: channels; image: channels as decoded
    rate: int | None = None              # a WAV's sampling rate
    gray: bool | None = None             # image: gray in the sense of the manifest's rule
    readable: bool | None = True         # image: Pillow opens it (None: may or may not)


def _fit(value, length):
    """A series trimmed or zero-padded at the end to ``length`` samples."""
    out = np.zeros((length, value.shape[1]), np.float32)
    out[:min(length, len(value))] = value[:length]
    return out


def convert(image, wanted):
    """The documented channel conversion, written from the docstrings."""
    found = image.shape[-1]
    if found == wanted:
        return image
    gray = found < 3
    if wanted == 3:
        return np.repeat(image[..., :1], 3, -1) if gray else image[..., :3]
    if gray:
        return image[..., :1]
    rgb = image[..., :3].astype(np.float64)
    return (rgb @ np.asarray(GRAY))[..., None].astype(np.float32)


def convertible(found, wanted):
    return found == wanted or (wanted in (1, 3) and found in (1, 2, 3, 4))


# --------------------------------------------------------------------------- names


_NAME_CHARS = st.sampled_from(list("abcxyz019_-") + ["é", "ü", "中", "ж", " ", "Ω", "."])


@st.composite
def file_stems(draw):
    """File names with unicode, spaces and dots inside (never leading or trailing
    spaces, which a manifest's cells lose)."""
    return draw(st.text(_NAME_CHARS, min_size=1, max_size=8)).strip(". ") or "f"


def _unique(path, taken):
    """``path``, or ``path`` with a number, not in ``taken`` (which it joins)."""
    base, ext = os.path.splitext(path)
    k = 0
    while path in taken or os.path.exists(path):
        k += 1
        path = f"{base}_{k}{ext}"
    taken.add(path)
    return path


# --------------------------------------------------------------------------- series files


_NPY_DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8",
               "uint16", "uint32", "uint64", "bool", "complex64", "<U6", "object"]


@dataclass
class NpySpec:
    dtype: str
    big_endian: bool
    shape: tuple
    seed: int
    defect: str            # none | nan | inf | overflow
    fortran: bool
    cut: float | None      # truncate the file at this fraction of its length

    ext = ".npy"

    def array(self):
        rng = np.random.default_rng(self.seed)
        dtype = np.dtype(self.dtype)
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            data = rng.integers(info.min, info.max, self.shape, dtype=dtype, endpoint=True)
        elif dtype.kind == "f":
            scale = 100.0 if dtype.itemsize == 2 else 10.0 ** rng.integers(-3, 6)
            data = np.asarray(rng.standard_normal(self.shape) * scale).astype(dtype)
        elif dtype.kind == "b":
            data = rng.random(self.shape) < 0.5
        elif dtype.kind == "c":
            data = (rng.standard_normal(self.shape) + 1j).astype(dtype)
        elif dtype.kind == "U":
            data = rng.standard_normal(self.shape).round(2).astype(dtype)
        else:
            data = np.empty(self.shape, object)
            data.flat[:] = [float(v) for v in rng.standard_normal(data.size)]
        if self.defect != "none" and data.size and dtype.kind == "f":
            spot = tuple(int(rng.integers(0, s)) for s in self.shape)
            big = 1e39 if dtype.itemsize > 4 else np.inf
            data[spot] = {"nan": np.nan, "inf": -np.inf, "overflow": big}[self.defect]
        if self.big_endian and dtype.kind in "iufc" and dtype.itemsize > 1:
            data = data.astype(dtype.newbyteorder(">"))
        return np.asfortranarray(data) if self.fortran else data

    def truth(self, raw=None):
        a = self.array() if raw is None else raw
        kind, problems = a.dtype.kind, []
        if self.cut is not None:
            return Truth(problems=["corrupt or unreadable"])
        if kind == "O":
            return Truth(problems=["corrupt or unreadable.*(pickle|[Oo]bject)"])
        if a.ndim not in (1, 2):
            problems.append(r"shape \(")
        if kind not in "iuf":
            problems.append("dtype")
        if problems:
            return Truth(problems=problems)
        b = a if a.ndim == 2 else a[:, None]
        if b.size == 0:
            return Truth(problems=["empty"], channels=b.shape[1])
        if kind == "f":
            wide = b.astype(np.float64)
            if (np.isfinite(wide) & (np.abs(wide) > _F32_MAX)).any():
                problems.append("float32's range")
            if not np.isfinite(wide).all():
                problems.append("NaN/Inf")
        with np.errstate(over="ignore"):
            value = b.astype(np.float32)
        return Truth(value=value, problems=problems, channels=b.shape[1])

    def write(self, path):
        a = self.array()
        np.save(path, a, allow_pickle=True)
        if self.cut is not None:
            _cut(path, self.cut)
        return self.truth(a)


def _cut(path, fraction):
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:int(fraction * (len(data) - 1))])
    return data


@st.composite
def npy_specs(draw, channels, tidy=False):
    """A ``.npy`` series; ``tidy``: one that must load (any real dtype, byte order and
    memory order, its channels as ``(samples, channels)``)."""
    if tidy:
        layout = "flat" if channels == 1 and draw(st.booleans()) else "ok"
        return NpySpec(draw(st.sampled_from(_NPY_DTYPES[:11])), draw(st.booleans()),
                       (draw(st.integers(1, 300)), channels)[:1 if layout == "flat" else 2],
                       draw(st.integers(0, 2**31)), "none", draw(st.booleans()), None)
    dtype = draw(st.sampled_from(_NPY_DTYPES[:11]) | st.sampled_from(_NPY_DTYPES))
    samples = draw(st.integers(0, 300) | st.integers(1, 40))
    layout = draw(st.sampled_from(["ok", "ok", "ok", "flat", "transposed", "other", "rank"]))
    other = draw(st.integers(0, 6))
    shape = {"ok": (samples, channels), "flat": (samples,), "transposed": (channels, samples),
             "other": (samples, other), "rank": draw(st.sampled_from(
                 [(), (2, samples, channels), (samples, channels, 1)]))}[layout]
    return NpySpec(dtype, draw(st.booleans()), shape, draw(st.integers(0, 2**31)),
                   draw(st.sampled_from(["none"] * 6 + ["nan", "inf", "overflow"])),
                   draw(st.booleans()), draw(st.none() | st.floats(0, 0.999)))


@dataclass
class CsvSpec:
    samples: int
    names: tuple           # the file's columns; "" cells of a header are kept
    header: bool
    seed: int
    bom: bool
    crlf: bool
    defect: str            # none | empty | text | text_first | nan | inf | ragged |
    #                        utf8 | count | repeat | mixed_header
    blank_lines: bool
    integers: bool
    columns: tuple = ()    # the group's inputs (CSV column names it selects)

    ext = ".csv"

    def data(self):
        rng = np.random.default_rng(self.seed)
        shape = (self.samples, len(self.names))
        if self.integers:
            return rng.integers(-1000, 1000, shape).astype(np.float32)
        return (rng.standard_normal(shape) * 10.0 ** rng.integers(-2, 4)).astype(np.float32)

    def lines(self, data):
        rng = np.random.default_rng(self.seed + 1)
        cells = [[format(float(v), ".9g") for v in row] for row in data]
        names = list(self.names)
        d = self.defect
        if d in ("empty", "text", "nan", "inf", "utf8") and data.size:
            r, c = int(rng.integers(0, len(cells))), int(rng.integers(0, len(names)))
            cells[r][c] = {"empty": "", "text": "n/a", "nan": "nan", "inf": "-inf",
                           "utf8": "\udcff"}[d]
        if d == "text_first" and data.size:
            cells[0][int(rng.integers(0, len(names)))] = "abc"
        if d == "ragged" and len(cells) > 1:
            cells[int(rng.integers(1, len(cells)))].append("1")
        if d == "count":
            names = names + ["extra"] if rng.random() < 0.5 or len(names) < 2 else names[:-1]
        if d == "repeat" and len(names) > 1:
            names[-1 if names[0] in self.columns else 0] = next(
                (c for c in self.columns if c in names), names[0])
        if d == "mixed_header":
            names[0] = "1.5"
        out = [",".join(names)] if self.header else []
        for k, row in enumerate(cells):
            out.append(",".join(row))
            if self.blank_lines and k % 7 == 3:
                out.append("")
        return out, names

    def truth(self):
        lines, _ = self.lines(self.data())
        if any("\udcff" in line for line in lines):
            return Truth(problems=["UTF-8"])
        return csv_truth(lines, self.columns)

    def write(self, path):
        lines, _ = self.lines(self.data())
        text = ("\r\n" if self.crlf else "\n").join(lines) + "\n"
        raw = text.encode("utf-8", "surrogateescape")
        with open(path, "wb") as f:
            f.write((b"\xef\xbb\xbf" if self.bom else b"") + raw)
        return self.truth()


def csv_truth(lines, columns=()):
    """What the documentation says a CSV of these lines means."""
    tokens = [t.strip() for t in (lines[0] if lines else "").split(",")]
    numeric = [_number(t) for t in tokens if t]
    if all(numeric):
        header, body = None, lines
    elif any(numeric):
        return Truth(problems=["mixes numbers and text"])
    else:
        header, body = tokens, lines[1:]
    rows = [line.split(",") for line in body if line]
    problems = []
    if len({len(r) for r in rows}) > 1:
        problems.append("values, the rows before it")
    if any(c.strip() and not _number(c) for r in rows for c in r):
        problems.append("is not a number")
    if problems:
        return Truth(problems=problems)
    if not rows:
        return Truth(problems=["empty"])
    data = np.array([[float(c) if c.strip() else np.nan for c in r] for r in rows],
                    np.float64)
    if header is not None and len(header) != data.shape[1]:
        return Truth(problems=["header has"])
    if header is not None and columns and all(c in header for c in columns):
        if any(header.count(c) > 1 for c in columns):
            return Truth(problems=["more than once"])
        data = data[:, [header.index(c) for c in columns]]
    value = data.astype(np.float32)
    if not np.isfinite(value).all():
        problems.append("NaN/Inf")
    return Truth(value=value, problems=problems, channels=value.shape[1])


def _number(token):
    try:
        float(token)
        return True
    except ValueError:
        return False


_COLUMN_NAMES = ("Fx", "Fy", "Fz", "t", "time", "note", "ch_1", "Ω")


@st.composite
def csv_specs(draw, channels, columns=(), tidy=False):
    """A CSV; with ``columns`` (the group's inputs) its header may name them among others,
    in any order; ``tidy``: one that must load."""
    names = list(columns) if columns else [f"c{k}" for k in range(channels)]
    if columns and draw(st.booleans()):
        names = names + [n for n in ("t", "note") if n not in names][:draw(st.integers(0, 2))]
        names = draw(st.permutations(names))
    elif draw(st.integers(0, 4)) == 0 and not tidy:
        names = [draw(st.sampled_from(_COLUMN_NAMES)) + str(k)
                 for k in range(draw(st.integers(1, 5)))]
    defect = "none" if tidy else draw(st.sampled_from(
        ["none"] * 8 + ["empty", "text", "text_first", "nan", "inf", "ragged", "utf8", "count",
                        "repeat", "mixed_header"]))
    samples = draw(st.integers(1, 200) if tidy else st.integers(0, 200) | st.integers(1, 5))
    return CsvSpec(samples, tuple(names),
                   draw(st.booleans()), draw(st.integers(0, 2**31)), draw(st.booleans()),
                   draw(st.booleans()), defect, draw(st.booleans()), draw(st.booleans()),
                   tuple(columns))


# Subtypes libsndfile writes in a WAV, and the most channels each takes.
WAV_SUBTYPES = {"PCM_16": 6, "PCM_24": 6, "PCM_32": 6, "PCM_U8": 6, "FLOAT": 6, "DOUBLE": 6,
                "ULAW": 6, "ALAW": 6, "IMA_ADPCM": 2, "MS_ADPCM": 2, "GSM610": 1,
                "G721_32": 1}


@dataclass
class WavSpec:
    subtype: str
    channels: int
    rate: int
    frames: int
    seed: int
    container: str          # WAV | WAVEX | AIFF (renamed .wav) | garbage
    defect: str             # none | nan | loud
    cut: float | None

    ext = ".wav"

    def samples(self):
        rng = np.random.default_rng(self.seed)
        x = rng.uniform(-1, 1, (self.frames, self.channels)) * rng.uniform(0.01, 1)
        if self.defect == "loud":
            x *= 3.0
        if self.defect == "nan" and self.frames:
            x[int(rng.integers(0, self.frames)), int(rng.integers(0, self.channels))] = np.nan
        return x

    def encode(self):
        if self.container == "garbage":
            return np.random.default_rng(self.seed).bytes(self.frames % 200)
        buf = io.BytesIO()
        sf.write(buf, self.samples(), self.rate, subtype=self.subtype, format=self.container)
        return buf.getvalue()

    def write(self, path):
        data = self.encode()
        truth = self.truth(data)
        if self.cut is not None:
            truth = self._cut_truth(truth, data)
            data = data[:int(self.cut * (len(data) - 1))]
        with open(path, "wb") as f:
            f.write(data)
        return truth

    def truth(self, data):
        if self.container == "garbage":
            return Truth(problems=["RIFF|corrupt|empty"])
        if self.container == "AIFF":              # a renamed AIFF is refused, whatever else
            return Truth(problems=["not a WAV"])
        value, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        truth = Truth(value=value, channels=self.channels, rate=rate)
        if self.frames == 0:
            truth.problems = ["empty"]
        elif not np.isfinite(value).all():
            truth.problems.append("NaN/Inf")
        return truth

    def _cut_truth(self, truth, data):
        """Cut before the end of the samples: refused; after: it may load, as soundfile
        reads what is left (a bad file stays bad)."""
        k = int(self.cut * (len(data) - 1))
        damaged = ["truncated|corrupt|RIFF|libsndfile|empty|not a WAV"]
        end = _riff_data_end(data)
        if end is None or k < end or truth.problems:
            return Truth(problems=truth.problems + damaged)
        value = sf.read(io.BytesIO(data[:k]), dtype="float32", always_2d=True)[0]
        return Truth(value=value, problems=damaged, optional=True, channels=truth.channels,
                     rate=truth.rate)


def _riff_data_end(data):
    """End offset of a RIFF/WAVE file's ``data`` chunk, or ``None`` (another container)."""
    if data[:4] not in (b"RIFF", b"RF64") or data[8:12] != b"WAVE":
        return None
    at = 12
    while at + 8 <= len(data):
        tag, size = data[at:at + 4], struct.unpack("<I", data[at + 4:at + 8])[0]
        if tag == b"data":
            return at + 8 + size
        at += 8 + size + (size & 1)
    return None


@st.composite
def wav_specs(draw, channels, rate, tidy=False):
    """A WAV of any encoding libsndfile writes; ``tidy``: one that must load."""
    if tidy:
        subtype = draw(st.sampled_from([k for k, v in WAV_SUBTYPES.items() if v >= channels]
                                       or ["PCM_16"]))
        return WavSpec(subtype, channels, rate, draw(st.integers(1, 3000)),
                       draw(st.integers(0, 2**31)), "WAV", draw(st.sampled_from(["none",
                                                                                  "loud"])),
                       None)
    subtype = draw(st.sampled_from(sorted(WAV_SUBTYPES)))
    n = draw(st.sampled_from([channels] * 4 + [1, 2, 3]))
    n = min(n, WAV_SUBTYPES[subtype])
    container = draw(st.sampled_from(["WAV"] * 8 + ["WAVEX", "AIFF", "garbage"]))
    if container == "WAVEX" and subtype not in ("PCM_16", "PCM_24", "PCM_32", "PCM_U8",
                                                "FLOAT", "DOUBLE", "ULAW", "ALAW"):
        container = "WAV"
    if container == "AIFF" and subtype not in ("PCM_16", "PCM_24", "PCM_32", "FLOAT",
                                               "DOUBLE", "ULAW", "ALAW"):
        container = "WAV"
    defect = draw(st.sampled_from(["none"] * 6 + ["loud", "nan"]))
    if defect == "nan" and subtype not in ("FLOAT", "DOUBLE"):
        defect = "none"
    wav_rate = draw(st.sampled_from([rate] * 5 + [1, 8000, 44100, 192000]) |
                    st.integers(1, 200_000))
    return WavSpec(subtype, n, wav_rate, draw(st.integers(0, 3000) | st.integers(0, 20)),
                   draw(st.integers(0, 2**31)), container, defect,
                   draw(st.none() | st.none() | st.floats(0, 1) | st.floats(0, 0.03)))


# --------------------------------------------------------------------------- image files


_PIL_SAVES = {   # format -> modes Pillow writes
    "PNG": ["1", "L", "LA", "P", "Pt", "RGB", "RGBA", "I;16", "Lt", "RGBt"],
    "JPEG": ["L", "RGB", "CMYK"],
    "GIF": ["L", "P", "Pt", "RGB"],
    "BMP": ["1", "L", "P", "RGB", "RGBA"],
    "TIFF": ["RGB", "L"],
    "WEBP": ["RGB"],
}
_EXT = {"PNG": ".png", "JPEG": ".jpg", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tif",
        "WEBP": ".webp"}


@dataclass
class PilSpec:
    fmt: str
    mode: str               # a Pillow mode; "Pt"/"Lt"/"RGBt": with a transparent colour
    size: tuple             # (h, w)
    seed: int
    ext: str
    gray_palette: bool
    colours: int
    quality: int
    cut: float | None
    empty: bool

    def image(self):
        rng = np.random.default_rng(self.seed)
        h, w = self.size
        mode = self.mode.rstrip("t")
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        if self.gray_palette:
            rgb[...] = rgb[..., :1]
        gray = rgb[..., 0]
        if mode == "1":
            return Image.fromarray(gray > 127), {}
        if mode == "L":
            return Image.fromarray(gray), ({"transparency": int(gray.flat[0])}
                                           if self.mode == "Lt" else {})
        if mode == "LA":
            return Image.fromarray(np.dstack([gray, rgb[..., 1]]), "LA"), {}
        if mode == "I;16":
            return Image.fromarray(rng.integers(0, 65536, (h, w)).astype(np.uint16)), {}
        if mode == "RGBA":
            return Image.fromarray(np.dstack([rgb, rng.integers(0, 256, (h, w), np.uint8)])), {}
        if mode == "CMYK":
            return Image.fromarray(rgb).convert("CMYK"), {}
        if mode == "P":
            im = Image.fromarray(rgb).quantize(self.colours)
            return im, ({"transparency": int(np.asarray(im).flat[0])}
                        if self.mode == "Pt" else {})
        return Image.fromarray(rgb), ({"transparency": tuple(int(v) for v in rgb[0, 0])}
                                      if self.mode == "RGBt" else {})

    def encode(self):
        im, options = self.image()
        buf = io.BytesIO()
        if self.fmt == "JPEG":
            options["quality"] = self.quality
        im.save(buf, format=self.fmt, **options)
        return buf.getvalue()

    def write(self, path):
        if self.empty:
            open(path, "wb").close()
            return Truth(problems=["corrupt|cannot identify|unknown image type"], gray=False,
                         readable=False)
        data = self.encode()
        truth = self.truth(data)
        if self.cut is not None:
            truth = _cut_truth(truth, self.fmt, data, self.cut)
            data = data[:int(self.cut * (len(data) - 1))]
        with open(path, "wb") as f:
            f.write(data)
        return truth

    def truth(self, data):
        gray = pil_gray(data)
        if self.ext not in (".png", ".jpg", ".jpeg", ".gif", ".bmp"):
            return Truth(problems=["unknown image type"], gray=gray)
        if self.fmt in ("TIFF", "WEBP"):
            return Truth(problems=[f"{self.fmt} image"], gray=gray)
        mode = self.mode.rstrip("t")
        if self.fmt == "BMP" and mode in ("1", "P"):
            return Truth(problems=["BMP"], gray=gray)
        value = _pixels(self.fmt, data, self.mode, self.image()[0])
        return Truth(value=value, channels=value.shape[-1], gray=gray)


def _cut_truth(truth, fmt, data, cut):
    """The truth of a file cut at ``cut`` of its length: refused when pixels are lost,
    else it may load (with all its pixels) or be refused."""
    k = int(cut * (len(data) - 1))
    complete = _image_data_end(fmt, data)
    if complete is None or k < complete:
        return Truth(problems=["corrupt|truncated|cannot identify|BMP|unknown image|image;"],
                     gray=truth.gray, readable=None)
    truth.optional = True
    truth.problems = truth.problems or ["corrupt|truncated"]
    return truth


_GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def pil_gray(data):
    """Gray in the manifest's documented sense: a gray (or gray+alpha) Pillow mode, or a
    palette of gray colours only and no transparency."""
    try:
        im = Image.open(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - not an image
        return False
    if im.mode in _GRAY_MODES:
        return True
    if im.mode != "P" or "transparency" in im.info:
        return False
    colours = np.asarray(im.getpalette() or [0, 1, 2]).reshape(-1, 3)
    return bool((colours == colours[:, :1]).all())


def _pixels(fmt, data, mode, source):
    """The pixels a file holds, as the documentation says they decode: 8-bit /255,
    16-bit /65535; palette to RGB (RGBA with a palette PNG's transparency); a GIF is its
    first frame in RGB, transparent pixels black; a JPEG is Pillow's decoding."""
    im = Image.open(io.BytesIO(data))
    if fmt == "GIF":                       # the first frame; transparent pixels black
        rgb = np.asarray(im.convert("RGB"), np.float32) / 255
        if im.mode == "P" and "transparency" in im.info:
            rgb[np.asarray(im) == im.info["transparency"]] = 0
        return rgb
    if fmt == "JPEG":
        a = np.asarray(im.convert("L" if im.mode == "L" else "RGB"), np.float32) / 255
        return a[..., None] if a.ndim == 2 else a
    if im.mode == "I;16":
        return np.asarray(im, np.float32)[..., None] / 65535
    if im.mode == "P":
        return np.asarray(im.convert("RGBA" if mode == "Pt" else "RGB"), np.float32) / 255
    if fmt == "BMP" and mode == "RGBA":     # Pillow reads a BMP without its alpha
        return np.asarray(source, np.float32) / 255
    a = np.asarray(im.convert("L") if im.mode == "1" else im, np.float32) / 255
    return a[..., None] if a.ndim == 2 else a


def _image_data_end(fmt, data):
    """Offset after which cutting a file loses no pixels, or ``None`` when unknown."""
    if fmt == "PNG":
        at, end = 8, None
        while at + 8 <= len(data):
            size, tag = struct.unpack(">I4s", data[at:at + 8])
            if tag == b"IDAT":
                end = at + 12 + size
            at += 12 + size
        return end
    if fmt == "JPEG":
        return len(data) - 2                       # the EOI marker
    if fmt == "GIF":
        return len(data) - 1                       # the trailer
    return len(data)                               # BMP: pixels run to the end


@st.composite
def pil_specs(draw, size, tidy=False):
    """An image Pillow writes, in any mode it writes; ``tidy``: one that must load (for
    a group converting to 1 or 3 channels)."""
    if tidy:
        fmt = draw(st.sampled_from(["PNG", "PNG", "JPEG", "GIF", "BMP"]))
        mode = draw(st.sampled_from([m for m in _PIL_SAVES[fmt]
                                     if not (fmt == "BMP" and m in ("1", "P"))]))
        return PilSpec(fmt, mode, tuple(size), draw(st.integers(0, 2**31)), _EXT[fmt],
                       draw(st.booleans()), draw(st.integers(2, 256)),
                       draw(st.integers(1, 95)), None, False)
    fmt = draw(st.sampled_from(["PNG"] * 4 + ["JPEG"] * 2 + ["GIF", "BMP", "BMP", "TIFF",
                                                              "WEBP"]))
    mode = draw(st.sampled_from(_PIL_SAVES[fmt]))
    ext = draw(st.sampled_from([_EXT[fmt]] * 6 + [".png", ".jpeg", ".gif", ".tif", ".txt"]))
    if ext == ".tif" and fmt != "TIFF":
        ext = _EXT[fmt]
    shape = size if draw(st.integers(0, 5)) else (draw(st.integers(1, 9)),
                                                   draw(st.integers(1, 9)))
    return PilSpec(fmt, mode, tuple(shape), draw(st.integers(0, 2**31)), ext,
                   draw(st.booleans()), draw(st.integers(2, 256)), draw(st.integers(1, 95)),
                   draw(st.none() | st.none() | st.floats(0, 1)),
                   draw(st.integers(0, 30)) == 0)


@dataclass
class PngSpec:
    """A PNG written byte by byte: any colour type and bit depth PNG allows."""

    color_type: int         # 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA
    bits: int
    size: tuple             # (h, w); 0 allowed
    seed: int
    palette: int
    trns: bool
    ext: str = ".png"
    cut: float | None = None

    _BANDS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}

    def pixels(self):
        rng = np.random.default_rng(self.seed)
        h, w = self.size
        top = self.palette - 1 if self.color_type == 3 else 2 ** self.bits - 1
        return rng.integers(0, top + 1, (h, w, self._BANDS[self.color_type]))

    def colours(self):
        rng = np.random.default_rng(self.seed + 1)
        return rng.integers(0, 256, (self.palette, 3)), rng.integers(0, 256, self.palette)

    def encode(self):
        h, w = self.size
        px = self.pixels()
        rows = []
        for row in px.reshape(h, w * px.shape[-1]):
            if self.bits == 16:
                raw = row.astype(">u2").tobytes()
            elif self.bits == 8:
                raw = row.astype(np.uint8).tobytes()
            else:
                bits = np.unpackbits(row.astype(np.uint8)[:, None], axis=1)[:, 8 - self.bits:]
                raw = np.packbits(bits.ravel()).tobytes()
            rows.append(b"\x00" + raw)
        out = [b"\x89PNG\r\n\x1a\n",
               _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, self.bits, self.color_type,
                                           0, 0, 0))]
        if self.color_type == 3:
            rgb, alpha = self.colours()
            out.append(_chunk(b"PLTE", rgb.astype(np.uint8).tobytes()))
            if self.trns:
                out.append(_chunk(b"tRNS", alpha.astype(np.uint8).tobytes()))
        out += [_chunk(b"IDAT", zlib.compress(b"".join(rows))), _chunk(b"IEND", b"")]
        return b"".join(out)

    def write(self, path):
        data = self.encode()
        truth = self.truth(data)
        if self.cut is not None:
            truth = _cut_truth(truth, "PNG", data, self.cut)
            data = data[:int(self.cut * (len(data) - 1))]
        with open(path, "wb") as f:
            f.write(data)
        return truth

    def truth(self, data):
        h, w = self.size
        gray = pil_gray(data)
        if h == 0 or w == 0:
            return Truth(problems=["corrupt|truncated|cannot identify"], gray=gray,
                         readable=None)
        px = self.pixels()
        if self.color_type == 3:
            rgb, alpha = self.colours()
            idx = px[..., 0]
            value = rgb[idx] / 255
            if self.trns:
                value = np.concatenate([value, alpha[idx][..., None] / 255], -1)
        else:
            value = px / (2 ** self.bits - 1)
        value = value.astype(np.float32)
        return Truth(value=value, channels=value.shape[-1], gray=gray)


def _chunk(tag, body):
    return struct.pack(">I", len(body)) + tag + body + struct.pack(
        ">I", zlib.crc32(tag + body) & 0xFFFFFFFF)


_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}


@st.composite
def png_specs(draw, size, tidy=False):
    """A PNG of any colour type and bit depth; ``tidy``: whole and of ``size``."""
    color_type = draw(st.sampled_from(sorted(_PNG_DEPTHS)))
    bits = draw(st.sampled_from(_PNG_DEPTHS[color_type]))
    shape = size if tidy or draw(st.integers(0, 6)) else (draw(st.integers(0, 3)),
                                                          draw(st.integers(0, 3)))
    if tidy:
        return PngSpec(color_type, bits, tuple(shape), draw(st.integers(0, 2**31)),
                       draw(st.integers(1, 2 ** min(bits, 8))), draw(st.booleans()))
    return PngSpec(color_type, bits, tuple(shape), draw(st.integers(0, 2**31)),
                   draw(st.integers(1, 2 ** min(bits, 8))), draw(st.booleans()),
                   cut=draw(st.none() | st.none() | st.none() | st.floats(0, 1)))


# --------------------------------------------------------------------------- file cases


@dataclass
class FileCase:
    """A column (or a dotted pair of columns) of generated files, one row each."""

    kind: str               # series | image
    specs: list             # rows x inputs
    stems: list
    channels: int           # per input, for an explicit group (series: also a WAV's)
    rate: int
    size: tuple             # images: (h, w) = the group's size
    entry: str              # manifest | registry | source
    explicit: bool          # the group is given (else inferred by the manifest)
    skip_bad: bool
    sample_rate: int | None
    features: bool
    columns: tuple          # series: the group's inputs (CSV names) in "source" entry
    absolute: bool


@st.composite
def file_cases(draw):
    kind = draw(st.sampled_from(["series", "image"]))
    channels = draw(st.sampled_from([1, 1, 2, 3, 3]) if kind == "image" else
                    st.integers(1, 4))
    if kind == "image" and draw(st.integers(0, 9)) == 0:
        channels = draw(st.sampled_from([2, 4]))
    rate = draw(st.sampled_from([8000, 16000, 100]) | st.integers(8, 50_000))
    size = (draw(st.integers(1, 12)), draw(st.integers(1, 12)))
    entry = draw(st.sampled_from(["manifest", "manifest", "registry", "source"]))
    n_inputs = draw(st.sampled_from([1, 1, 1, 2]))
    columns = ()
    if kind == "series" and entry == "source" and n_inputs == 1 and draw(st.booleans()):
        columns = tuple(draw(st.permutations(["Fx", "Fy", "Fz", "Mz"])))[:channels]
    series_kind = draw(st.sampled_from(["npy", "csv", "wav"]))
    tidy = draw(st.booleans())                  # every file one that must load

    def one():
        if kind == "image":
            if draw(st.integers(0, 2)) == 0:
                return draw(png_specs(size, tidy))
            return draw(pil_specs(size, tidy))
        which = series_kind if draw(st.integers(0, 4)) else draw(
            st.sampled_from(["npy", "csv", "wav"]))
        if which == "npy":
            return draw(npy_specs(channels, tidy))
        if which == "csv":
            return draw(csv_specs(channels, columns, tidy))
        return draw(wav_specs(channels, rate, tidy))

    rows = draw(st.integers(1, 4))
    specs = [[one() for _ in range(n_inputs)] for _ in range(rows)]
    stems = [[draw(file_stems()) for _ in range(n_inputs)] for _ in range(rows)]
    explicit = entry == "source" or draw(st.booleans())
    return FileCase(kind, specs, stems, channels, rate, size, entry, explicit,
                    draw(st.booleans()), draw(st.sampled_from([None, rate, rate])),
                    draw(st.integers(0, 7)) == 0, columns, draw(st.booleans()))


def _series_group(case, name, inputs, length):
    from minape_tf.groups import SeriesGroup

    n_fft = 16
    return SeriesGroup(name, channels=case.channels * len(inputs), sample_rate=case.rate,
                       source_rate=case.rate, length=max(length, n_fft), n_fft=n_fft, hop=8,
                       n_mels=4, inputs=tuple(inputs))


def _write_files(case, folder):
    """Write a case's files; ``(paths, truths)`` as rows x inputs."""
    paths, truths, taken = [], [], set()
    for specs, stems in zip(case.specs, case.stems):
        row_paths, row_truths = [], []
        for spec, stem in zip(specs, stems):
            path = _unique(os.path.join(folder, stem + spec.ext), taken)
            row_truths.append(spec.write(path))
            row_paths.append(path)
        paths.append(row_paths)
        truths.append(row_truths)
    return paths, truths


def _expected_series_group(case, truths, paths):
    """``(per_input, rate, refusal)`` of the series group the manifest must infer: from
    the first row whose first file has no problem of its own. ``per_input`` is ``None``
    where a damaged but complete file comes first (it may or may not count)."""
    for row in truths:
        t = row[0]
        if t.optional:
            return None, None, None
        if not t.problems:
            rate = t.rate or case.sample_rate
            if rate is None:
                return None, None, {"": ["sample_rate"]}
            return [t.channels], rate, None
    return None, None, {paths[0][0]: ["none of its files is a usable series"]}


def _expected_image_channels(truths):
    """Channels per input of the image group the manifest must infer (gray files: 1,
    else 3), as the options a damaged file leaves."""
    readable = [t for row in truths for t in row if t.readable is not False]
    if any(t.readable and not t.gray for t in readable):
        return [3]
    if any(not t.gray for t in readable):            # a damaged colour file
        return [1, 3]
    if any(t.readable for t in readable):
        return [1]
    return [1, 3] if readable else [3]


def _file_group(case, truths, paths, cols):
    """``(group or None, per_input options, rate, refusal)`` for a file case."""
    from minape_tf.data import decode
    from minape_tf.groups import ImageGroup

    if case.kind == "image":
        if case.explicit:
            return (ImageGroup("x", channels=case.channels * len(cols), size=case.size,
                               inputs=tuple(cols)), [case.channels], None, None)
        if decode.extension(paths[0][0]) not in decode.IMAGE_EXTENSIONS:
            return None, None, None, {paths[0][0]: ["unknown file type"]}
        return None, _expected_image_channels(truths), None, None
    if case.explicit:
        first = next((t for row in truths for t in row[:1] if t.value is not None), None)
        length = len(first.value) if first is not None else 32
        group = _series_group(case, "x", case.columns or cols, length)
        if case.columns:
            group = group.replace(channels=case.channels)
        return group, [case.channels], case.rate, None
    per_input, rate, refusal = _expected_series_group(case, truths, paths)
    return None, per_input, rate, refusal


def peak_limit(group):
    """The largest absolute value whose log-Mel power stays finite in float32, with a
    factor 2 to spare: ``|STFT| <= peak * n_fft / 2`` (Hann), a mel band sums at most its
    widest filter's weights times the power; ``None`` for a group that normalises or reads
    raw frames (no power is computed)."""
    from minape_tf.layers.mel import mel_filters

    if group.normalize is not None or group.representation == "frames":
        return None
    bank = mel_filters(group.sample_rate, group.n_fft, group.n_mels, group.fmin, group.fmax,
                       dtype=np.float64)
    widest = max(float(bank.sum(axis=1).max()), 1.0)      # the power itself must fit
    return float(np.sqrt(_F32_MAX / widest) / (group.n_fft / 2) / 2)


_LARGE = 1e13      # below this no group of the battery's refuses a series as too large


def _file_problems(case, truth, wanted, rate, limit=None):
    """``(problems, optional)`` of one file for a group wanting ``wanted`` channels per
    input at ``rate`` (whose values may reach ``limit``; ``"unknown"``: a large series may
    or may not pass): a problem of the group's is never optional."""
    problems = list(truth.problems)
    if truth.value is None:
        return problems, truth.optional
    if case.kind == "image":
        if not convertible(truth.channels, wanted):
            problems.append("channels")
    else:
        if truth.channels != wanted:
            problems.append("channels")
        if truth.rate is not None and rate is not None and truth.rate != rate:
            problems.append("sample rate")
        peak = float(np.abs(truth.value).max()) if truth.value.size else 0.0
        if limit == "unknown" and peak > _LARGE and np.isfinite(peak):
            problems.append("overflow float32")
            return problems, True
        if limit not in (None, "unknown") and peak > limit and np.isfinite(peak):
            problems.append("overflow float32")
    extra = len(problems) > len(truth.problems)
    return problems, truth.optional and not extra


# --------------------------------------------------------------------------- running


def _ours(exc):
    """Whether an exception is a refusal by the library (not something escaping it)."""
    if isinstance(exc, DataError):
        return True
    if not isinstance(exc, (ValueError, FileNotFoundError)):
        return False
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and "minape_tf" in frames[-1].filename


def _fail(case, what):
    raise Failure(f"{what}\ncase: {case!r}")


def _traceback(case, exc):
    if not _ours(exc):
        _fail(case, "traceback: " + "".join(traceback.format_exception(exc)))


def _load(case, csv_path, root, groups, **options):
    from minape_tf.data.loaders.manifest import manifest
    from minape_tf.data.registry import load_dataset

    if case.entry == "registry":
        return load_dataset("manifest", str(csv_path), root=root, groups=groups, **options)
    return manifest(csv_path, root, groups=groups, **options)


def _write_manifest(path, header, rows, bom=False, newline="\n"):
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
        f.write(buf.getvalue())


def _matches(message, expected):
    """Whether ``message`` names one of ``expected``'s files (``""``: any) and one of its
    problems."""
    return any((not path or os.path.basename(path) in message) and
               any(re.search(p, message) for p in problems)
               for path, problems in expected.items())


def _check_problem_list(case, problems, bad, good):
    """Every listed ``(file, reason)`` is a bad file with one of its problems (or a
    damaged one that may go either way), and every bad file is listed."""
    listed = {}
    for where, reason in problems:
        listed.setdefault(where, []).append(reason)
    for where, reasons in listed.items():
        if where in good:
            _fail(case, f"a good file was refused: {where}: {reasons}")
        if where in bad and not any(re.search(p, r) for p in bad[where] for r in reasons):
            _fail(case, f"{where}: reason {reasons} does not match {bad[where]}")
        if where not in bad and where not in good and not where.startswith(
                ("observation", "/")):
            _fail(case, f"an unknown input was refused: {where}: {reasons}")
    for where in bad:
        if where not in listed:
            _fail(case, f"bad input not refused: {where} ({bad[where]})")


def run_file_case(case, folder):
    """Run a :func:`file_cases` case in ``folder``; see the module docstring."""
    paths, truths = _write_files(case, folder)
    cols = ["x"] if len(paths[0]) == 1 else ["x.a", "x.b"]
    group, per_input, rate, refusal = _file_group(case, truths, paths, cols)
    if refusal:
        return _expect_refusal(case, lambda: _load_files(case, folder, paths, group),
                               refusal)
    try:
        loaded = _load_files(case, folder, paths, group)
    except Exception as exc:  # noqa: BLE001 - classified below
        limit = peak_limit(group) if group is not None and case.kind == "series" else (
            "unknown")
        return _file_refusal(case, exc, paths, truths, per_input, rate, limit)
    g = loaded.groups[0]
    wanted = g.channels // len(cols)
    if per_input is not None and wanted not in per_input:
        _fail(case, f"group {g} has {wanted} channels per input; expected {per_input}")
    if case.kind == "series" and rate is not None and g.input_rate != rate:
        _fail(case, f"group rate {g.input_rate}; expected {rate}")
    bad, good, maybe = {}, set(), set()
    limit = peak_limit(g) if case.kind == "series" else None
    for i, (row_paths, row_truths) in enumerate(zip(paths, truths)):
        for path, truth in zip(row_paths, row_truths):
            problems, optional = _file_problems(
                case, truth, wanted, g.input_rate if case.kind == "series" else None, limit)
            if problems and not optional:
                bad[path] = problems
            elif problems:
                maybe.add(i)
            else:
                good.add(path)
    source = loaded.source
    if not case.skip_bad and bad:
        _fail(case, f"bad files loaded without skip_bad: {sorted(bad)}")
    _check_problem_list(case, source.skipped, bad, good)
    allowed = [i for i, row in enumerate(paths) if not any(p in bad for p in row)]
    must = [i for i in allowed if i not in maybe]
    got = [paths.index(list(r)) for r in source.inputs["x"]]
    if got != sorted(got) or not set(must) <= set(got) <= set(allowed):
        _fail(case, f"observations kept {got}; expected {must} (at most {allowed})")
    return _check_decoded(case, source, loaded.groups, got, paths, truths)


def _check_decoded(case, source, groups, rows, paths, truths):
    """Decode the kept observations with ``make_dataset`` and compare each with what was
    written."""
    from minape_tf.data.pipeline import make_dataset

    if not rows:
        try:
            make_dataset(source, groups, training=False, features_in_model=True, cache=False)
        except DataError as exc:
            if "no observations" in str(exc):
                return "refused"
            raise
        _fail(case, "an empty source made a dataset")
    x = _decode(case, source, groups)
    for k, i in enumerate(rows):
        _compare_row(case, x[k], truths[i], paths[i], groups[0], case.specs[i])
    return "loaded" if len(rows) == len(paths) else "partial"


def _load_files(case, folder, paths, group):
    from minape_tf.data.source import Loaded, Source
    from minape_tf.data.validate import validate_loaded

    cols = ["x"] if len(paths[0]) == 1 else ["x.a", "x.b"]
    if case.entry == "source":
        src = Source(inputs={"x": [tuple(r) for r in paths]}, labels=np.zeros(len(paths)),
                     classes=["a"], ids=[f"obs{k}" for k in range(len(paths))])
        loaded = Loaded(src, [group], {"train": np.arange(len(paths))})
        return validate_loaded(loaded, skip_bad=case.skip_bad)
    csv_path = os.path.join(folder, "manifest.csv")
    rel = [[p if case.absolute else os.path.relpath(p, folder) for p in r] for r in paths]
    _write_manifest(csv_path, ["label"] + cols,
                    [[LABELS[k % 2]] + r for k, r in enumerate(rel)])
    options = dict(val_fraction=0.0, test_fraction=0.0, skip_bad=case.skip_bad,
                   image_size=case.size, sample_rate=case.sample_rate)
    groups = None if group is None else [group.replace(inputs=tuple(cols))]
    return _load(case, csv_path, None, groups, **options)


def _expect_refusal(case, call, expected):
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - classified below
        _traceback(case, exc)
        if not _matches(str(exc), expected):
            _fail(case, f"refusal {str(exc)!r} does not match {expected}")
        return "refused"
    _fail(case, f"loaded; expected a refusal {expected}")


def _file_refusal(case, exc, paths, truths, per_input, rate, limit):
    """A load that raised: it must be a refusal naming a bad file and its problem, and
    list only bad (or damaged) files."""
    _traceback(case, exc)
    message = str(exc)
    if per_input is None and "none of its files is a usable series" in message:
        return "refused"                           # the damaged first file did not count
    if case.skip_bad:
        _fail(case, f"skip_bad=True raised {exc!r}")
    expected = {}
    for row_paths, row_truths in zip(paths, truths):
        for path, truth in zip(row_paths, row_truths):
            for wanted in per_input or [truth.channels]:
                problems, _ = _file_problems(case, truth, wanted, rate, limit)
                if problems:
                    expected.setdefault(path, []).extend(problems)
    if not expected:
        _fail(case, f"good files refused: {message}")
    if not _matches(message, expected):
        _fail(case, f"refusal {message!r} does not name a bad file and its problem "
                    f"(expected one of {expected})")
    for where, reason in getattr(exc, "problems", None) or []:
        if where not in expected:
            _fail(case, f"a good file was refused: {where}: {reason}")
    return "refused"


def _decode(case, source, groups):
    from minape_tf.data.pipeline import make_dataset

    ds = make_dataset(source, groups, training=False, features_in_model=True, cache=False,
                      batch_size=64)
    x, _ = next(iter(ds))
    out = x[groups[0].name].numpy()
    if case.features:
        ds = make_dataset(source, groups, training=False, features_in_model=False, cache=False,
                          batch_size=64)
        f, _ = next(iter(ds))
        f = f[groups[0].name].numpy()
        if f.shape[1:] != groups[0].feature_shape or not np.isfinite(f).all():
            _fail(case, f"features of shape {f.shape} (finite: {np.isfinite(f).all()})")
    return out


def _tolerance(group, specs):
    from minape_tf.groups import ImageGroup

    if any(getattr(s, "fmt", None) == "JPEG" for s in specs):
        return JPEG_ATOL
    return 1e-6 if isinstance(group, ImageGroup) else 0.0


def _compare_row(case, got, truths, paths, group, specs):
    """One observation as decoded against what its files hold. An image of another size
    than the group's is resized by the pipeline: it is compared as the pipeline's decoder
    reads it, at its own size."""
    from minape_tf.data import decode
    from minape_tf.groups import ImageGroup

    per_input = group.channels // len(truths)
    atol = _tolerance(group, specs)
    parts = []
    for truth, path in zip(truths, paths):
        if not isinstance(group, ImageGroup):
            parts.append(_fit(truth.value, group.length))
            continue
        want = np.clip(convert(truth.value, per_input), 0, 1)
        if want.shape[:2] == tuple(group.size):
            parts.append(want)
            continue
        import tensorflow as tf

        read = decode.decode_image_file(tf.constant(path), per_input).numpy()
        _close(case, read, want, atol, path)
        parts.append(None)
    if any(p is None for p in parts):
        if got.shape != group.feature_shape or not (0 <= got.min() and got.max() <= 1):
            _fail(case, f"{paths}: decoded shape {got.shape}, range [{got.min()}, {got.max()}]")
        return
    _close(case, got, np.concatenate(parts, -1), atol, paths)


def _compare_values(case, got, values, group, where):
    """One observation of the group's size against the arrays its inputs hold."""
    from minape_tf.groups import ImageGroup

    per_input = group.channels // len(values)
    if isinstance(group, ImageGroup):
        want = [np.clip(convert(v, per_input), 0, 1) for v in values]
    else:
        want = [_fit(v, group.length) for v in values]
    _close(case, got, np.concatenate(want, -1), _tolerance(group, ()), where)


def _close(case, got, want, atol, where):
    if got.shape != want.shape:
        _fail(case, f"{where}: decoded shape {got.shape}; expected {want.shape}")
    err = float(np.max(np.abs(got - want))) if want.size else 0.0
    if not err <= atol:
        _fail(case, f"{where}: decoded values differ by {err} (> {atol})")


def run_case(case, folder=None):
    """Run any case (see the module docstring) in ``folder`` (a new temporary one when
    ``None``)."""
    if folder is None:
        with tempfile.TemporaryDirectory() as tmp:
            return run_case(case, tmp)
    if isinstance(case, FileCase):
        return run_file_case(case, folder)
    if isinstance(case, ManifestCase):
        return run_manifest_case(case, folder)
    return run_array_case(case)


# --------------------------------------------------------------------------- manifests


@dataclass
class ManifestCase:
    """A manifest over small good files (PNG images, ``.npy`` series at 100 Hz)."""

    columns: list            # [(name, kind)]
    rows: list               # [(label, [cell kind per column], id, group, split, order)]
    stems: list
    bom: bool
    crlf: bool
    pad_header: bool
    label_column: bool
    notes: str               # none | ignored | kept
    duplicate: str | None    # a header name repeated
    blank_name: bool
    blank_lines: list        # row indices after which a blank line goes
    ragged: int | None       # a row with an extra field
    extras: tuple            # of "id", "group", "split", "order"
    root_mode: str           # manifest | explicit
    classes: bool            # pass classes= (all labels but maybe one)
    drop_class: bool
    skip_bad: bool
    entry: str
    seed: int
    bad_utf8: bool


_CELL_KINDS = ["file"] * 6 + ["dot", "sub", "abs", "missing", "empty"]


@st.composite
def manifest_cases(draw):
    """A manifest: its columns, rows, header, encoding and layout; half of them
    ``tidy`` (only variations that must load: BOM, CRLF, padded header, blank lines,
    ignored metadata, unicode and spaces in paths, relative, ``./``, sub-folder and
    absolute paths, id / group / split / order columns)."""
    tidy = draw(st.booleans())
    layouts = [[("img", "image")], [("force", "series")],
               [("img", "image"), ("force", "series")],
               [("spec.x", "image"), ("spec.y", "image")], [("s_1", "image"), ("s.a", "series"),
                                                            ("s.b", "series")]]
    if not tidy:
        layouts += [[("försök", "series")], [("my img", "image")],
                    [("tool", "image"), ("2nd", "series")], [("Ω", "image")]]
    names = draw(st.sampled_from(layouts))
    n = draw(st.integers(1, 5))
    rows = []
    for k in range(n):
        label = draw(st.sampled_from(LABELS + ("",) if not tidy and draw(st.integers(0, 8)) == 0
                                     else LABELS))
        cells = [draw(st.sampled_from(_CELL_KINDS[:9] if tidy else _CELL_KINDS))
                 for _ in names]
        order = draw(st.sampled_from([str(k), f"{k}.5", "-3"] + ([] if tidy else
                                                                 ["x", "nan", ""])))
        split = draw(st.sampled_from(["train", "train", "val", "test"] + ([] if tidy else
                                                                          ["Train", ""])))
        rows.append((label, cells, f"obs-{k}", draw(st.sampled_from(["T1", "T2"])), split,
                     order))
    stems = [[draw(file_stems()) for _ in names] for _ in range(n)]
    extras = tuple(e for e in ("id", "group", "split", "order") if draw(st.integers(0, 3)) == 0)
    rare = (lambda p: False) if tidy else (lambda p: draw(st.integers(0, p)) == 0)
    return ManifestCase(
        names, rows, stems, draw(st.booleans()), draw(st.booleans()), draw(st.booleans()),
        not rare(12), draw(st.sampled_from(["none", "ignored"] + ([] if tidy else ["kept"]))),
        None if not rare(4) else draw(st.sampled_from(["label", "first"])), rare(15),
        [k for k in range(n) if draw(st.integers(0, 5)) == 0],
        draw(st.integers(0, n - 1)) if rare(3) else None, extras,
        draw(st.sampled_from(["manifest", "explicit"])), draw(st.booleans()),
        rare(1), draw(st.booleans()), draw(st.sampled_from(["manifest", "registry"])),
        draw(st.integers(0, 2**31)), rare(20))


_IMAGE_SIZE = (4, 5)


def _good_file(kind, path, seed, gray):
    rng = np.random.default_rng(seed)
    if kind == "image":
        a = rng.integers(0, 256, (*_IMAGE_SIZE, 1 if gray else 3), dtype=np.uint8)
        Image.fromarray(a[..., 0] if gray else a).save(path, format="PNG")
        return a.astype(np.float32) / 255
    a = rng.standard_normal((int(rng.integers(20, 40)), 2)).astype(np.float32)
    np.save(path, a)
    return a


def _manifest_layout(case, folder):
    """Write the files and the manifest; returns what the oracle needs."""
    data_root = os.path.join(folder, "data")
    os.makedirs(os.path.join(data_root, "sub dir"), exist_ok=True)
    csv_dir = data_root if case.root_mode == "manifest" else os.path.join(folder, "lists")
    os.makedirs(csv_dir, exist_ok=True)
    csv_path = os.path.join(csv_dir, "manifest.csv")
    rng = np.random.default_rng(case.seed)
    gray = bool(rng.random() < 0.4)
    header = (["label"] if case.label_column else []) + [c for c, _ in case.columns]
    header += [e for e in case.extras]
    if case.notes != "none":
        header.insert(int(rng.integers(0, len(header) + 1)), "notes")
    if case.duplicate == "label" and case.label_column:
        header.append("label")
    elif case.duplicate == "first":
        header.append(case.columns[0][0])
    if case.blank_name:
        header.insert(1, "")
    files, table, taken = [], [], set()
    for k, (label, cells, ident, grp, split, order) in enumerate(case.rows):
        values, row_files = {"label": label, "id": ident, "group": grp, "split": split,
                             "order": order, "notes": "bent tip" if k % 2 else "ok",
                             "": "?"}, []
        for (col, kind), cell, stem in zip(case.columns, cells, case.stems[k]):
            ext = ".png" if kind == "image" else ".npy"
            sub = "sub dir" if cell == "sub" else ""
            path = _unique(os.path.join(data_root, sub, stem + ext), taken)
            value = None
            if cell not in ("missing", "empty"):
                value = _good_file(kind, path, case.seed + 31 * k + len(files), gray)
            rel = os.path.relpath(path, data_root)
            text = {"dot": "./" + rel, "abs": path, "empty": ""}.get(cell, rel)
            values.setdefault(col, text)
            row_files.append((col, path, value))
        files.append(row_files)
        table.append([values.get(h, "") if h != "" else "?" for h in header])
        if case.ragged == k:
            table[-1].append("surplus")
    return csv_path, data_root, header, table, files, gray


def run_manifest_case(case, folder):
    """Run a :func:`manifest_cases` case in ``folder``; see the module docstring."""
    csv_path, data_root, header, table, files, gray = _manifest_layout(case, folder)
    lines = []
    for k, row in enumerate(table):
        lines.append(row)
        if k in case.blank_lines:
            lines.append([])
    _write_manifest(csv_path, [("  " + h + " ") if case.pad_header else h for h in header],
                    lines, bom=case.bom, newline="\r\n" if case.crlf else "\n")
    if case.bad_utf8:
        with open(csv_path, "ab") as f:
            f.write(b"bad,\xff\xfe\n")
    labels = sorted({r[0] for r in case.rows if r[0]})
    classes = None
    if case.classes:
        classes = labels[1:] if case.drop_class and len(labels) > 1 else list(labels)
    options = dict(val_fraction=0.0, test_fraction=0.0, skip_bad=case.skip_bad,
                   image_size=_IMAGE_SIZE, sample_rate=100, classes=classes,
                   ignore_columns=("notes",) if case.notes == "ignored" else ())
    root = None if case.root_mode == "manifest" else data_root
    expected = _manifest_oracle(case, csv_path, header, table, files, classes, lines)
    try:
        loaded = _load(case, csv_path, root, None, **options)
    except Exception as exc:  # noqa: BLE001 - classified below
        if not _ours(exc):
            _fail(case, "traceback: " + "".join(traceback.format_exception(exc)))
        if expected[0] != "refused":
            _fail(case, f"refused {exc!s}; expected it to load ({expected})")
        message = str(exc)
        if not any(re.search(p, message) for p in expected[1]) or expected[2] not in message:
            _fail(case, f"refusal {message!r}; expected {expected[1]} naming {expected[2]}")
        return "refused"
    if expected[0] == "refused":
        _fail(case, f"loaded; expected a refusal {expected[1]}")
    _check_manifest_load(case, loaded, expected[1], gray)
    return "loaded" if len(loaded.source) == len(case.rows) else "partial"


def _manifest_oracle(case, csv_path, header, table, files, classes, lines):
    """``("refused", [regex], text the message names)`` or ``("loaded", rows)`` where
    rows are ``(row index, line, label, [(column, path, value)], cells)`` of the kept
    observations."""
    where = str(csv_path)
    names = [h for h in header]
    if case.bad_utf8:
        return "refused", ["UTF-8"], where
    if case.blank_name:
        return "refused", ["no name"], where
    if case.duplicate == "first" or (case.duplicate == "label" and case.label_column):
        return "refused", ["more than once"], where
    if not case.label_column:
        return "refused", ["no 'label' column"], where
    file_cols = [h for h in names if h not in ("label", "group", "split", "id", "order")
                 and not (h == "notes" and case.notes == "ignored")]
    line, records, first_bad = 1, [], None
    k = 0
    for row in lines:
        line += 1
        if not row:
            continue
        cells = dict(zip(names, (c.strip() for c in row)))
        problem = None
        if len(row) != len(names):
            problem = "fields"
        elif any(not cells.get(c) for c in file_cols + ["label"]):
            problem = "missing value"
        elif classes is not None and cells["label"] not in classes:
            problem = "not one of the classes"
        if problem:
            if not case.skip_bad and first_bad is None:
                return "refused", [problem], f"{where}, line {line}"
        else:
            records.append((k, line, cells["label"], files[k], cells))
        k += 1
    if not records:
        return "refused", ["no usable rows"], where
    kinds = dict(case.columns)
    by_group = {}
    for col in file_cols:
        by_group.setdefault(col.split(".")[0], []).append(col)
    for name, cols in by_group.items():
        if not (name.isascii() and name.isidentifier()):
            return "refused", ["must be ASCII letters"], where
        kind = kinds.get(cols[0])
        if kind is None:
            return "refused", ["ignore_columns"], "notes"
        if kind == "series":
            firsts = [f for _, _, _, fs, _ in records for f in fs if f[0] == cols[0]]
            if all(f[2] is None for f in firsts):
                return "refused", ["none of its files is a usable series"], where
    if "order" in case.extras:
        for _, line, _, _, cells in records:
            if not _number(cells["order"]) or not np.isfinite(float(cells["order"])):
                return "refused", ["order="], f"{where}, line {line}"
    if "split" in case.extras:
        if any(cells["split"] not in ("train", "val", "test") for *_, cells in records):
            return "refused", ["split values"], where
    missing = [(line, f) for _, line, _, fs, _ in records for f in fs if f[2] is None]
    if missing and not case.skip_bad:
        return "refused", ["file not found"], os.path.basename(missing[0][1][1])
    return "loaded", (records, [f[1] for _, f in missing])


def _check_manifest_load(case, loaded, expected, gray):
    import tensorflow as tf  # noqa: F401 - make_dataset needs it anyway

    records, missing = expected
    source = loaded.source
    skipped = [w for w, _ in source.skipped]
    for path in missing:
        if path not in skipped:
            _fail(case, f"missing file {path} not in skipped {source.skipped}")
    kept = [r for r in records if all(f[2] is not None for f in r[3])]
    if len(source) != len(kept):
        _fail(case, f"{len(source)} observations; expected {len(kept)}")
    labels = sorted({r[2] for r in records})
    classes = source.classes
    for i, (k, line, label, fs, cells) in enumerate(kept):
        if classes[source.labels[i]] != label:
            _fail(case, f"row {k}: label {classes[source.labels[i]]!r}; expected {label!r}")
        ident = cells.get("id") if "id" in case.extras else None
        if source.ids[i] != (ident or f"line {line}"):
            _fail(case, f"row {k}: id {source.ids[i]!r}; expected {ident or line}")
        if "group" in case.extras and source.split_keys[i] != cells["group"]:
            _fail(case, f"row {k}: group {source.split_keys[i]!r}")
        if "order" in case.extras and source.order[i] != float(cells["order"]):
            _fail(case, f"row {k}: order {source.order[i]!r}")
        for g in loaded.groups:
            for (col, path, _), item in zip([f for f in fs if f[0].split(".")[0] == g.name],
                                            source.inputs[g.name][i]):
                if os.path.realpath(item) != os.path.realpath(path):
                    _fail(case, f"row {k}, column {col}: {item}; expected {path}")
    if not case.classes and classes != labels:
        _fail(case, f"classes {classes}; expected {labels}")
    if "split" in case.extras:
        for name in ("train", "val", "test"):
            want = [i for i, r in enumerate(kept) if r[4]["split"] == name]
            if list(loaded.splits[name]) != want:
                _fail(case, f"split {name}: {list(loaded.splits[name])}; expected {want}")
    if not kept:
        return
    from minape_tf.data.pipeline import make_dataset

    x, _ = next(iter(make_dataset(source, loaded.groups, training=False, features_in_model=True,
                                  cache=False, batch_size=64)))
    for g in loaded.groups:
        for i, (_, _, _, fs, _) in enumerate(kept):
            values = [f[2] for f in fs if f[0].split(".")[0] == g.name]
            _compare_values(case, x[g.name].numpy()[i], values, g, [f[1] for f in fs])
        if g.kind == "image" and g.channels != len(g.inputs) * (1 if gray else 3):
            _fail(case, f"group {g.name}: {g.channels} channels; gray={gray}")


# --------------------------------------------------------------------------- arrays


@dataclass
class ArrayCase:
    """In-memory series and images in a ``Source``."""

    kind: str
    arrays: list            # NpySpec (series) or ImageArraySpec
    channels: int
    size: tuple
    skip_bad: bool


@dataclass
class ImageArraySpec:
    dtype: str
    shape: tuple
    seed: int
    values: str             # fit | over | negative | nan | unit | wide

    def array(self):
        rng = np.random.default_rng(self.seed)
        dtype = np.dtype(self.dtype)
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            top = {"fit": 255, "wide": 65535, "over": info.max, "negative": 255}.get(
                self.values, 255)
            top = min(top, info.max)
            low = info.min if self.values == "negative" and info.min < 0 else 0
            return rng.integers(low, top, self.shape, dtype=dtype, endpoint=True)
        if dtype.kind == "b":
            return rng.random(self.shape) < 0.5
        a = rng.uniform(-0.5 if self.values == "over" else 0, 1.5 if self.values == "over"
                        else 1, self.shape)
        if self.values == "nan" and a.size:
            a.flat[int(rng.integers(0, a.size))] = np.nan
        if dtype.kind == "c":
            return (a + 1j).astype(dtype)
        return a.astype(dtype)

    def truth(self):
        a = self.array()
        if a.ndim not in (2, 3) or a.size == 0:
            return Truth(problems=["shape"])
        if a.dtype.kind not in "iuf":
            return Truth(problems=["dtype"])
        if not np.isfinite(a).all():
            return Truth(problems=["NaN or Inf"])
        b = a if a.ndim == 3 else a[..., None]
        if a.dtype == np.uint8:
            value = b / 255.0
        elif a.dtype == np.uint16:
            value = b / 65535.0
        elif a.dtype.kind in "iu":
            if a.min() < 0 or a.max() > 65535:
                return Truth(problems=["integer image"])
            value = b / (255.0 if a.max() <= 255 else 65535.0)
        else:
            value = b
        return Truth(value=value.astype(np.float32), channels=b.shape[-1])


@st.composite
def array_cases(draw):
    kind = draw(st.sampled_from(["series", "image"]))
    channels = draw(st.integers(1, 4))
    size = (draw(st.integers(1, 10)), draw(st.integers(1, 10)))
    n = draw(st.integers(1, 4))
    if kind == "series":
        arrays = [draw(npy_specs(channels)) for _ in range(n)]
        arrays = [a.__class__(**{**a.__dict__, "cut": None}) for a in arrays]
        arrays = [a for a in arrays if a.dtype != "object"] or [
            NpySpec("float32", False, (10, channels), 0, "none", False, None)]
    else:
        def one():
            layout = draw(st.sampled_from(["hwc"] * 4 + ["hw", "hwc_other", "rank", "empty"]))
            shape = {"hwc": (*size, channels), "hw": size,
                     "hwc_other": (*size, draw(st.integers(1, 6))),
                     "rank": (2, *size, channels), "empty": (0, size[1], channels)}[layout]
            return ImageArraySpec(draw(st.sampled_from(
                ["uint8", "uint16", "int16", "int32", "int64", "float16", "float32",
                 "float64", "bool", "complex64"])), shape, draw(st.integers(0, 2**31)),
                draw(st.sampled_from(["fit", "fit", "wide", "over", "negative", "nan"])))
        arrays = [one() for _ in range(n)]
    return ArrayCase(kind, arrays, channels, size, draw(st.booleans()))


def run_array_case(case):
    """Run an :func:`array_cases` case; see the module docstring."""
    from minape_tf.data.pipeline import make_dataset
    from minape_tf.data.source import Source
    from minape_tf.groups import ImageGroup, SeriesGroup

    items = [s.array() for s in case.arrays]
    truths = [s.truth() if isinstance(s, ImageArraySpec) else s.truth(a)
              for s, a in zip(case.arrays, items)]
    if case.kind == "series":
        length = max([len(t.value) for t in truths if t.value is not None] + [16])
        group = SeriesGroup("x", channels=case.channels, sample_rate=100, length=length,
                            n_fft=16, hop=8, n_mels=4)
    else:
        group = ImageGroup("x", channels=case.channels, size=case.size)
    ids = [f"obs{k}" for k in range(len(items))]
    src = Source(inputs={"x": [(a,) for a in items]}, labels=np.zeros(len(items)),
                 classes=["a"], ids=ids)
    bad = {}
    limit = peak_limit(group) if case.kind == "series" else None
    for ident, t in zip(ids, truths):
        problems = list(t.problems)
        if t.value is not None:
            ok = (convertible(t.channels, case.channels) if case.kind == "image"
                  else t.channels == case.channels)
            if not ok:
                problems.append("channels")
            elif limit is not None and not problems and np.abs(t.value).max() > limit:
                problems.append("overflow float32")
        if problems:
            bad[f"observation {ident!r}"] = problems
    try:
        ds = make_dataset(src, [group], training=False, features_in_model=True, cache=False,
                          batch_size=64, skip_bad=case.skip_bad)
        x, _ = next(iter(ds))
    except Exception as exc:  # noqa: BLE001 - classified below
        if not _ours(exc):
            _fail(case, "traceback: " + "".join(traceback.format_exception(exc)))
        if not bad:
            _fail(case, f"good arrays refused: {exc}")
        if case.skip_bad and "no observations" in str(exc) and len(bad) == len(items):
            return "refused"
        problems = getattr(exc, "problems", [])
        _check_problem_list(case, problems, bad, {f"observation {i!r}" for i in ids} -
                            set(bad))
        return "refused"
    if bad and not case.skip_bad:
        _fail(case, f"bad arrays loaded: {bad}")
    kept = [k for k, i in enumerate(ids) if f"observation {i!r}" not in bad]
    got = x["x"].numpy()
    if len(got) != len(kept):
        _fail(case, f"{len(got)} observations; expected {len(kept)}")
    for row, k in enumerate(kept):
        _compare_values(case, got[row], [truths[k].value], group, ids[k])
    return "loaded" if len(kept) == len(items) else "partial"


# --------------------------------------------------------------------------- all cases


def cases():
    """Any case, in the battery's proportions (files 1/2, manifests 1/4, arrays 1/4)."""
    return st.one_of(file_cases(), file_cases(), manifest_cases(), array_cases())
