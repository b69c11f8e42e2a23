"""Starting TensorFlow for a command that needs it, quietly: its C++ logging off and the
lines it writes to the process's standard error while starting held back, printed only if
starting fails (``--verbose`` alone, or ``TF_CPP_MIN_LOG_LEVEL`` below 3, shows them)."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

from minape_tf.cli.flags import BARE_VERBOSE


def show_tensorflow_logs(args) -> bool:
    """TensorFlow's start-up logging is shown with a bare ``--verbose``, or when the
    environment asks for some of it (``TF_CPP_MIN_LOG_LEVEL`` below 3)."""
    return (os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3") != "3"
            or getattr(args, "verbose", None) == BARE_VERBOSE)


def start_tensorflow(show_logs=False):
    """Import TensorFlow and let it find its devices; unless ``show_logs``, with its C++
    logging off (``TF_CPP_MIN_LOG_LEVEL=3``) and the lines it writes to the process's
    standard error while starting (CUDA probing, absl notices) held back, and printed only
    if starting fails. Nothing of ours runs meanwhile, so none of our warnings is hidden."""
    if not show_logs:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    with (contextlib.nullcontext(_Held()) if show_logs else _held_stderr()) as held:
        try:
            import tensorflow as tf
            tf.config.list_physical_devices()
        except BaseException:
            held.failed = True
            raise


class _Held:
    failed = False


@contextlib.contextmanager
def _held_stderr():
    """Point file descriptor 2 at a temporary file for the block; replay it on failure."""
    held = _Held()
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):          # no real stderr (some notebooks): nothing to hold
        yield held
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield held
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if held.failed:
                sink.seek(0)
                sys.stderr.write(sink.read().decode(errors="replace"))
