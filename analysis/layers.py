"""Which tensors of a state_dict have an ESD, and the matrices it is computed from.

Follows weightwatcher 0.7.7 on a PyTorch state_dict (its PyStateDictLayer path, channels last):
every `<layer>.weight` key in order; 2-D weights are dense layers, 4-D are Conv2d; anything else
(biases, norm layers, 1-D and 3-D weights, weights whose first dim is below 2) has no ESD. A conv
(out, in, kh, kw) gives kh*kw matrices W[:, :, i, j], pooled into one ESD and scaled by sqrt(1/2).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from spectrascope.tensorfiles import LazyTensors

# weightwatcher analyze() defaults
MIN_EVALS = 8
MAX_EVALS = 15000
MAX_N = 50000
CONV2D_SCALE = np.sqrt(1 / 2)


@dataclass(frozen=True)
class _Layer:
    """A layer's name, type and dimensions as weightwatcher reports them."""

    name: str
    layer_type: str  # "dense" | "conv2d"
    N: int
    M: int
    rf: int


@dataclass(frozen=True)
class LayerMatrices(_Layer):
    """One analysable layer: a stack of matrices whose eigenvalues (of the smaller Gram matrix each) are pooled."""

    matrices: np.ndarray  # (count, rows, cols) float64, C-ordered, already scaled

    @property
    def num_evals(self) -> int:
        return self.matrices.shape[0] * min(self.matrices.shape[1:])


@dataclass(frozen=True)
class AnalysableLayer(_Layer):
    """A layer chosen for analysis by its tensor's shape alone: choosing them all reads nothing, and each
    layer's tensor is read and copied to float64 only when asked for, so a caller holds one at a time."""

    state_dict: Mapping = field(repr=False, compare=False)
    key: str
    scale: float

    def float64(self) -> LayerMatrices:
        weight = np.asarray(self.state_dict[self.key])
        stack = weight[None] if weight.ndim == 2 else weight.transpose(2, 3, 0, 1)  # a conv's (kh, kw, out, in)
        copy = _float64_copy(stack, self.scale).reshape(self.rf, *stack.shape[-2:])
        return LayerMatrices(self.name, self.layer_type, self.N, self.M, self.rf, copy)


def weight_keys(state_dict: Mapping) -> list[str]:
    return [key for key in state_dict if key.endswith(".weight")]


def shape_of(state_dict: Mapping, key: str) -> tuple[int, ...]:
    """A tensor's shape, read from the file's header alone where the state_dict is read lazily."""
    return state_dict.shape(key) if isinstance(state_dict, LazyTensors) else np.shape(state_dict[key])


def dtype_of(state_dict: Mapping, key: str) -> np.dtype:
    """A tensor's dtype as it is read (bfloat16 as float32), from the file's header where read lazily."""
    return state_dict.dtype(key) if isinstance(state_dict, LazyTensors) else np.asarray(state_dict[key]).dtype


def identity_of(state_dict: Mapping, key: str):
    """What a state_dict entry's values are: entries with equal identities are one tensor (a head tied to its
    token embedding: GPT-2's 38.6M values, counted once instead of twice). Where the values are in memory,
    where they live; where they are read lazily, where in the file (a freed array's address is reused)."""
    if isinstance(state_dict, LazyTensors):
        return state_dict.identity(key)
    values = np.asarray(state_dict[key])
    return values.__array_interface__["data"][0], values.shape, values.strides, values.dtype.str


def tied_layers(state_dict: dict) -> dict[str, str]:
    """layer -> the earlier layer whose weight is the same tensor (as torch.save keeps a tie, and the import
    restores one transformers left out): weightwatcher lists both, and so do we, saying which is which."""
    first: dict[tuple, str] = {}
    tied = {}
    for key in weight_keys(state_dict):
        if 0 in shape_of(state_dict, key):
            continue
        layer = key[: -len(".weight")]
        source = first.setdefault(identity_of(state_dict, key), layer)
        if source != layer:
            tied[layer] = source
    return tied


def _conv_dims(out_channels: int, in_channels: int, kh: int, kw: int) -> tuple[int, int]:
    """N and M as weightwatcher reports them for a conv, quirks included (they decide the skip rules).

    It swaps N and M once per kernel slice when out < in, so they end up sorted only when kh*kw is odd;
    and when out + in < kh + kw it takes the 'channels first' branch, which leaves them unsorted.
    """
    if out_channels + in_channels >= kh + kw and out_channels < in_channels and (kh * kw) % 2 == 1:
        return in_channels, out_channels
    return out_channels, in_channels


def _float64_copy(view: np.ndarray, scale: float) -> np.ndarray:
    """One pass over the weights: a contiguous float64 copy (the Gram products run ~1.5x faster on it),
    scaled on the way."""
    copy = np.empty(view.shape, dtype=np.float64)
    np.multiply(view, scale, out=copy, dtype=np.float64)
    return copy


def _analysable(state_dict: Mapping, key: str) -> AnalysableLayer | None:
    """The layer as weightwatcher analyses it, or None where it has no ESD. Matrices keep the tensor's
    orientation (the eigensolver takes the smaller Gram matrix of either): copying a transpose costs 2.5x."""
    shape = shape_of(state_dict, key)
    if len(shape) == 2 and shape[0] >= 2:
        N, M, rf = max(shape), min(shape), 1
        layer_type, scale = "dense", 1.0
    elif len(shape) == 4 and shape[0] >= 2:
        out_channels, in_channels, kh, kw = shape
        N, M = _conv_dims(out_channels, in_channels, kh, kw)
        rf = kh * kw
        layer_type, scale = "conv2d", CONV2D_SCALE
    else:
        return None
    if M * rf < MIN_EVALS or M * rf > MAX_EVALS or N > MAX_N:
        return None
    return AnalysableLayer(key[: -len(".weight")], layer_type, int(N), int(M), int(rf), state_dict, key, scale)


def analysable_layers(state_dict: Mapping) -> list[AnalysableLayer]:
    """The analysable layers in state_dict order (its values NumPy arrays, CPU tensors, or read lazily)."""
    layers = (_analysable(state_dict, key) for key in weight_keys(state_dict))
    return [layer for layer in layers if layer is not None]
