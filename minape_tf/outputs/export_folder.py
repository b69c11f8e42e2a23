"""``ExportFolder``: the one place that knows an export folder's files and ``export.json``.

::

    export.json                     what the export holds (read and written here only)
    <name>/1/                       SavedModel, TF Serving layout        key savedmodel
    <name>_<variant>.tflite         the model, features outside          key tflite_<variant>
    <name>_head_float32.tflite      a history model's head               key tflite_head
    <name>_<group>_features.tflite  a series group's feature stage       key features_<group>
    <name>_raw_float32.tflite       the model with its features inside   key tflite_raw_float32
    <name>.onnx                     the model, features outside          key onnx
    <name>_head.onnx                a history model's head               key onnx_head
    <name>_<group>_features.onnx    a series group's feature stage       key onnx_features_<group>

``export.json`` (``"format": "minape-export"``, :data:`VERSION`; its JSON Schema is
``export_schema.json`` beside this module) holds ``name``, ``classes``, ``groups`` (their
configs), ``sequence_length``, the SavedModel's request ``inputs``, each group's
``preprocessing`` and a ``glossary`` of the group settings
(:mod:`minape_tf.deploy.contract`), and ``files``: per key the file's ``path`` (relative to
the folder), ``role`` (model, head, features), ``format``, size in ``bytes``, ``sha256`` and
what its writer adds (tensors, TFLite operators, ``features`` inside / outside, agreement
with Keras). It is written last, after every file: a folder without it is an unfinished
export. A file whose size or digest differs from its entry is refused when it is read.
"""

from __future__ import annotations

import contextlib
import json
import os

from minape_tf.data.errors import DataError
from minape_tf.outputs.atomic import size_of, write_bytes, write_json
from minape_tf.outputs.digest import digest
from minape_tf.outputs.ownership import claim

DESCRIPTION = "export.json"
SCHEMA = os.path.join(os.path.dirname(__file__), "export_schema.json")
FORMAT, VERSION = "minape-export", 1
REQUIRED = ("files", "groups", "classes")
# part -> (key in export.json's files, file name, role, format); filled with name, variant
# and group.
LAYOUT = {
    "savedmodel": ("savedmodel", "{name}", "model", "savedmodel"),
    "tflite": ("tflite_{variant}", "{name}_{variant}.tflite", "model", "tflite"),
    "tflite_head": ("tflite_head", "{name}_head_float32.tflite", "head", "tflite"),
    "tflite_features": ("features_{group}", "{name}_{group}_features.tflite", "features",
                        "tflite"),
    "tflite_raw": ("tflite_raw_float32", "{name}_raw_float32.tflite", "model", "tflite"),
    "onnx": ("onnx", "{name}.onnx", "model", "onnx"),
    "onnx_head": ("onnx_head", "{name}_head.onnx", "head", "onnx"),
    "onnx_features": ("onnx_features_{group}", "{name}_{group}_features.onnx", "features",
                      "onnx"),
}
# Keys of files that are not a model a predictor runs on the pipeline's features.
NOT_MODELS = ("tflite_raw_float32", "tflite_head", "onnx_head")
# Keys that run the model (``--use``), in the order a predictor prefers them.
PREFERRED = ("savedmodel", "tflite_float32")


def layout(part, name, **fields) -> tuple:
    """``(key, file name)`` of the file of ``part`` (see :data:`LAYOUT`)."""
    key, filename = LAYOUT[part][:2]
    return key.format(name=name, **fields), filename.format(name=name, **fields)


def _exported(folder, entry) -> bool:
    """Whether ``entry`` of ``folder`` is a file an export writes (a killed export's)."""
    path = os.path.join(folder, entry)
    if os.path.isdir(path):
        return any("saved_model.pb" in names for _, _, names in os.walk(path))
    return entry.endswith((".tflite", ".onnx"))


def model_keys(files) -> list:
    """The keys of ``files`` (export.json's) that a predictor can run."""
    return [k for k in files if k in ("savedmodel", "onnx")
            or k.startswith("tflite_") and k not in NOT_MODELS]


