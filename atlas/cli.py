"""Command line: ``python -m atlas <command> ...``.

Each command lives in ``atlas/commands/<name>.py`` and exposes ``add_parser(subparsers)`` (which registers
its sub-parser and sets ``func``) -- so commands are added without touching this file's logic.
Errors that are the user's (bad values, malformed CSVs, unknown presets) are ``ValueError`` subclasses;
they are printed as one line ``error: ...`` and the process exits with status 2 before any work starts.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ["fit", "plan", "bts", "stats", "grid", "bench"]
#: Optional dependencies -> the extra that installs them (the base install is the book's).
EXTRAS = {"torch": "train", "accelerate": "train", "transformers": "bench", "datasets": "hub"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m atlas", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"atlas.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"atlas.commands.{name}":
                continue  # command not built yet
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if top not in EXTRAS:
            raise
        print(f"error: `{args.command}` needs {top}, which the base install (the book's) leaves out; "
              f"install the extra: pip install -e '.[{EXTRAS[top]}]' (or `make setup` for every extra)",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
