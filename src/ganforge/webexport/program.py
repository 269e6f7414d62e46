"""A generator as a short program of array operations that a page runs with TensorFlow.js (``runtime.js``),
derived from the module itself.

``torch.fx`` traces G's ``forward`` with its layers as leaves (``LEAVES``), and ``ShapeProp`` gives every value
its shape. Each traced node becomes one op of ``OPS``, the one list of what the page can run: layers by their
type, functions and tensor methods by name. A family built of these layers and operations (residual adds,
skip-layer gates, concatenations, label embeddings) needs nothing here; anything else is named at export
time. Ops read earlier values by index (0 is z, 1 the labels) and each adds one value.

Values keep PyTorch's meaning (N, C, H, W); the page holds 4-d values channels-last, TensorFlow.js's layout,
and maps dimensions for ``cat``, ``glu``, ``mean``, ``reshape`` and ``expand``. Weights are written in the
layouts its ops take: linear ``(in, out)``, convolution ``(kh, kw, in, out)``, transposed convolution
``(kh, kw, out, in)``; BatchNorm in eval mode is an affine map per channel.

``run`` executes a program with PyTorch, reading the weights back from those layouts: the export checks it
against ``sampling.generate`` before anything is written, so a wrong program never reaches a page.
"""

from __future__ import annotations

import operator

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F
from torch.fx.passes.shape_prop import ShapeProp

from ganforge.errors import GanforgeError
from ganforge.models.dcgan import Up

# what the page's runtime can run: op -> what it does (runtime.js implements each, ``run`` below too)
OPS = {
    "linear": "x @ w + b", "affine": "x * scale + shift per channel (BatchNorm in eval mode)",
    "conv": "2-d convolution, square kernel, stride, zero padding", "convT": "ganforge's Up: kernel 4, stride 2",
    "upsample": "nearest up-sampling to a size", "avgpool": "average pooling, kernel = stride",
    "relu": "", "leaky": "LeakyReLU(alpha)", "tanh": "", "sigmoid": "", "glu": "gated linear unit on a dim",
    "add": "x + y (or + a number)", "sub": "x - y (or - a number)", "mul": "x * y (or * a number)", "cat": "concatenation on a dim",
    "mean": "mean over dims", "reshape": "to a shape (per image)", "expand": "broadcast to a shape (per image)",
    "slice": "a box of a value", "onehot": "labels to one-hot floats", "const": "a tensor of the module",
}
# layers kept whole by the tracer (their insides are read here, not traced)
LEAVES = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.ReLU, nn.LeakyReLU,
          nn.Tanh, nn.Sigmoid, nn.GLU, nn.Upsample, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Identity, nn.Dropout,
          nn.Flatten, Up)
ALIASES = {"float", "to", "contiguous", "type", "clone", "detach"}           # methods that change nothing here
RESHAPES = {"view", "reshape", "flatten", "unsqueeze", "squeeze", "view_as", "reshape_as"}
UNARY = {F.relu: "relu", torch.relu: "relu", torch.tanh: "tanh", torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid",
         F.tanh: "tanh"}
BINARY = {operator.add: "add", torch.add: "add", operator.mul: "mul", torch.mul: "mul", operator.iadd: "add",
          operator.imul: "mul", operator.sub: "sub", torch.sub: "sub", operator.isub: "sub"}


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

    def add(self, op: str, inputs: list[int], **kw) -> int:
        assert op in OPS, op
        self.ops.append({"op": op, "in": inputs, **kw})
        return len(self.ops) + 1                      # values 0 and 1 are z and the labels


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, LEAVES) or super().is_leaf_module(m, qualname)


def unsupported(what: str) -> GanforgeError:
    return GanforgeError(f"the web export cannot carry {what}; export this generator as onnx or torchscript "
                         "instead, or build it of the layers and operations in ganforge/webexport/program.py's OPS")


def _square(conv: nn.Module) -> bool:
    k, s, p = conv.kernel_size, conv.stride, conv.padding
    return (not isinstance(p, str) and k[0] == k[1] and s[0] == s[1] and p[0] == p[1]
            and tuple(conv.dilation) == (1, 1) and conv.groups == 1 and conv.padding_mode == "zeros")


