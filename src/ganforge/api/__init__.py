"""ganforge from Python: the functions the commands call, in one place.

``train`` -> ``Run``; ``load`` -> ``Generator``; ``evaluate`` -> ``Scores``; ``export`` -> ``Exported``;
``datasets``, ``load_dataset``; ``lab`` (the 2-D lab, headless). ``import ganforge`` gives these names.
"""

from ganforge.api.actions import Exported, Scores, datasets, evaluate, export, lab, load_dataset
from ganforge.api.drawing import Generator, load
from ganforge.api.session import Run, train
from ganforge.errors import GanforgeError

__all__ = ["train", "load", "evaluate", "export", "datasets", "load_dataset", "lab",
           "Run", "Generator", "Scores", "Exported", "GanforgeError"]
