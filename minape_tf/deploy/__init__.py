"""Deployment: a trained model that stands alone. Export (SavedModel in the TF Serving
layout, TFLite, ONNX, ``export.json``), ``predict`` on files (device histories included),
``adapt`` to a new device's files.

``export(run_dir, out_dir)`` writes the files; ``predict(path, files)`` classifies files
with a run folder, a ``.keras`` file or an export folder; ``predict_arrays(model, arrays)``
classifies raw arrays with a Keras model; ``adapt(path, files, out=...)``
saves a model adapted to a device. TensorFlow only; imported on first use, so that the
command line's flags (:mod:`minape_tf.cli.deploy`) do not start it.
"""

from minape_tf import lazy_names

__all__ = ["adapt", "export", "predict", "predict_arrays"]
__getattr__, __dir__ = lazy_names(__name__, {
    "export": "minape_tf.deploy.exporter", "predict": "minape_tf.deploy.predictor",
    "adapt": "minape_tf.deploy.adapted", "predict_arrays": "minape_tf.deploy.arrays"})
