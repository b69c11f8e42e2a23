"""``minape export``, ``minape predict`` and ``minape adapt``: their flags and entry
functions."""

from __future__ import annotations

import sys

from minape_tf.cli.flags import add_self_train_flags


def add_export_arguments(p):
    p.add_argument("run", help="run folder of `minape train` (or a .keras file)")
    p.add_argument("--format", dest="formats", default="all",
                   choices=("savedmodel", "tflite", "onnx", "all"),
                   help="default all (SavedModel, TFLite and ONNX)")
    p.add_argument("--out", required=True, help="export folder (export.json, files)")
    p.add_argument("--quantize", dest="quantizations", default="float32,float16,dynamic",
                   help="TFLite variants, comma-separated, of float32, float16, dynamic (int8 "
                        "weights), int8 (full integer), int8_mixed (int8 convolutions) and "
                        "int16x8 (int16 activations) (default float32,float16,dynamic: the "
                        "variants that keep the float model's predictions; each file's "
                        "agreement with Keras on the run's held-out data is printed)")
    p.add_argument("--name", help="model name (default: the run folder's name)")
    p.add_argument("--features-in-model", "--features-inside", dest="features_in_model",
                   action="store_true",
                   help="also a TFLite model with the series features inside (raw series "
                        "in; --features-inside is the former spelling)")
    p.add_argument("--select-ops", action="store_true",
                   help="let TFLite use TF Select ops where built-in ones do not suffice "
                        "(the runtime then needs the Flex delegate)")
    p.add_argument("--depthwise", default="tiles",
                   choices=("tiles", "conv", "fft", "matmul", "auto"),
                   help="form of the depthwise convolutions in the TFLite and ONNX files (the "
                        "same outputs): tiles, the fastest in LiteRT; auto keeps the model's "
                        "(default tiles)")
    p.add_argument("--calibration", type=int, default=300,
                   help="training observations that calibrate int8, int8_mixed and int16x8 "
                        "(default 300)")


def export_main(args, config=None) -> int:
    from minape_tf.deploy.exporter import export

    export(args.run, args.out, formats=args.formats, name=args.name,
           quantizations=[q.strip() for q in args.quantizations.split(",") if q.strip()],
           features_in_model=args.features_in_model, select_ops=args.select_ops,
           calibration=args.calibration, depthwise=args.depthwise)
    return 0


def add_predict_arguments(p):
    p.add_argument("model", help="run folder, .keras file or export folder")
    p.add_argument("files", nargs="*", help="files (or folders of files) to classify")
    p.add_argument("--manifest", help="CSV: a column per group (file paths), optional id")
    p.add_argument("--json", action="store_true", help="write a JSON list instead of CSV")
    p.add_argument("--out", help="output file (default: stdout)")
    p.add_argument("--strict", action="store_true",
                   help="stop at unreadable files instead of reporting and skipping them")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--use", help="export folder: savedmodel, onnx or tflite_<variant>, e.g. "
                                 "tflite_int8 (default savedmodel, else tflite_float32)")


def predict_main(args, config=None) -> int:
    """Rows to stdout or ``--out``; skipped files to stderr; exit status 1 when some were
    skipped (the other rows are still written)."""
    from minape_tf.deploy.predictor import predict, write_rows

    rows, skipped, classes = predict(args.model, args.files, manifest=args.manifest,
                                     batch_size=args.batch_size, strict=args.strict,
                                     use=args.use, progress=sys.stderr.isatty(),
                                     say=args.warn)
    write_rows(rows, classes, out=args.out, as_json=args.json)
    for where, reason in skipped:
        print(f"minape predict: skipped {where}: {reason}", file=sys.stderr)
    return 1 if skipped else 0


def add_adapt_arguments(p):
    p.add_argument("model", help="run folder or .keras file")
    p.add_argument("files", nargs="*",
                   help="the new device's files (or folders of files); labels are not read")
    p.add_argument("--manifest", help="CSV: a column per group (file paths)")
    p.add_argument("--out", required=True,
                   help="the adapted model: a .keras file, or a folder (a run folder again)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--strict", action="store_true",
                   help="stop at unreadable files instead of reporting and skipping them")
    add_self_train_flags(p, "also fine-tune the weights on the files, with the model's most "
                           "confident predictions as targets (no labels; needs 5 files per "
                           "class)")
    p.add_argument("--seed", type=int, default=0, help="self-training's shuffling")
    p.add_argument("--batch-size", type=int, default=32)


def adapt_main(args, config=None) -> int:
    """Adapt, say where it went; skipped files to stderr (exit status 1 when some were)."""
    from minape_tf.deploy.adapted import adapt

    info = adapt(args.model, args.files, manifest=args.manifest, out=args.out,
                 batch_size=args.batch_size, strict=args.strict, overwrite=args.overwrite,
                 self_training=args.self_train, seed=args.seed, say=args.warn)
    print(f"adapted to {info['observations']} observations: {args.out}")
    for line in info["skipped"]:
        print(f"minape adapt: skipped {line}", file=sys.stderr)
    return 1 if info["skipped"] else 0


def deploy_commands(sub):
    """``export``, ``predict`` and ``adapt``: the deployment commands."""
    p = sub.add_parser("export", help="export a run as SavedModel (TF Serving layout), TFLite "
                                      "(float32, float16, dynamic, int8...) and ONNX")
    add_export_arguments(p)
    p.set_defaults(handler=export_main)

    p = sub.add_parser("predict", help="classify files with a run or an export folder")
    add_predict_arguments(p)
    p.set_defaults(handler=predict_main)

    p = sub.add_parser("adapt", help="re-estimate a model's batch norms (and equalisation) "
                                     "on a new device's unlabelled files (AdaBN), with "
                                     "--self-train its weights too, for deployment there")
    add_adapt_arguments(p)
    p.set_defaults(handler=adapt_main)
