"""The paper's baselines (Tables 2-3) behind the same interface as ``build_minape``.

``build_model(name, groups, num_classes, **kwargs)`` builds any registered model; every
one takes Minape's groups and inputs (a dict keyed by group name), except that TCN reads
the raw series and EfficientNetV2-M the photos only. See each builder's docstring for its
source and the choices made where the source is vague.
"""

from minape_tf.baselines.efficientnet import build_efficientnet
from minape_tf.baselines.embracenet import Embracement, build_embracenet
from minape_tf.baselines.mulmix import MultiplicativeCombination, build_mulmix
from minape_tf.baselines.registry import (BASELINES, Baseline, build_model, get_baseline,
                                          groups_read_by, model_arguments, reads_raw_series)
from minape_tf.baselines.slvit import (LocalitySelfAttention, ShiftedPatchTokenization,
                                       build_sl_vit)
from minape_tf.baselines.tcn import LastStep, build_tcn
from minape_tf.baselines.vit import PatchEncoder, build_vit

__all__ = ["BASELINES", "Baseline", "build_model", "get_baseline", "groups_read_by",
           "model_arguments", "reads_raw_series", "build_vit", "build_sl_vit", "build_tcn",
           "build_efficientnet", "build_mulmix", "build_embracenet", "PatchEncoder",
           "ShiftedPatchTokenization", "LocalitySelfAttention", "LastStep",
           "MultiplicativeCombination", "Embracement"]
