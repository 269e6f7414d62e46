"""The metrics by name and which way is better: what a config may name in ``train.eval_metrics``,
importable without the metrics themselves (or the config)."""

from __future__ import annotations

from ganforge.errors import GanforgeError

JUDGE_METRICS = {"fd": "lower", "coverage": "higher", "class-acc": "higher"}
INCEPTION_METRICS = {"fid": "lower", "kid": "lower", "is": "higher", "pr": "higher"}
METRICS = {**JUDGE_METRICS, **INCEPTION_METRICS}


def parse_metrics(spec: str | list[str]) -> list[str]:
    names = [m.strip() for m in (spec.split(",") if isinstance(spec, str) else spec) if m.strip()]
    for m in names:
        if m not in METRICS:
            raise GanforgeError(f"unknown metric '{m}'; metrics: {', '.join(METRICS)}")
    if not names:
        raise GanforgeError(f"no metric named; choose from {', '.join(METRICS)}")
    return names


def better(metric: str, new: float, old: float | None) -> bool:
    base = metric.split("-")[0] if metric.startswith("fd-") else metric
    direction = METRICS.get(base, "higher" if base in ("precision", "recall") else "lower")
    return old is None or (new < old if direction == "lower" else new > old)
