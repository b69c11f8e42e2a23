"""``demo``: an embedded, generated tool-wear data set that needs no files.

It imitates Mudestreda (paper Section 4.3) at toy scale: milling tools wear from run to run;
after each run the tool's three-axis cutting forces and a photo of its flank are recorded,
and the flank wear ``VB`` (micrometres) sets the class with the paper's thresholds:
``sharp`` (VB < 71), ``used`` (71 <= VB < 110), ``dulled`` (VB >= 110).

Generative model (everything drawn from ``numpy.random.default_rng(seed)``)
---------------------------------------------------------------------------
Tools and wear
    ``n_tools`` tools, each with ``runs_per_tool`` runs. Tool ``t`` wears along
    ``VB(r) = 15 + 150 * (r / (R - 1)) ** gamma_t + N(0, 4)`` micrometres, with a wear-curve
    shape ``gamma_t ~ U(0.8, 1.25)``. About 38 % of the runs are sharp, 25 % used and 37 %
    dulled.
Forces (three axes, ``sample_rate`` Hz, ``length`` samples, newtons)
    The force response to wear saturates: ``u = 1 - exp(-VB / 60)`` (0.22 at 15 um, 0.69
    at the sharp/used threshold, 0.84 at used/dulled, 0.94 at 165 um). Spindle frequency
    ``f0 ~ U(45, 55)`` Hz per tool with 1 % run-to-run jitter; a 4-tooth cutter, so
    harmonics of the tooth-passing frequency ``4 f0`` (k = 1..4) plus the spindle run-out
    at ``f0``. Per axis (gains 1.0, 0.8, 0.5 for Fx, Fy, Fz):

    * amplitude ``A = 20 * gain * (1 + 1.5 u) * g``, with a run-to-run process gain
      ``g ~ LogNormal(0, 0.2)`` (workpiece, depth of cut) shared by the axes;
    * harmonic weights ``exp(-k * (1.1 - 0.7 u + N(0, 0.1)))``: wear shifts energy up the
      harmonics; random phases;
    * broadband noise of standard deviation ``A * (0.08 + 0.3 u) * LogNormal(0, 0.2)``;
    * a static offset ``0.5 A`` (the mean cutting force) and the run-out ``0.3 A``.
Image (``image_size`` x ``image_size`` RGB, float32 in [0, 1])
    A dark background above a tool edge (a line at height ``0.3 H +- 3`` px, tilted by
    ``N(0, 4)`` degrees); below it the grey, brushed-metal flank. Along the edge a bright,
    slightly brassy wear band that only becomes visible beyond 60 um: its width is
    ``max(VB - 60, 0) / 100 * 0.3 H`` pixels times a visibility factor
    ``LogNormal(0, 0.12)``, with a ragged lower border (smooth random profile, +-30 %).
    Lighting changes: global gain ``U(0.65, 1.35)``, a linear gradient of random direction
    and strength ``U(0, 0.35)``, a colour tint ``N(1, 0.06)`` per channel, band contrast
    ``U(0.2, 0.45)``; sensor noise ``N(0, 0.04)``.

So the two modalities fail in different places: the forces separate sharp from used well
but, saturating, confuse used and dulled under the run-to-run gain; the image separates
used from dulled well but hardly sees the first micrometres of wear, so it confuses sharp
and lightly used tools. Neither alone is perfect; fused, they are much better (Table 3's
i / t / m rows); ``minape demo`` prints the three models' test accuracies.

Splits are by tool (``split_keys`` holds the tool id): with ``seed`` fixed, 60 % of the
tools train, 20 % validate and 20 % test, and no tool is on two sides.
"""

from __future__ import annotations

import numpy as np

from minape_tf.data.source import Loaded, Source
from minape_tf.groups import ImageGroup, SeriesGroup

CLASSES = ["sharp", "used", "dulled"]
THRESHOLDS_UM = (71.0, 110.0)
_AXIS_GAINS = (1.0, 0.8, 0.5)


def demo(seed: int = 0, *, n_tools: int = 20, runs_per_tool: int = 20, image_size: int = 64,
         sample_rate: int = 2000, length: int = 2048, n_fft: int = 256, hop: int = 64,
         n_mels: int = 32) -> Loaded:
    """Generate the demo tool-wear data set (see the module docstring for its model).

    Parameters
    ----------
    seed : int, default 0
        Fixes every random draw and the split: the same seed gives the same data.
    n_tools : int, default 20
        Tools; each runs through all three classes. At least 3 (one per split).
    runs_per_tool : int, default 20
        Observations per tool.
    image_size : int, default 64
        Side of the square tool image.
    sample_rate : int, default 2000
        Force sampling rate (Hz).
    length : int, default 2048
        Force samples per observation.
    n_fft, hop, n_mels : int, default 256, 64, 32
        The log-Mel settings of the force group.

    Returns
    -------
    Loaded
        ``(source, groups, splits)``: ``source`` holds in-memory arrays (group ``tool``: one
        ``(image_size, image_size, 3)`` float32 image; group ``force``: three ``(length,)``
        float32 series Fx, Fy, Fz), ``groups`` is
        ``[ImageGroup("tool"), SeriesGroup("force")]``, ``splits`` maps train / val / test to
        index arrays, split by tool. ``source.order`` is the run: each tool's observations
        follow its wear trajectory, so histories (``sequence_length``) carry information.
    """
    if n_tools < 3:
        raise ValueError(f"n_tools={n_tools}: need at least 3 tools (train, val, test)")
    if runs_per_tool < 2:
        raise ValueError(f"runs_per_tool={runs_per_tool}: need at least 2 runs per tool")
    rng = np.random.default_rng(seed)
    wear, tools, runs = _wear(rng, n_tools, runs_per_tool)
    labels = np.digitize(wear, THRESHOLDS_UM)
    images, forces = [], []
    for t, vb in zip(tools, wear):
        forces.append(_forces(rng, vb, tool_f0=_tool_f0(seed, t), sample_rate=sample_rate,
                              length=length))
        images.append((_image(rng, vb, image_size),))
    ids = [f"T{t + 1}R{r + 1}" for t, r in zip(tools, runs)]
    source = Source(inputs={"tool": images, "force": forces}, labels=labels,
                    classes=list(CLASSES), ids=ids,
                    split_keys=np.array([f"T{t + 1}" for t in tools]), order=runs)
    groups = [
        ImageGroup("tool", channels=3, size=(image_size, image_size), inputs=("tool",)),
        SeriesGroup("force", channels=3, sample_rate=sample_rate, length=length,
                    n_fft=n_fft, hop=hop, n_mels=n_mels, inputs=("fx", "fy", "fz")),
    ]
    return Loaded(source, groups, _tool_splits(rng, tools, n_tools))


