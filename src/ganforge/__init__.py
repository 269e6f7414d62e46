"""ganforge: train generative adversarial networks on images, from one command or from Python.

    import ganforge
    run = ganforge.train(data="digits", minutes=1)      # a Run: its folder, checkpoints, samples
    g = ganforge.load(run)                              # a Generator
    images = g.sample(16, seed=0)                       # uint8 (16, C, H, W), as `ganforge generate`
    ganforge.evaluate(run)                              # {"fd-digits": ..., "coverage": ...}
    ganforge.export(run, format="onnx")

Public names: ``train``, ``load``, ``evaluate``, ``export``, ``datasets``, ``load_dataset``, ``lab``, and the
classes they return (``Run``, ``Generator``, ``Scores``, ``Exported``) and raise (``GanforgeError``); they
live in ``ganforge.api``, and everything else where docs/architecture.md puts it.
"""

from ganforge.api import (
                          Exported,
                          GanforgeError,
                          Generator,
                          Run,
                          Scores,
                          datasets,
                          evaluate,
                          export,
                          lab,
                          load,
                          load_dataset,
                          train,
)
from ganforge.version import __version__

__all__ = ["train", "load", "evaluate", "export", "datasets", "load_dataset", "lab",
           "Run", "Generator", "Scores", "Exported", "GanforgeError", "__version__"]
