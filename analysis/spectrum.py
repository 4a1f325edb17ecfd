"""Eigenvalues of W^T W for each layer, from Gram matrices and a batched symmetric eigensolver.

Cheaper than weightwatcher's SVD of every slice (eigvalsh of a small M x M Gram matrix instead of an
SVD of N x M), in float64, so eigenvalues agree with the SVD's squared singular values to ~1e-12 of
lambda_max. On the CPU each Gram matrix is NumPy's `m.T @ m`, which it computes with BLAS syrk (half a
matmul's work; a batched matmul of the whole stack does not), and NumPy's eigvalsh (faster than torch's
there). SciPy's syrk would be a little faster alone, but SciPy ships its own OpenBLAS, whose threads spin
against NumPy's when calls alternate (2.5x slower with 2 threads). On CUDA, torch's.
"""
from __future__ import annotations

import numpy as np
import torch

from analysis.layers import LayerMatrices


def eigenvalues(layer: LayerMatrices) -> np.ndarray:
    """The layer's pooled ESD: all eigenvalues of every matrix's W^T W, sorted ascending."""
    stack = layer.matrices
    if stack.device.type == "cpu":
        values = np.concatenate([np.linalg.eigvalsh(m.T @ m) for m in stack.numpy()])
    else:
        values = torch.linalg.eigvalsh(stack.transpose(1, 2) @ stack).cpu().numpy()
    return np.sort(np.clip(values.ravel(), 0, None))  # rounding can dip a zero eigenvalue below 0