def build(G: nn.Module, arch: str | None = None, conditional: bool = False, z_dim: int | None = None,
          num_classes: int = 0) -> Program:
    """Trace ``G`` (in eval mode) into a program. ``z_dim``/``num_classes`` shape the example inputs."""
    G = G.eval()
    z_dim = z_dim or _z_dim(G)
    concrete = {} if conditional else {"y": None}
    try:
        graph = _Tracer().trace(G, concrete_args=concrete)
    except Exception as err:  # a forward with data-dependent Python control flow cannot be traced
        raise unsupported(f"this generator's forward ({type(err).__name__}: {str(err).splitlines()[0][:160]})") \
            from None
    gm = fx.GraphModule(G, graph)
    z = torch.randn(2, z_dim)
    args = (z, torch.arange(2) % max(1, num_classes)) if conditional else (z,)
    with torch.no_grad():
        ShapeProp(gm).propagate(*args)
    p = Program()
    values: dict[fx.Node, int | float] = {}
    modules = dict(gm.named_modules())
    with torch.no_grad():
        for node in gm.graph.nodes:
            if node.op == "placeholder":
                values[node] = 0 if len(values) == 0 else 1
            elif node.op == "output":
                out = node.args[0]
                if not isinstance(out, fx.Node) or values.get(out) != len(p.ops) + 1:
                    p.add("reshape", [values[out]], shape=list(_shape(out)[1:]))
            else:
                v = _emit(p, node, values, modules)
                if v is not None:
                    values[node] = v
    return p


def _z_dim(G: nn.Module) -> int:
    for m in G.modules():
        if isinstance(m, nn.Linear):
            return m.in_features
    raise GanforgeError("cannot tell this generator's noise size; pass z_dim")


