"""Throughput of ``make_dataset`` against a librosa loop computing the same features.

Two workloads, both timed in this run:

* ``force``: long force-like signals, 3 channels x 150,000 samples at 10 kHz (Mudestreda's
  length), stored as ``.npy`` files in a temporary folder; log-Mel n_fft 1024, hop 512,
  64 mels, peak normalisation.
* ``fsdd``: the FSDD recordings from ../shared/data (8 kHz WAV, 1 s, n_fft 256, hop 128,
  32 mels, peak normalisation); optionally resampled to 16 kHz (``fsdd_16k``), where the
  librosa loop resamples with ``scipy.signal.resample_poly``.

For each: the validation pass, the pipeline's first epoch (decode + features + cache
fill) and its cached epoch (``training=False``: no augmentation; and ``training=True``
with augmentation for information), in samples/s, against the librosa loop (read, trim/pad,
normalise, ``librosa.feature.melspectrogram(center=False)``, ``log10``). Prints JSON.

    minape bench pipeline [--n-force 96] [--n-fsdd 2500] [--fsdd-dir DIR] [--out FILE]
    python scripts/bench_pipeline.py ...      (the same, FSDD from ../shared/data)
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
import tensorflow as tf
from scipy.signal import resample_poly

from minape_tf.data import Source, validate
from minape_tf.data.loaders.fsdd import audio_group, scan
from minape_tf.data.loaders.mudestreda import mudestreda_force_group
from minape_tf.evaluation.machine import describe
from minape_tf.layers.resample import ratio
from minape_tf.models.inputs import ModelInputs, model_dataset

DEFAULT_FSDD = Path("..") / "shared" / "data" / "fsdd"


def librosa_loop(paths, group, reader):
    out = []
    up, down = ratio(group.source_rate or group.sample_rate, group.sample_rate)
    for p in paths:
        x = reader(p)  # (samples, channels)
        if up != down:
            x = resample_poly(x, up, down, axis=0).astype(np.float32)
        x = x[:group.length]
        x = np.pad(x, ((0, group.length - len(x)), (0, 0)))
        if group.normalize == "peak":
            x = x / (np.abs(x).max(axis=0, keepdims=True) + 1e-8)
        mel = [librosa.feature.melspectrogram(
            y=np.ascontiguousarray(x[:, c]), sr=group.sample_rate, n_fft=group.n_fft,
            hop_length=group.hop, n_mels=group.n_mels, center=False)
            for c in range(x.shape[1])]
        out.append(np.log10(np.stack(mel, -1).transpose(1, 0, 2) + group.eps))
    return out


def time_epoch(ds):
    t = time.perf_counter()
    n = 0
    for _, y in ds:
        n += int(y.shape[0])
    return n, time.perf_counter() - t


def bench(name, source, group, reader, batch_size):
    paths = [row[0] for row in source.inputs[group.name]]
    n = len(paths)
    t = time.perf_counter()
    checked = validate(source, [group])
    t_validate = time.perf_counter() - t

    t = time.perf_counter()
    ref = librosa_loop(paths, group, reader)
    t_librosa = time.perf_counter() - t

    inputs = ModelInputs((group,))
    ds = model_dataset(checked, inputs, batch_size=batch_size, cache=True)
    _, t_first = time_epoch(ds)
    t_cached = min(time_epoch(ds)[1] for _ in range(3))
    ds_train = model_dataset(checked, inputs, training=True, batch_size=batch_size,
                             cache=True, seed=0)
    time_epoch(ds_train)
    t_cached_train = min(time_epoch(ds_train)[1] for _ in range(2))

    got = np.concatenate([x[group.name].numpy() for x, _ in ds])
    err = float(np.max(np.abs(got - np.stack(ref))))
    rate = lambda s: round(n / s, 1)  # noqa: E731
    return {
        "workload": name, "n": n, "batch_size": batch_size,
        "signal": {"channels": group.channels, "length": group.length,
                   "sample_rate": group.sample_rate,
                   "source_rate": group.source_rate or group.sample_rate},
        "validate_s": round(t_validate, 3),
        "librosa_samples_per_s": rate(t_librosa),
        "first_epoch_samples_per_s": rate(t_first),
        "cached_epoch_samples_per_s": rate(t_cached),
        "cached_train_epoch_samples_per_s": rate(t_cached_train),
        "first_epoch_vs_librosa": round(t_librosa / t_first, 2),
        "cached_epoch_vs_librosa": round(t_librosa / t_cached, 2),
        "max_abs_diff_vs_librosa_log10": err,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-force", type=int, default=96)
    parser.add_argument("--n-fsdd", type=int, default=2500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-16k", action="store_true", help="skip the resampled workload")
    parser.add_argument("--fsdd-dir", type=Path, default=DEFAULT_FSDD,
                        help="FSDD recordings (default ../shared/data/fsdd)")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        t = np.arange(150_000) / 10_000
        paths = []
        for i in range(args.n_force):
            f = 50 + 10 * i % 400
            x = (np.sin(2 * np.pi * f * t)[:, None] * rng.uniform(1, 100, 3)
                 + rng.standard_normal((150_000, 3))).astype(np.float32)
            paths.append(os.path.join(tmp, f"F{i:04d}.npy"))
            np.save(paths[-1], x)
        force = mudestreda_force_group(normalize="peak", inputs=())
        src = Source(inputs={"force": [(p,) for p in paths]}, labels=np.zeros(len(paths)),
                     classes=["x"], ids=[Path(p).stem for p in paths])
        results.append(bench("force", src, force, np.load, args.batch_size))

    if args.fsdd_dir.is_dir():
        rows, _ = scan(args.fsdd_dir)
        rows = rows[:args.n_fsdd]
        src = Source(inputs={"audio": [(r[0],) for r in rows]},
                     labels=np.array([r[1] for r in rows]), classes=[str(d) for d in range(10)],
                     ids=[Path(r[0]).stem for r in rows])
        wav = lambda p: sf.read(p, dtype="float32", always_2d=True)[0]  # noqa: E731
        results.append(bench("fsdd", src, audio_group(), wav, args.batch_size))
        if not args.no_16k:
            g16 = audio_group(sample_rate=16_000, length=16_000, n_fft=512, hop=256)
            src16 = Source(inputs={"audio": src.inputs["audio"]}, labels=src.labels,
                           classes=src.classes, ids=src.ids)
            results.append(bench("fsdd_16k", src16, g16, wav, args.batch_size))
    else:
        results.append({"workload": "fsdd", "skipped": f"{args.fsdd_dir} not found"})

    report = {"benchmark": "pipeline", "tensorflow": tf.__version__,
              "machine": {**describe(), "gpu": "none used"},
              "results": results}
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0
