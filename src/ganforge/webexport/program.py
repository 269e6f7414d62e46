"""A generator as a short program of array operations that a page runs with TensorFlow.js (``runtime.js``).

Each model family has a forward here that mirrors its ``forward`` in ``ganforge.models``, written as a list
of operations on one value ``x`` (and the one-hot labels of a conditional model); the layers inside a
``Sequential`` are read one by one, so a change of widths, depths or resolution needs nothing new. BatchNorm
in eval mode is an affine map per channel. Images run channels-last (TensorFlow.js's layout), so weights are
written in the layouts its ops take: linear ``(in, out)``, convolution ``(kh, kw, in, out)``, transposed
convolution ``(kh, kw, out, in)``.

``run`` executes a program with PyTorch, reading the weights back from those layouts: the export checks it
against ``sampling.generate`` before anything is written, so a wrong program never reaches a page.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganforge.errors import GanforgeError
from ganforge.models.dcgan import Up


class Program:
    """Operations (dicts) and the float32 tensors they name by index."""

    def __init__(self):
        self.ops: list[dict] = []
        self.tensors: list[torch.Tensor] = []

    def tensor(self, t: torch.Tensor | None) -> int | None:
        if t is None:
            return None
        self.tensors.append(t.detach().float().contiguous().cpu())
        return len(self.tensors) - 1

    def add(self, op: str, **kw) -> None:
        self.ops.append({"op": op, **kw})

    def layers(self, module: nn.Module) -> None:
        """The ops of ``module``, or of each layer of a ``Sequential``."""
        for m in (module if isinstance(module, nn.Sequential) else [module]):
            self.layer(m)

    def layer(self, m: nn.Module) -> None:
        if isinstance(m, (nn.Identity, nn.Dropout)):
            return
        if isinstance(m, nn.Linear):
            self.add("linear", w=self.tensor(m.weight.T), b=self.tensor(m.bias))
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            self.affine(m)
        elif isinstance(m, nn.ReLU):
            self.add("relu")
        elif isinstance(m, nn.LeakyReLU):
            self.add("leaky", alpha=float(m.negative_slope))
        elif isinstance(m, nn.Tanh):
            self.add("tanh")
        elif isinstance(m, Up) and _is(m.conv, 4, 2, 1):
            self.add("convT", w=self.tensor(m.conv.weight.permute(2, 3, 1, 0)), b=self.tensor(m.conv.bias),
                     out=int(m.out_size))
        elif isinstance(m, nn.Conv2d) and _is(m, m.kernel_size[0], 1, m.kernel_size[0] // 2) and m.kernel_size[0] % 2:
            self.add("conv", w=self.tensor(m.weight.permute(2, 3, 1, 0)), b=self.tensor(m.bias))
        else:
            raise GanforgeError(f"the web export cannot carry a {type(m).__name__} layer ({m}); export this "
                                "generator as onnx or torchscript instead")

    def affine(self, bn: nn.Module) -> None:
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        self.add("affine", scale=self.tensor(scale), shift=self.tensor(bn.bias - bn.running_mean * scale))


def _is(conv: nn.Module, k: int, stride: int, pad: int) -> bool:
    """A square kernel ``k`` with ``stride`` and ``pad`` on both axes, no dilation, one group."""
    return (tuple(conv.kernel_size) == (k, k) and tuple(conv.stride) == (stride, stride)
            and tuple(conv.padding) == (pad, pad) and tuple(conv.dilation) == (1, 1) and conv.groups == 1
            and tuple(getattr(conv, "output_padding", (0, 0))) == (0, 0))


# ---- the families' forwards ----------------------------------------------------------------------------------
def _mlp(G, p: Program) -> None:
    p.layers(G.net)
    p.add("to_maps", shape=list(G.shape))


def _dcgan(G, p: Program) -> None:
    p.layers(G.project)
    p.add("to_maps", shape=[G.c0, G.base, G.base])
    p.affine(G.bn0)
    p.add("relu")
    p.layers(G.body)


def _keras_cifar(G, p: Program) -> None:
    p.layers(G.project)
    p.add("to_maps", shape=[256, G.base, G.base])
    p.layers(G.body)


def _cdcgan(G, p: Program) -> None:
    p.add("onehot", classes=int(G.k))
    p.add("cat_label")
    p.layers(G.fc1)
    p.add("cat_label")
    p.layers(G.fc2)
    p.add("to_maps", shape=[G.c0, G.base, G.base])
    for i, up in enumerate(G.ups):
        p.add("cat_label_maps")
        p.layer(up)
        if i < len(G.bns):
            p.affine(G.bns[i])
            p.add("relu")
        else:
            p.add("tanh")


FORWARDS = {"mlp": _mlp, "dcgan": _dcgan, "keras-cifar": _keras_cifar, "cdcgan": _cdcgan}


def build(G: nn.Module, arch: str) -> Program:
    if arch not in FORWARDS:
        raise GanforgeError(f"the web export has no forward for the '{arch}' family (it knows "
                            f"{', '.join(FORWARDS)}); export it as onnx or torchscript, or add its forward to "
                            "ganforge/webexport/program.py")
    p = Program()
    with torch.no_grad():
        FORWARDS[arch](G.eval(), p)
    return p


def macs(p: Program) -> int:
    """Multiply-adds per image: what sets how many images a page draws between two looks at its events."""
    total, side = 0, 1
    for o in p.ops:
        if o["op"] == "to_maps":
            side = o["shape"][1]
        elif o["op"] == "linear":
            total += p.tensors[o["w"]].numel()
        elif o["op"] == "convT":
            total += side * side * p.tensors[o["w"]].numel()
            side = o["out"]
        elif o["op"] == "conv":
            total += side * side * p.tensors[o["w"]].numel()
    return total


# ---- the same program run with PyTorch -------------------------------------------------------------------------
def run(p: Program, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Images (N, H, W, C) in [-1, 1] from ``z`` (N, z_dim), as the page computes them."""
    T = p.tensors
    x, y1h = z.float(), None
    for o in p.ops:
        op = o["op"]
        if op == "onehot":
            y1h = F.one_hot(labels.long(), o["classes"]).float()
        elif op == "cat_label":
            x = torch.cat([x, y1h], 1)
        elif op == "cat_label_maps":
            x = torch.cat([x, y1h[:, None, None, :].expand(-1, x.shape[1], x.shape[2], -1)], 3)
        elif op == "linear":
            x = x @ T[o["w"]] + (T[o["b"]] if o["b"] is not None else 0)
        elif op == "affine":
            x = x * T[o["scale"]] + T[o["shift"]]
        elif op == "to_maps":
            x = x.reshape(len(x), *o["shape"]).permute(0, 2, 3, 1)
        elif op == "convT":
            h = F.conv_transpose2d(x.permute(0, 3, 1, 2), T[o["w"]].permute(3, 2, 0, 1), None, 2, 1)
            x = h[..., :o["out"], :o["out"]].permute(0, 2, 3, 1)
            x = x + T[o["b"]] if o["b"] is not None else x
        elif op == "conv":
            w = T[o["w"]].permute(3, 2, 0, 1)
            x = F.conv2d(x.permute(0, 3, 1, 2), w, None, 1, w.shape[-1] // 2).permute(0, 2, 3, 1)
            x = x + T[o["b"]] if o["b"] is not None else x
        elif op == "relu":
            x = F.relu(x)
        elif op == "leaky":
            x = F.leaky_relu(x, o["alpha"])
        elif op == "tanh":
            x = torch.tanh(x)
        else:
            raise ValueError(f"unknown op {op}")
    return x
