"""The ``backprop`` command line: ``backprop train ...`` (also ``python -m backprop``)."""

from __future__ import annotations

import sys

USAGE = "usage: backprop train [options]   (backprop train --help for the options)"


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
    print(f"backprop: error: unknown command '{command}'. {USAGE}", file=sys.stderr)
    return 2
