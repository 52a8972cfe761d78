#!/usr/bin/python3
"""mmx_torch.py: the PyTorch twin of an mmx model (numerics cross-check and performance peer).

    mmx_torch.py ops                                   the mmx ops the twin covers
    mmx_torch.py graph SPEC [--set /PTR=VALUE]...      the graph as the twin sees it
    mmx_torch.py eval  SPEC --weights FILE [--data NAME] [--logits FILE] [--json]
    mmx_torch.py train SPEC [--data NAME] [--epochs N] [--batch N] [--save FILE] [--json]
    mmx_torch.py bench SPEC [--mode train|infer] [--batch N] [--threads N] [--peer twin|idiomatic]
                            [--json]
    mmx_torch.py idiomatic SPEC                        the idiomatic peer's parameter check

Design. The twin is a generic interpreter, not a port of each model: `mmx info --json`
exports the graph mmx builds from a spec (nodes in execution order with their value ids,
resolved attributes, parameter slots -> graph parameter names, values with shapes and
grids: docs/cli.md), and the twin runs one small torch function per mmx op on
channels-last [batch, N, C] tensors, with the maths and parameter layouts of docs/ops.md.
A tie is one torch Parameter used by several nodes, as in mmx. Checkpoints are mmx's
safetensors files, read by parameter name with the standard library and torch.frombuffer
(no safetensors package). Evaluation normalizes images exactly as mmx does (the training
set's mean and std from the checkpoint metadata, float32 scale and shift). Training uses
torch.optim.AdamW / SGD, whose formulas core/optim.c follows, with mmx's schedule
(warm-up, cosine), label smoothing and gradient clipping.

What is not the same bits: random draws (initialization, data order, dropout, augmentation)
come from torch's generator, not mmx's Philox streams, so a twin trained from scratch is
the same model trained the same way, not the same run. The cross-check therefore loads
mmx's trained weights (tests/torch/). An op without a twin is refused when the module is
built, naming the node and the op.

Runs on Debian's python3-torch (1.13) with /usr/bin/python3; needs numpy only for
reading the IDX data files quickly.
"""

import argparse
import gzip
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))


class TwinError(Exception):
    """A problem with the input (spec, checkpoint, data, an op without a twin)."""


# ---------------------------------------------------------------------------------------
# safetensors (F32 only, as mmx writes): 8-byte little-endian header length, a JSON header
# {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then the data.
# ---------------------------------------------------------------------------------------

def read_safetensors(path):
    """Returns ({name: float32 tensor}, {metadata key: str})."""
    with open(path, "rb") as f:
        blob = bytearray(f.read())  # writable: torch.frombuffer warns on bytes
    if len(blob) < 8:
        raise TwinError(f"{path}: not a safetensors file (only {len(blob)} bytes)")
    (hlen,) = struct.unpack("<Q", blob[:8])
    if hlen > len(blob) - 8:
        raise TwinError(f"{path}: header length {hlen} runs past the end of the file")
    try:
        header = json.loads(blob[8:8 + hlen].decode("utf-8"))
    except ValueError as e:
        raise TwinError(f"{path}: the header is not JSON: {e}") from None
    meta = header.pop("__metadata__", {}) or {}
    data = memoryview(blob)[8 + hlen:]
    tensors = {}
    for name, t in header.items():
        if t.get("dtype") != "F32":
            raise TwinError(f"{path}: tensor '{name}' has dtype {t.get('dtype')}, expected F32")
        begin, end = t["data_offsets"]
        shape = [int(d) for d in t["shape"]]
        n = math.prod(shape)
        if end - begin != 4 * n or end > len(data):
            raise TwinError(f"{path}: tensor '{name}' {shape}: bad data offsets {begin}..{end}")
        flat = torch.frombuffer(data[begin:end], dtype=torch.float32, count=n) if n else \
            torch.zeros(0)
        if sys.byteorder != "little":
            flat = flat.view(torch.int32).byteswap().view(torch.float32)  # pragma: no cover
        tensors[name] = flat.clone().reshape(shape)
    return tensors, meta


def write_safetensors(path, tensors, metadata):
    """Writes {name: tensor} as F32 safetensors (what mmx reads), atomically."""
    header, chunks, at = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous().cpu()
        raw = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [at, at + len(raw)]}
        chunks.append(raw)
        at += len(raw)
    header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * (-len(hjson) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------
# The graph, from `mmx info --json`
# ---------------------------------------------------------------------------------------

def find_mmx(explicit=None):
    """The mmx binary: --mmx, $MMX_EXE, the build tree next to this file, then PATH."""
    for cand in (explicit, os.environ.get("MMX_EXE"),
                 os.path.join(ROOT, "build", "tools", "mmx", "mmx"), shutil.which("mmx")):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    raise TwinError("cannot find the mmx binary: build it (ninja -C build), pass --mmx PATH "
                    "or set MMX_EXE")


def load_graph(spec, sets=(), mmx=None):
    """The graph export of `mmx info SPEC --json` (with --set overrides)."""
    cmd = [find_mmx(mmx), "info", spec, "--json"]
    for s in sets:
        cmd += ["--set", s]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise TwinError(f"mmx info {spec} failed (exit {r.returncode}):\n{r.stderr.strip()}")
    g = json.loads(r.stdout)
    if "values" not in g or "parameters" not in g:
        raise TwinError(f"{cmd[0]} is too old: its `info --json` has no graph export")
    return g


def graph_from_checkpoint(meta, sets=(), mmx=None):
    """The graph of the resolved spec a checkpoint carries (metadata "spec")."""
    spec = meta.get("spec")
    if not spec:
        raise TwinError("the checkpoint carries no spec: give SPEC")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, (meta.get("spec_name") or "model") + ".json")
        with open(path, "w") as f:
            f.write(spec)
        return load_graph(path, sets, mmx)


