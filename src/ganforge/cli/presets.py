"""``ganforge presets``: the classic programs, one name each."""

from __future__ import annotations


def add_parser(sub) -> None:
    sub.add_parser("presets", help="list the named presets")


def run(args) -> int:
    from ganforge.presets import PRESETS

    for name, p in PRESETS.items():
        print(f"{name:18s} {p['_doc']}")
    return 0
