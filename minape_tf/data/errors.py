"""``DataError``: bad input data, and ``reject``: raise it or record a skip.

Its own module so that the readers (:mod:`minape_tf.data.decode`), the validation pass
(:mod:`minape_tf.data.validate`) and the loaders all import it from below, not from each
other.
"""

from __future__ import annotations


class DataError(ValueError):
    """Bad input data; ``problems`` lists ``(file or id, reason)`` for every problem."""

    def __init__(self, message, problems=()):
        super().__init__(message)
        self.problems = list(problems)


def reject(where, problem, skipped, skip_bad):
    """A bad observation found while listing the data: raise a :class:`DataError` naming
    ``where`` (file or row) and ``problem``, or, with ``skip_bad``, record it in
    ``skipped`` (the loader's ``Source.skipped``) and let the caller go on."""
    if not skip_bad:
        raise DataError(f"{where}: {problem}", [(str(where), problem)])
    skipped.append((str(where), problem))