# ---------------------------------------------------------------------------------------
# The ops: one torch function per mmx op, on [B, ...per-sample shape] tensors.
# fn(node, inputs, params) -> output; params maps slot name -> tensor (absent: missing).
# ---------------------------------------------------------------------------------------

class Node:
    """What an op function needs of a graph node."""

    def __init__(self, gnode, values):
        self.name = gnode["name"]
        self.op = gnode["op"]
        self.attrs = gnode["attrs"]
        self.inputs = gnode["inputs"]
        self.output = gnode["output_value"]
        self.slots = gnode["param_slots"]
        self.in_dims = [values[v]["dims"] for v in self.inputs]
        self.in_grids = [values[v]["grid"] for v in self.inputs]
        self.out_dims = values[self.output]["dims"]
        self.out_grid = values[self.output]["grid"]
        self.training = False

    def grid(self, k=0):
        g = self.in_grids[k]
        if not g:
            raise TwinError(f"{self.name}: {self.op} needs a token grid, input {k} has none")
        return g


def _nchw(x, grid):
    """[B, H*W, C] -> an NCHW view in channels_last memory (no copy)."""
    h, w = grid
    return x.reshape(x.shape[0], h, w, x.shape[-1]).permute(0, 3, 1, 2)


def _tokens(y):
    """NCHW (any memory format) -> [B, H*W, C]."""
    b, c, h, w = y.shape
    return y.permute(0, 2, 3, 1).reshape(b, h * w, c)


def op_identity(n, x, p):
    return x[0]


def op_relu(n, x, p):
    return F.relu(x[0])


def op_gelu(n, x, p):
    return F.gelu(x[0], approximate="tanh" if n.attrs["approximate"] == "tanh" else "none")


def op_sigmoid(n, x, p):
    return torch.sigmoid(x[0])


def op_silu(n, x, p):
    return F.silu(x[0])


def op_softmax(n, x, p):
    z = x[0]
    t = n.attrs["temperature"]
    if t != 1.0:
        z = z * (1.0 / t)
    return torch.softmax(z, dim=-2 if n.attrs["axis"] == "token" else -1)


def op_linear(n, x, p):
    a, xin = n.attrs, x[0]
    w, b = p["weight"], p.get("bias")
    if a["transpose"]:
        w = w.t()  # stored [in, out]
    if a["causal"]:
        w = torch.tril(w)  # token t sees tokens <= t; masked entries get no gradient
    if a["axis"] == "channel":
        return F.linear(xin, w, b)
    y = torch.matmul(w, xin)  # [out, N] @ [B, N, C] -> [B, out, C]
    return y if b is None else y + b[:, None]


def op_conv2d(n, x, p):
    a = n.attrs
    k, s, pad = a["kernel"], a["stride"], a["padding"]
    if pad < 0:
        pad = k // 2 if s == 1 else 0
    y = F.conv2d(_nchw(x[0], n.grid()), p["weight"], p.get("bias"), stride=s, padding=pad,
                 groups=a["groups"])
    return _tokens(y)


def op_dwconv2d(n, x, p):
    a = n.attrs
    k, d = a["kernel"], a["dilation"]
    w = p["weight"]
    y = F.conv2d(_nchw(x[0], n.grid()), w.unsqueeze(1), p.get("bias"), padding=d * (k - 1) // 2,
                 dilation=d, groups=w.shape[0])
    return _tokens(y)


def op_dwconv1d(n, x, p):
    a = n.attrs
    k, d = a["kernel"], a["dilation"]
    w = p["weight"]
    total = d * (k - 1)
    left = total if a["causal"] else total // 2
    xc = F.pad(x[0].transpose(1, 2), (left, total - left))  # [B, C, N + total]
    y = F.conv1d(xc, w.unsqueeze(1), p.get("bias"), dilation=d, groups=w.shape[0])
    return y.transpose(1, 2)


def op_layernorm(n, x, p):
    xin = x[0]
    return F.layer_norm(xin, (xin.shape[-1],), p.get("weight"), p.get("bias"), n.attrs["eps"])


def op_batchnorm(n, x, p):
    xin = x[0]
    c = xin.shape[-1]
    y = F.batch_norm(xin.reshape(-1, c), p["running_mean"], p["running_var"], p["weight"],
                     p["bias"], n.training, n.attrs["momentum"], n.attrs["eps"])
    return y.reshape(xin.shape)


def op_rmsnorm(n, x, p):
    xin = x[0]
    return xin * torch.rsqrt(xin.pow(2).mean(-1, keepdim=True) + n.attrs["eps"]) * p["weight"]


