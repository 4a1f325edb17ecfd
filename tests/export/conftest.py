"""Runs to export: an imported run of a small two-layer model, analysed, and one left unanalysed."""
from __future__ import annotations

import pytest
import torch

EPOCHS = (0, 1, 2, 3)
LAYERS = ("fc1", "fc2")  # fc1 has a bias, fc2 none


def _write_checkpoints(folder) -> None:
    """Weights that grow every epoch, so the frames differ."""
    folder.mkdir()
    generator = torch.Generator().manual_seed(0)
    for epoch in EPOCHS:
        state = {"fc1.weight": torch.randn(64, 48, generator=generator) * (1 + epoch),
                 "fc1.bias": torch.randn(64, generator=generator) * (1 + epoch),
                 "fc2.weight": torch.randn(40, 32, generator=generator) / (1 + epoch)}
        torch.save(state, folder / f"epoch_{epoch}.pt")


@pytest.fixture(scope="session")
def export_data(tmp_path_factory):
    """A data dir with run `exp` (imported and analysed) and run `raw` (imported, never analysed)."""
    from analysis.importer import import_checkpoints
    from analysis.runner import analyze_run

    root = tmp_path_factory.mktemp("export")
    _write_checkpoints(root / "checkpoints")
    data_dir = root / "data"
    import_checkpoints(root / "checkpoints", data_dir, "exp")
    analyze_run(data_dir, "exp", progress=False, workers=1)
    import_checkpoints(root / "checkpoints", data_dir, "raw")
    return data_dir
