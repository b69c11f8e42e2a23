"""Library messages in command-line terms: the library names Python arguments
(``overwrite=True``, ``patch_size=4``, ``groups.force.hop=64``), the command line names the
flag a user types instead (``--overwrite``, ``--patch-size 4``, ``--group force.hop=64``).
This module is the one place that translates, from the command's own parser: an argument
is translated where the command has a flag of that name."""

from __future__ import annotations

import argparse
import re
import sys

from minape_tf.cli.flags import CONFIG_DEST, MODEL_DEST

# Phrases of library messages that are no argument of the command.
PHRASES = {"another folder": "another --out"}
_GROUP_SETTING = re.compile(r"(?<![\w.])groups\.(\w+)\.(\w+)=")
_QUOTED = r"""('([^']*)'|"([^"]*)"|(?=\S))"""


def flags_of(parser: argparse.ArgumentParser) -> dict:
    """``{Python argument name: (flag, takes no value)}`` of ``parser``'s options."""
    flags = {}
    for action in parser._actions:
        long = [o for o in action.option_strings if o.startswith("--")]
        if not long or action.dest in ("help", argparse.SUPPRESS):
            continue
        name = action.dest
        for prefix in (MODEL_DEST, CONFIG_DEST):
            name = name[len(prefix):] if name.startswith(prefix) else name
        switch = isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction))
        flags.setdefault(name, (long[0], switch))
    return flags


def for_the_command_line(message: str, flags: dict) -> str:
    """``message`` with each ``name=value`` of an argument in ``flags`` (from
    :func:`flags_of`) written as its flag, ``name=True`` of a switch as the bare flag."""
    message = _GROUP_SETTING.sub(r"--group \1.\2=", str(message))
    for name, (flag, switch) in flags.items():
        if switch:
            message = re.sub(rf"(?<![\w.-]){name}=True\b", flag, message)
        else:
            message = re.sub(rf"(?<![\w.-]){name}={_QUOTED}",
                             lambda m: f"{flag} {m.group(2) or m.group(3) or ''}", message)
    for phrase, flag_phrase in PHRASES.items():
        message = message.replace(phrase, flag_phrase)
    return message


def speaker(flags: dict, prefix: str = "", stream=None):
    """``say(line)``: print a library's line in command-line terms (on ``stream``,
    default standard output; after ``prefix``)."""
    def say(line):
        print(prefix + for_the_command_line(str(line), flags), file=stream or sys.stdout)

    return say