def head_key(use) -> str:
    """The key of the head file that goes with model file ``use``."""
    return "onnx_head" if use == "onnx" else "tflite_head"


class ExportFolder:
    """The files of one export folder: writing them (:meth:`write`, :meth:`describe`) and
    reading them back, checked (:meth:`read`, :meth:`path_of`)."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self.description = os.path.join(self.path, DESCRIPTION)

    def __repr__(self):
        return f"ExportFolder({self.path!r})"

    def described(self) -> bool:
        """Whether the folder holds an ``export.json`` (a finished export)."""
        return os.path.isfile(self.description)

    def unfinished(self) -> bool:
        """Whether the folder holds exported files but no ``export.json``."""
        return os.path.isdir(self.path) and not self.described() and any(
            f.endswith((".tflite", ".onnx")) or f == "saved_model.pb"
            for _, _, names in os.walk(self.path) for f in names)

    def claim(self):
        """Refuse (``FileExistsError``, naming what is there) a path that is a file, or a
        folder that is neither new, empty, an export folder nor an unfinished export."""
        claim(self.path, DESCRIPTION, unfinished=_exported)

    def forget(self):
        """Remove ``export.json`` before files are replaced, so that a killed export
        leaves no description of files it did not finish."""
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.description)

    def write(self, part, content, name, extra=None, **fields) -> tuple:
        """Write the file of ``part`` (bytes ``content``); ``(key, entry)`` for
        export.json's ``files``: path, role, format, size, digest, the variant or group
        it is of (``fields``), and ``extra``."""
        extra = extra or {}
        key, filename = layout(part, name, **fields)
        write_bytes(os.path.join(self.path, filename), content)
        return key, {**self.entry(part, filename, **fields), **extra}

    def entry(self, part, relative, **fields) -> dict:
        """export.json's entry of the written file (or folder) ``relative``."""
        path = os.path.join(self.path, relative)
        role, kind = LAYOUT[part][2:]
        return {"path": relative, "role": role, "format": kind, **fields,
                "bytes": size_of(path), "sha256": digest(path)}

    def savedmodel_path(self, name) -> str:
        """The folder TF Serving serves: ``DIR/<name>`` (versions inside)."""
        return os.path.join(self.path, layout("savedmodel", name)[1])

    def describe(self, described: dict) -> dict:
        """Write ``export.json`` (last: it says the export is complete), with its format
        and version first; returns what it wrote."""
        described = {"format": FORMAT, "version": VERSION, **described}
        write_json(self.description, described)
        return described

    def read(self) -> dict:
        """``export.json``, refused by name when it is not what an export writes."""
        try:
            with open(self.description, encoding="utf-8") as f:
                info = json.load(f)
            missing = [k for k in REQUIRED if k not in info]
        except (ValueError, TypeError) as exc:
            raise DataError(f"{self.description}: corrupt ({exc}); run `minape export` "
                            "again") from exc
        if missing:
            raise DataError(f"{self.description}: corrupt, without {missing}; run "
                            "`minape export` again")
        if info.get("version", VERSION) > VERSION:
            raise DataError(f"{self.description}: version {info['version']} of the export "
                            f"format; this minape-tf reads up to {VERSION}: update it")
        return info

    def path_of(self, info, key) -> str:
        """The path of file ``key`` that ``info`` (export.json) lists, which must exist."""
        if key not in info["files"]:
            raise DataError(f"{self.description}: no {key!r} file, which this model's export "
                            "holds; run `minape export` again")
        entry = info["files"][key]
        target = os.path.join(self.path, entry["path"])
        if not os.path.exists(target):
            raise FileNotFoundError(f"{target}: listed in {self.description} but missing; "
                                    "run `minape export` again")
        if "sha256" in entry and digest(target) != entry["sha256"]:
            raise DataError(f"{target}: not the file {self.description} describes (its "
                            "SHA-256 differs: replaced or changed since the export); run "
                            "`minape export` again")
        return target
