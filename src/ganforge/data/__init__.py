"""Datasets: one registry from a name (or a folder) to a uint8 image tensor with labels.

Data flows one way: source files -> decoded uint8 (N, C, H, W) tensor (cached on disk) ->
batches on the training device, normalised to [-1, 1] there (see ``batches.py``).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from ganforge.data import cache, cifar, digits, emoji, folder, idx, subset
from ganforge.data.locate import locate
from ganforge.data.spec import DataConfig as DataConfig  # re-exported: ganforge.data.DataConfig
from ganforge.errors import GanforgeError

DATASETS = {
    "digits": "scikit-learn's 1,797 handwritten 8x8 digits with labels; ships offline (the default)",
    "mnist": "MNIST handwritten digits, 28x28 gray, 60,000 train / 10,000 test, labels",
    "fashion-mnist": "Zalando Fashion-MNIST, 28x28 gray, 60,000 train / 10,000 test, 10 clothing classes",
    "cifar10": "CIFAR-10, 32x32 colour, 50,000 train / 10,000 test, 10 classes",
    "emoji": "Google's Noto emoji, 3,786 in colour at 64 px (npm's emoji-datasource-google), 10 Unicode "
             "categories as labels; 128 px rendered from Debian's fonts-noto-color-emoji",
    "folder": "any folder tree of images (jpg, png, webp, bmp, gif): --data folder --path DIR",
}
NATIVE_RESOLUTION = {"digits": 8, "mnist": 28, "fashion-mnist": 28, "cifar10": 32, "emoji": 64}


@dataclass
class ImageData:
    """A dataset ready for batching: in memory (``images``) or streamed (``stream``)."""

    name: str
    images: torch.Tensor | None          # uint8 (N, C, H, W), or None when streamed
    labels: torch.Tensor | None          # int64 (N,), None when unlabelled
    classes: list[str] | None            # class names by label index
    source: str                          # where the files were found
    resolution: int
    channels: int
    stream: folder.FolderImages | None = None  # decodes on demand, for sets too big for memory
    skipped: list[Path] = field(default_factory=list)  # unreadable files left out
    cache_file: Path | None = None

    def __len__(self) -> int:
        return len(self.images) if self.images is not None else len(self.stream)

    @property
    def num_classes(self) -> int:
        return len(self.classes) if self.classes else 0


def unknown_dataset(name: str) -> GanforgeError:
    close = difflib.get_close_matches(name, DATASETS, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return GanforgeError(f"unknown dataset '{name}'{hint}; known: {', '.join(DATASETS)}")


def resize(images: torch.Tensor, resolution: int, chunk: int = 4096) -> torch.Tensor:
    """Antialiased bicubic resize of uint8 (N, C, h, w) to (N, C, r, r), in bounded-memory chunks."""
    if images.shape[-1] == resolution and images.shape[-2] == resolution:
        return images
    out = torch.empty((*images.shape[:2], resolution, resolution), dtype=torch.uint8)
    for i in range(0, len(images), chunk):
        x = images[i:i + chunk].float()
        y = F.interpolate(x, size=(resolution, resolution), mode="bicubic", antialias=True, align_corners=False)
        out[i:i + chunk] = y.round_().clamp_(0, 255).to(torch.uint8)
    return out


def set_channels(images: torch.Tensor, channels: int | None) -> torch.Tensor:
    c = images.shape[1]
    if channels is None or channels == c:
        return images
    if channels == 3 and c == 1:
        return images.expand(-1, 3, -1, -1).contiguous()
    if channels == 1 and c == 3:
        w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (images.float() * w).sum(1, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)
    raise GanforgeError(f"channels must be 1 or 3, not {channels}")


def _find_named(cfg):
    """Locate a named dataset's files without decoding them.

    Returns (source description, source files, classes, reader) where ``reader()`` gives raw
    uint8 images (N, C, h, w) and int64 labels."""
    name, split = cfg.name, cfg.split
    if split not in ("train", "test"):
        raise GanforgeError(f"split must be 'train' or 'test', not '{split}'")
    if name == "digits":
        if split == "test":
            raise GanforgeError("digits has no test split (it is 1,797 images in all); use split=train")
        return "scikit-learn (bundled)", [], digits.CLASSES, digits.load
    if name in ("mnist", "fashion-mnist"):
        resources = idx.MNIST_RESOURCES if name == "mnist" else idx.FASHION_RESOURCES
        mirrors = idx.MNIST_MIRRORS if name == "mnist" else idx.FASHION_MIRRORS
        how = ("put the four IDX files (gz or raw) in a folder and pass --data-dir, or set GANFORGE_DATA"
               + ("; on Debian: apt install dataset-fashion-mnist" if name == "fashion-mnist" else ""))
        where = locate(name, cfg.data_dir, lambda d: idx.has_split(d, split), resources, mirrors, how,
                       cfg.download)
        classes = idx.MNIST_CLASSES if name == "mnist" else idx.FASHION_CLASSES
        files = [idx.find_file(where, s) for s in idx.SPLIT_FILES[split]]
        return str(where), files, classes, lambda: idx.load_split(where, split)
    if name == "cifar10":
        how = f"put {cifar.ARCHIVE} (or its extracted {cifar.FOLDER}/) in a folder and pass --data-dir"
        where = locate(name, cfg.data_dir, cifar.has_files, cifar.RESOURCES, cifar.MIRRORS, how, cfg.download)
        src = where / cifar.FOLDER if (where / cifar.FOLDER).is_dir() else where / cifar.ARCHIVE
        files = sorted(src.iterdir()) if src.is_dir() else [src]
        return str(where), files, cifar.CLASSES, lambda: cifar.load_split(where, split)
    if name == "emoji":
        if split == "test":
            raise GanforgeError("emoji has no test split (3,786 images in all); use split=train")
        where = emoji.find(cfg.data_dir)
        files = emoji.files(where)
        font = emoji.font_file() if cfg.resolution > emoji.NATIVE else None
        files += [font] if font else []

        def read():
            images, labels, _ = emoji.load(where, cfg.resolution)
            return images, labels
        return str(where), files, emoji.entries(where)[1], read
    raise unknown_dataset(name)


def _load_named(cfg) -> ImageData:
    source, files, classes, reader = _find_named(cfg)
    k = cache.key({"name": cfg.name, "split": cfg.split, "files": cache.files_fingerprint(files),
                   "res": cfg.resolution, "channels": cfg.channels})
    path = cache.path_for(cfg.name, k)
    hit = cache.load(path)
    if hit is not None:
        t, _ = hit
        images, labels = t["images"], t["labels"]
    else:
        images, labels = reader()
        images = set_channels(resize(images, cfg.resolution), cfg.channels)
        cache.save(path, {"images": images, "labels": labels}, {"source": source})
    if cfg.limit is not None:  # the cache holds the whole split; the subset is one cheap gather
        keep = subset.pick(len(images), cfg.limit, labels, cfg.limit_seed)
        images, labels = images[keep], labels[keep] if labels is not None else None
        source = f"{source} ({cfg.limit} of its images, data.limit_seed={cfg.limit_seed})"
    return ImageData(cfg.name, images, labels, classes, source, cfg.resolution, images.shape[1], cache_file=path)


def _load_folder(cfg) -> ImageData:
    if not cfg.path:
        raise GanforgeError("dataset 'folder' needs a path: --data folder --path DIR")
    root = Path(cfg.path).expanduser()
    if not root.exists():
        raise GanforgeError(f"image folder {root} does not exist; check the path")
    if not root.is_dir():
        raise GanforgeError(f"{root} is a file, not a folder; pass the folder that holds the images")
    files = folder.list_images(root, cfg.pattern)
    if not files:
        what = f" matching '{cfg.pattern}'" if cfg.pattern else ""
        raise GanforgeError(f"no images found under {root}{what} (looked for {', '.join(sorted(folder.EXTENSIONS))});"
                            " check the path and --pattern")
    labels, classes = folder.folder_labels(root, files) if cfg.labels else (None, None)
    if cfg.limit is not None:  # only the chosen files are decoded (class-balanced with --labels)
        keep = subset.pick(len(files), cfg.limit, labels, cfg.limit_seed)
        files = [files[i] for i in keep.tolist()]
        labels = labels[keep] if labels is not None else None
    est_bytes = len(files) * (cfg.channels or 3) * cfg.resolution ** 2
    if est_bytes > cfg.max_memory_gb * 2 ** 30:
        channels = cfg.channels or folder.detect_channels(files, cfg.resolution, cfg.crop)
        stream = folder.FolderImages(files, cfg.resolution, cfg.crop, channels, labels)
        return ImageData("folder", None, labels, classes, str(root), cfg.resolution, channels, stream=stream)

    k = cache.key({"src": str(root.resolve()), "files": cache.files_fingerprint(files), "res": cfg.resolution,
                   "crop": cfg.crop, "channels": cfg.channels, "pattern": cfg.pattern, "labels": cfg.labels,
                   "limit": cfg.limit, "limit_seed": cfg.limit_seed})
    path = cache.path_for("folder", k)
    hit = cache.load(path)
    if hit is not None:
        tensors, meta = hit
        return ImageData("folder", tensors["images"], tensors.get("labels"), meta.get("classes"), str(root),
                         cfg.resolution, tensors["images"].shape[1],
                         skipped=[Path(p) for p in meta.get("skipped", [])], cache_file=path)
    images, good, bad = folder.decode_all(files, cfg.resolution, cfg.crop, cfg.channels, cfg.workers)
    folder.report_skipped(bad, len(files))
    if len(good) == 0:
        raise GanforgeError(f"none of the {len(files)} image files under {root} could be read; "
                            "check that they are real images")
    if labels is not None:
        labels = labels[torch.tensor(good, dtype=torch.int64)]
    tensors = {"images": images} | ({"labels": labels} if labels is not None else {})
    cache.save(path, tensors, {"classes": classes, "skipped": [str(p) for p in bad], "source": str(root)})
    return ImageData("folder", images, labels, classes, str(root), cfg.resolution, images.shape[1],
                     skipped=bad, cache_file=path)


def load_dataset(cfg) -> ImageData:
    """Load the dataset described by a ``DataConfig`` (see ``ganforge.config``)."""
    if cfg.resolution < 4:
        raise GanforgeError(f"resolution must be at least 4 pixels, not {cfg.resolution}")
    if cfg.channels not in (None, 1, 3):
        raise GanforgeError(f"channels must be 1 or 3, not {cfg.channels}")
    if cfg.name == "folder":
        return _load_folder(cfg)
    if cfg.name not in DATASETS:
        raise unknown_dataset(cfg.name)
    return _load_named(cfg)


def check_batch(data: ImageData, batch_size: int) -> None:
    if len(data) < batch_size:
        raise GanforgeError(f"dataset {data.name} has {len(data)} images, fewer than the batch size {batch_size}; "
                            f"use --batch-size {max(1, len(data))} or smaller, or add images")


def data_record(cfg: DataConfig) -> dict:
    """What a checkpoint records of its data, enough to find and judge it again (``data_from_record``)."""
    keys = ("name", "path", "data_dir", "resolution", "channels", "crop", "pattern", "labels", "limit", "limit_seed")
    return {k: getattr(cfg, k) for k in keys}


def data_from_record(record: dict) -> DataConfig:
    return DataConfig(**{k: v for k, v in record.items() if k in DataConfig.__dataclass_fields__})


def data_config(name: str, resolution: int | None = None, **fields) -> DataConfig:
    """A ``DataConfig`` for a dataset by name, at its native resolution unless one is given."""
    if name not in DATASETS:
        raise unknown_dataset(name)
    return DataConfig(name=name, resolution=resolution or NATIVE_RESOLUTION.get(name, 64), **fields)
