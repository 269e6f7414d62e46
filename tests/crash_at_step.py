"""``python tests/crash_at_step.py ARGS``: ``ganforge ARGS``, except that one process dies by SIGKILL once, at the
start of a step, as a process or a machine does when it fails. Launched by torchrun in the cluster tests.

GANFORGE_CRASH_AT: the step; GANFORGE_CRASH_RANK: which rank dies (default 1; -1: whichever rank this process
is, for a node whose ranks the rendezvous chooses); GANFORGE_CRASH_MARK: a file
made when it dies, so that it dies once (a restart runs normally); GANFORGE_CRASH_GROUP=1: the process
group of its torchrun agent dies too (a node: the agent and its workers).
"""

import os
import signal
import sys
from pathlib import Path

from ganforge.cli import main
from ganforge.training.loop import Trainer

AT = int(os.environ.get("GANFORGE_CRASH_AT", "-1"))      # unset: no process dies (plain ganforge)
RANK = int(os.environ.get("GANFORGE_CRASH_RANK", "1"))
MARK = Path(os.environ.get("GANFORGE_CRASH_MARK", "crashed"))
_step = Trainer.train_step


def train_step(self):
    if AT >= 0 and self.step == AT and RANK in (-1, self.world.rank) and not MARK.exists():
        MARK.write_text(f"rank {RANK} died at step {AT}\n")
        if os.environ.get("GANFORGE_CRASH_GROUP") == "1":  # torchrun runs each worker in a session of its
            os.killpg(os.getpgid(os.getppid()), signal.SIGKILL)  # own: the agent's group is the node
        os.kill(os.getpid(), signal.SIGKILL)
    return _step(self)


Trainer.train_step = train_step
if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
