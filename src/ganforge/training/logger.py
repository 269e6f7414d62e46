"""Where a run's numbers go: progress bar, metrics.jsonl, TensorBoard and a loss-curve PNG.

The bar (tqdm) shows step, epoch, losses, D(x), D(G(z)), images/s and ETA on a terminal; when
stderr is not a terminal it is replaced by plain lines: twenty per run, and one at least every 30 s.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from ganforge.files import append_jsonl, read_jsonl, write_text_atomic

SHOW = {"d_loss": "D", "g_loss": "G", "D(x)": "D(x)", "D(G(z))": "D(G(z))"}
SLOW_LOGS = 3  # records in a row under half the best images/s before the progress line says so


def _ends_cleanly(path: Path) -> bool:
    """True when the file is absent, empty, or ends with a newline."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            if f.tell() == 0:
                return True
            f.seek(-1, 2)
            return f.read(1) == b"\n"
    except FileNotFoundError:
        return True


class RunLogger:
    def __init__(self, run: Path, total_steps: int, start_step: int = 0, quiet: bool = False,
                 tensorboard: bool = True):
        self.run, self.total, self.quiet = Path(run), total_steps, quiet
        self.metrics = self.run / "metrics.jsonl"
        records = read_jsonl(self.metrics)
        kept = [r for r in records if r.get("step", 0) <= start_step]
        # resumed from an earlier checkpoint: forget the steps after it; a last line cut mid-way by a
        # crash is dropped too, so the next record starts on a line of its own
        if len(kept) != len(records) or not _ends_cleanly(self.metrics):
            write_text_atomic(self.metrics, "".join(json.dumps(r) + "\n" for r in kept))
        self.history = [r for r in kept if r.get("kind") == "train"]
        self.evals = [r for r in kept if r.get("kind") == "eval" and "metric" in r]  # quality over time
        self.tty = self.shows_bar() and not quiet  # a bar; else plain lines (a log file, a pipe)
        self.bar = self.make_bar(total=total_steps, initial=start_step, disable=not self.tty, unit="step",
                                 dynamic_ncols=True, smoothing=0.1)
        # a run of unknown length (a time budget) prints every 30 seconds; ``remaining`` gives its ETA
        self.print_every = max(1, math.ceil(total_steps / 20)) if total_steps else math.inf
        self.remaining = None
        self.next_print = start_step + self.print_every
        self._slow, self._said_slow = 0, False
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.run), purge_step=start_step or None)

    def shows_bar(self) -> bool:
        """Whether progress is a bar (on a terminal) rather than plain lines."""
        return sys.stderr.isatty()

    def make_bar(self, **kw):
        return tqdm(**kw)

    def start(self, step: int, images_seen: int) -> None:
        self.t_start, self.s0 = time.perf_counter(), step
        self.last_print = self.t_start
        self.last = (step, images_seen, self.t_start)

    def say(self, message: str) -> None:
        if self.quiet:
            return
        if self.tty:
            self.bar.write(message)
        else:
            print(message, flush=True)

    def log(self, step: int, epoch: float, images_seen: int, values: dict) -> None:
        now = time.perf_counter()
        s0, i0, t0 = self.last
        ips = (images_seen - i0) / max(now - t0, 1e-9)
        self.last = (step, images_seen, now)
        rec = {"kind": "train", "step": step, "epoch": round(epoch, 4), "images_seen": images_seen,
               **{k: round(v, 6) for k, v in values.items()}, "images_per_s": round(ips, 2),
               "time": round(time.time(), 3)}
        append_jsonl(self.metrics, rec)
        self.history.append(rec)
        if self.writer:
            for k, v in values.items():
                self.writer.add_scalar(f"train/{k}", v, step)
            self.writer.add_scalar("train/images_per_s", ips, step)
        self._watch_speed(ips, now - t0)
        post = {"ep": f"{epoch:.2f}", **{SHOW[k]: f"{values[k]:.3f}" for k in SHOW if k in values},
                "img/s": f"{ips:.0f}"}
        self.bar.set_postfix(post, refresh=False)
        self.bar.update(step - self.bar.n)
        due = step >= self.next_print or step == self.total or now - self.last_print > 30
        if not self.tty and not self.quiet and due:
            self.next_print, self.last_print = step + self.print_every, now
            elapsed = now - self.t_start
            eta = self.remaining() if self.remaining else elapsed / max(step - self.s0, 1) * (self.total - step)
            print(f"step {step}/{self.total or '-'} " + " ".join(f"{k}={v}" for k, v in post.items())
                  + f" eta={eta:.0f}s", flush=True)

    def _watch_speed(self, ips: float, seconds: float) -> None:
        """Say once, when images/s has stayed under half of this run's best for ``SLOW_LOGS`` records in a
        row, that something else seems to be using the machine (and again after it recovered and fell)."""
        if seconds < 0.2:  # too short a window to judge
            return
        self.best_ips = max(getattr(self, "best_ips", 0.0), ips)
        slow = ips < 0.5 * self.best_ips
        self._slow = self._slow + 1 if slow else 0
        if not slow:
            self._said_slow = False
        if self._slow >= SLOW_LOGS and not self._said_slow:
            self._said_slow = True
            self.say(f"images/s has been {ips:.0f}, under half of this run's best ({self.best_ips:.0f}), for "
                     f"{SLOW_LOGS} records: another program seems to be using the CPU")

    def samples(self, step: int, imgs: torch.Tensor, logits: tuple[torch.Tensor, torch.Tensor] | None,
                z: torch.Tensor) -> None:
        if self.writer:
            from torchvision.utils import make_grid

            self.writer.add_image("samples", make_grid(imgs.add(1).div(2).clamp(0, 1), nrow=8), step)
            if logits is not None:
                self.writer.add_histogram("D/real_logits", logits[0].float().cpu(), step)
                self.writer.add_histogram("D/fake_logits", logits[1].float().cpu(), step)
            self.writer.add_histogram("z", z.float().cpu(), step)
            self.writer.flush()
        self.loss_curve()

    def event(self, step: int, record: dict, message: str) -> None:
        append_jsonl(self.metrics, {"step": step, **record})
        if record.get("kind") == "eval" and "metric" in record:
            self.evals.append({"step": step, **record})
            self.loss_curve()
        if self.writer:
            if "metric" in record:  # a quality metric: one scalar under its own name
                self.writer.add_scalar(f"eval/{record['metric']}", record["value"], step)
            else:
                for k, v in record.items():
                    if isinstance(v, float):
                        self.writer.add_scalar(f"{record.get('kind', 'eval')}/{k}", v, step)
        self.say(message)

    def loss_curve(self) -> None:
        """loss.png: D and G loss, and D's outputs on real and fake, against steps."""
        if len(self.history) < 2:
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        steps = [r["step"] for r in self.history]
        rows = 3 if self.evals else 2
        fig, axes = plt.subplots(rows, 1, figsize=(7, 3 * rows), sharex=False)
        a1, a2 = axes[0], axes[1]
        a2.sharex(a1)
        for key, ax in (("d_loss", a1), ("g_loss", a1), ("D(x)", a2), ("D(G(z))", a2)):
            if key in self.history[-1]:
                ax.plot(steps, [r.get(key, float("nan")) for r in self.history], label=key, lw=1)
        a1.set_ylabel("loss")
        a2.set_ylabel("D output")
        a2.set_xlabel("step")
        if self.evals:  # quality against training minutes (steps where a record predates them)
            a3, by = axes[2], {}
            timed = all("minutes" in r for r in self.evals)
            for r in self.evals:
                by.setdefault(r["metric"], []).append((r["minutes"] if timed else r["step"], r["value"]))
            for metric, pts in by.items():
                a3.plot(*zip(*pts), marker="o", ms=3, lw=1, label=metric)
            a3.set_ylabel("quality")
            a3.set_xlabel("training minutes" if timed else "step")
        for ax in axes:
            ax.legend(loc="upper right")
            ax.grid(alpha=0.3)
        fig.tight_layout()
        tmp = self.run / ".loss.tmp.png"
        fig.savefig(tmp, dpi=90)
        plt.close(fig)
        tmp.replace(self.run / "loss.png")

    def close(self) -> None:
        self.bar.close()
        if self.writer:
            self.writer.close()


class NullLogger:
    """What ranks other than 0 log to: nothing."""

    def start(self, *a):
        pass

    def log(self, *a):
        pass

    def samples(self, *a):
        pass

    def event(self, *a):
        pass

    def say(self, *a):
        pass

    def close(self):
        pass
