"""idiomatic.py: the zoo models as a PyTorch user would write them (tools/bench/compare's
second peer, next to the graph-interpreting twin of mmx_torch.py).

The twin runs mmx's graph node by node on channels-last [batch, tokens, channels]
tensors; that is the right shape for a numerics cross-check, not necessarily PyTorch's
fastest. These modules are written the way the papers' own code is: NCHW tensors,
nn.Conv2d and nn.BatchNorm2d for FFNet (the official FFBlock: Conv2d_BN query, 7x7
depthwise Conv2d_BN key and value, an FFN of 1x1 convs), the official ConvNeXt block
(depthwise nn.Conv2d in NCHW, then a permute to NHWC for nn.LayerNorm and the two
nn.Linear of the FFN, layer scale gamma, permute back; the channels-first LayerNorm of
the stem and downsampling as the official code writes it), and timm's MixerBlock
(nn.Linear on the transposed tokens for the token MLP). Hyperparameters come from the
spec's `vars` and its stages' depths; the structure is fixed here, as a model class is.

A peer that is a different model measures nothing, so `build` counts the module's
trainable parameters and refuses it (IdiomaticError naming both counts) unless they are
exactly the `totals.params` of mmx's graph (`mmx info --json`).
"""

import re

import torch
import torch.nn as nn
import torch.nn.functional as F


class IdiomaticError(Exception):
    """No idiomatic peer for this spec (unknown model, or not the same parameters)."""


def _conv_bn(cin, cout, k, stride=1, groups=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout))


class _Peer(nn.Module):
    """Weight decay on matrices and kernels, none on biases, norms and layer scales (timm).
    train_memory_format: what the training benchmark converts the module and its input to
    (channels_last, PyTorch's advice for convolutional nets on CPU, for FFNet and ConvNeXt:
    one training step measured 1.2-2x faster than NCHW on a loaded 2-core AVX-512
    machine, while batch-1 inference was no faster, so that stays NCHW)."""

    train_memory_format = torch.contiguous_format

    def split_decay(self):
        params = [p for p in self.parameters() if p.requires_grad]
        self.decay = [p for p in params if p.ndim > 1]
        self.no_decay = [p for p in params if p.ndim <= 1]


# --- FFNet (ysj9909/FFNet models/ffnet.py, scaled as specs/models/ffnet.json) ----------

class FFNifiedAttention(nn.Module):
    def __init__(self, dim, k):
        super().__init__()
        self.query = _conv_bn(dim, dim, 1)
        self.key = _conv_bn(dim, dim, k, groups=dim)
        self.value = _conv_bn(dim, dim, k, groups=dim)

    def forward(self, x):
        return x + self.value(F.gelu(self.key(self.query(x))))


class ChannelMixer(nn.Module):
    def __init__(self, dim, k, ratio):
        super().__init__()
        self.dw = _conv_bn(dim, dim, k, groups=dim)
        self.fc1 = nn.Conv2d(dim, ratio * dim, 1)
        self.fc2 = nn.Conv2d(ratio * dim, dim, 1)

    def forward(self, x):
        return x + self.fc2(F.gelu(self.fc1(self.dw(x))))


class FFNet(_Peer):
    train_memory_format = torch.channels_last

    def __init__(self, in_chans, classes, dims, depths, k, ck, ratio):
        super().__init__()
        self.stem = nn.Sequential(_conv_bn(in_chans, dims[0], 3, stride=2), nn.GELU())
        layers, prev = [], dims[0]
        for i, (dim, depth) in enumerate(zip(dims, depths)):
            if i > 0:
                layers.append(_conv_bn(prev, dim, 3, stride=2))
            for _ in range(depth):
                layers += [FFNifiedAttention(dim, k), ChannelMixer(dim, ck, ratio)]
            prev = dim
        self.stages = nn.Sequential(*layers)
        self.norm = nn.BatchNorm2d(prev)
        self.head = nn.Linear(prev, classes)
        self.split_decay()

    def forward(self, x):
        return self.head(self.norm(self.stages(self.stem(x))).mean((2, 3)))


# --- ConvNeXt (facebookresearch/ConvNeXt models/convnext.py, scaled) -------------------

class LayerNormChannelsFirst(nn.Module):
    """The official ConvNeXt LayerNorm with data_format="channels_first"."""

    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim, k, ratio, layer_scale):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, k, padding=k // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, ratio * dim)
        self.pwconv2 = nn.Linear(ratio * dim, dim)
        self.gamma = nn.Parameter(layer_scale * torch.ones(dim))

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.gamma * self.pwconv2(F.gelu(self.pwconv1(self.norm(y))))
        return x + y.permute(0, 3, 1, 2)


