"""What several commands share: the data flags, and printing unless ``--quiet``."""

from __future__ import annotations

import argparse


def data_flags(p: argparse.ArgumentParser, with_name: bool = True) -> None:
    """A dataset named on the command line (``ganforge data info|preview``)."""
    if with_name:
        p.add_argument("name", help="dataset: digits, mnist, fashion-mnist, cifar10 or folder")
    p.add_argument("--path", help="image folder (dataset 'folder')")
    p.add_argument("--data-dir", help="folder holding the dataset's files (else $GANFORGE_DATA, cache, /usr/share/datasets)")
    p.add_argument("--resolution", type=int, help="side of the square images in pixels (default: the dataset's own)")
    p.add_argument("--split", default="train", choices=["train", "test"], help="which split (default train)")
    p.add_argument("--pattern", help="glob on file names, e.g. '*.jpg' (folder)")
    p.add_argument("--crop", type=int, help="centre-crop side before resizing, pixels (folder)")
    p.add_argument("--channels", type=int, choices=[1, 3], help="force grayscale (1) or RGB (3)")
    p.add_argument("--labels", action="store_true", help="class labels from first-level subfolders (folder)")
    p.add_argument("--no-download", action="store_true", help="never download; fail if not found locally")


def data_config_from(args):
    from ganforge.data import data_config

    return data_config(args.name, args.resolution, path=args.path, data_dir=args.data_dir, split=args.split,
                       channels=args.channels, crop=args.crop, pattern=args.pattern, labels=args.labels,
                       download=not args.no_download)


def say(args, msg: str) -> None:
    if not getattr(args, "quiet", False):
        print(msg, flush=True)


def run_or_path(source: str, runs_dir: str) -> str:
    """A run by its number or name under ``runs_dir``, else ``source`` as given (``run_dir.locate``)."""
    from ganforge.training.run_dir import locate

    return locate(source, runs_dir)
