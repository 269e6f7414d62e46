"""The Keras CIFAR-10 GAN (Dense to 4x4x256, Conv2DTranspose(128, 4x4, stride 2) x3, tanh conv).

At 32 px it matches the Keras model layer for layer (G 1,466,115 and D 522,497 parameters).
Other resolutions add or remove stride-2 stages so that the base stays 4x4 (28 px: 4 -> 7 -> 14
-> 28, cropping odd sides). Weights use Glorot-uniform init and zero biases, as Keras does.
"""

from __future__ import annotations

import torch.nn as nn

from ganforge.models.dcgan import Up, stage_sizes


def glorot_init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)


class Generator(nn.Module):
    def __init__(self, resolution: int = 32, channels: int = 3, z_dim: int = 100, **_):
        super().__init__()
        sizes = stage_sizes(resolution)[::-1]
        self.base = sizes[0]
        self.project = nn.Sequential(nn.Linear(z_dim, 256 * self.base ** 2), nn.LeakyReLU(0.2, True))
        layers, cin = [], 256
        for s in sizes[1:]:
            layers += [Up(cin, 128, s, bias=True), nn.LeakyReLU(0.2, True)]
            cin = 128
        layers += [nn.Conv2d(128, channels, 3, 1, 1), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        glorot_init(self)

    def forward(self, z, y=None):
        return self.body(self.project(z).view(-1, 256, self.base, self.base))


class Discriminator(nn.Module):
    def __init__(self, resolution: int = 32, channels: int = 3, dropout: float = 0.4, **_):
        super().__init__()
        sizes = stage_sizes(resolution)
        n = len(sizes) - 1
        widths = ([128, 128, 256] + [256] * n)[:n]
        layers, cin = [nn.Conv2d(channels, 64, 3, 1, 1), nn.LeakyReLU(0.2, True)], 64
        for w in widths:  # 3x3 stride 2, padding 1: side -> ceil(side / 2), like Keras 'same'
            layers += [nn.Conv2d(cin, w, 3, 2, 1), nn.LeakyReLU(0.2, True)]
            cin = w
        layers += [nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin * sizes[-1] ** 2, 1)]
        self.net = nn.Sequential(*layers)
        glorot_init(self)

    def forward(self, x, y=None):
        return self.net(x).squeeze(1)
