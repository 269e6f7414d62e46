"""A lab that trains in a background thread while a page watches: play, pause, one step, one D or G
step, slow motion, reset, and settings changed while it runs. Every call is safe from any thread."""

from __future__ import annotations

import threading
import time

from ganforge.errors import GanforgeError
from ganforge.lab.settings import REBUILD, LabSettings, SettingError, updated, validate
from ganforge.lab.trainer import LabTrainer

RECORD_EVERY = 50   # iterations between measurements (curves)
TICK = 0.03         # seconds of training between chances for the page to read a frame
SLOW = 0.25         # slow motion: seconds between iterations


class LabSession:
    def __init__(self, settings: LabSettings):
        validate(settings)
        self.lock = threading.Lock()
        self.trainer = LabTrainer(settings)
        self.trainer.record()
        self.playing, self.slow = False, False
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="lab-trainer", daemon=True)
        self.thread.start()

    @property
    def settings(self) -> LabSettings:
        return self.trainer.s

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.playing:
                time.sleep(0.01)
                continue
            end = time.perf_counter() + TICK
            with self.lock:
                while self.playing and time.perf_counter() < end:
                    self._iterate()
                    if self.slow:
                        break
            time.sleep(SLOW if self.slow else 0.001)  # let a frame request take the lock

    def _iterate(self) -> None:
        self.trainer.train_step()
        if self.trainer.step % RECORD_EVERY == 0:
            self.trainer.record()

    def control(self, action: str) -> None:
        actions = ("play", "pause", "step", "d_step", "g_step", "reset", "slow", "normal")
        if action not in actions:
            raise SettingError("action", f"unknown action '{action}'; use one of {', '.join(actions)}")
        if action in ("play", "pause"):
            self.playing = action == "play"
            return
        if action in ("slow", "normal"):
            self.slow = action == "slow"
            return
        with self.lock:
            if action == "reset":
                self.trainer = LabTrainer(self.trainer.s)
                self.trainer.record()
            elif action == "step":
                self._iterate()
            else:
                self.trainer.single_step(action[0])

    def change(self, changes: dict) -> LabSettings:
        """Apply settings; a bad value raises SettingError naming the field and changes nothing."""
        with self.lock:
            new = updated(self.trainer.s, changes)
            if any(getattr(new, k) != getattr(self.trainer.s, k) for k in REBUILD):
                self.trainer = LabTrainer(new)
                self.trainer.record()
            else:
                self.trainer.update(new)
            return new

    def frame(self, history_after: int = 0) -> dict:
        with self.lock:
            f = self.trainer.frame()
            h = self.trainer.history
            return {**f, "trainer_id": id(self.trainer), "playing": self.playing, "slow": self.slow, "settings": self.trainer.s.to_dict(),
                    "history": h[history_after:], "history_total": len(h),
                    "history_reset": history_after > len(h)}

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)


def check_action(body: dict) -> str:
    action = body.get("action")
    if not isinstance(action, str):
        raise GanforgeError("a control needs an action")
    return action