def op_groupnorm(n, x, p):
    xin = x[0]
    b, c = xin.shape[0], xin.shape[-1]
    xc = xin.reshape(b, -1, c).transpose(1, 2)  # [B, C, tokens]
    y = F.group_norm(xc, n.attrs["groups"], p["weight"], p["bias"], n.attrs["eps"])
    return y.transpose(1, 2).reshape(xin.shape)


def op_add(n, x, p):
    return x[0] + x[1]


def op_mul(n, x, p):
    return x[0] * x[1]


def op_layer_scale(n, x, p):
    return x[0] * p["gamma"]


def op_pos_embed(n, x, p):
    return x[0] + p["weight"]


def op_drop_path(n, x, p):
    rate = n.attrs["rate"]
    if not n.training or rate == 0:
        return x[0]
    xin = x[0]
    keep = (torch.rand(xin.shape[0], device=xin.device) >= rate).to(xin.dtype)
    scale = torch.tensor(1.0, dtype=torch.float32) / torch.tensor(1.0 - rate, dtype=torch.float32)
    return xin * (keep * scale).reshape([-1] + [1] * (xin.dim() - 1))


def op_dropout(n, x, p):
    rate = n.attrs["rate"]
    if not n.training or rate == 0:
        return x[0]
    return F.dropout(x[0], rate, True)


def op_split(n, x, p):
    c = x[0].shape[-1] // n.attrs["parts"]
    i = n.attrs["index"]
    return x[0][..., i * c:(i + 1) * c]


def op_concat(n, x, p):
    return torch.cat(x, dim=-1)


def op_reshape(n, x, p):
    return x[0].reshape([x[0].shape[0]] + list(n.out_dims))


def op_select_token(n, x, p):
    return x[0][:, n.attrs["index"]]


