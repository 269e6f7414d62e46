"""The other verbs from Python: ``evaluate``, ``export``, ``datasets``, ``load_dataset`` and ``lab``, each the
code its command (``ganforge eval``, ``export``, ``data``, ``lab --headless``) runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ganforge.errors import GanforgeError


class Scores(dict):
    """Metric name -> value (``scores["fd-digits"]``); ``results`` holds each result with its setup."""

    def __init__(self, results: list):
        super().__init__((r.metric, r.value) for r in results)
        self.results = results

    def lines(self) -> list[str]:
        """What ``ganforge eval`` prints: a line per metric (and its per-class accuracies)."""
        from ganforge.scoring import per_class_line

        out = []
        for r in self.results:
            out.append(r.line())
            if per := per_class_line(r):
                out.append(" " * 30 + per)
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def evaluate(source, metrics: str | list[str] | None = None, n: int = 10000, dataset: str | None = None,
             split: str = "train", n_ref: int = 10000, judge: str | None = None,
             inception_weights: str | None = None, seed: int = 0, ema: bool | None = None, device: str = "cpu",
             runs_dir: str | Path = "runs", record: bool = True) -> Scores:
    """Score a run (folder, number, ``Run``), a checkpoint or a folder of images, as ``ganforge eval`` does.

    ``metrics``: e.g. ``"fd,coverage"`` or ``["fd"]`` (default: FD and coverage where a judge exists for the
    data, a judge trained on the run's own data otherwise). ``n`` generated images against ``n_ref`` real ones
    of ``split``. ``record``: append each result to the run's metrics.jsonl, as the command does."""
    from ganforge.device import resolve_device
    from ganforge.files import append_jsonl
    from ganforge.scoring import score
    from ganforge.training.run_dir import locate

    if isinstance(metrics, (list, tuple)):
        metrics = ",".join(metrics)
    scored = score(locate(str(getattr(source, "path", source)), runs_dir), metrics, n, dataset, split, n_ref,
                   judge, inception_weights, seed, ema, resolve_device(device))
    if record and scored.run is not None:
        for r in scored.results:
            append_jsonl(scored.run / "metrics.jsonl", r.record())
    return Scores(scored.results)


FORMATS = {"onnx": ".onnx", "torchscript": ".pt", "web": ".html"}


@dataclass
class Exported:
    """A file ``export`` wrote and how it was checked."""
    path: Path
    format: str
    bytes: int
    seconds: float
    max_diff: float       # largest difference from PyTorch's own images on the check batches
    step: int             # the training step of the weights
    ema: bool             # True: the EMA generator


def export(source, format: str = "onnx", out: str | Path | None = None, ema: bool | None = None,
           uint8: bool = False, runs_dir: str | Path = "runs") -> Exported:
    """Write the generator of a run (folder, number, ``Run``) or checkpoint as ONNX, TorchScript or one offline
    HTML page (``format="web"``), checked against PyTorch before it is kept, as ``ganforge export`` does.
    ``out``: the file (default ``<run>-step<N>[-ema].onnx|.pt|.html`` here)."""
    from ganforge.generate import load_generator
    from ganforge.training.run_dir import find_run, is_run, read_run

    if format not in FORMATS:
        raise GanforgeError(f"unknown format '{format}'; use one of {', '.join(FORMATS)}")
    if format == "web" and uint8:
        raise GanforgeError("--uint8 is for onnx and torchscript; a web page always shows images")
    src = Path(getattr(source, "path", source))
    if not src.exists():
        src = find_run(str(src), runs_dir)
    gen = load_generator(src, ema=ema)
    run_name = src.name if src.is_dir() else src.stem
    path = Path(out or f"{run_name}-step{gen.step}{'-ema' if gen.ema else ''}{FORMATS[format]}")
    if format == "web":
        from ganforge.webexport import export_web

        folder = next((f for f in (src, src.parent.parent) if f.is_dir() and is_run(f)), None)
        try:
            data = read_run(folder).dataset if folder else "unknown data"
        except GanforgeError:
            data = "unknown data"
        res = export_web(gen, path, run_name, data, str(src) + (" --no-ema" if ema is False else ""))
    else:
        from ganforge.exporting import export as write

        res = write(gen, format, path, uint8=uint8)
    return Exported(res.path, format, res.bytes, res.seconds, res.max_diff, gen.step, gen.ema)


def datasets() -> list[dict]:
    """Every dataset ganforge knows: ``{"name", "description", "found"}`` (where its files are, or how
    they are obtained), as ``ganforge data list`` prints them."""
    from ganforge.data.preview import listing

    return [{"name": n, "description": d, "found": w} for n, d, w in listing()]


def load_dataset(name: str, resolution: int | None = None, path: str | None = None, data_dir: str | None = None,
                 split: str = "train", channels: int | None = None, crop: int | None = None,
                 pattern: str | None = None, labels: bool = False, download: bool = True):
    """A dataset as training reads it (``ganforge.data.ImageData``: ``images``, uint8 (N, C, H, W);
    ``labels``; ``classes``): digits, mnist, fashion-mnist, cifar10, emoji, or folder with ``path``."""
    from ganforge.data import data_config
    from ganforge.data import load_dataset as load

    return load(data_config(name, resolution, path=path, data_dir=data_dir, split=split, channels=channels,
                            crop=crop, pattern=pattern, labels=labels, download=download))


def lab_settings(changes: dict, points: str | Path | None = None):
    """The 2-D lab's settings from ``key: value`` changes (as ``ganforge lab KEY=VALUE``), and a points CSV
    file read into them; returns (settings, what was read or None)."""
    from ganforge.lab2d.settings import LabSettings, updated

    said = None
    if points:
        from ganforge.lab2d.dists import parse_csv

        path = Path(points)
        if not path.is_file():
            raise GanforgeError(f"points file {path} not found; pass a CSV file of x,y lines")
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError):
            raise GanforgeError(f"{path} cannot be read as text; pass a CSV file of x,y lines") from None
        changes = dict(changes)
        changes["drawn"], said = parse_csv(text, int(changes.get("seed", 0) or 0))
        changes["dist"] = "points"
    return updated(LabSettings(), changes), said


