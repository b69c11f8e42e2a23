"""The paper's ablations as lists of variants: a name, config changes and table cells.

* ``modalities`` (Table 3): image only (i), time series only (t), both (m).
* ``fusion`` (Table 4, "Fusion" rows): concat (the base), add, multiply, average,
  attention, without a prime learner, then Table 4's attention + TCN row (TempMixer).
* ``learner`` (Table 4, "Learner" rows): none (the base), GRU, LSTM, TempMixer (TCN).
"""

from __future__ import annotations

ABLATIONS = ("none", "modalities", "fusion", "learner")
# How Table 4 names the prime learners.
LEARNER_CELLS = {"none": "×", "gru": "GRU", "lstm": "LSTM", "tempmixer": "TCN"}


def variants(ablation: str, config) -> list:
    """The variants of ``ablation`` for a base ``config`` (a ``TrainConfig``).

    Returns
    -------
    list of dict
        ``{"name", "changes" (TrainConfig fields), "cells" (table cells)}``; the first is
        the base row.
    """
    kwargs = config.model_arguments()
    fusion = kwargs.get("fusion", "concat")
    learner = kwargs.get("learner", "none")
    if ablation in (None, "none"):
        return [{"name": "base", "changes": {},
                 "cells": {"fusion": fusion, "learner": learner, "label": "base"}}]
    if ablation == "modalities":
        return [
            {"name": "image", "changes": {"modalities": "image"},
             "cells": {"modality": "i", "fusion": "-"}},
            {"name": "series", "changes": {"modalities": "series"},
             "cells": {"modality": "t", "fusion": "-"}},
            {"name": "multimodal", "changes": {"modalities": "all"},
             "cells": {"modality": "m", "fusion": fusion.capitalize()}},
        ]
    if ablation == "fusion":
        rows = [(f, "none") for f in ("concat", "add", "multiply", "average", "attention")]
        rows.append(("attention", "tempmixer"))
        return [{"name": f"fusion-{f}" + ("" if l == "none" else f"-{l}"),
                 "changes": {"model": {"fusion": f, "learner": l}},
                 "cells": {"label": "Base" if f == "concat" else "Fusion",
                           "fusion": f.capitalize(), "learner": LEARNER_CELLS[l]}}
                for f, l in rows]
    if ablation == "learner":
        return [{"name": f"learner-{l}", "changes": {"model": {"learner": l}},
                 "cells": {"label": "Base" if l == "none" else "Learner",
                           "fusion": fusion.capitalize(), "learner": LEARNER_CELLS[l]}}
                for l in ("none", "gru", "lstm", "tempmixer")]
    raise ValueError(f"ablation={ablation!r}; expected one of {ABLATIONS}")
