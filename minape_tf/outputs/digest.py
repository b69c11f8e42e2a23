"""A file's identity by content: the SHA-256 that ``export.json`` and ``run.json`` record for
each model file, checked before the file is used, so that a replaced or changed file is
refused by name instead of read as the one described."""

from __future__ import annotations

import hashlib
import os


def digest(path) -> str:
    """SHA-256 of a file, or of a folder's files (their relative paths and contents, in
    sorted order)."""
    sha = hashlib.sha256()
    paths = [path] if os.path.isfile(path) else sorted(
        os.path.join(root, f) for root, _, names in os.walk(path) for f in names)
    for p in paths:
        if p != path:
            sha.update(os.path.relpath(p, path).encode() + b"\0")
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                sha.update(block)
    return sha.hexdigest()
