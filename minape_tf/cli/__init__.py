"""The ``minape`` command line: :func:`~minape_tf.cli.main.main` (the console script and
``python -m minape_tf``)."""

from minape_tf.cli.main import main

__all__ = ["main"]
