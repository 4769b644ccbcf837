"""The `micronas` command. Bad input ends with one line on stderr and exit code 2, never a traceback.

Each area registers its own subcommands; heavy packages (TensorFlow, Ray) are imported only inside
the commands that need them, so `micronas --help` and the LUT commands start fast.
"""

from __future__ import annotations

import argparse
import json
import sys

from lut_store import InputError

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, like every other bad input
        raise InputError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    from . import (_data_commands, _lut_commands, _profile_commands, _report_commands,
                   _search_commands, _status_commands, _submit_commands, _sweep_commands)

    parser = _Parser(prog="micronas", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    _lut_commands.register(sub)
    _search_commands.register(sub)
    _sweep_commands.register(sub)
    _status_commands.register(sub)
    _report_commands.register(sub)
    _submit_commands.register(sub)
    _profile_commands.register(sub)
    _data_commands.register(sub)
    return parser


def positive_int(text: str) -> int:
    """argparse type: a whole number above 0 (a bad one is the parser's one-line error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def emit(obj, as_json: bool, human=None) -> None:
    """Print a result as JSON (for machines) or via `human` (for people)."""
    if as_json or human is None:
        print(json.dumps(obj, indent=2, sort_keys=False, default=_jsonable))
    else:
        human(obj)


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return int(args.run(args) or 0)
    except InputError as exc:
        print(f"micronas: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("micronas: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
