"""Minape against the paper's baselines (Table 3's columns); see
``minape_tf.bench.model_speed`` (also ``minape bench models``).

    python scripts/bench_models.py [--models minape,vit,...] [--json PATH]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minape_tf.bench.model_speed import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
