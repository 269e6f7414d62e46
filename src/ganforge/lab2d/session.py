"""A lab that trains in a background thread while a page watches: play, pause, one step, one D or G
step, slow motion, reset, and settings changed while it runs. Every call is safe from any thread.

The trainer thread holds the lock for one phase at a time (one D step or one G step, whose cost the
settings cap), so pause, settings and frames are answered between phases whatever the settings. It
never dies: a step that raises, or a loss that becomes NaN or infinite, pauses training and sets
``error`` (shown on the page beside the status and printed on the command line); play tries again,
and reset (or a setting that rebuilds the networks) starts a working trainer.
"""

from __future__ import annotations

import sys
import threading
import time

import torch

from ganforge.errors import GanforgeError
from ganforge.lab2d import modelfile
from ganforge.lab2d.samplers import CALIBRATE_STEPS, Calibrated, refine, reject
from ganforge.lab2d.settings import CHOICES as SETTING_CHOICES
from ganforge.lab2d.settings import REBUILD, LabSettings, SettingError, updated, validate
from ganforge.lab2d.trainer import LabTrainer, as_lists
from ganforge.web.httpbase import dumps

RECORD_EVERY = 50   # iterations between measurements (curves)
TICK = 0.03         # seconds of training between chances for the page to read a frame
SLOW = 0.25         # slow motion: seconds between iterations
FRAME_EVERY = 0.06  # while playing, polls within this many seconds share one frame (about 16 frames/s at most)
LIVE_CALIBRATION = 10  # calibration steps per frame while a sampler is shown
SAMPLER_EVERY = 1.0    # while playing, the sampler's view (about 0.1 s to make) is remade at most this often
DEFAULTS = {**LabSettings().to_dict(), "drawn": None}  # the page leaves these out of its address
CHOICES = {k: list(v) for k, v in SETTING_CHOICES.items()}  # the page's menus, from the settings' own lists
ACTIONS = ("play", "pause", "step", "d_step", "g_step", "reset", "slow", "normal")


