"""Print each preset's parameter count and saved ``.keras`` size (without and with AdamW's
state, the paper's kind of size) as JSON.

Every preset is built for the Mudestreda groups (tool photo 256x256x3 and the three force
axes as log-Mel spectrograms, 291 frames x 64 mels) and 3 classes, except
``mudestreda-dagger``, whose photo is 64x64 (no patches: full-resolution blocks), and
``mudestreda-official``, built on the authors' checkpoint's one input (the three spectrogram
images, 256x256x9).

    python scripts/preset_sizes.py [--skip-backbones]
"""

import argparse
import json
import os
import tempfile

from minape_tf import ImageGroup, build_minape, presets
from minape_tf.evaluation.evaluate import size_mb_with_optimizer
from minape_tf.data.loaders.mudestreda import mudestreda_force_group
from minape_tf.models.official import SPEC_GROUP

GROUPS = [ImageGroup("tool", channels=3, size=(256, 256)), mudestreda_force_group()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-backbones", action="store_true",
                        help="leave out Minape-S (EfficientNetV2-M, slow to build and save)")
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, preset in presets.items():
            if args.skip_backbones and preset.get("backbone"):
                continue
            groups = {"mudestreda-dagger": [GROUPS[0].replace(size=(64, 64)), GROUPS[1]],
                      "mudestreda-official": [SPEC_GROUP]}.get(name, GROUPS)
            model = build_minape(groups, 3, **preset)
            path = os.path.join(tmp, f"{name}.keras")
            model.save(path)
            rows[name] = {"params": model.count_params(),
                          "paper_params": preset.paper_params,
                          "keras_mb": round(os.path.getsize(path) / 2**20, 2),
                          "keras_mb_with_optimizer": round(
                              size_mb_with_optimizer(path) * 1e6 / 2**20, 2),
                          "paper_row": preset.paper_row}
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
