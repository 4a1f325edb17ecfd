"""spectrascope.torchzip reads what torch.load(weights_only=True) reads from a zip of plain tensors, the
same values, without torch; every other file it declines (None), running nothing in it."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch

from spectrascope.torchzip import read_state_dict, saved_from


def varied_state_dict() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 3), torch.nn.BatchNorm2d(5), torch.nn.Flatten(),
                                torch.nn.Linear(20, 4))
    state = dict(model.state_dict())  # floats and BatchNorm's int64 num_batches_tracked
    base = torch.arange(40.0)
    state.update({
        "tied.weight": state["3.weight"],  # one storage, two entries
        "slice": base[5:17].reshape(3, 4),  # an offset into a shared storage
        "transposed": base.reshape(5, 8).t(),  # not contiguous
        "every_other": base[::2],
        "scalar": torch.tensor(3.5, dtype=torch.float64),
        "empty": torch.zeros(0, 4),
        "half": torch.randn(6).half(),
        "bfloat": torch.randn(2, 3).to(torch.bfloat16),
        "ints": torch.arange(-3, 3, dtype=torch.int32),
        "bytes": torch.arange(4, dtype=torch.uint8),
        "chars": torch.arange(-2, 2, dtype=torch.int8),
        "flags": torch.tensor([True, False]),
    })
    return state


def as_numpy(tensor: torch.Tensor) -> np.ndarray:
    return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()


def test_every_tensor_reads_as_torch_loads_it(tmp_path):
    path = tmp_path / "epoch_1.pt"
    torch.save(varied_state_dict(), path)
    arrays = read_state_dict(path)
    loaded = torch.load(path, weights_only=True)
    assert arrays is not None and list(arrays) == list(loaded)
    for name, tensor in loaded.items():
        expected = as_numpy(tensor)
        assert arrays[name].dtype == expected.dtype and arrays[name].shape == expected.shape, name
        np.testing.assert_array_equal(arrays[name], expected, err_msg=name)
    assert not arrays["slice"].flags.writeable  # views of what was read: nothing writes through them
    assert saved_from(path) == {"cpu"}


def test_the_device_a_tensor_was_saved_from_is_told_without_reading_the_tensors(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")  # as torch.save from a GPU
    torch.save({"fc.weight": torch.ones(3, 3)}, tmp_path / "gpu.pt")
    assert saved_from(tmp_path / "gpu.pt") == {"cuda:0"}
    np.testing.assert_array_equal(read_state_dict(tmp_path / "gpu.pt")["fc.weight"], np.ones((3, 3), np.float32))


class Payload:
    """An object whose unpickling would run a command: it must never be called."""

    def __reduce__(self):
        return (print, ("payload ran",))


def declined_files(folder) -> dict[str, object]:
    weights = {"fc.weight": torch.ones(2, 2)}
    files = {
        "wrapped.pt": lambda p: torch.save({"state_dict": weights, "optimizer": {"lr": 0.1}}, p),
        "with_a_step.pt": lambda p: torch.save({**weights, "step": 7}, p),
        "legacy.pt": lambda p: torch.save(weights, p, _use_new_zipfile_serialization=False),
        "object.pt": lambda p: torch.save({**weights, "hook": Payload()}, p),
        "empty_dict.pt": lambda p: torch.save({}, p),
        "not_torch.pt": lambda p: p.write_bytes(b"PK\x03\x04 not really a zip"),
        "truncated.pt": lambda p: (torch.save(weights, p), p.write_bytes(p.read_bytes()[:-200])),
    }
    for name, write in files.items():
        write(folder / name)
    return files


def test_anything_but_a_zip_of_plain_tensors_is_left_to_torch(tmp_path, capsys):
    for name in declined_files(tmp_path):
        assert read_state_dict(tmp_path / name) is None, name
        assert saved_from(tmp_path / name) is None, name
    assert "payload ran" not in capsys.readouterr().out


def rewrite_pickle(source, target, edit) -> None:
    """A copy of a torch.save archive with its data.pkl bytes edited (same length), as damage would."""
    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as copy:
        for info in archive.infolist():
            data = archive.read(info)
            copy.writestr(info.filename, edit(data) if info.filename.endswith("data.pkl") else data)


def test_a_tensor_said_to_reach_past_its_storage_is_never_read(tmp_path):
    torch.save({"fc.weight": torch.ones(3, 4)}, tmp_path / "good.pt")
    # the storage's element count, BININT1 12 in the pickle, becomes 2: the 3x4 tensor would read past it
    rewrite_pickle(tmp_path / "good.pt", tmp_path / "short.pt", lambda data: data.replace(b"K\x0ct", b"K\x02t", 1))
    assert read_state_dict(tmp_path / "good.pt") is not None
    assert read_state_dict(tmp_path / "short.pt") is None and saved_from(tmp_path / "short.pt") is None


def test_a_compressed_archive_is_left_to_torch(tmp_path):
    torch.save({"fc.weight": torch.ones(3, 4)}, tmp_path / "good.pt")
    buffer = io.BytesIO()
    with zipfile.ZipFile(tmp_path / "good.pt") as archive, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as copy:
        for info in archive.infolist():
            copy.writestr(info.filename, archive.read(info))
    (tmp_path / "deflated.pt").write_bytes(buffer.getvalue())
    assert read_state_dict(tmp_path / "deflated.pt") is None


@pytest.mark.parametrize("name", ["missing.pt", "folder.pt"])
def test_a_path_that_is_no_file_is_declined(tmp_path, name):
    (tmp_path / "folder.pt").mkdir()
    assert read_state_dict(tmp_path / name) is None and saved_from(tmp_path / name) is None
