"""Label-conditioned lite: a class embedding joined to z in G, a projection discriminator (``lite.py``)."""

from __future__ import annotations

from ganforge.models import lite


class Generator(lite.Generator):
    def __init__(self, num_classes: int = 10, **kw):
        super().__init__(num_classes=num_classes, conditional=True, **kw)


class Discriminator(lite.Discriminator):
    def __init__(self, num_classes: int = 10, **kw):
        super().__init__(num_classes=num_classes, conditional=True, **kw)
