"""CPU threads that share the machine: as many as the cores other programs leave free.

PyTorch's CPU kernels run on one OpenMP thread per core, and those threads spin while they wait for each
other. When another program holds a core, a spinning thread waits for one that is not running, and
training collapses (measured here: a quarter of its speed beside one busy loop, and two trainings at once
each at an eighth). One thread per free core avoids the fight without slowing training when the machine
is free. ``CpuShare`` reads the kernel's CPU counters (``/proc/stat`` for the cores this process may run
on, ``/proc/self/stat`` for its own use) every few seconds; the CPU time others used in that window is
the number of cores they hold, and the thread count follows, with hysteresis so that a short burst
changes nothing. Where ``/proc`` is missing (not Linux), nothing changes.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpus() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))


class CpuShare:
    """Decides the thread count from what other programs use of this process's cores.

    ``poll()`` is cheap to call every step; every ``every`` seconds it reads the counters and returns a new
    thread count when one is due (else None). A count goes down as soon as others hold a core for a whole
    window, and back up only after ``patience`` windows in a row with the core free again."""

    def __init__(self, threads: int, every: float = 2.0, patience: int = 2):
        self.cpus = sorted(_cpus())
        self.most = max(1, threads)                 # the count when the machine is free
        self.threads = self.most
        self.every, self.patience = every, patience
        self.others = 0.0                           # cores other programs used in the last window
        self._calm = 0
        self._last = self._read()

    @property
    def available(self) -> bool:
        return self._last is not None

    def _read(self) -> tuple[float, float, float] | None:
        """(time, busy ticks of our cores, this process's ticks), or None where the kernel does not say."""
        try:
            busy = 0.0
            for line in Path("/proc/stat").read_text().splitlines():
                name, *vals = line.split()
                if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in self.cpus:
                    v = [float(x) for x in vals[:8]]
                    busy += v[0] + v[1] + v[2] + v[5] + v[6] + v[7]  # user nice system irq softirq steal
            fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
            own = float(fields[11]) + float(fields[12])  # utime, stime (all our threads)
        except (OSError, ValueError, IndexError):
            return None
        return time.monotonic(), busy, own

    def poll(self) -> int | None:
        if self._last is None or time.monotonic() - self._last[0] < self.every:
            return None
        now = self._read()
        if now is None:
            return None
        (t0, busy0, own0), (t1, busy1, own1) = self._last, now
        self._last = now
        seconds = t1 - t0
        self.others = max(0.0, (busy1 - busy0) - (own1 - own0)) / TICKS / seconds
        free = len(self.cpus) - self.others
        want = max(1, min(self.most, math.floor(free + 0.25)))  # a core others hold 3/4 of is theirs
        if want < self.threads:
            self._calm = 0
            self.threads = want
            return want
        if want > self.threads:
            self._calm += 1
            if self._calm >= self.patience:
                self._calm = 0
                self.threads = want
                return want
        else:
            self._calm = 0
        return None

    def message(self) -> str:
        if self.threads < self.most:
            return (f"another program is using about {self.others:.1f} of the {len(self.cpus)} CPU cores: "
                    f"training on {self.threads} thread(s) until they are free (train.threads=N fixes the count)")
        return f"the CPU cores are free again: training on {self.threads} threads"
