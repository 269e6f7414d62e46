"""Stopping on a signal without losing work: Ctrl-C (SIGINT), SIGTERM (what SLURM, Kubernetes, spot machines
and torchrun's agent send before they kill a process) and SIGUSR1 (SLURM's ``--signal=USR1@SECONDS``
warning ahead of the end of a job).

The first signal only sets a flag: the loop finishes the step it is in, every rank agrees on the stop
(``distributed.any_true``), a checkpoint is written atomically, and the command exits with the signal's
status (``EXIT_CODES``). A second SIGINT or SIGTERM stops at once (``KeyboardInterrupt``); since every file is
written to a temp name and renamed, that, or a SIGKILL at the end of a grace period, loses nothing already
written (the next resume removes the temp files a cut write leaves).
"""

from __future__ import annotations

import signal
import threading

# signal -> the exit status of a run stopped by it (128 + its number, the shell's convention)
STOPPING = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM", signal.SIGUSR1: "SIGUSR1"}
EXIT_CODES = {sig: 128 + int(sig) for sig in STOPPING}   # 130, 143, 138 on Linux


class StopSignals:
    """While installed (a context manager, main thread only), the signals of ``STOPPING`` set ``received``
    instead of killing the process. ``received`` is the first signal (None: none yet)."""

    def __init__(self):
        self.received: signal.Signals | None = None
        self._old: dict = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in STOPPING:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    def _handle(self, signum, frame) -> None:
        sig = signal.Signals(signum)
        if self.received is not None and sig != signal.SIGUSR1:  # a second SIGINT or SIGTERM: stop now
            raise KeyboardInterrupt
        if self.received is None:
            self.received = sig

    @property
    def name(self) -> str:
        return STOPPING.get(self.received, "a signal")

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.received, 130)


def code_for(signum: int) -> int:
    """The exit status of a run stopped by signal number ``signum`` (agreed between ranks)."""
    return EXIT_CODES.get(signal.Signals(signum), 130) if signum else 130
