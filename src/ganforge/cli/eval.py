"""``ganforge eval``: score a run, a checkpoint or a folder of images (``ganforge.scoring``), print a
line per metric and append each result to the run's metrics.jsonl."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    from ganforge.metrics.names import INCEPTION_METRICS, JUDGE_METRICS

    ev = sub.add_parser("eval", help="score samples: FD-<judge>, coverage, class accuracy, FID, KID, IS, P/R",
                        description="Score a run, a checkpoint, or a folder of images. Judge metrics: "
                                    f"{', '.join(JUDGE_METRICS)}. Inception metrics: {', '.join(INCEPTION_METRICS)}.")
    ev.add_argument("source", metavar="RUN_CHECKPOINT_OR_FOLDER", help="a run folder, its number under --runs-dir, "
                    "a .safetensors checkpoint, or a folder of images")
    ev.add_argument("--metrics", help="comma-separated (default: fd,coverage[,class-acc] where a judge exists, else fid)")
    ev.add_argument("-n", type=int, default=10000, help="images to generate, or at most to read from a folder "
                    "(default 10000)")
    ev.add_argument("--dataset", help="reference dataset (default: the one the run trained on; needed for folders)")
    ev.add_argument("--split", default="train", choices=["train", "test"], help="reference split (default train)")
    ev.add_argument("--n-ref", type=int, default=10000, help="reference images (default 10000)")
    ev.add_argument("--judge", help="judge to use (default: the dataset's)")
    ev.add_argument("--inception-weights", metavar="PATH", help="local copy of the Inception weights")
    ev.add_argument("--seed", type=int, default=0, help="noise seed of the generated images (default 0)")
    ev.add_argument("--ema", action=argparse.BooleanOptionalAction, default=None,
                    help="score the EMA generator (--ema) or the trained G (--no-ema); default: the EMA one "
                    "when the run has one")
    ev.add_argument("--device", default="cpu", help="device to generate and score on (default cpu)")
    ev.add_argument("--runs-dir", default="runs", help="where run numbers are looked up (default runs)")


def run(args) -> int:
    from ganforge.api.actions import evaluate

    scores = evaluate(args.source, args.metrics, args.n, args.dataset, args.split, args.n_ref, args.judge,
                      args.inception_weights, args.seed, args.ema, args.device, runs_dir=args.runs_dir)
    for line in scores.lines():
        print(line)
    return 0
