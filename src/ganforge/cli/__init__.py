"""The ``ganforge`` command: one module per verb, each owning its arguments and a thin ``run(args)`` that
calls the library; this module builds the parser from them and dispatches.

Every user mistake surfaces as one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from ganforge.cli import data, export, generate, info, lab, presets, serve, train
from ganforge.cli import eval as eval_
from ganforge.errors import GanforgeError

# verb -> its module, in the order ``ganforge --help`` lists them
COMMANDS = {"train": train, "presets": presets, "generate": generate, "eval": eval_, "info": info, "data": data,
            "serve": serve, "export": export, "lab": lab}


def build_parser() -> argparse.ArgumentParser:
    from ganforge.version import __version__

    ap = argparse.ArgumentParser(prog="ganforge", description="Train GANs on images from one command.")
    ap.add_argument("--version", action="version", version=f"ganforge {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS.values():
        module.add_parser(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # key=value settings may stand anywhere among the options of the commands that take them
    module = COMMANDS.get(args.command)
    takes = getattr(module, "KEY_VALUES", None)
    pairs = [e for e in extra if "=" in e and not e.startswith("-")]
    rest = [e for e in extra if e not in pairs]
    if rest or (pairs and not takes):
        parser.error(f"unrecognized arguments: {' '.join(rest or pairs)}")
    if takes:
        setattr(args, takes, getattr(args, takes) + pairs)
    if module is None:
        parser.print_help()
        return 2
    try:
        return module.run(args)
    except GanforgeError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
