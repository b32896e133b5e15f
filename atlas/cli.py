"""Command line: ``python -m atlas <command> ...``.

Each command lives in ``atlas/commands/<name>.py`` and exposes ``add_parser(subparsers)`` (which registers
its sub-parser and sets ``func``) -- so commands are added without touching this file's logic.
Errors that are the user's (bad values, malformed CSVs, unknown presets) are ``ValueError`` subclasses;
they are printed as one line ``error: ...`` and the process exits with status 2 before any work starts.
Argument errors found by argparse are printed as one line too.

Start-up stays fast (``--help`` and argument errors in well under a second): the command modules import
only the standard library at module level; numpy, pandas, scipy and torch are imported by the work itself.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Callable, NoReturn

COMMANDS = ["fit", "plan", "bts", "stats", "grid", "bench"]
#: Optional dependencies -> the extra that installs them (the base install is the book's).
EXTRAS = {"torch": "train", "accelerate": "train", "transformers": "bench", "datasets": "hub",
          "submitit": "cluster"}


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line and whose help may be completed lazily (:func:`lazy_help`)."""

    help_hooks: list[Callable[[argparse.ArgumentParser], None]]

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")

    def format_help(self) -> str:
        for hook in getattr(self, "help_hooks", []):
            hook(self)  # texts that need a heavy import (law tables, paper constants) are filled in here
        return super().format_help()


def lazy_help(parser: argparse.ArgumentParser, hook: Callable[[argparse.ArgumentParser], None]) -> None:
    """Run ``hook(parser)`` just before ``parser``'s help is printed (never when parsing arguments)."""
    parser.help_hooks = [*getattr(parser, "help_hooks", []), hook]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m atlas", description=__doc__.splitlines()[0])
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
    except (ValueError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if top not in EXTRAS:
            raise
        print(f"error: `{args.command}` needs {top}, which the base install (the book's) leaves out; "
              f"install the extra: pip install -e '.[{EXTRAS[top]}]' (or `make setup` for every extra)",
              file=sys.stderr)
        return 2


def _one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (an OSError names its file: ``[Errno 21] Is a directory: 'x'``)."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        text = f"{exc.filename}: {exc.strerror.lower()}"
    else:
        text = str(exc)
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
