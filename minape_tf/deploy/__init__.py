"""Deployment: a trained model that stands alone. Export (SavedModel in the TF Serving
layout, TFLite, ONNX, ``export.json``), ``predict`` on files (device histories included),
``adapt`` to a new device's files, and the three commands' flags.

``export(run_dir, out_dir)`` writes the files; ``predict(path, files)`` classifies files
with a run folder, a ``.keras`` file or an export folder; ``adapt(path, files, out=...)``
saves a model adapted to a device. TensorFlow only; imported
lazily, so that ``minape_tf.deploy.cli`` (the command line's flags) does not start it.
"""

_PUBLIC = {"export": "minape_tf.deploy.exporter", "load_minape": "minape_tf.deploy.load",
           "predict": "minape_tf.deploy.predictor", "adapt": "minape_tf.deploy.adapted"}
__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'minape_tf.deploy' has no attribute {name!r}")