def _shape(node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta") if isinstance(node, fx.Node) else None
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None


def _dim(d: int, rank: int) -> int:
    return d % rank


def _emit(p: Program, node: fx.Node, values: dict, modules: dict):
    """The op(s) of one traced node; returns its value's index (None: not a tensor, e.g. a shape)."""
    out_shape = _shape(node)

    def arg(i, default=None):
        a = node.args[i] if i < len(node.args) else default
        return values[a] if isinstance(a, fx.Node) else a

    if out_shape is None and node.op != "get_attr":
        return None                                   # sizes, dtypes: read from the shapes instead
    if node.op == "get_attr":                         # a tensor of the module used as it is (a learned map)
        t = node.graph.owning_module
        for part in node.target.split("."):
            t = getattr(t, part)
        t = t.detach().float()
        return p.add("const", [], t=p.tensor(t.permute(0, 2, 3, 1) if t.dim() == 4 else t), rank=t.dim())
    if node.op == "call_module":
        return _layer(p, modules[node.target], arg(0), node)
    name = node.target if node.op == "call_method" else getattr(node.target, "__name__", str(node.target))
    rank = len(out_shape)
    if node.op == "call_method" and node.target in ALIASES:
        return arg(0)
    if node.op == "call_method" and node.target in RESHAPES or node.target is torch.flatten:
        return p.add("reshape", [arg(0)], shape=list(out_shape[1:]))
    if node.op == "call_method" and node.target == "expand":
        return p.add("expand", [arg(0)], shape=list(out_shape[1:]))
    if node.target is operator.getitem:
        return _getitem(p, node, arg(0), out_shape)
    if node.target in UNARY:
        return p.add(UNARY[node.target], [arg(0)])
    if node.target is F.leaky_relu:
        return p.add("leaky", [arg(0)], alpha=float(node.kwargs.get("negative_slope", arg(1, 0.01))))
    if node.target is F.glu:
        return p.add("glu", [arg(0)], dim=_dim(node.kwargs.get("dim", arg(1, -1)), rank))
    if node.target is operator.truediv and isinstance(arg(1), (int, float)):
        return p.add("mul", [arg(0)], scalar=1.0 / float(arg(1)))
    if node.target in BINARY:
        op, (x, y) = BINARY[node.target], node.args[:2]
        if not isinstance(x, fx.Node):                   # a number first: c + x, c * x, c - x = -1 * x + c
            if op == "sub":
                return p.add("add", [p.add("mul", [values[y]], scalar=-1.0)], scalar=float(x))
            x, y = y, x
        if not isinstance(y, fx.Node):
            return p.add(op, [values[x]], scalar=float(y))
        return p.add(op, [values[x], values[y]])
    if node.target is torch.cat:
        return p.add("cat", [values[a] for a in node.args[0]], dim=_dim(node.kwargs.get("dim", arg(1, 0)), rank))
    if node.target is F.one_hot:
        return p.add("onehot", [arg(0)], classes=int(out_shape[-1]))
    if node.target is F.interpolate and node.kwargs.get("mode", "nearest") == "nearest":
        return p.add("upsample", [arg(0)], size=list(out_shape[2:]))
    if (node.op == "call_method" and node.target == "mean") or node.target is torch.mean:
        dims = node.kwargs.get("dim", arg(1))
        if dims is None or 0 in ([dims] if isinstance(dims, int) else list(dims)):
            raise unsupported(f"a mean across the batch (in {node.format_node()[:120]}): a page draws one image "
                              "at a time")
        dims = [dims] if isinstance(dims, int) else list(dims)
        in_rank = len(_shape(node.args[0]))
        return p.add("mean", [arg(0)], dims=[_dim(d, in_rank) for d in dims],
                     keepdim=bool(node.kwargs.get("keepdim", arg(2, False))), shape=list(out_shape[1:]))
    raise unsupported(f"the operation {name} (in {node.format_node()[:120]})")


def _getitem(p: Program, node: fx.Node, x: int, out_shape) -> int:
    """Indexing with ``None`` and whole ``:`` is a reshape; ``a:b`` ranges a slice."""
    idx = node.args[1] if isinstance(node.args[1], tuple) else (node.args[1],)
    if all(i is None or i == slice(None) or i is Ellipsis for i in idx):
        return p.add("reshape", [x], shape=list(out_shape[1:]))
    in_shape = _shape(node.args[0])
    if Ellipsis in idx:
        e = idx.index(Ellipsis)
        idx = idx[:e] + (slice(None),) * (len(in_shape) - len(idx) + 1) + idx[e + 1:]
    begin = []
    for d, i in enumerate(idx):
        if not isinstance(i, slice) or i.step not in (None, 1):
            raise unsupported(f"indexing with {i!r}")
        begin.append(0 if i.start is None else i.start % in_shape[d])
    begin += [0] * (len(in_shape) - len(begin))
    return p.add("slice", [x], begin=begin[1:], size=list(out_shape[1:]))


def _layer(p: Program, m: nn.Module, x: int, node: fx.Node) -> int:
    if isinstance(m, (nn.Identity, nn.Dropout)):
        return x
    if isinstance(m, nn.Linear):
        return p.add("linear", [x], w=p.tensor(m.weight.T), b=p.tensor(m.bias))
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        if m.running_var is None:
            raise unsupported("a BatchNorm without running statistics")
        scale = (m.weight if m.weight is not None else 1) / torch.sqrt(m.running_var + m.eps)
        shift = (m.bias if m.bias is not None else 0) - m.running_mean * scale
        return p.add("affine", [x], scale=p.tensor(scale), shift=p.tensor(shift))
    if isinstance(m, nn.ReLU):
        return p.add("relu", [x])
    if isinstance(m, nn.LeakyReLU):
        return p.add("leaky", [x], alpha=float(m.negative_slope))
    if isinstance(m, nn.Tanh):
        return p.add("tanh", [x])
    if isinstance(m, nn.Sigmoid):
        return p.add("sigmoid", [x])
    if isinstance(m, nn.GLU):
        return p.add("glu", [x], dim=_dim(m.dim, len(_shape(node))))
    if isinstance(m, nn.Flatten):
        return p.add("reshape", [x], shape=list(_shape(node)[1:]))
    if isinstance(m, Up) and _square(m.conv) and tuple(m.conv.kernel_size) == (4, 4) and m.conv.stride[0] == 2 \
            and m.conv.padding[0] == 1 and tuple(m.conv.output_padding) == (0, 0):
        return p.add("convT", [x], w=p.tensor(m.conv.weight.permute(2, 3, 1, 0)), b=p.tensor(m.conv.bias),
                     out=int(m.out_size))
    if isinstance(m, nn.Conv2d) and _square(m):
        return p.add("conv", [x], w=p.tensor(m.weight.permute(2, 3, 1, 0)), b=p.tensor(m.bias),
                     stride=int(m.stride[0]), pad=int(m.padding[0]))
    if isinstance(m, nn.Upsample) and m.mode == "nearest":
        return p.add("upsample", [x], size=list(_shape(node)[2:]))
    if isinstance(m, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
        (_, _, h, w), (_, _, oh, ow) = _shape(node.args[0]), _shape(node)
        if h % oh or w % ow or h // oh != w // ow or (isinstance(m, nn.AvgPool2d) and
                                                      (_pair(m.kernel_size) != (h // oh,) * 2 or m.padding)):
            raise unsupported(f"{m} on {h}x{w} maps (only a kernel that tiles the map, stride = kernel)")
        return p.add("avgpool", [x], k=h // oh)
    raise unsupported(f"a {type(m).__name__} layer ({m})")


def _pair(v) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def macs(p: Program) -> int:
    """Multiply-adds per image (about): what sets how many images a page draws between two looks at its events."""
    total, side = 0, 1
    for o in p.ops:
        if o["op"] == "reshape" and len(o["shape"]) == 3:
            side = o["shape"][1]
        elif o["op"] == "upsample":
            side = o["size"][0]
        elif o["op"] == "linear":
            total += p.tensors[o["w"]].numel()
        elif o["op"] == "convT":
            total += side * side * p.tensors[o["w"]].numel()
            side = o["out"]
        elif o["op"] == "conv":
            side = max(1, side // o["stride"])
            total += side * side * p.tensors[o["w"]].numel()
    return total


# ---- the same program run with PyTorch -------------------------------------------------------------------------
def run(p: Program, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Images (N, C, H, W) in [-1, 1] from ``z`` (N, z_dim), as the page computes them."""
    T = p.tensors
    v = [z.float(), labels]
    n = len(z)
    for o in p.ops:
        op, ins = o["op"], [v[i] for i in o["in"]]
        x = ins[0] if ins else None
        if op == "linear":
            x = x @ T[o["w"]] + (T[o["b"]] if o["b"] is not None else 0)
        elif op == "affine":
            shape = (1, -1, 1, 1) if x.dim() == 4 else (1, -1)
            x = x * T[o["scale"]].view(shape) + T[o["shift"]].view(shape)
        elif op in ("conv", "convT"):
            w = T[o["w"]].permute(3, 2, 0, 1)
            if op == "conv":
                x = F.conv2d(x, w, None, o["stride"], o["pad"])
            else:
                x = F.conv_transpose2d(x, w, None, 2, 1)[..., :o["out"], :o["out"]]
            x = x + T[o["b"]].view(1, -1, 1, 1) if o["b"] is not None else x
        elif op == "upsample":
            x = F.interpolate(x, size=tuple(o["size"]), mode="nearest")
        elif op == "avgpool":
            x = F.avg_pool2d(x, o["k"])
        elif op in ("relu", "tanh", "sigmoid"):
            x = getattr(torch, op)(x)
        elif op == "leaky":
            x = F.leaky_relu(x, o["alpha"])
        elif op == "glu":
            x = F.glu(x, o["dim"])
        elif op in ("add", "sub", "mul"):
            y = ins[1] if len(ins) > 1 else o["scalar"]
            x = x + y if op == "add" else x - y if op == "sub" else x * y
        elif op == "cat":
            x = torch.cat(ins, o["dim"])
        elif op == "mean":
            x = x.mean(o["dims"], keepdim=o["keepdim"])
        elif op == "reshape":
            x = x.reshape(n, *o["shape"])
        elif op == "expand":
            x = x.expand(n, *o["shape"])
        elif op == "slice":
            x = x[(slice(None),) + tuple(slice(b, b + s) for b, s in zip(o["begin"], o["size"]))]
        elif op == "onehot":
            x = F.one_hot(x.long(), o["classes"]).float()
        elif op == "const":
            t = T[o["t"]]
            x = t.permute(0, 3, 1, 2) if o["rank"] == 4 else t
        else:
            raise ValueError(f"unknown op {op}")
        v.append(x)
    return v[-1]
