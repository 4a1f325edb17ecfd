"""The small run the export tests export: two layers over four epochs."""
from __future__ import annotations

import torch

EPOCHS = (0, 1, 2, 3)
LAYERS = ("fc1", "fc2")  # fc1 has a bias, fc2 none


def write_checkpoints(folder) -> None:
    """Weights that grow every epoch, so the frames differ."""
    folder.mkdir()
    generator = torch.Generator().manual_seed(0)
    for epoch in EPOCHS:
        state = {"fc1.weight": torch.randn(64, 48, generator=generator) * (1 + epoch),
                 "fc1.bias": torch.randn(64, generator=generator) * (1 + epoch),
                 "fc2.weight": torch.randn(40, 32, generator=generator) / (1 + epoch)}
        torch.save(state, folder / f"epoch_{epoch}.pt")
