"""``report(name, value)`` from anywhere; the training loop flushes means at its log interval.

Values stay on their device until a flush, which reads them all with one host transfer, so
reporting costs no synchronisation per step.
"""

from __future__ import annotations

from collections import defaultdict

import torch

_values: dict[str, list[torch.Tensor]] = defaultdict(list)


def report(name: str, value) -> None:
    if isinstance(value, torch.Tensor):
        value = value.detach().float().mean()
    else:
        value = torch.tensor(float(value))
    _values[name].append(value)


def flush() -> dict[str, float]:
    """Means of everything reported since the last flush, as Python floats."""
    if not _values:
        return {}
    names = list(_values)
    means = torch.stack([torch.stack(_values[n]).mean().cpu() for n in names])  # one read per name
    _values.clear()
    return dict(zip(names, means.tolist()))


def reset() -> None:
    _values.clear()