def run_lab(settings, out: str | Path, say=print) -> tuple[dict, int]:
    """A headless lab run writing its files to ``out``; (its results, the exit status: 0, or a signal's when
    Ctrl-C, SIGTERM or SIGUSR1 stopped it at the step reached)."""
    import torch

    from ganforge.lab2d.headless import run as run_headless
    from ganforge.training.signals import StopSignals

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GanforgeError(f"--out {out} is a file; pass a folder")
    torch.set_num_threads(settings.threads)  # one by default: the lab's small layers lose to synchronisation
    with StopSignals() as stop:
        result = run_headless(settings, out, say=say, stop=stop)
    return result, (stop.exit_code if stop.received else 0)


def lab(dist: str | None = None, steps: int | None = None, seed: int | None = None, out: str | Path = "lab-out",
        points: str | Path | None = None, quiet: bool = False, **settings) -> dict:
    """Train the 2-D lab headless, as ``ganforge lab --headless`` does, writing its files (points, measures,
    pictures, model) to ``out``; returns the final measures (precision, recall; modes, high_quality and
    reverse_kl where the data has modes).
    ``dist``: ring, grid, moons, ...; ``points``: a CSV of x,y lines instead; any other keyword is a lab
    setting (``lr_d=3e-4``, ``noise="uniform"``; ``ganforge lab --dry-run`` lists them)."""
    changes = {k: v for k, v in (("dist", dist), ("steps", steps), ("seed", seed)) if v is not None}
    changes.update(settings)
    s, said = lab_settings(changes, points)
    say = (lambda msg: None) if quiet else print
    if said:
        say(f"read {said} from {points}")
    result, _ = run_lab(s, out, say=say)
    return result