class ConvNeXt(_Peer):
    train_memory_format = torch.channels_last

    def __init__(self, in_chans, classes, dims, depths, k, ratio, patch=2, layer_scale=1e-6):
        super().__init__()
        layers = [nn.Conv2d(in_chans, dims[0], patch, patch), LayerNormChannelsFirst(dims[0])]
        for i, (dim, depth) in enumerate(zip(dims, depths)):
            if i > 0:
                layers += [LayerNormChannelsFirst(dims[i - 1]), nn.Conv2d(dims[i - 1], dim, 2, 2)]
            layers += [ConvNeXtBlock(dim, k, ratio, layer_scale) for _ in range(depth)]
        self.features = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head = nn.Linear(dims[-1], classes)
        self.split_decay()

    def forward(self, x):
        return self.head(self.norm(self.features(x).mean((2, 3))))


# --- MLP-Mixer (timm models/mlp_mixer.py MixerBlock, with the zoo's conv stem) ---------

class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class MixerBlock(nn.Module):
    def __init__(self, dim, tokens, tokens_hidden, channels_hidden):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp_tokens = Mlp(tokens, tokens_hidden)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp_channels = Mlp(dim, channels_hidden)

    def forward(self, x):
        x = x + self.mlp_tokens(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.mlp_channels(self.norm2(x))


class MlpMixer(_Peer):
    def __init__(self, in_chans, classes, dim, tokens, tokens_hidden, channels_hidden, depth,
                 patch, stem):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_chans, stem, 3, padding=1), nn.BatchNorm2d(stem),
                                  nn.GELU(), nn.Conv2d(stem, dim, patch, patch))
        self.blocks = nn.Sequential(*[MixerBlock(dim, tokens, tokens_hidden, channels_hidden)
                                      for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)
        self.split_decay()

    def forward(self, x):
        x = self.stem(x).flatten(2).transpose(1, 2)
        return self.head(self.norm(self.blocks(x)).mean(1))


# --- From a spec -----------------------------------------------------------------------

def _resolve(value, vars_):
    if isinstance(value, str):
        m = re.fullmatch(r"\$\{(\w+)\}", value.strip())
        if not m or m.group(1) not in vars_:
            raise IdiomaticError(f"cannot read '{value}' (only a bare ${{var}} is resolved)")
        return vars_[m.group(1)]
    return value


def _ffnet(spec, vars_, chans, classes):
    depths = [_resolve(s["depth"], vars_) for s in spec["stages"]]
    return FFNet(chans, classes, (vars_["dim1"], vars_["dim2"]), depths, vars_["k"], vars_["ck"],
                 vars_["ratio"])


def _convnext(spec, vars_, chans, classes):
    depths = [_resolve(s["depth"], vars_) for s in spec["stages"]]
    return ConvNeXt(chans, classes, (vars_["dim1"], vars_["dim2"]), depths, vars_["k"],
                    vars_["ratio"])


def _mixer(spec, vars_, chans, classes):
    return MlpMixer(chans, classes, vars_["dim"], vars_["tokens"], vars_["tokens_hidden"],
                    vars_["channels_hidden"], _resolve(spec["blocks"]["repeat"], vars_),
                    vars_["patch"], vars_["stem"])


BUILDERS = {"ffnet": _ffnet, "convnext": _convnext, "mlp-mixer": _mixer}


def count_params(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def build(spec, graph):
    """(module, input dims [C, H, W]) for the spec (its parsed JSON) whose mmx graph
    (`mmx info --json`) is `graph`; IdiomaticError when there is none or when its
    parameter count differs from mmx's."""
    name = spec.get("name")
    if name not in BUILDERS:
        raise IdiomaticError(f"no idiomatic PyTorch model for '{name}' (there are: "
                             f"{', '.join(sorted(BUILDERS))})")
    h, w, chans = spec["input"]["shape"]
    try:
        model = BUILDERS[name](spec, dict(spec.get("vars") or {}), chans, spec["input"]["classes"])
    except (KeyError, TypeError, ValueError) as e:
        raise IdiomaticError(f"{name}: the spec does not have what the idiomatic model reads "
                             f"({type(e).__name__}: {e})") from None
    ours, theirs = count_params(model), graph["totals"]["params"]
    if ours != theirs:
        raise IdiomaticError(f"{name}: the idiomatic PyTorch model has {ours} trainable "
                             f"parameters, mmx's graph {theirs}: not the same model, refused")
    return model, [chans, h, w]