def op_pool(n, x, p):
    k = n.attrs["kernel"]
    xin = x[0]
    y = _tokens(F.avg_pool2d(_nchw(xin, n.grid()), k, 1, k // 2, count_include_pad=False))
    return y - xin if n.attrs["subtract"] else y


def op_mean_tokens(n, x, p):
    return x[0].mean(1)


def _heads(t, h):
    b, nt, c = t.shape
    return t.reshape(b, nt, h, c // h).transpose(1, 2)  # [B, h, N, d]


def _merge(t):
    b, h, nt, d = t.shape
    return t.transpose(1, 2).reshape(b, nt, h * d)


def _scale(n, c):
    s = n.attrs.get("scale", 0.0)
    d = c // n.attrs["heads"]
    # mmx computes 1/sqrt(d) in double and rounds it to float once (attention.c).
    return float(torch.tensor(s if s > 0 else 1.0 / math.sqrt(d), dtype=torch.float32))


def _upper(nt, device):
    return torch.ones(nt, nt, dtype=torch.bool, device=device).triu(1)


def op_attention_scores(n, x, p):
    q, mem = x
    k = F.linear(mem, p["weight"], p.get("bias"))
    h = n.attrs["heads"]
    s = torch.matmul(_heads(q, h), _heads(k, h).transpose(-1, -2)) * _scale(n, q.shape[-1])
    if n.attrs["causal"]:
        # -1e9, finite, as attention.scores writes (docs/ops.md: GELU after it stays NaN-free).
        s = s.masked_fill(_upper(q.shape[1], q.device), -1e9)
    return s


def op_attention_mix(n, x, p):
    a, mem = x
    v = F.linear(mem, p["weight"], p.get("bias"))
    if n.attrs["causal"]:
        a = a.masked_fill(_upper(a.shape[-1], a.device), 0.0)
    return _merge(torch.matmul(a, _heads(v, n.attrs["heads"])))


def op_attention(n, x, p):
    xin = x[0]
    h = n.attrs["heads"]
    q = _heads(F.linear(xin, p["wq"], p.get("bq")), h)
    k = _heads(F.linear(xin, p["wk"], p.get("bk")), h)
    v = _heads(F.linear(xin, p["wv"], p.get("bv")), h)
    s = torch.matmul(q, k.transpose(-1, -2)) * _scale(n, xin.shape[-1])
    if n.attrs["causal"]:
        s = s.masked_fill(_upper(xin.shape[1], xin.device), float("-inf"))
    return _merge(torch.matmul(torch.softmax(s, -1), v))


_HOP_ACT = {"gelu": lambda t: F.gelu(t), "relu": F.relu, "tanh": torch.tanh,
            "identity": lambda t: t}


def _hop_hidden(n, xin, w, b):
    if n.attrs["axis"] == "channel":
        return F.linear(xin, w, b)
    h = torch.matmul(w, xin)  # [hidden, N] @ [B, N, C]
    return h if b is None else h + b[:, None]


def _hop_out(n, a, m):
    """m [in, hidden] applied along the op's axis."""
    if n.attrs["axis"] == "channel":
        return F.linear(a, m)
    return torch.matmul(m, a)


def op_hopfield(n, x, p):
    xin = x[0]
    w = p["weight"]
    a = _HOP_ACT[n.attrs["activation"]](_hop_hidden(n, xin, w, p.get("bias")))
    sym = n.attrs["symmetry"]
    y = _hop_out(n, a, p["weight_v"]) if sym == "broken" else _hop_out(n, a, w.t())
    if sym == "tied_plus_free":
        y = y + _hop_out(n, a, p["weight_v"])
    c = p.get("bias_out")
    if c is not None:
        y = y + (c if n.attrs["axis"] == "channel" else c[:, None])
    return y


def _lagrangian(act, u):
    if act == "identity":
        return 0.5 * u * u
    if act == "relu":
        return 0.5 * F.relu(u) ** 2
    if act == "tanh":
        au = u.abs()
        return au + torch.log1p(torch.exp(-2 * au)) - math.log(2.0)
    cdf = 0.5 * (1 + torch.erf(u / math.sqrt(2.0)))
    pdf = torch.exp(-0.5 * u * u) / math.sqrt(2 * math.pi)
    return 0.5 * ((u * u - 1) * cdf + u * pdf) + 0.25


def op_hopfield_energy(n, x, p):
    xin = x[0].double()
    w = p["weight"].double()
    b = p.get("bias")
    h = _hop_hidden(n, xin, w, None if b is None else b.double())
    e = 0.5 * (xin * xin).flatten(1).sum(1) - _lagrangian(n.attrs["activation"], h).flatten(1).sum(1)
    c = p.get("bias_out")
    if c is not None:
        c = c.double() if n.attrs["axis"] == "channel" else c.double()[:, None]
        e = e - (xin * c).flatten(1).sum(1)
    return e.float().unsqueeze(1)


def op_sgu(n, x, p):
    z = x[0]
    d = z.shape[-1] // 2
    z1, z2 = z[..., :d], z[..., d:]
    u = F.layer_norm(z2, (d,), p["norm_weight"], p["norm_bias"], n.attrs["eps"])
    f = torch.matmul(p["weight"], u) + p["bias"][:, None]
    ta = n.attrs["tiny_attn"]
    if ta > 0:
        q, k, v = F.linear(x[1], p["attn_qkv"]).split(ta, dim=-1)
        s = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(ta))
        f = f + F.linear(torch.matmul(torch.softmax(s, -1), v), p["attn_out"])
    return z1 * f


OPS = {
    "identity": op_identity, "relu": op_relu, "gelu": op_gelu, "sigmoid": op_sigmoid,
    "silu": op_silu, "softmax": op_softmax,
    "linear": op_linear,
    "conv2d": op_conv2d, "dwconv2d": op_dwconv2d, "dwconv1d": op_dwconv1d,
    "layernorm": op_layernorm, "batchnorm": op_batchnorm, "rmsnorm": op_rmsnorm,
    "groupnorm": op_groupnorm,
    "add": op_add, "mul": op_mul, "layer_scale": op_layer_scale, "pos_embed": op_pos_embed,
    "drop_path": op_drop_path, "dropout": op_dropout, "split": op_split, "concat": op_concat,
    "reshape": op_reshape, "select_token": op_select_token,
    "pool": op_pool, "mean_tokens": op_mean_tokens,
    "attention.scores": op_attention_scores, "attention.mix": op_attention_mix,
    "attention": op_attention,
    "hopfield": op_hopfield, "hopfield.energy": op_hopfield_energy,
    "sgu": op_sgu,
}


# ---------------------------------------------------------------------------------------
# The module
# ---------------------------------------------------------------------------------------

def _key(name):
    return name.replace(".", "__")


def init_tensor(prm, gen):
    """A fresh parameter with mmx's initializer (same distribution, torch's draws)."""
    dims = prm["dims"]
    ini = prm["init"]
    kind, a, b = ini["kind"], ini["a"], ini["b"]
    rec = math.prod(dims[2:]) if len(dims) > 2 else 1
    fan_in = ini["fan_in"] if ini["fan_in"] > 0 else (dims[1] * rec if len(dims) >= 2 else dims[0])
    fan_out = ini["fan_out"] if ini["fan_out"] > 0 else (dims[0] * rec if len(dims) >= 2 else dims[0])
    t = torch.empty(dims, dtype=torch.float32)
    gx, gk = (a if a > 0 else 1.0), (a if a > 0 else math.sqrt(2.0))
    if kind == "zeros":
        t.zero_()
    elif kind == "ones":
        t.fill_(1.0)
    elif kind == "const":
        t.fill_(a)
    elif kind == "uniform":
        t.uniform_(a, b, generator=gen)
    elif kind == "normal":
        t.normal_(a, b, generator=gen)
    elif kind == "trunc_normal":
        t.normal_(0.0, 1.0, generator=gen)
        t = torch.where(t.abs() <= 2.0, t, torch.zeros_like(t)) * a
    elif kind == "xavier_uniform":
        bound = gx * math.sqrt(6.0 / (fan_in + fan_out))
        t.uniform_(-bound, bound, generator=gen)
    elif kind == "xavier_normal":
        t.normal_(0.0, gx * math.sqrt(2.0 / (fan_in + fan_out)), generator=gen)
    elif kind == "kaiming_uniform":
        bound = gk * math.sqrt(3.0 / fan_in)
        t.uniform_(-bound, bound, generator=gen)
    elif kind == "kaiming_normal":
        t.normal_(0.0, gk / math.sqrt(fan_in), generator=gen)
    else:
        raise TwinError(f"parameter {prm['name']}: unknown initializer '{kind}'")
    return t


class MmxTwin(torch.nn.Module):
    """An mmx graph as a torch module: forward(x [B, H*W, C]) -> logits [B, classes]."""

    def __init__(self, graph, seed=0):
        super().__init__()
        self.graph = graph
        values = {v["id"]: v for v in graph["values"]}
        missing = sorted({n["op"] for n in graph["nodes"] if n["op"] not in OPS})
        if missing:
            where = [f"{n['name']} ({n['op']})" for n in graph["nodes"] if n["op"] in missing]
            raise TwinError(f"{graph.get('name')}: no PyTorch twin for op(s) {', '.join(missing)} "
                            f"at node(s) {', '.join(where[:6])}; the twin covers: "
                            f"{', '.join(sorted(OPS))}")
        gen = torch.Generator().manual_seed(seed)
        self.param_key = {}  # mmx parameter name -> attribute name
        self.decay, self.no_decay = [], []
        for prm in graph["parameters"]:
            key = _key(prm["name"])
            if key in self.param_key.values():
                raise TwinError(f"parameter names collide after sanitizing: {prm['name']}")
            self.param_key[prm["name"]] = key
            t = init_tensor(prm, gen)
            if prm["buffer"]:
                self.register_buffer(key, t)
            else:
                p = torch.nn.Parameter(t)
                self.register_parameter(key, p)
                (self.no_decay if prm["no_decay"] else self.decay).append(p)
        self.nodes = [Node(n, values) for n in graph["nodes"]]
        self.input_value = graph["input_value"]
        self.output_value = graph["output_value"]
        # Each value is dropped after its last reader, so inference holds little memory.
        last = {}
        for i, nd in enumerate(self.nodes):
            for v in nd.inputs:
                last[v] = i
        self.free_after = [[v for v in set(nd.inputs) if last[v] == i and v != self.output_value]
                           for i, nd in enumerate(self.nodes)]
        self.n_values = len(values)

    def train(self, mode=True):
        super().train(mode)
        for nd in self.nodes:
            nd.training = mode
        return self

    def load_mmx(self, tensors):
        """Copies every parameter and buffer from an mmx checkpoint's tensors, by name."""
        problems = []
        for name, key in self.param_key.items():
            dst = getattr(self, key)
            src = tensors.get(name)
            if src is None:
                problems.append(f"tensor '{name}' is missing")
            elif list(src.shape) != list(dst.shape):
                problems.append(f"tensor '{name}': the model expects {list(dst.shape)}, "
                                f"the file has {list(src.shape)}")
            else:
                with torch.no_grad():
                    dst.copy_(src)
        extra = [n for n in tensors if not n.startswith("optim.") and n not in self.param_key]
        problems += [f"tensor '{n}' is not a parameter of this model" for n in extra]
        if problems:
            raise TwinError("the checkpoint does not fit this model:\n  " + "\n  ".join(problems))

    def mmx_state(self):
        return {name: getattr(self, key).detach() for name, key in self.param_key.items()}

    def forward(self, x):
        vals = [None] * self.n_values
        vals[self.input_value] = x
        for nd, free in zip(self.nodes, self.free_after):
            params = {slot: getattr(self, self.param_key[pn]) for slot, pn in nd.slots.items()}
            vals[nd.output] = OPS[nd.op](nd, [vals[v] for v in nd.inputs], params)
            for v in free:
                vals[v] = None
        return vals[self.output_value]


# ---------------------------------------------------------------------------------------
# Data: IDX pairs (fashion-mnist, mnist, a directory), "NAME:TRAIN[:TEST]" prefixes,
# normalized exactly as core/data.c does.
# ---------------------------------------------------------------------------------------

def _read_idx(path):
    for cand in (path, path + ".gz"):
        if os.path.exists(cand):
            opener = gzip.open if cand.endswith(".gz") else open
            with opener(cand, "rb") as f:
                raw = f.read()
            break
    else:
        raise TwinError(f"{path}[.gz]: no such file")
    magic, = struct.unpack(">I", raw[:4])
    rank = magic & 0xFF
    if magic >> 8 != 0x08:
        raise TwinError(f"{path}: not an unsigned-byte IDX file (magic {magic:#x})")
    dims = struct.unpack(">" + "I" * rank, raw[4:4 + 4 * rank])
    body = raw[4 + 4 * rank:]
    if len(body) < math.prod(dims):
        raise TwinError(f"{path}: truncated ({len(body)} bytes for {dims})")
    return torch.frombuffer(bytearray(body[:math.prod(dims)]), dtype=torch.uint8).reshape(dims)


def load_data(source):
    """(train_images u8 [n, h, w, c], train_labels, test_images, test_labels)."""
    name, ntrain, ntest = source, None, None
    if ":" in source and not os.path.isdir(source):
        parts = source.split(":")
        name = parts[0]
        try:
            counts = [int(c) for c in parts[1:]]
        except ValueError:
            raise TwinError(f"data '{source}': expected NAME[:TRAIN[:TEST]]") from None
        if len(counts) > 2 or any(c < 1 for c in counts):
            raise TwinError(f"data '{source}': expected NAME[:TRAIN[:TEST]] with positive counts")
        ntrain = counts[0]
        ntest = counts[1] if len(counts) > 1 else None
    if name == "fashion-mnist":
        d = os.environ.get("MMX_FASHION_MNIST_DIR") or "/usr/share/datasets/fashion-mnist"
    elif name == "mnist":
        d = "/usr/share/datasets/mnist"
    else:
        d = name
    if not os.path.isdir(d):
        raise TwinError(f"data '{source}': no such data set or directory ({d})")
    out = []
    for prefix in ("train", "t10k"):
        imgs = _read_idx(os.path.join(d, f"{prefix}-images-idx3-ubyte"))
        labels = _read_idx(os.path.join(d, f"{prefix}-labels-idx1-ubyte")).long()
        out += [imgs.unsqueeze(-1), labels]
    if ntrain:
        out[0], out[1] = out[0][:ntrain], out[1][:ntrain]
    if ntest:
        out[2], out[3] = out[2][:ntest], out[3][:ntest]
    return out


def norm_stats(train_images, meta=None):
    """(mean, std) as float32: the checkpoint's norm_mean/norm_std, else mmx_dataset_stats."""
    if meta and "norm_mean" in meta and "norm_std" in meta:
        return (torch.tensor(float(meta["norm_mean"]), dtype=torch.float32),
                torch.tensor(float(meta["norm_std"]), dtype=torch.float32))
    v = train_images.double().flatten() / 255.0
    mean = v.mean()
    var = (v * v).mean() - mean * mean
    std = var.sqrt() if var > 1e-12 else torch.tensor(1.0, dtype=torch.float64)
    return mean.float(), std.float()


def normalize(images_u8, mean, std):
    """[n, h, w, c] bytes -> [n, h*w, c] float32: x * (1 / (255 std)) + (-mean / std)."""
    scale = torch.tensor(1.0, dtype=torch.float32) / (torch.tensor(255.0) * std)
    shift = -mean / std
    n, h, w, c = images_u8.shape
    return (images_u8.float() * scale + shift).reshape(n, h * w, c)


def augment(batch_u8, crop, flip, gen):
    """Random crop after zero padding (0 after normalization = the mean) and flip, like
    core/data.c; torch's draws, not Philox's. Works on normalized [n, h, w, c] floats."""
    n, h, w, c = batch_u8.shape
    out = batch_u8
    if crop > 0:
        padded = F.pad(out.permute(0, 3, 1, 2), (crop, crop, crop, crop)).permute(0, 2, 3, 1)
        ox = torch.randint(0, 2 * crop + 1, (n,), generator=gen)
        oy = torch.randint(0, 2 * crop + 1, (n,), generator=gen)
        out = torch.stack([padded[i, oy[i]:oy[i] + h, ox[i]:ox[i] + w] for i in range(n)])
    if flip:
        f = torch.rand(n, generator=gen) < 0.5
        out = torch.where(f[:, None, None, None], out.flip(2), out)
    return out


# ---------------------------------------------------------------------------------------
# Evaluation, training, benchmark
# ---------------------------------------------------------------------------------------

def logits_of(model, images, batch):
    model.eval()
    outs = []
    with torch.inference_mode():
        for at in range(0, images.shape[0], batch):
            outs.append(model(images[at:at + batch]))
    return torch.cat(outs)


def xent(logits, labels, smoothing=0.0):
    return F.cross_entropy(logits.double(), labels, label_smoothing=smoothing).item()


def schedule_lr(step, lr, min_lr, warmup_steps, total_steps, cosine=True):
    """core/optim.c mmx_schedule_lr."""
    if warmup_steps > 0 and step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if not cosine:
        return lr
    span = total_steps - warmup_steps
    if span <= 0:
        return lr
    progress = min((step - warmup_steps) / span, 1.0)
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def make_optimizer(model, train):
    """AdamW or SGD with weight decay only on the decayed parameters (core/optim.c)."""
    kind = train.get("optimizer", "adamw")
    lr = train.get("lr", 0.1 if kind == "sgd" else 1e-3)
    wd = train.get("wd", 5e-4 if kind == "sgd" else 0.05)
    groups = [{"params": model.decay, "weight_decay": wd},
              {"params": model.no_decay, "weight_decay": 0.0}]
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=train.get("momentum", 0.9),
                               nesterov=bool(train.get("nesterov", False)))
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8)


