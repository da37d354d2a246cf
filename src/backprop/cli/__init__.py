"""The ``backprop`` command line (also ``python -m backprop``): ``backprop train ...`` trains an image
classifier, (``--task detect``) a detector, (``--task sentiment``) a sentence classifier or
(``--task translate``) a translator; ``backprop predict ...`` draws a detector's boxes on images or runs a
language model on sentences; ``backprop export ...`` writes a detector as ONNX."""

from __future__ import annotations

import sys

USAGE = "usage: backprop {train,predict,export} [options]   (backprop COMMAND --help for the options)"


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        argv = ["train"]
    command, rest = argv[0], argv[1:]
    if command in ("-h", "--help"):
        print(USAGE)
        return 0
    if command == "train":
        from .train import main as train_main

        return train_main(rest)
    if command == "predict":
        from .predict import predict_main

        return predict_main(rest)
    if command == "export":
        from .predict import export_main

        return export_main(rest)
    print(f"backprop: error: unknown command '{command}'. {USAGE}", file=sys.stderr)
    return 2
