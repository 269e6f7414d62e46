"""``ganforge data``: list the datasets and where they were found, show one's size and classes, or write
a grid of its real images (``ganforge.data.preview``)."""

from __future__ import annotations

from pathlib import Path

from ganforge.cli.common import data_config_from, data_flags


def add_parser(sub) -> None:
    da = sub.add_parser("data", help="list, inspect or preview datasets")
    dsub = da.add_subparsers(dest="data_command", metavar="ACTION")
    dsub.add_parser("list", help="known datasets and where they were found")
    info = dsub.add_parser("info", help="size, shape, classes and source of a dataset")
    data_flags(info)
    pv = dsub.add_parser("preview", help="write a grid PNG of real samples (a row per class)")
    data_flags(pv)
    pv.add_argument("--out", help="PNG path (default NAME-preview.png)")


def run(args) -> int:
    from ganforge.data import load_dataset, preview

    if args.data_command == "list" or args.data_command is None:
        for name, desc, where in preview.listing():
            print(f"{name:14s} {desc}\n{'':14s} -> {where}")
        return 0
    data = load_dataset(data_config_from(args))
    if args.data_command == "info":
        print(f"dataset     {data.name} ({args.split})")
        print(f"images      {len(data)} x {data.channels}x{data.resolution}x{data.resolution} uint8"
              + (" (streamed from disk)" if data.stream is not None else ""))
        print(f"source      {data.source}")
        if data.cache_file:
            print(f"cache       {data.cache_file}")
        if data.skipped:
            print(f"skipped     {len(data.skipped)} unreadable file(s)")
        if data.classes:
            import torch

            counts = torch.bincount(data.labels, minlength=len(data.classes)).tolist()
            print("classes     " + ", ".join(f"{c} ({n})" for c, n in zip(data.classes, counts)))
        return 0
    from ganforge.grid import save_grid

    imgs, row_labels = preview.preview_images(data)
    out = Path(args.out) if args.out else preview.default_preview_path(data)
    save_grid(imgs, out, nrow=8, row_labels=row_labels)
    print(f"wrote {out} ({len(imgs)} real {data.name} images)")
    return 0
