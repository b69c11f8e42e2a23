"""Minape with its defaults beside MiniRocket on the UCR / UEA sets of ``../shared/data/ucr``.

For every set, in one run on one machine:

* Minape through the command line, as a newcomer calls it, with no flag beyond
  ``minape train --dataset manifest --data-dir SET/manifest.csv -D sample_rate=100``
  (the settings are inferred; the archive's train split, a stratified tenth of it carved
  out for validation), test accuracy from its ``metrics.json``;
* with ``--ensemble N``, the same command with ``--ensemble N`` (one saved model averaging
  N members: ``build_minape(ensemble=N)``);
* aeon's ``MiniRocketClassifier`` (Dempster et al. 2021) on the same train and test rows,
  series zero-padded to the longest as Minape pads them; or, with ``--reference FILE``,
  its accuracy and seconds read from an earlier JSON of this script (MiniRocket with
  ``random_state=seed`` gives the same predictions on the same rows, so only its seconds
  are then from another run; the JSON names the file).

and, with ``--fsdd``, in the same table the other regime, long fast series: the Free
Spoken Digits (``../shared/data/fsdd``) with speaker theo held out, Minape with
the CLI defaults (``minape train --dataset fsdd --data-dir FSDD``: the other four speakers,
a tenth of them validating) and MiniRocket trained on all four speakers' recordings
(trimmed or zero-padded to Minape's 8,000 samples), on the raw waveforms and peak-normalised as
Minape's pipeline normalises them. The FSDD row is not in the means.

Prints and writes JSON: accuracy and wall time per set, the mean accuracies and the mean
and largest gap to MiniRocket (the single model's, and the ensemble's), the FSDD row, the
machine and the commit. Needs aeon (``pip install -e ".[bench]"`` in its
own environment: aeon pins an older numpy than requirements.txt). ``--extra`` passes more
flags to ``minape train`` (e.g. ``--extra=--min-steps=100`` for a quick look); the
recorded results use none.

    python scripts/bench_tsc.py --fsdd --out scripts/results/bench_tsc_cpu.json
    python scripts/bench_tsc.py --ensemble 3 --reference scripts/results/bench_tsc_cpu.json
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_common
import numpy as np

from minape_tf.evaluation.machine import describe

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "ucr"
FSDD = ROOT.parent / "shared" / "data" / "fsdd"
FSDD_TEST = "theo"


def _rows(manifest):
    with open(manifest, newline="") as f:
        return list(csv.DictReader(f))


def _arrays(manifest, rows):
    series = [np.load(manifest.parent / r["series"]).astype(np.float64) for r in rows]
    longest = max(len(s) for s in series)
    x = np.zeros((len(series), series[0].shape[1], longest))
    for i, s in enumerate(series):
        x[i, :, :len(s)] = s.T
    return x, np.array([r["label"] for r in rows])


def minirocket(manifest, seed):
    """Test accuracy and seconds of aeon's MiniRocketClassifier on the archive split."""
    from aeon.classification.convolution_based import MiniRocketClassifier

    rows = _rows(manifest)
    x, y = _arrays(manifest, rows)
    train = np.array([r["split"] == "train" for r in rows])
    start = time.perf_counter()
    model = MiniRocketClassifier(random_state=seed).fit(x[train], y[train])
    accuracy = float((model.predict(x[~train]) == y[~train]).mean())
    return accuracy, time.perf_counter() - start


def minirocket_fsdd(folder, seed):
    """MiniRocket's accuracy on speaker theo (raw, peak-normalised) and seconds (both fits)."""
    import soundfile
    from aeon.classification.convolution_based import MiniRocketClassifier

    from minape_tf.data.loaders.fsdd import audio_group, fsdd_splits, scan

    rows, _ = scan(folder)
    paths, y, speakers, indices = map(np.asarray, zip(*rows))
    length = audio_group().length            # Minape's: trimmed or zero-padded to it
    x = np.zeros((len(rows), 1, length))
    for i, path in enumerate(paths):
        wave = soundfile.read(path, dtype="float32")[0][:length]
        x[i, 0, :len(wave)] = wave
    test = np.zeros(len(rows), bool)
    test[fsdd_splits(y, speakers, indices, test_speakers=(FSDD_TEST,))["test"]] = True
    peak = np.maximum(np.abs(x).max(axis=2, keepdims=True), 1e-9)
    start, out = time.perf_counter(), {}
    for key, data in (("raw", x), ("peak", x / peak)):
        model = MiniRocketClassifier(random_state=seed).fit(data[~test], y[~test])
        out[key] = float((model.predict(data[test]) == y[test]).mean())
    return out, time.perf_counter() - start


