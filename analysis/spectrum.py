"""Eigenvalues of W^T W for each layer, from Gram matrices and a batched symmetric eigensolver.

Cheaper than weightwatcher's SVD of every slice (eigvalsh of a small M x M Gram matrix instead of an
SVD of N x M), in float64, so eigenvalues agree with the SVD's squared singular values to ~1e-12 of
lambda_max. Runs on whatever device the layer's matrices are on.
"""
from __future__ import annotations

import numpy as np
import torch

from analysis.layers import LayerMatrices


def eigenvalues(layer: LayerMatrices) -> np.ndarray:
    """The layer's pooled ESD: all eigenvalues of every matrix's W^T W, sorted ascending."""
    stack = layer.matrices
    gram = stack.transpose(1, 2) @ stack
    values = torch.linalg.eigvalsh(gram).clamp_(min=0)  # rounding can dip a zero eigenvalue below 0
    return np.sort(values.flatten().cpu().numpy())
