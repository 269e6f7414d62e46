"""The ``ganforge`` command: parse, validate, build a config, call the library. Nothing more.

Every user mistake surfaces as one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

from ganforge.errors import GanforgeError


def _data_args(p: argparse.ArgumentParser, with_name: bool = True) -> None:
    if with_name:
        p.add_argument("name", help="dataset: digits, mnist, fashion-mnist, cifar10 or folder")
    p.add_argument("--path", help="image folder (dataset 'folder')")
    p.add_argument("--data-dir", help="folder holding the dataset's files (else $GANFORGE_DATA, cache, /usr/share/datasets)")
    p.add_argument("--resolution", type=int, help="side of the square images in pixels")
    p.add_argument("--split", default="train", choices=["train", "test"])
    p.add_argument("--pattern", help="glob on file names, e.g. '*.jpg' (folder)")
    p.add_argument("--crop", type=int, help="centre-crop side before resizing (folder)")
    p.add_argument("--channels", type=int, choices=[1, 3], help="force grayscale (1) or RGB (3)")
    p.add_argument("--labels", action="store_true", help="class labels from first-level subfolders (folder)")
    p.add_argument("--no-download", action="store_true", help="never download; fail if not found locally")


def build_parser() -> argparse.ArgumentParser:
    from ganforge import __version__

    ap = argparse.ArgumentParser(prog="ganforge", description="Train GANs on images from one command.")
    ap.add_argument("--version", action="version", version=f"ganforge {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    tr = sub.add_parser("train", help="train a GAN (a preset, a YAML file and key=value overrides)",
                        description="Train a GAN. Config = preset -> --config YAML -> flags -> key=value overrides.")
    tr.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. train.steps=500 lr_g=1e-4")
    tr.add_argument("--preset", help="named setup (see `ganforge presets`); default quick")
    tr.add_argument("--config", help="YAML file with data/model/optim/train sections")
    tr.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    tr.add_argument("--resume", metavar="RUN", help="continue a run exactly where it stopped")
    tr.add_argument("--init-from", metavar="CKPT", help="start from these weights (fresh optimizers and counters)")
    tr.add_argument("--quiet", action="store_true", help="no progress output")
    tr.add_argument("--serve", action="store_true", help="serve the live page (as `ganforge serve`) while training")
    tr.add_argument("--serve-port", type=int, default=8000, help="its port on 127.0.0.1 (0 picks a free one)")
    for flag, typ in (("data", str), ("path", str), ("data-dir", str), ("resolution", int), ("arch", str),
                      ("steps", int), ("epochs", float), ("batch-size", int), ("g-steps", int), ("d-steps", int),
                      ("loss", str), ("seed", int), ("device", str), ("name", str), ("runs-dir", str),
                      ("ema", float), ("minutes", float), ("eval-every", int), ("eval-metrics", str)):
        tr.add_argument(f"--{flag}", type=typ, default=None)

    sub.add_parser("presets", help="list the named presets")

    ge = sub.add_parser("generate", help="draw images from a trained generator")
    ge.add_argument("source", metavar="RUN_OR_CHECKPOINT")
    ge.add_argument("--grid", metavar="PNG", help="write a grid PNG (default generated.png)")
    ge.add_argument("--rows", type=int, default=8, help="grid rows (conditional: one row per class)")
    ge.add_argument("--cols", type=int, default=8, help="grid columns")
    ge.add_argument("-n", type=int, help="number of separate images to write to --out")
    ge.add_argument("--out", metavar="DIR", help="folder for -n separate PNG images")
    ge.add_argument("--seed", type=int, default=0)
    ge.add_argument("--class", dest="class_id", help="class index or name (conditional models)")
    ge.add_argument("--interpolate", metavar="PATH", help="latent walk: .png strip or .gif animation")
    ge.add_argument("--frames", type=int, default=10, help="frames per latent walk")
    ge.add_argument("--ema", action="store_true", help="use the EMA generator")
    ge.add_argument("--device", default="cpu")

    ev = sub.add_parser("eval", help="score samples: FD-<judge>, coverage, class accuracy, FID, KID, IS, P/R",
                        description="Score a run, a checkpoint, or a folder of images. Judge metrics: fd, "
                                    "coverage, class-acc. Inception metrics: fid, kid, is, pr.")
    ev.add_argument("source", metavar="RUN_CHECKPOINT_OR_FOLDER")
    ev.add_argument("--metrics", help="comma-separated (default: fd,coverage[,class-acc] where a judge exists, else fid)")
    ev.add_argument("-n", type=int, default=10000, help="images to generate (or at most to read from a folder)")
    ev.add_argument("--dataset", help="reference dataset (default: the one the run trained on; needed for folders)")
    ev.add_argument("--split", default="train", choices=["train", "test"], help="reference split")
    ev.add_argument("--n-ref", type=int, default=10000, help="reference images")
    ev.add_argument("--judge", help="judge to use (default: the dataset's)")
    ev.add_argument("--inception-weights", metavar="PATH", help="local copy of the Inception weights")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--ema", action="store_true", help="score the EMA generator")
    ev.add_argument("--device", default="cpu")

    se = sub.add_parser("serve", help="a live page for a run: loss curves, samples over time, fresh samples",
                        description="Serve a page that follows a run as it trains (open the printed address).")
    se.add_argument("source", metavar="RUN", help="a run folder, or its number under --runs-dir")
    se.add_argument("--runs-dir", default="runs")
    se.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only; "
                    "0.0.0.0: every interface, so anyone who can reach the machine sees the run)")
    se.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    se.add_argument("--device", default="cpu", help="device for drawing fresh samples")

    ex = sub.add_parser("export", help="write the generator as ONNX or TorchScript, checked against PyTorch",
                        description="Export the generator alone (BatchNorm folded, dynamic batch) with its metadata; "
                                    "the file is checked against ganforge's own sampling before it is kept.")
    ex.add_argument("source", metavar="RUN_OR_CHECKPOINT", help="a run folder, its number, or a .safetensors file")
    ex.add_argument("--format", default="onnx", help="onnx (needs the export extra) or torchscript")
    ex.add_argument("--out", metavar="FILE", help="output file (default <run>-step<N>[-ema].onnx|.pt here)")
    ex.add_argument("--ema", action="store_true", help="export the EMA generator")
    ex.add_argument("--uint8", action="store_true", help="output uint8 (N, H, W, C) in [0, 255] instead of float")
    ex.add_argument("--runs-dir", default="runs")

    la = sub.add_parser("lab", help="the 2-D lab: watch G and D play on points, live in the browser",
                        description="Train a GAN on 2-D points and watch it (or --headless: write the results). "
                                    "Any lab setting can be given as KEY=VALUE (see --dry-run).")
    la.add_argument("settings", nargs="*", metavar="KEY=VALUE", help="lab settings, e.g. lr_d=3e-4 pack=1")
    la.add_argument("--dist", help="ring, grid, moons, spiral, line, two-clusters, disjoint")
    la.add_argument("--steps", type=int, help="training iterations (headless)")
    la.add_argument("--seed", type=int)
    la.add_argument("--headless", action="store_true", help="train without a page and write --out")
    la.add_argument("--out", metavar="DIR", default="lab-out", help="headless: folder for the four result files")
    la.add_argument("--dry-run", action="store_true", help="print the resolved settings and exit")
    la.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only; "
                    "0.0.0.0: every interface, so anyone who can reach the machine can drive the lab)")
    la.add_argument("--port", type=int, default=8001, help="0 picks a free port")

    da = sub.add_parser("data", help="list, inspect or preview datasets")
    dsub = da.add_subparsers(dest="data_command", metavar="ACTION")
    dsub.add_parser("list", help="known datasets and where they were found")
    info = dsub.add_parser("info", help="size, shape, classes and source of a dataset")
    _data_args(info)
    pv = dsub.add_parser("preview", help="write a grid PNG of real samples (a row per class)")
    _data_args(pv)
    pv.add_argument("--out", help="PNG path (default NAME-preview.png)")
    return ap


# ---- train ------------------------------------------------------------------------------------
def cmd_train(args) -> int:
    from ganforge import config as C
    from ganforge.train import distributed

    flags = {k: getattr(args, k) for k in C.FLAG_KEYS}
    world, device = distributed.setup(_requested_device(args, C))
    if world.active:
        args.quiet = args.quiet or not world.main
    page = None
    try:
        if args.serve and world.main:
            from ganforge.web.server import LivePage

            page = LivePage(args.serve_port)  # binds now: a busy port fails before a run folder exists
        rc = _train(args, C, flags, world, device, page)
    except BaseException:
        distributed.shutdown(world, finished=False)
        raise
    finally:
        if page is not None:  # the page stops with training; `ganforge serve RUN` keeps it up
            page.close()
    distributed.shutdown(world)
    return rc


def _requested_device(args, C) -> str:
    """train.device as the command asks for it (flag, override, config file), before the process group
    is joined: several processes need to know whether to take a GPU each."""
    if args.device:
        return args.device
    for item in reversed(args.overrides):
        key, _, value = item.partition("=")
        try:
            if C.resolve_key(key.strip()) == ("train", "device"):
                return value.strip()
        except GanforgeError:
            pass  # reported when the config is built
    if args.config and not args.resume:
        tree = C.load_yaml(args.config)
        dev = (tree.get("train") or {}).get("device") if isinstance(tree, dict) else None
        if isinstance(dev, str):
            return dev
    return "auto"


def _train(args, C, flags, world, device, page) -> int:
    from ganforge import recipes
    from ganforge.data import load_dataset
    from ganforge.train import checkpoint
    from ganforge.train.loop import Interrupted, Trainer, resolve_device, write_config
    from ganforge.train.run_dir import find_run, new_run

    if args.resume:
        run = find_run(args.resume, flags.get("runs_dir") or "runs")
        cfg = C.from_dict(C.load_yaml(run / "config.yaml"))
        before = copy.deepcopy((cfg.data, cfg.model))
        C.apply_overrides(cfg, flags, args.overrides)
        if (cfg.data, cfg.model) != before:
            raise GanforgeError("a resumed run keeps its data and model settings; start a new run with "
                                "--init-from to change them")
        C.validate(cfg)
        if args.dry_run:
            print(C.to_yaml(cfg), end="")
            return 0
        ckpt = checkpoint.newest_complete(run / "checkpoints", warn=None if world.main else (lambda msg: None))
        if ckpt is None:
            raise GanforgeError(f"run {run} has no checkpoint to resume from; start it again")
        if world.main:  # the steps after ckpt are trained again; keep damaged files, out of the way
            for p in checkpoint.set_aside_newer(run / "checkpoints", ckpt):
                say(args, f"moved damaged {p.name.removesuffix('.damaged')} aside to {p.name}")
        data = load_dataset(cfg.data)
        trainer = Trainer(cfg, run, data, resolve_device(device if world.active else cfg.train.device),
                          quiet=args.quiet, world=world)
        trainer.load_checkpoint(ckpt)
        if world.main:
            write_config(run, cfg)
        if trainer.step >= trainer.total_steps:
            print(f"run {run} already reached step {trainer.step} of {trainer.total_steps}; "
                  "raise --steps or --epochs to train further")
            return 0
        say(args, f"resuming {run} at step {trainer.step} of {trainer.total_steps}")
    else:
        cfg = C.build(args.preset, args.config, args.overrides, flags)
        if args.dry_run:
            note = recipes.dry_run_note(cfg)
            print(C.to_yaml(cfg) + (note + "\n" if note else ""), end="")
            return 0
        data = load_dataset(cfg.data)
        note = recipes.small_data(cfg, len(data))
        trainer = Trainer(cfg, Path("."), data, resolve_device(device if world.active else cfg.train.device),
                          quiet=args.quiet, world=world)  # validates before a folder exists
        if note and world.main:  # said once the settings are known to work
            say(args, note)
        if args.init_from:
            from ganforge.generate import resolve_checkpoint

            trainer.load_checkpoint(resolve_checkpoint(args.init_from), full=False)
        preset_data = C.PRESETS[cfg.preset].get("data", {}).get("name", "digits")
        default_name = cfg.preset if cfg.data.name == preset_data else f"{cfg.preset}-{cfg.data.name}"
        run = Path(".")
        if world.main:  # only rank 0 writes the run folder
            run = new_run(cfg.train.runs_dir, cfg.train.name or default_name)
            write_config(run, cfg)
        trainer.run = run
        say(args, f"run folder {run}: {data.name} ({len(data)} images, {data.channels}x{data.resolution}"
                  f"x{data.resolution}), {cfg.model.arch}, {trainer.total_steps} steps on {trainer.device}")
    if page is not None:
        page.start(run)
    try:
        last = trainer.fit()
    except Interrupted as err:
        if world.main:
            print(str(err), file=sys.stderr)
        return 130
    say(args, f"done: step {trainer.step}; samples in {run / 'samples'}; checkpoint {last}\n"
              f"generate with: ganforge generate {run} --grid samples.png")
    return 0


def say(args, msg: str) -> None:
    if not getattr(args, "quiet", False):
        print(msg, flush=True)


def cmd_presets(args) -> int:
    from ganforge.config import PRESETS

    for name, p in PRESETS.items():
        print(f"{name:18s} {p['_doc']}")
    return 0


# ---- generate ---------------------------------------------------------------------------------
def cmd_generate(args) -> int:
    import torch

    from ganforge.generate import (
        check_labels,
        class_index,
        generate,
        interpolation_z,
        load_generator,
        sample_grid,
        seeded_z,
    )
    from ganforge.grid import atomic_save, grid_image, save_grid, to_uint8
    from ganforge.train.loop import resolve_device

    gen = load_generator(args.source, ema=args.ema, device=resolve_device(args.device))
    k = gen.kwargs.get("num_classes", 0)
    cls = class_index(gen, args.class_id) if args.class_id is not None else None
    if cls is not None and not gen.conditional:
        raise GanforgeError(f"this {gen.arch} generator is not conditional; drop --class")

    def labels_for(n: int):
        if not gen.conditional:
            return None
        if cls is not None:
            return check_labels(gen, torch.full((n,), cls, dtype=torch.long))
        return torch.arange(n) % k

    if args.interpolate:
        walks = args.rows if args.grid is None else 1
        z = interpolation_z(gen, args.frames, args.seed, walks)
        y = None
        if gen.conditional:
            y = torch.full((len(z),), cls, dtype=torch.long) if cls is not None else \
                (torch.arange(walks) % k).repeat_interleave(args.frames)
        imgs = to_uint8(generate(gen, z, y))
        out = Path(args.interpolate)
        if out.suffix.lower() == ".gif":
            frames = [grid_image(imgs.view(walks, args.frames, *imgs.shape[1:])[:, f], nrow=max(1, int(walks ** 0.5)))
                      for f in range(args.frames)]
            atomic_save(frames[0], out, save_all=True, append_images=frames[1:] + frames[::-1][1:-1],
                        duration=120, loop=0)
        else:
            save_grid(imgs, out, nrow=args.frames)
        print(f"wrote {out} ({walks} walk(s) of {args.frames} frames, seed {args.seed})")
        return 0

    if args.n is not None or args.out is not None:
        if args.n is None or args.out is None or args.n < 1:
            raise GanforgeError("separate images need both -n N (N >= 1) and --out DIR")
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise GanforgeError(f"--out {out} is a file; pass a folder")
        out.mkdir(parents=True, exist_ok=True)
        imgs = to_uint8(generate(gen, seeded_z(gen, args.n, args.seed), labels_for(args.n)))
        from PIL import Image

        for i, im in enumerate(imgs):
            arr = im.permute(1, 2, 0).numpy()
            atomic_save(Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr), out / f"{i:06d}.png")
        print(f"wrote {args.n} images to {out} (seed {args.seed}, step {gen.step})")
        return 0

    if args.rows < 1 or args.cols < 1:
        raise GanforgeError("--rows and --cols must be at least 1")
    imgs, row_labels = sample_grid(gen, args.rows, args.cols, args.seed, cls)
    rows = len(imgs) // args.cols
    out = Path(args.grid or "generated.png")
    save_grid(imgs, out, nrow=args.cols, row_labels=row_labels)
    print(f"wrote {out} ({rows}x{args.cols}, seed {args.seed}, step {gen.step}{', EMA' if args.ema else ''})")
    return 0


# ---- serve ------------------------------------------------------------------------------------
def cmd_serve(args) -> int:
    from ganforge.train.loop import resolve_device
    from ganforge.train.run_dir import find_run
    from ganforge.web.httpbase import serve_until_interrupted
    from ganforge.web.server import make_server

    run = find_run(args.source, args.runs_dir)
    server = make_server(run, args.host, args.port, str(resolve_device(args.device)))
    return serve_until_interrupted(server, f"serving {run}")


# ---- export -----------------------------------------------------------------------------------
def cmd_export(args) -> int:
    from ganforge.export import FORMATS, export
    from ganforge.generate import load_generator
    from ganforge.train.run_dir import find_run

    if args.format not in FORMATS:
        raise GanforgeError(f"unknown format '{args.format}'; use one of {', '.join(FORMATS)}")
    src = Path(args.source)
    if not src.exists():
        src = find_run(args.source, args.runs_dir)
    gen = load_generator(src, ema=args.ema)
    run_name = src.name if src.is_dir() else src.stem
    out = Path(args.out or f"{run_name}-step{gen.step}{'-ema' if args.ema else ''}{FORMATS[args.format]}")
    res = export(gen, args.format, out, uint8=args.uint8)
    print(f"wrote {res.path} ({args.format}, {res.bytes / 1e6:.2f} MB, {res.seconds:.1f} s, step {gen.step}"
          f"{', EMA' if args.ema else ''}); matches PyTorch to {res.max_diff:.1e} on batches of 1 and 7\n"
          f"draw from it with: ganforge generate {res.path} --grid samples.png")
    return 0


# ---- lab --------------------------------------------------------------------------------------
def cmd_lab(args) -> int:
    import json

    from ganforge.lab.settings import LabSettings, updated

    changes = {k: v for k, v in (("dist", args.dist), ("steps", args.steps), ("seed", args.seed)) if v is not None}
    for item in args.settings:
        key, sep, value = item.partition("=")
        if not sep:
            raise GanforgeError(f"lab setting '{item}' is not KEY=VALUE (e.g. lr_d=3e-4)")
        changes[key.strip()] = value.strip()
    settings = updated(LabSettings(), changes)
    import torch

    torch.set_num_threads(1)  # layers of 128 units: a second thread only adds synchronisation (3x slower here)
    if args.dry_run:
        print(json.dumps(settings.to_dict(), indent=1))
        return 0
    if args.headless:
        from ganforge.lab.headless import run

        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise GanforgeError(f"--out {out} is a file; pass a folder")
        run(settings, out)
        return 0
    from ganforge.lab.server import make_lab_server
    from ganforge.lab.session import LabSession
    from ganforge.web.httpbase import serve_until_interrupted

    server = make_lab_server(None, args.host, args.port)  # the port first: a busy one fails before training
    session = LabSession(settings)
    server.bind_session(session)
    return serve_until_interrupted(server, "lab", on_close=session.close)


# ---- eval -------------------------------------------------------------------------------------
def cmd_eval(args) -> int:
    import torch

    from ganforge.config import DataConfig
    from ganforge.data import load_dataset
    from ganforge.generate import generate, load_generator, seeded_z
    from ganforge.grid import to_uint8
    from ganforge.metrics import EVAL_RESOLUTION, Evaluator, parse_metrics
    from ganforge.metrics.train_judge import JUDGE_DATA
    from ganforge.train.loop import resolve_device
    from ganforge.train.run_dir import append_jsonl, is_run

    src = Path(args.source)
    if not src.exists():
        raise GanforgeError(f"{src} not found; pass a run folder, a .safetensors checkpoint or a folder of images")
    if args.n < 2 or args.n_ref < 2:
        raise GanforgeError("-n and --n-ref must be at least 2")
    device = resolve_device(args.device)
    labels, setup, run = None, {}, None
    if src.is_dir() and not is_run(src):  # a folder of images, scored like samples
        if not args.dataset:
            raise GanforgeError("scoring a folder of images needs --dataset NAME to compare against")
        dataset, conditional = args.dataset, False
        data = load_dataset(DataConfig(name="folder", path=str(src), resolution=EVAL_RESOLUTION.get(dataset, 64)))
        samples = data.images[:args.n]
        setup = {"source": str(src)}
    else:
        gen = load_generator(src, ema=args.ema, device=device)
        dataset, conditional = args.dataset or gen_dataset(gen), gen.conditional
        if conditional:
            labels = torch.arange(args.n) % gen.kwargs["num_classes"]
        samples = to_uint8(generate(gen, seeded_z(gen, args.n, args.seed), labels))
        run = src if src.is_dir() else (src.parent.parent if is_run(src.parent.parent) else None)
        setup = {"checkpoint": gen.path.name, "step": gen.step, "ema": args.ema, "seed": args.seed}
    if args.metrics:
        metrics = parse_metrics(args.metrics)
    elif (args.judge or dataset) in JUDGE_DATA:
        metrics = ["fd", "coverage"] + (["class-acc"] if conditional else [])
    else:
        metrics = ["fid"]
    evaluator = Evaluator(dataset, metrics, args.split, args.n_ref, args.judge, args.inception_weights, device)
    results = evaluator(samples, labels, **setup)
    for r in results:
        print(r.line())
        if "per_class" in r.extra:
            print(" " * 30 + ", ".join(f"{c}: {a:.2f}" for c, a in r.extra["per_class"].items()))
        if run is not None:
            append_jsonl(run / "metrics.jsonl", r.record())
    return 0


def gen_dataset(gen) -> str:
    from ganforge.train import checkpoint

    meta = checkpoint.read_meta(gen.path)
    if "dataset" not in meta:
        raise GanforgeError(f"{gen.path} does not say which dataset it learned; pass --dataset NAME")
    return meta["dataset"]


# ---- data -------------------------------------------------------------------------------------
def _data_config(args):
    from ganforge.config import DataConfig
    from ganforge.data import DATASETS, NATIVE_RESOLUTION, unknown_dataset

    if args.name not in DATASETS:
        raise unknown_dataset(args.name)
    res = args.resolution or NATIVE_RESOLUTION.get(args.name, 64)
    return DataConfig(name=args.name, path=args.path, data_dir=args.data_dir, split=args.split, resolution=res,
                      channels=args.channels, crop=args.crop, pattern=args.pattern, labels=args.labels,
                      download=not args.no_download)


def cmd_data(args) -> int:
    from ganforge.data import DATASETS, load_dataset

    if args.data_command == "list" or args.data_command is None:
        from ganforge.data import cifar, idx
        from ganforge.data.paths import candidate_dirs

        checks = {"mnist": lambda d: idx.has_split(d, "train"), "fashion-mnist": lambda d: idx.has_split(d, "train"),
                  "cifar10": cifar.has_files}
        for name, desc in DATASETS.items():
            where = "bundled" if name == "digits" else ("your folder" if name == "folder" else "not found locally")
            if name in checks:
                hit = next((d for d in candidate_dirs(name, None) if d.is_dir() and checks[name](d)), None)
                where = str(hit) if hit else "not found locally (downloaded on first use)"
            print(f"{name:14s} {desc}\n{'':14s} -> {where}")
        return 0
    data = load_dataset(_data_config(args))
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
    # preview
    import torch

    from ganforge.grid import save_grid

    per = 8
    if data.images is None:
        items = [data.stream[i] for i in range(min(len(data), 64))]
        imgs = torch.stack([it[0] for it in items if it is not None])
        row_labels = None
    elif data.labels is not None and data.classes:
        picks, row_labels = [], []
        for c, name in enumerate(data.classes):
            idx = (data.labels == c).nonzero().flatten()[:per]
            if len(idx):
                row = data.images[idx]
                if len(idx) < per:
                    row = torch.cat([row, torch.full((per - len(idx), *row.shape[1:]), 255, dtype=torch.uint8)])
                picks.append(row)
                row_labels.append(name if name == str(c) else f"{c}: {name}")
        imgs = torch.cat(picks)
    else:
        g = torch.Generator().manual_seed(0)
        imgs = data.images[torch.randperm(len(data), generator=g)[:64]]
        row_labels = None
    out = Path(args.out or f"{data.name}-preview.png")
    save_grid(imgs, out, nrow=per, row_labels=row_labels)
    print(f"wrote {out} ({len(imgs)} real {data.name} images)")
    return 0


COMMANDS = {"train": cmd_train, "presets": cmd_presets, "generate": cmd_generate, "eval": cmd_eval,
            "data": cmd_data, "serve": cmd_serve, "export": cmd_export,
            "lab": cmd_lab}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # key=value overrides may stand anywhere among the train options
    overrides = [e for e in extra if "=" in e and not e.startswith("-")]
    rest = [e for e in extra if e not in overrides]
    if rest or (overrides and args.command not in ("train", "lab")):
        parser.error(f"unrecognized arguments: {' '.join(rest or overrides)}")
    if args.command == "train":
        args.overrides = args.overrides + overrides
    if args.command == "lab":
        args.settings = args.settings + overrides
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return COMMANDS[args.command](args)
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
