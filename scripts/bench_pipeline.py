"""Throughput of ``make_dataset`` against a librosa loop; see
``minape_tf.bench.pipeline_speed`` (also ``minape bench pipeline``).

    python scripts/bench_pipeline.py [--n-force 96] [--n-fsdd 2500] [--out FILE]
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from minape_tf.bench.pipeline_speed import main

if __name__ == "__main__":
    raise SystemExit(main(["--fsdd-dir", str(ROOT.parent / "shared" / "data" / "fsdd"),
                           *sys.argv[1:]]))
