"""The offline default: scikit-learn's 1,797 real handwritten 8x8 digits, with labels.

They ship inside scikit-learn, so they need no network. Pixel values 0..16 become 0..255;
resizing to the training resolution happens in the common loader.
"""

from __future__ import annotations

import numpy as np
import torch

CLASSES = [str(i) for i in range(10)]


def load() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.clip(np.rint(d.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)  # (1797, 8, 8)
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(d.target.astype(np.int64))
