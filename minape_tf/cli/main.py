"""The ``minape`` command line (also ``python -m minape_tf``).

::

    minape demo                                      train + evaluate on the embedded demo
    minape train    --dataset NAME --data-dir DIR [--preset P | --config FILE] --out RUN
    minape evaluate RUN [--dataset NAME --data-dir DIR] [--split test|val|train|all]
    minape cv       --dataset NAME --data-dir DIR --trials 5 --folds 10 --out DIR
                    [--grouped | --leave-one-group-out] [--ablation modalities|fusion|learner]
                    [--self-train [--balanced]]
    minape tune     --dataset NAME --data-dir DIR --algorithm random|hyperband --out DIR
    minape export | predict | adapt | bench ...

One module per command group (:mod:`~minape_tf.cli.training`, :mod:`~minape_tf.cli.deploy`,
:mod:`~minape_tf.cli.bench`); the flags they share are made in :mod:`~minape_tf.cli.flags`
from where the settings are defined. The parser imports no TensorFlow: ``--help`` and
argument errors are immediate. A command that needs TensorFlow starts it quietly
(:mod:`~minape_tf.cli.startup`); its errors are printed in flag terms
(:mod:`~minape_tf.cli.messages`).
"""

from __future__ import annotations

import argparse
import errno
import sys
import warnings

from minape_tf.cli.bench import bench_command
from minape_tf.cli.deploy import deploy_commands
from minape_tf.cli.flags import UsageError, config_from_args, self_training
from minape_tf.cli.messages import flags_of, for_the_command_line, speaker
from minape_tf.cli.startup import show_tensorflow_logs, start_tensorflow
from minape_tf.cli.training import (cv_command, demo_command, evaluate_command, train_command,
                                    tune_command)
from minape_tf.outputs.atomic import DiskFullError
from minape_tf.outputs.lock import FolderInUse


class _AnyOrder(argparse.ArgumentParser):
    """A command's parser: options before, between and after its positional arguments
    (argparse's intermixed parsing; plain parsing for a command that passes the rest of its
    line on, like ``bench``)."""

    _inside = False

    def parse_known_args(self, args=None, namespace=None):
        passes_on = any(a.nargs in (argparse.PARSER, argparse.REMAINDER)
                        for a in self._get_positional_actions())
        if self._inside or passes_on:
            return super().parse_known_args(args, namespace)
        self._inside = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inside = False


def build_parser():
    parser = argparse.ArgumentParser(
        prog="minape", description="Minape: multimodal isotropic conv net with patch "
                                   "embedding (ICONIP 2023), Keras 3 / TensorFlow")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_AnyOrder)
    for command in (demo_command, train_command, evaluate_command, cv_command,
                    tune_command, deploy_commands, bench_command):
        command(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    flags = flags_of(_command_parser(parser, args.command))
    args.say = speaker(flags)                    # progress lines, on standard output
    args.warn = speaker(flags, f"minape {args.command}: ", sys.stderr)
    with warnings.catch_warnings():
        warnings.showwarning = _warning_line(speaker(flags, "minape: warning: ", sys.stderr))
        return _run(args, flags)


def _run(args, flags) -> int:
    """The command's handler; every error a user can act on as one line naming the file
    (exit status 1; 2 for a command line that cannot run)."""
    try:
        # every setting is checked before TensorFlow starts or any data is read
        config = config_from_args(args) if hasattr(args, "group") else None
        if hasattr(args, "balanced"):
            args.self_train = self_training(args)
        start_tensorflow(show_tensorflow_logs(args))
        return int(args.handler(args, config) or 0)
    except UsageError as error:
        print(f"minape {args.command}: error: {error}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, FileExistsError, FolderInUse, DiskFullError) as error:
        print(f"minape {args.command}: error: {for_the_command_line(str(error), flags)}",
              file=sys.stderr)
        return 1
    except OSError as error:          # read-only, no permission, not a folder, a full disk
        print(f"minape {args.command}: error: {os_error_line(error)}", file=sys.stderr)
        return 1


def os_error_line(error: OSError) -> str:
    """An operating system's error as one line: the path it concerns and what is wrong."""
    where = error.filename or "a file"
    if error.filename2:
        where = f"{where} -> {error.filename2}"
    reason = error.strerror or str(error)
    if error.errno == errno.ENOSPC:
        reason = "no space left on the device"
    return f"{where}: {reason}"


def _warning_line(say):
    """``warnings.showwarning`` for the command line: the message alone, after
    ``minape: warning:``, without the library's source file and line."""
    def show(message, category, filename, lineno, file=None, line=None):
        say(message)

    return show


def _command_parser(parser, command) -> argparse.ArgumentParser:
    """The sub-parser of ``command``."""
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return commands.choices[command]


if __name__ == "__main__":
    sys.exit(main())
