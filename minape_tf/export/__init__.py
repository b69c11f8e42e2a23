"""A trained model that stands alone: SavedModel (TF Serving layout) and TFLite export,
``export.json``, and ``predict`` on files.

``export(run_dir, out_dir)`` writes the files; ``predict(path, files)`` classifies files
with a run folder, a ``.keras`` file or an export folder. TensorFlow only; imported
lazily, so that ``minape_tf.export.cli`` (the command line's flags) does not start it.
"""

_PUBLIC = {"export": "minape_tf.export.exporter", "load_minape": "minape_tf.export.load",
           "predict": "minape_tf.export.predictor"}
__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'minape_tf.export' has no attribute {name!r}")
