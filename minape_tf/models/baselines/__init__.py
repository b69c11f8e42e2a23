"""The paper's baselines (Tables 2-3) behind the same interface as ``build_minape``: ViT
(:mod:`~minape_tf.models.baselines.vit`), SL-ViT (:mod:`~minape_tf.models.baselines.slvit`), TCN
(:mod:`~minape_tf.models.baselines.tcn`), EfficientNetV2-M (:mod:`~minape_tf.models.baselines.efficientnet`),
Mulmix (:mod:`~minape_tf.models.baselines.mulmix`) and EmbraceNet
(:mod:`~minape_tf.models.baselines.embracenet`).

They are registered with Minape in :mod:`minape_tf.models.registry` (``build_model(name, groups,
num_classes, **kwargs)``); every one takes Minape's groups and inputs (a dict keyed by group
name), except that TCN reads the raw series and EfficientNetV2-M the photos only. This package
imports none of them, so that a run imports only the model it builds. See each builder's
docstring for its source and the choices made where the source is vague.
"""