def minape(data_dir, extra, out, dataset=("manifest", "-D", "sample_rate=100")):
    """Test accuracy, seconds and inferred settings of the newcomer's ``minape train`` on
    ``data_dir`` (a set's manifest, or with ``dataset=("fsdd",)`` the FSDD folder)."""
    name, *options = dataset
    command = [sys.executable, "-m", "minape_tf", "train", "--dataset", name,
               "--data-dir", str(data_dir), *options, "--out", str(out),
               "--verbose", "0", *extra]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{shlex.join(command)} failed:\n{done.stdout[-2000:]}"
                         f"{done.stderr[-2000:]}")
    metrics = json.loads((Path(out) / "metrics.json").read_text())
    run = json.loads((Path(out) / "run.json").read_text())
    return float(metrics["accuracy"]), seconds, run.get("inferred_settings", [])


def _fsdd_row(args, recorded, out):
    """The long-series row: Minape and MiniRocket on FSDD with speaker theo held out."""
    acc, seconds, _ = minape(args.fsdd, shlex.split(args.extra), out, dataset=("fsdd",))
    if recorded is None:
        reference, reference_s = minirocket_fsdd(args.fsdd, args.seed)
    else:
        reference = {"raw": recorded["minirocket_raw_accuracy"],
                     "peak": recorded["minirocket_accuracy"]}
        reference_s = recorded["minirocket_s"]
    row = {"set": f"fsdd (speaker {FSDD_TEST} held out)", "minape_accuracy": acc,
           "minape_s": round(seconds, 1), "minirocket_accuracy": reference["peak"],
           "minirocket_raw_accuracy": reference["raw"], "minirocket_s": round(reference_s, 1),
           "gap": round(acc - reference["peak"], 4)}
    print(json.dumps(row), flush=True)
    return row


def _mean(rows, key):
    return round(float(np.mean([r[key] for r in rows])), 4)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DATA), help="folder of the sets")
    parser.add_argument("--sets", nargs="*", help="set names (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--extra", default="", help="more flags for minape train")
    parser.add_argument("--ensemble", type=int, default=0,
                        help="also train an ensemble of this many members per set")
    parser.add_argument("--reference", help="MiniRocket's figures from this earlier JSON")
    parser.add_argument("--fsdd", nargs="?", const=str(FSDD), default=None,
                        help="add the long-series row: FSDD from this folder (no value: "
                             "the shared one)")
    parser.add_argument("--out", help="write the JSON here")
    args = parser.parse_args(argv)
    earlier = json.loads(Path(args.reference).read_text()) if args.reference else None
    recorded = {r["set"]: r for r in earlier["sets"]} if earlier else None
    recorded_fsdd = earlier.get("fsdd") if earlier else None
    if earlier and args.fsdd and not recorded_fsdd:
        raise SystemExit(f"{args.reference}: no FSDD row (leave --fsdd out, or measure "
                         "MiniRocket on FSDD here)")
    if args.fsdd and not Path(args.fsdd).is_dir():
        raise SystemExit(f"{args.fsdd}: no such folder (the FSDD recordings)")
    data = Path(args.data)
    if not data.is_dir():
        raise SystemExit(f"{data}: no such folder (the shared data sets)")
    names = args.sets or sorted(p.name for p in data.iterdir() if (p / "manifest.csv").is_file())
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            manifest = data / name / "manifest.csv"
            acc, seconds, inferred = minape(manifest, shlex.split(args.extra),
                                            Path(tmp) / name)
            if recorded is None:
                reference, reference_s = minirocket(manifest, args.seed)
            elif name not in recorded:
                raise SystemExit(f"{args.reference}: no row for the set {name!r}")
            else:
                reference = recorded[name]["minirocket_accuracy"]
                reference_s = recorded[name]["minirocket_s"]
            row = {"set": name, "minape_accuracy": acc, "minape_s": round(seconds, 1),
                   "minirocket_accuracy": reference, "minirocket_s": round(reference_s, 1),
                   "gap": round(acc - reference, 4), "inferred": inferred}
            if args.ensemble > 1:
                acc, seconds, _ = minape(manifest, [*shlex.split(args.extra), "--ensemble",
                                                    str(args.ensemble)],
                                         Path(tmp) / f"{name}_ensemble")
                row.update(minape_ensemble_accuracy=acc,
                           minape_ensemble_s=round(seconds, 1),
                           ensemble_gap=round(acc - reference, 4))
            print(json.dumps(row), flush=True)
            results.append(row)
        fsdd = _fsdd_row(args, recorded_fsdd, Path(tmp) / "fsdd") if args.fsdd else None
    gaps = [r["gap"] for r in results]
    summary = {
        "script": "scripts/bench_tsc.py", "extra_flags": args.extra,
        "machine": describe(), "commit": bench_common.commit(),
        "minirocket_from": args.reference,
        "sets": results,
        "mean_minape": _mean(results, "minape_accuracy"),
        "mean_minirocket": _mean(results, "minirocket_accuracy"),
        "mean_gap": round(float(np.mean(gaps)), 4), "worst_gap": round(min(gaps), 4),
        "fsdd": fsdd,
    }
    if args.ensemble > 1:
        summary.update(ensemble=args.ensemble,
                       mean_minape_ensemble=_mean(results, "minape_ensemble_accuracy"),
                       worst_ensemble_gap=min(r["ensemble_gap"] for r in results))
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