def _wear(rng, n_tools, runs_per_tool):
    gamma = rng.uniform(0.8, 1.25, n_tools)
    tools = np.repeat(np.arange(n_tools), runs_per_tool)
    runs = np.tile(np.arange(runs_per_tool), n_tools)
    progress = runs / (runs_per_tool - 1)
    wear = 15.0 + 150.0 * progress ** gamma[tools] + rng.normal(0, 4.0, len(tools))
    return np.clip(wear, 1.0, None), tools, runs


def _tool_f0(seed, tool):
    return np.random.default_rng([seed, tool, 7]).uniform(45.0, 55.0)


def _forces(rng, vb, *, tool_f0, sample_rate, length):
    u = 1.0 - np.exp(-vb / 60.0)             # force response to wear, saturating
    t = np.arange(length) / sample_rate
    f0 = tool_f0 * (1 + rng.normal(0, 0.01))
    process_gain = rng.lognormal(0.0, 0.2)
    tilt = 1.1 - 0.7 * u + rng.normal(0, 0.1)
    noise_scale = (0.08 + 0.3 * u) * rng.lognormal(0.0, 0.2)
    axes = []
    for gain in _AXIS_GAINS:
        amplitude = 20.0 * gain * (1 + 1.5 * u) * process_gain
        signal = 0.5 * amplitude + 0.3 * amplitude * np.sin(
            2 * np.pi * f0 * t + rng.uniform(0, 2 * np.pi))
        for k in range(1, 5):
            frequency = 4 * k * f0
            if frequency >= sample_rate / 2:
                break
            signal += amplitude * np.exp(-k * tilt) * np.sin(
                2 * np.pi * frequency * t + rng.uniform(0, 2 * np.pi))
        signal += rng.normal(0, amplitude * noise_scale, length)
        axes.append(signal.astype(np.float32))
    return tuple(axes)


def _smooth_profile(rng, n, knots=6):
    """A smooth random curve of ``n`` points, values about in [-1, 1]."""
    return np.interp(np.linspace(0, knots - 1, n), np.arange(knots), rng.uniform(-1, 1, knots))


def _image(rng, vb, size):
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    edge_row = 0.3 * size + rng.uniform(-3, 3)
    slope = np.tan(np.deg2rad(rng.normal(0, 4.0)))
    edge = edge_row + slope * (cols - size / 2)
    depth = rows - edge                      # pixels below the edge
    band = max(vb - 60.0, 0.0) / 100.0 * 0.3 * size * rng.lognormal(0.0, 0.12)
    band_profile = band * (1 + 0.3 * _smooth_profile(rng, size))[None, :]

    background = 0.12 + 0.03 * rng.standard_normal((size, size))
    streaks = 0.04 * np.repeat(rng.standard_normal((1, size)), size, axis=0) \
        + 0.02 * rng.standard_normal((size, size))
    flank = 0.45 + streaks
    contrast = rng.uniform(0.2, 0.45)
    grey = np.where(depth < 0, background, flank)
    grey = np.where((depth >= 0) & (depth < band_profile), flank + contrast, grey)

    gain = rng.uniform(0.65, 1.35)
    angle = rng.uniform(0, 2 * np.pi)
    gradient = rng.uniform(0, 0.35) * ((np.cos(angle) * cols + np.sin(angle) * rows) / size - 0.5)
    tint = rng.normal(1.0, 0.06, 3)
    band_tint = np.array([1.0, 0.93, 0.8])    # the worn band looks slightly brassy
    in_band = ((depth >= 0) & (depth < band_profile))[..., None]
    colour = np.where(in_band, band_tint, 1.0)
    image = (grey * gain + gradient)[..., None] * colour * tint
    image += rng.normal(0, 0.04, image.shape)
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def _tool_splits(rng, tools, n_tools):
    order = rng.permutation(n_tools)
    n_test = max(1, round(0.2 * n_tools))
    n_val = max(1, round(0.2 * n_tools))
    test, val, train = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    return {name: np.flatnonzero(np.isin(tools, part))
            for name, part in (("train", train), ("val", val), ("test", test))}