def train_step(model, opt, x, y, smoothing, clip, lr):
    for g in opt.param_groups:
        g["lr"] = lr
    opt.zero_grad(set_to_none=True)
    logits = model(x)
    loss = F.cross_entropy(logits, y, label_smoothing=smoothing)
    loss.backward()
    if clip > 0:
        torch.nn.utils.clip_grad_norm_(model.decay + model.no_decay, clip)
    opt.step()
    return loss, logits


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------

def _graph_for(args, meta=None):
    if args.graph:
        with open(args.graph) as f:
            return json.load(f)
    if args.spec:
        return load_graph(args.spec, args.set or (), args.mmx)
    if meta is not None:
        return graph_from_checkpoint(meta, args.set or (), args.mmx)
    raise TwinError("give SPEC (or --graph FILE)")


def _set_threads(n):
    if n and n > 0:
        torch.set_num_threads(n)


def cmd_ops(args):
    for name in sorted(OPS):
        print(name)
    return 0


def cmd_graph(args):
    g = _graph_for(args)
    model = MmxTwin(g)
    n_params = sum(p.numel() for p in model.decay + model.no_decay)
    print(f"{g['name']}: {len(g['nodes'])} nodes, {n_params} trainable parameters "
          f"({len(g['parameters'])} tensors), input {g['input']['dims']}, {g['classes']} classes")
    for nd in model.nodes:
        slots = ", ".join(f"{s}={p}" for s, p in nd.slots.items())
        print(f"  {nd.name:36s} {nd.op:18s} {str(nd.inputs):10s} -> {nd.output:<4d} {slots}")
    return 0


