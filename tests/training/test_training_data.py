"""The CIFAR-100 reader (training/data.py) on files written in the official format, and its refusals."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from helpers import fine_label_names, make_cifar_split, write_py2_pickle
from training.data import (
    CIFAR100_MEAN, CIFAR100_STD, DatasetError, load_cifar100, load_digits_dataset, read_cifar100_split,
)


def folder_of(data_dir):
    return data_dir / "datasets" / "cifar-100-python"


@pytest.mark.parametrize("split, count", [("train", 128), ("test", 64)])
def test_read_split_returns_uint8_images_and_int64_labels_of_the_right_shape(tiny_cifar, split, count):
    data_dir, _ = tiny_cifar
    images, labels = read_cifar100_split(folder_of(data_dir), split)
    assert images.shape == (count, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.shape == (count,) and labels.dtype == torch.int64


def test_pixel_at_channel_row_col_comes_from_the_rgb_planes_of_the_data_row(tiny_cifar):
    data_dir, contents = tiny_cifar
    images, _ = read_cifar100_split(folder_of(data_dir), "train")
    data = contents["train"]["data"]
    c, r, k = np.meshgrid(np.arange(3), np.arange(32), np.arange(32), indexing="ij")
    expected = data[:, c * 1024 + r * 32 + k]  # (N, 3, 32, 32) by the documented layout
    assert np.array_equal(images.numpy(), expected)
    # and a few pixels spelled out
    for i, c, r, k in [(0, 0, 0, 0), (5, 1, 31, 0), (127, 2, 17, 29), (64, 2, 31, 31)]:
        assert images[i, c, r, k].item() == data[i, c * 1024 + r * 32 + k]


def test_labels_are_the_fine_labels_in_file_order(tiny_cifar):
    data_dir, contents = tiny_cifar
    _, labels = read_cifar100_split(folder_of(data_dir), "test")
    assert labels.tolist() == contents["test"]["fine_labels"]


def test_load_cifar100_assembles_train_test_classes_and_normalisation(tiny_cifar):
    data_dir, contents = tiny_cifar
    dataset = load_cifar100(data_dir)
    assert dataset.name == "cifar100"
    assert dataset.train_images.shape == (128, 3, 32, 32) and dataset.test_images.shape == (64, 3, 32, 32)
    assert dataset.train_labels.tolist() == contents["train"]["fine_labels"]
    assert dataset.test_labels.tolist() == contents["test"]["fine_labels"]
    assert np.array_equal(dataset.test_images.reshape(64, -1).numpy(), contents["test"]["data"])
    assert dataset.classes == fine_label_names()
    assert dataset.in_channels == 3
    assert dataset.mean == CIFAR100_MEAN and dataset.std == CIFAR100_STD


def test_verify_rejects_files_whose_md5_is_not_the_official_one(tiny_cifar):
    data_dir, _ = tiny_cifar
    with pytest.raises(DatasetError, match="md5"):
        load_cifar100(data_dir, verify=True)


def test_missing_folder_error_names_the_folder_and_download(tmp_path):
    with pytest.raises(DatasetError) as error:
        load_cifar100(tmp_path)
    message = str(error.value)
    assert str(tmp_path / "datasets" / "cifar-100-python") in message
    assert "--download" in message


def test_a_folder_lacking_one_of_the_three_files_counts_as_missing(tiny_cifar):
    data_dir, _ = tiny_cifar
    (folder_of(data_dir) / "meta").unlink()
    with pytest.raises(DatasetError, match="--download"):
        load_cifar100(data_dir)


def test_truncated_pickle_raises_dataset_error_naming_the_file(tiny_cifar):
    data_dir, _ = tiny_cifar
    path = folder_of(data_dir) / "train"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DatasetError) as error:
        load_cifar100(data_dir)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("garbage", [
    bytes(np.random.default_rng(seed).integers(0, 256, 5000, dtype=np.uint8)) for seed in range(20)
] + [b"\x80\x04\x8e" + (2**62).to_bytes(8, "little")])  # a bytes object of 2^62 bytes: MemoryError
def test_garbage_bytes_raise_dataset_error(tiny_cifar, garbage):
    data_dir, _ = tiny_cifar
    (folder_of(data_dir) / "test").write_bytes(garbage)
    with pytest.raises(DatasetError, match="is not a CIFAR-100 file"):
        load_cifar100(data_dir)


def test_data_of_the_wrong_width_raises_dataset_error(tiny_cifar):
    data_dir, _ = tiny_cifar
    split = make_cifar_split(4, np.random.default_rng(0), "test")
    split["data"] = split["data"][:, :3000]
    write_py2_pickle(folder_of(data_dir) / "test", split)
    with pytest.raises(DatasetError, match="3072"):
        load_cifar100(data_dir)


def test_a_pickle_that_is_not_a_cifar_dict_raises_dataset_error(tiny_cifar):
    """A well-formed pickle of the wrong content (no `data` key) is as unusable as a damaged one."""
    data_dir, _ = tiny_cifar
    write_py2_pickle(folder_of(data_dir) / "train", {"labels": [1, 2, 3]})
    with pytest.raises(DatasetError):
        load_cifar100(data_dir)


class RunsAShellCommand:
    """Unpickling this with plain pickle runs `touch <marker>`."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_pickle_calling_os_system_is_refused_not_executed(tiny_cifar, tmp_path):
    data_dir, _ = tiny_cifar
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"data": RunsAShellCommand(marker), "fine_labels": [0]}, protocol=2)
    (folder_of(data_dir) / "train").write_bytes(payload)

    with pytest.raises(DatasetError, match="system"):
        load_cifar100(data_dir)
    assert not marker.exists()

    pickle.loads(payload)  # the payload is real: plain pickle would have run the command
    assert marker.exists()


def test_reader_accepts_a_protocol_2_pickle_written_by_python_3(tiny_cifar):
    """Python 3's pickle at protocol 2 stores bytes as `_codecs.encode(...)`; such files are valid pickles of
    exactly the official content and should load like the Python 2 originals."""
    data_dir, contents = tiny_cifar
    with (folder_of(data_dir) / "test").open("wb") as handle:
        pickle.dump(contents["test"], handle, protocol=2)
    dataset = load_cifar100(data_dir)
    assert np.array_equal(dataset.test_images.reshape(64, -1).numpy(), contents["test"]["data"])


def test_digits_demo_data_set_is_a_fixed_stratified_split_of_8x8_grey_images():
    first, again = load_digits_dataset(), load_digits_dataset()
    assert first.train_images.shape[1:] == (1, 8, 8) and first.train_images.dtype == torch.uint8
    assert len(first.train_labels) + len(first.test_labels) == 1797
    assert torch.equal(first.test_images, again.test_images) and torch.equal(first.test_labels, again.test_labels)
    assert sorted(set(first.test_labels.tolist())) == list(range(10))
    pixels = first.train_images.double() / 255
    assert first.mean[0] == pytest.approx(pixels.mean().item()) and first.std[0] == pytest.approx(pixels.std().item(), rel=1e-3)
