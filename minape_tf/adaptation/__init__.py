"""Adapting a trained model to a new device without labels: batch-norm statistics
(:mod:`~minape_tf.adaptation.batchnorm`, :mod:`~minape_tf.adaptation.statistics`), the
device's frequency response (:mod:`~minape_tf.adaptation.frequency_response`), self-training
(:mod:`~minape_tf.adaptation.self_training`), and all of it per group of an evaluation
(:mod:`~minape_tf.adaptation.per_group`)."""
