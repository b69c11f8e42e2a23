"""Library messages in command-line terms: the library names Python arguments
(``overwrite=True``), the command line names the flag a user types (``--overwrite``). This
module is the one place that translates; no library message names a flag."""

from __future__ import annotations

# Python spellings in library messages -> the flag a command-line user types instead.
FLAG_HINTS = {"skip_bad=True": "--skip-bad", "overwrite=True": "--overwrite",
              "allow_duplicates=True": "--allow-duplicates",
              "another folder": "another --out"}


def for_the_command_line(message: str) -> str:
    for python, flag in FLAG_HINTS.items():
        message = message.replace(python, flag)
    return message


def say(message):
    """Print a library's progress line on stdout, its hints in command-line terms."""
    print(for_the_command_line(str(message)))
