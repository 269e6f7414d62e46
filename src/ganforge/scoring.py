"""Scoring a run, a checkpoint or a folder of images against a dataset (what ``ganforge eval`` does):
the samples drawn or read, the metrics chosen where none are named, the results with their setup."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ganforge import checkpoint
from ganforge.data import DataConfig, data_config, data_from_record, load_dataset
from ganforge.errors import GanforgeError
from ganforge.generate import labels_for, load_generator, trained_on
from ganforge.grid import to_uint8
from ganforge.metrics import (
    EVAL_RESOLUTION,
    JUDGE_METRICS,
    Evaluator,
    Result,
    has_shipped_judge,
    parse_metrics,
)
from ganforge.sampling import generate, seeded_z
from ganforge.training.run_dir import is_run


@dataclass
class Scored:
    results: list[Result]
    run: Path | None          # the run folder the results belong in (its metrics.jsonl), if any


def score(source: str | Path, metrics: str | None = None, n: int = 10000, dataset: str | None = None,
          split: str = "train", n_ref: int = 10000, judge: str | None = None, inception_weights: str | None = None,
          seed: int = 0, ema: bool | None = None, device="cpu") -> Scored:
    src = Path(source)
    if not src.exists():
        raise GanforgeError(f"{src} not found; pass a run folder, a .safetensors checkpoint or a folder of images")
    if n < 2 or n_ref < 2:
        raise GanforgeError("-n and --n-ref must be at least 2")
    labels, setup, run, data = None, {}, None, None
    if src.is_dir() and not is_run(src):  # a folder of images, scored like samples
        if not dataset:
            raise GanforgeError("scoring a folder of images needs --dataset NAME to compare against")
        if dataset == "folder":
            raise GanforgeError("a folder of images is scored against a named dataset or a run's data; to score "
                                "against another folder, train on it and evaluate that run")
        conditional = False
        data = data_config(dataset)
        imgs = load_dataset(DataConfig(name="folder", path=str(src),
                                       resolution=EVAL_RESOLUTION.get(dataset, data.resolution)))
        samples = imgs.images[:n]
        setup = {"source": str(src)}
    else:
        gen = load_generator(src, ema=ema, device=device)
        trained = trained_on(gen)
        dataset, conditional = dataset or trained, gen.conditional
        record = checkpoint.read_meta(gen.path).get("data")
        data = data_from_record(record) if record and dataset == trained else data_config(dataset) \
            if dataset != "folder" else None
        labels = labels_for(gen, n)
        samples = to_uint8(generate(gen, seeded_z(gen, n, seed), labels))
        run = src if src.is_dir() else (src.parent.parent if is_run(src.parent.parent) else None)
        setup = {"checkpoint": gen.path.name, "step": gen.step, "ema": gen.ema, "seed": seed}
    if metrics:
        names = parse_metrics(metrics)
    elif has_shipped_judge(dataset, judge):
        names = ["fd", "coverage"] + (["class-acc"] if conditional else [])
    else:  # a judge trained on the data
        names = ["fd"] + (["class-acc"] if conditional else [])
    if data is None and not has_shipped_judge(dataset, judge) and any(m in JUDGE_METRICS for m in names):
        raise GanforgeError(f"{src} does not record where its {dataset} images are (a run from an earlier "
                            "ganforge); score it with --metrics fid, or train it again")
    evaluator = Evaluator(dataset, names, split, n_ref, judge, inception_weights, device, data=data)
    return Scored(evaluator(samples, labels, **setup), run)


def per_class_line(result: Result) -> str | None:
    """The per-class accuracies of a class-acc result, on one line."""
    per = result.extra.get("per_class")
    return ", ".join(f"{c}: {a:.2f}" for c, a in per.items()) if per else None