class LabSession:
    def __init__(self, settings: LabSettings, say=None):
        validate(settings)
        self.lock = threading.Lock()
        self.say = say or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.error: str | None = None
        self._version = 0  # bumped by every control and setting: a cached frame is then stale
        self._frame_lock = threading.Lock()
        self._frame_cache = ((None,), 0.0, {}, b"{}")
        self.cals, self._cal_for = {}, None  # the sampler's calibrated logits, for ``_cal_for``
        self._sampled_cache = (None, 0.0, None)  # (key, when, view): the last sampler view
        self.trainer = LabTrainer(settings)
        self.trainer.record()
        self.playing, self.slow = False, False
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="lab-trainer", daemon=True)
        self.thread.start()

    @property
    def settings(self) -> LabSettings:
        return self.trainer.s

    # ---- training, one phase at a time ------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._play_a_while()
            except Exception as e:  # noqa: BLE001 (the loop itself must outlive anything)
                self._fail(f"{type(e).__name__}: {e}")

    def _play_a_while(self) -> None:
        if not self.playing:
            time.sleep(0.01)
            return
        end = time.perf_counter() + TICK
        while self.playing and time.perf_counter() < end:
            done = self._phase()
            if done and self.slow:
                break
        time.sleep(SLOW if self.slow else 0.001)  # let a frame request take the lock

    def _phase(self) -> bool:
        """One phase under the lock; True when it completed an iteration. Failures pause training."""
        with self.lock:
            trainer = self.trainer
            try:
                done = trainer.phase_step()
            except Exception as e:  # noqa: BLE001 (bad numbers raise from deep in torch)
                self._fail(f"training stopped at step {trainer.step}: {type(e).__name__}: {e}")
                return True
            if trainer.diverged:
                self._fail(f"training diverged: {trainer.diverged}; lower the learning rates, then press reset")
                return True
            if done and trainer.step % RECORD_EVERY == 0:
                self._record()
            return done

    def _record(self) -> None:
        try:
            self.trainer.record()
        except Exception as e:  # noqa: BLE001
            self._fail(f"measuring failed at step {self.trainer.step}: {type(e).__name__}: {e}")

    def _fail(self, message: str) -> None:
        self.playing = False
        line = message.splitlines()[0][:400] if message else "training stopped"
        if line != self.error:
            self.say(f"lab: {line}")
        self.error = line

    def _fresh(self, settings: LabSettings) -> None:
        self.trainer = LabTrainer(settings)
        self.error = None
        self.trainer.record()

    # ---- what the page asks -----------------------------------------------------------------------
    def control(self, action: str) -> None:
        if action not in ACTIONS:
            raise SettingError("action", f"unknown action '{action}'; use one of {', '.join(ACTIONS)}")
        self._version += 1
        if action in ("play", "pause"):
            if action == "play":
                self.error = None  # try again; a failure pauses with its message anew
            self.playing = action == "play"
            return
        if action in ("slow", "normal"):
            self.slow = action == "slow"
            return
        if action == "reset":
            with self.lock:
                self._fresh(self.trainer.s)
            return
        self.error = None
        if action == "step":  # phase by phase, the lock released between them
            while not self._phase():
                pass
            return
        with self.lock:
            try:
                self.trainer.single_step(action[0])
            except Exception as e:  # noqa: BLE001
                self._fail(f"training stopped at step {self.trainer.step}: {type(e).__name__}: {e}")
            if self.trainer.diverged:
                self._fail(f"training diverged: {self.trainer.diverged}; lower the learning rates, then press reset")

    def change(self, changes: dict) -> LabSettings:
        """Apply settings; a bad value raises SettingError naming the field and changes nothing."""
        new = updated(self.settings, changes)  # checked before the lock: a bad value never waits
        with self.lock:
            new = updated(self.trainer.s, changes)
            if any(getattr(new, k) != getattr(self.trainer.s, k) for k in REBUILD):
                self._fresh(new)
            else:
                self.trainer.update(new)
            if new.threads != torch.get_num_threads():
                torch.set_num_threads(new.threads)
            self._version += 1
            return new

    def _view(self) -> tuple[dict, bytes]:
        """The frame without the curves, and its JSON: computed once per state of the trainer and shared
        by every poll (while playing, at most once per ``FRAME_EVERY`` seconds), so that many pages cost
        the trainer one frame, not one each."""
        with self._frame_lock:
            key = (id(self.trainer), self.trainer.step, self.trainer.phase, self.playing, self.slow, self.error,
                   self._version)
            cached_key, at, view, raw = self._frame_cache
            fresh = time.monotonic() - at < FRAME_EVERY
            if cached_key == key or (self.playing and fresh and cached_key[0] == key[0]):
                return view, raw
            with self.lock:
                view = self._draw()
            raw = dumps(view)
            self._frame_cache = (key, time.monotonic(), view, raw)
            return view, raw

    def _draw(self) -> dict:
        t = self.trainer
        try:
            f = t.frame()
            if t.s.sampler != "plain":
                f["sampled"] = self._sampled_view(t)
        except Exception as e:  # noqa: BLE001 (a blown-up G: the page shows the message instead)
            self._fail(f"drawing failed at step {t.step}: {type(e).__name__}: {e}")
            f = {"step": t.step, "radius": t.radius, "heat": [], "heat_size": 0, "real": [], "fake": [],
                 "push": [], "manifold": [], "manifold_shape": [0, 0], "noise": [], "noise_component": [],
                 "noise_extent": 1.0, "phase": None, "d_loss": None, "g_loss": None, "seconds": t.seconds}
        shown = {**t.s.to_dict(), "drawn": None}  # the points themselves can be thousands: their count only
        return {**f, "trainer_id": id(t), "playing": self.playing, "slow": self.slow, "error": self.error,
                "settings": shown, "drawn_count": len(t.s.drawn or []), "defaults": DEFAULTS, "choices": CHOICES}

    def _sampled_view(self, t) -> dict:
        """The sampler's view, remade when the trainer, its step or the sampler changed, but while playing
        at most every ``SAMPLER_EVERY`` seconds (it carries the G points it started from, so an older one
        still draws right)."""
        key, when, view = self._sampled_cache
        now = time.monotonic()
        new_key = (id(t), t.s.sampler, t.s.seed, self._version)
        if view is None or key != new_key or (t.step != view["step"] and not (self.playing and now - when < SAMPLER_EVERY)):
            view = {**self._sampled(t), "step": t.step}
            self._sampled_cache = (new_key, now, view)
        return view

    def _sampled(self, t) -> dict:
        """What the sampler makes of the shown fake points: which rejection keeps, where refinement moves
        them. Its calibrated logits learn a few steps per frame (the one for refinement, which does not
        depend on G, only until it has had ``CALIBRATE_STEPS``)."""
        name = t.s.sampler
        need = {"rejection": ("G",), "refine": ("uniform",), "both": ("G", "uniform")}[name]
        if self._cal_for is not t:
            self.cals, self._cal_for = {}, t
        for k in need:
            cal = self.cals.setdefault(k, Calibrated(t, k))
            if k == "G" or cal.steps < CALIBRATE_STEPS:
                cal.train(LIVE_CALIBRATION, batch=256)
        fake = t.sample_points(t.show_z)
        out = {"name": name, "calibration_steps": min(self.cals[k].steps for k in need), "fake": as_lists(fake)}
        if "G" in need:
            keep, _ = reject(self.cals["G"], fake, torch.Generator().manual_seed(t.s.seed + 12))
            out["kept"], out["kept_share"] = keep.tolist(), float(keep.float().mean())
        if "uniform" in need:
            new = refine(self.cals["uniform"], fake, t.radius)
            out["moved"] = as_lists(new)
            out["mean_move"] = float((new - fake).norm(dim=1).mean())
        return out

    # ---- files ------------------------------------------------------------------------------------
    def model_bytes(self) -> tuple[bytes, str]:
        """The model and settings as a file, and a name for it."""
        with self.lock:
            t = self.trainer
            return modelfile.to_bytes(t), f"ganforge-lab-{t.s.dist}-step{t.step}.safetensors"

    def load_model(self, data: bytes) -> LabSettings:
        """Continue from a saved model (paused); a bad file changes nothing."""
        trainer = modelfile.from_bytes(data)
        with self.lock:
            self.playing = False
            self.trainer, self.error = trainer, None
            self._version += 1
            return trainer.s

    def load_points(self, text: str) -> tuple[LabSettings, str]:
        """Train on the points of a CSV file (``dist=points``); returns the settings and what was read."""
        from ganforge.lab2d.dists import parse_csv

        try:
            points, said = parse_csv(text, self.settings.seed)
        except GanforgeError as err:
            raise SettingError("points", str(err)) from None
        return self.change({"dist": "points", "drawn": points}), said

    def _curves(self, history_after: int) -> dict:
        with self.lock:
            h = self.trainer.history
            return {"history": h[history_after:], "history_total": len(h), "history_reset": history_after > len(h)}

    def frame(self, history_after: int = 0) -> dict:
        """What the page draws now, and the curves' records from ``history_after`` on."""
        view, _ = self._view()
        return {**view, **self._curves(history_after)}

    def frame_json(self, history_after: int = 0) -> bytes:
        """``frame()`` as JSON, reusing the shared frame's encoding."""
        _, raw = self._view()
        return raw[:-1] + b", " + dumps(self._curves(history_after))[1:]

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)


def check_action(body: dict) -> str:
    action = body.get("action")
    if not isinstance(action, str):
        raise GanforgeError("a control needs an action")
    return action