def cmd_eval(args):
    _set_threads(args.threads)
    tensors, meta = read_safetensors(args.weights)
    g = _graph_for(args, meta)
    model = MmxTwin(g)
    model.load_mmx(tensors)
    data = args.data
    if data is None:
        spec = json.loads(meta["spec"]) if meta.get("spec") else {}
        data = (spec.get("train") or {}).get("data", "fashion-mnist")
    tr_x, _, te_x, te_y = load_data(data)
    mean, std = norm_stats(tr_x, meta)
    t0 = time.time()
    logits = logits_of(model, normalize(te_x, mean, std), args.batch)
    secs = time.time() - t0
    if args.logits:
        logits.contiguous().numpy().astype("<f4").tofile(args.logits)
    acc = (logits.argmax(1) == te_y).double().mean().item()
    loss = xent(logits, te_y)
    if args.json:
        print(json.dumps({"spec": g["name"], "weights": args.weights, "data": data,
                          "images": int(te_x.shape[0]), "test_loss": loss, "test_acc": acc,
                          "seconds": secs, "torch": torch.__version__}))
    else:
        print(f"{g['name']} (torch twin) on {data}: test accuracy {acc:.4f}, loss {loss:.4f} "
              f"({te_x.shape[0]} images, {secs:.1f} s)")
    return 0


