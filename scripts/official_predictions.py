"""The authors' checkpoint on the nine Mudestreda sample observations, two preparations.

Loads ``../shared/data/official/spec_aug_tool_opt.h5`` with
:func:`minape_tf.models.official.load_checkpoint` and predicts every observation of
``../shared/data/mudestreda-sample`` (all three splits) from

* ``authors``: :func:`minape_tf.models.official.authors_spec_images` (BGR, OpenCV bicubic, divided
  by the maximum, their ``(3N, S, S, 3) -> (N, S, S, 9)`` reshape), as their notebooks fed
  the model; the maximum is taken per split, as their ``read_specs`` was called per split;
* ``ours``: :func:`minape_tf.data.mudestreda` + ``model_dataset`` (RGB, antialiased bilinear,
  divided by 255, stacked pixel by pixel), as ``minape train`` feeds a model.

Prints JSON: per observation the label and, per preparation, the predicted class and the
probabilities; and the accuracy of each preparation.

    python scripts/official_predictions.py [--data DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def main():
    from minape_tf.data import mudestreda
    from minape_tf.models.inputs import ModelInputs, model_dataset
    from minape_tf.models.official import CLASSES, authors_spec_images, load_checkpoint

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    args = parser.parse_args()
    model = load_checkpoint(args.data / "official" / "spec_aug_tool_opt.h5")
    source, groups, splits = mudestreda(args.data / "mudestreda-sample", forces="off")
    if list(source.classes) != list(CLASSES):
        raise SystemExit(f"sample classes {source.classes}, checkpoint classes {CLASSES}")
    spec = next(g for g in groups if g.name == "spec")
    rows, correct = [], {"authors": 0, "ours": 0}
    for split, index in splits.items():
        part = source.subset(index, [spec])
        authors = authors_spec_images(*zip(*(items for items in part.inputs["spec"])))
        ds = model_dataset(part, ModelInputs((spec,)), batch_size=len(part))
        ours = next(iter(ds))[0]["spec"].numpy()
        probabilities = {"authors": model.predict({"spec": authors}, verbose=0),
                         "ours": model.predict({"spec": ours}, verbose=0)}
        for k, ident in enumerate(part.ids):
            row = {"id": ident, "split": split, "label": CLASSES[part.labels[k]]}
            for name, p in probabilities.items():
                predicted = int(np.argmax(p[k]))
                correct[name] += predicted == part.labels[k]
                row[name] = {"class": CLASSES[predicted],
                             "probabilities": [round(float(v), 4) for v in p[k]]}
            rows.append(row)
    print(json.dumps({"checkpoint": "spec_aug_tool_opt.h5", "classes": list(CLASSES),
                      "accuracy": {k: round(v / len(rows), 3) for k, v in correct.items()},
                      "observations": rows}, indent=1))


if __name__ == "__main__":
    main()
