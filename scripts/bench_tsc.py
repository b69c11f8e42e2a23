"""Minape with its defaults beside MiniRocket on the UCR / UEA sets of ``../shared/data/ucr``.

For every set, in one run on one machine:

* Minape through the command line, as a newcomer calls it, with no flag beyond
  ``minape train --dataset manifest --data-dir SET/manifest.csv -D sample_rate=100``
  (the settings are inferred; the archive's train split, a stratified tenth of it carved
  out for validation), test accuracy from its ``metrics.json``;
* aeon's ``MiniRocketClassifier`` (Dempster et al. 2021) on the same train and test rows,
  series zero-padded to the longest as Minape pads them.

Prints and writes JSON: accuracy and wall time per set, the mean accuracies and the mean
and largest gap to MiniRocket, the machine. Needs aeon (``pip install -e ".[bench]"`` in its
own environment: aeon pins an older numpy than requirements.txt). ``--extra`` passes more
flags to ``minape train`` (e.g. ``--extra=--min-steps=100`` for a quick look); the
recorded results use none.

    python scripts/bench_tsc.py --out scripts/results/bench_tsc_cpu.json
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

import numpy as np

from minape_tf.evaluation.machine import describe

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "ucr"


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


def minape(manifest, extra, out):
    """Test accuracy and seconds of the newcomer's ``minape train`` on the set."""
    command = [sys.executable, "-m", "minape_tf", "train", "--dataset", "manifest",
               "--data-dir", str(manifest), "-D", "sample_rate=100", "--out", str(out),
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DATA), help="folder of the sets")
    parser.add_argument("--sets", nargs="*", help="set names (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--extra", default="", help="more flags for minape train")
    parser.add_argument("--out", help="write the JSON here")
    args = parser.parse_args(argv)
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
            reference, reference_s = minirocket(manifest, args.seed)
            row = {"set": name, "minape_accuracy": acc, "minape_s": round(seconds, 1),
                   "minirocket_accuracy": reference, "minirocket_s": round(reference_s, 1),
                   "gap": round(acc - reference, 4), "inferred": inferred}
            print(json.dumps(row), flush=True)
            results.append(row)
    gaps = [r["gap"] for r in results]
    summary = {
        "script": "scripts/bench_tsc.py", "extra_flags": args.extra,
        "machine": describe(),
        "sets": results,
        "mean_minape": round(float(np.mean([r["minape_accuracy"] for r in results])), 4),
        "mean_minirocket": round(float(np.mean([r["minirocket_accuracy"] for r in results])), 4),
        "mean_gap": round(float(np.mean(gaps)), 4), "worst_gap": round(min(gaps), 4),
    }
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