def cmd_train(args):
    _set_threads(args.threads)
    g = _graph_for(args)
    torch.manual_seed(args.seed)
    model = MmxTwin(g, seed=args.seed)
    train = dict(g.get("train") or {})
    for k in ("epochs", "batch", "lr"):
        if getattr(args, k) is not None:
            train[k] = getattr(args, k)
    data = args.data or train.get("data", "fashion-mnist")
    tr_x, tr_y, te_x, te_y = load_data(data)
    mean, std = norm_stats(tr_x)
    epochs, batch = int(train.get("epochs", 10)), int(train.get("batch", 128))
    steps_per_epoch = tr_x.shape[0] // batch
    if steps_per_epoch < 1:
        raise TwinError(f"batch {batch} is larger than the training set ({tr_x.shape[0]} images)")
    total = steps_per_epoch * epochs
    warm = int(train.get("warmup", 1.0) * steps_per_epoch)
    cosine = train.get("schedule", "cosine") == "cosine"
    kind = train.get("optimizer", "adamw")
    lr = train.get("lr", 0.1 if kind == "sgd" else 1e-3)
    smoothing = train.get("label_smoothing", 0.1)
    clip = train.get("clip", 0.0)
    aug = train.get("augment") or {}
    opt = make_optimizer(model, train)
    gen = torch.Generator().manual_seed(args.seed)
    test_x = normalize(te_x, mean, std)
    h, w = tr_x.shape[1], tr_x.shape[2]
    step, results = 0, []
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(tr_x.shape[0], generator=gen)
        seen, loss_sum, correct, secs = 0, 0.0, 0, 0.0
        for b in range(steps_per_epoch):
            t0 = time.perf_counter()
            idx = perm[b * batch:(b + 1) * batch]
            xb = normalize(tr_x[idx], mean, std).reshape(batch, h, w, -1)
            xb = augment(xb, int(aug.get("crop", 0)), bool(aug.get("flip", False)), gen)
            xb = xb.reshape(batch, h * w, -1)
            yb = tr_y[idx]
            loss, logits = train_step(model, opt, xb, yb, smoothing, clip,
                                      schedule_lr(step, lr, train.get("min_lr", 0.0), warm, total,
                                                  cosine))
            secs += time.perf_counter() - t0
            step += 1
            seen += batch
            loss_sum += loss.item() * batch
            correct += (logits.argmax(1) == yb).sum().item()
        logits = logits_of(model, test_x, 256)
        row = {"epoch": epoch + 1, "step": step, "train_loss": loss_sum / seen,
               "train_acc": correct / seen, "test_loss": xent(logits, te_y),
               "test_acc": (logits.argmax(1) == te_y).double().mean().item(),
               "img_per_s": seen / secs if secs > 0 else 0.0}
        results.append(row)
        if not args.json:
            print(f"epoch {epoch + 1}/{epochs}: train loss {row['train_loss']:.4f} acc "
                  f"{row['train_acc']:.4f} | test loss {row['test_loss']:.4f} acc "
                  f"{row['test_acc']:.4f} | {row['img_per_s']:.0f} img/s", file=sys.stderr)
    if args.save:
        meta = {"spec_name": g["name"], "norm_mean": f"{mean.item():.9g}",
                "norm_std": f"{std.item():.9g}", "mmx_format": "1", "saved_by": "mmx_torch.py"}
        write_safetensors(args.save, model.mmx_state(), meta)
    if args.json:
        print(json.dumps({"name": g["name"], "epochs": results, "torch": torch.__version__}))
    return 0


