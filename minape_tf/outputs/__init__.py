"""How outputs are written: atomically (:mod:`~minape_tf.outputs.atomic`), by one process
per folder (:mod:`~minape_tf.outputs.lock`)."""