def bench(model, classes, in_dims, mode, batch, steps, warmup):
    """mmx bench's protocol: fixed random inputs in [-1, 1), labels i % classes; a train
    step is forward, cross-entropy (smoothing 0.1), backward and an AdamW step (wd 0.05,
    lr 1e-4); infer is a forward under torch.inference_mode. Returns ms per step, sorted."""
    gen = torch.Generator().manual_seed(7)
    x = torch.rand([batch] + list(in_dims), generator=gen) * 2 - 1
    y = torch.arange(batch) % classes
    ms = []
    if mode == "train":
        fmt = getattr(model, "train_memory_format", torch.contiguous_format)
        if fmt != torch.contiguous_format:  # an idiomatic conv net (idiomatic.py)
            model = model.to(memory_format=fmt)
            x = x.contiguous(memory_format=fmt)
        model.train()
        opt = make_optimizer(model, {"optimizer": "adamw", "lr": 1e-4, "wd": 0.05})
        for s in range(-warmup, steps):
            t0 = time.perf_counter()
            train_step(model, opt, x, y, 0.1, 0.0, 1e-4)
            if s >= 0:
                ms.append((time.perf_counter() - t0) * 1e3)
    else:
        model.eval()
        with torch.inference_mode():
            for s in range(-warmup, steps):
                t0 = time.perf_counter()
                model(x)
                if s >= 0:
                    ms.append((time.perf_counter() - t0) * 1e3)
    return sorted(ms)


def _idiomatic(args, g):
    """The idiomatic peer (tools/bench/torch/idiomatic.py) of args.spec: (module, input dims)."""
    import idiomatic
    if not args.spec or args.set or args.graph:
        raise TwinError("the idiomatic peer is built from a spec file as it is (no --set, "
                        "no --graph)")
    with open(args.spec) as f:
        spec = json.load(f)
    try:
        return idiomatic.build(spec, g)
    except idiomatic.IdiomaticError as e:
        raise TwinError(str(e)) from None


def cmd_idiomatic(args):
    g = _graph_for(args)
    model, dims = _idiomatic(args, g)
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(json.dumps({"spec": g["name"], "params": n, "mmx_params": g["totals"]["params"],
                      "input": dims, "module": type(model).__name__}))
    return 0


def cmd_bench(args):
    _set_threads(args.threads)
    g = _graph_for(args)
    if args.peer == "idiomatic":
        model, dims = _idiomatic(args, g)
    else:
        model, dims = MmxTwin(g, seed=0), g["input"]["dims"]
    ms = bench(model, g["classes"], dims, args.mode, args.batch, args.steps, args.warmup)
    k = len(ms)
    med = ms[k // 2] if k % 2 else 0.5 * (ms[k // 2 - 1] + ms[k // 2])
    out = {"spec": g["name"], "peer": args.peer, "mode": args.mode, "batch": args.batch,
           "steps": args.steps, "threads": torch.get_num_threads(),
           "ms_per_step": {"median": med, "min": ms[0], "max": ms[-1]},
           "img_per_s": {"median": args.batch * 1e3 / med, "min": args.batch * 1e3 / ms[-1],
                         "max": args.batch * 1e3 / ms[0]},
           "torch": torch.__version__}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{g['name']} (torch {args.peer}), {args.mode}, batch {args.batch}, "
              f"{out['threads']} threads: {med:.3f} ms/step median (min {ms[0]:.3f}, max "
              f"{ms[-1]:.3f}), {out['img_per_s']['median']:.1f} img/s")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="mmx_torch.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p, spec_required=True):
        p.add_argument("spec", nargs=None if spec_required else "?", help="model spec (JSON)")
        p.add_argument("--set", action="append", metavar="/PTR=VALUE",
                       help="spec override, as mmx's --set (repeatable)")
        p.add_argument("--graph", help="a saved `mmx info --json` instead of running mmx")
        p.add_argument("--mmx", help="the mmx binary (default: $MMX_EXE, the build tree, PATH)")
        p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads")

    p = sub.add_parser("ops", help="the mmx ops the twin covers")
    p.set_defaults(fn=cmd_ops)
    p = sub.add_parser("graph", help="the graph as the twin builds it")
    common(p)
    p.set_defaults(fn=cmd_graph)
    p = sub.add_parser("eval", help="test loss/accuracy (and logits) of an mmx checkpoint")
    common(p, spec_required=False)
    p.add_argument("--weights", required=True, help="mmx safetensors checkpoint")
    p.add_argument("--data", help="data set (default: the spec's)")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--logits", help="write the logits, float32 little-endian [images, classes]")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_eval)
    p = sub.add_parser("train", help="train the twin with the spec's recipe")
    common(p)
    p.add_argument("--data")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", help="write the weights as an mmx-readable safetensors file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_train)
    p = sub.add_parser("bench", help="mmx bench's protocol on the twin")
    common(p)
    p.add_argument("--mode", choices=("train", "infer"), default="train")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--peer", choices=("twin", "idiomatic"), default="twin",
                   help="the graph-interpreting twin, or the model as PyTorch code writes it "
                        "(tools/bench/torch/idiomatic.py: ffnet, convnext, mlp-mixer)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_bench)
    p = sub.add_parser("idiomatic", help="build the idiomatic peer of SPEC and check that it "
                       "has mmx's parameter count (JSON; exit 2 with the reason if not)")
    common(p)
    p.set_defaults(fn=cmd_idiomatic)
    args = ap.parse_args(argv)
    try:
        return args.fn(args)
    except TwinError as e:
        print(f"mmx_torch.py {args.cmd}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
