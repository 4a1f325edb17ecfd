"""Image data sets as uint8 tensors (N, C, H, W): CIFAR-100 from its official files, and the offline demo.

Whole data sets are small enough to live on the training device, so there is no Dataset/DataLoader here:
augmentation happens per batch on the device (see augment.py).
"""
from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from spectrascope.errors import UserError
from spectrascope.runs import datasets_root

CIFAR100_FOLDER = "cifar-100-python"
CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
CIFAR100_ARCHIVE_MD5 = "eb9058c3a382ffc7106e4002c42a8d85"
CIFAR100_FILE_MD5 = {
    "train": "16019d7e3df5f24257cddd939b257f8d",
    "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
    "meta": "7973b15100ade9c7d40fb424638fde48",
}
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)


class DatasetError(UserError):
    """A data set that is missing or unreadable; the message says where it should be and how to get it."""


@dataclass
class ImageDataset:
    name: str
    train_images: torch.Tensor  # uint8 (N, C, H, W)
    train_labels: torch.Tensor  # int64 (N,)
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: list[str]
    mean: tuple[float, ...]  # per channel, in [0, 1] pixel units
    std: tuple[float, ...]

    @property
    def in_channels(self) -> int:
        return self.train_images.shape[1]

    def to(self, device: torch.device) -> "ImageDataset":
        move = lambda t: t.to(device, non_blocking=True)  # noqa: E731
        return ImageDataset(self.name, move(self.train_images), move(self.train_labels), move(self.test_images),
                            move(self.test_labels), self.classes, self.mean, self.std)


# --- CIFAR-100 -----------------------------------------------------------------------------------


def cifar100_folder(data_dir) -> Path:
    return datasets_root(data_dir) / CIFAR100_FOLDER


def missing_cifar100_message(data_dir) -> str:
    folder = cifar100_folder(data_dir)
    return (
        f"CIFAR-100 not found at {folder} (expected the files train, test and meta). "
        f"Run again with --download, or download {CIFAR100_URL} and extract it into {folder.parent}"
    )


def cifar100_present(data_dir) -> bool:
    folder = cifar100_folder(data_dir)
    return all((folder / name).is_file() for name in CIFAR100_FILE_MD5)


def download_cifar100(data_dir) -> None:
    """Fetch and unpack the official archive (md5-checked) into DATA_DIR/datasets."""
    from torchvision.datasets.utils import download_and_extract_archive

    root = datasets_root(data_dir)
    try:
        download_and_extract_archive(CIFAR100_URL, str(root), md5=CIFAR100_ARCHIVE_MD5, remove_finished=True)
    except Exception as exc:  # network errors come in many types; all mean the same to the user
        raise DatasetError(f"could not download CIFAR-100 ({exc}). {missing_cifar100_message(data_dir)}") from exc


class _ArrayUnpickler(pickle.Unpickler):
    """The official files are pickles; only allow what they contain (dicts, lists, numpy arrays)."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 writes bytes at protocol 2
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name}")
        return super().find_class(module, name)


# what unpickling arbitrary bytes raises: a length field of 2^62 asks for that much memory, and so on
_DAMAGED_PICKLE_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, OverflowError, MemoryError)


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_pickle(folder: Path, name: str, verify: bool, keys: tuple[str, ...]) -> dict:
    """The file's dict, checked to hold `keys`."""
    path = folder / name
    if verify and _md5(path) != CIFAR100_FILE_MD5[name]:
        raise DatasetError(f"{path} fails its md5 check: the download is damaged; delete {folder} and download again")
    try:
        with path.open("rb") as handle:
            content = _ArrayUnpickler(handle, encoding="latin1").load()
    except _DAMAGED_PICKLE_ERRORS as exc:
        raise DatasetError(f"{path} is not a CIFAR-100 file ({exc}); delete {folder} and download again") from exc
    missing = [key for key in keys if not isinstance(content, dict) or key not in content]
    if missing:
        raise DatasetError(f"{path} is not a CIFAR-100 file (no {', '.join(missing)}); delete {folder} and download again")
    return content


def read_cifar100_split(folder: Path, split: str, verify: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 3, 32, 32) uint8 and fine labels from the official `train` or `test` pickle."""
    batch = _read_pickle(folder, split, verify, ("data", "fine_labels"))
    data = np.asarray(batch["data"], dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DatasetError(f"{folder / split}: expected data of shape (N, 3072), found {data.shape}")
    images = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())
    return images, torch.tensor(batch["fine_labels"], dtype=torch.int64)


def load_cifar100(data_dir, verify: bool = False) -> ImageDataset:
    if not cifar100_present(data_dir):
        raise DatasetError(missing_cifar100_message(data_dir))
    folder = cifar100_folder(data_dir)
    train_images, train_labels = read_cifar100_split(folder, "train", verify)
    test_images, test_labels = read_cifar100_split(folder, "test", verify)
    classes = list(_read_pickle(folder, "meta", verify, ("fine_label_names",))["fine_label_names"])
    return ImageDataset("cifar100", train_images, train_labels, test_images, test_labels, classes,
                        CIFAR100_MEAN, CIFAR100_STD)


# --- offline demo: scikit-learn's 8x8 digits -----------------------------------------------------


def load_digits_dataset(test_fraction: float = 0.2) -> ImageDataset:
    """1797 real 8x8 grey-scale digits shipped with scikit-learn; a fixed stratified split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.round(digits.images * (255 / 16)).astype(np.uint8)[:, None]  # (N, 1, 8, 8)
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=test_fraction, random_state=0, stratify=digits.target
    )
    pixels = x_train.astype(np.float64) / 255
    return ImageDataset(
        "digits", torch.from_numpy(x_train), torch.from_numpy(y_train).long(), torch.from_numpy(x_test),
        torch.from_numpy(y_test).long(), [str(d) for d in range(10)], (float(pixels.mean()),), (float(pixels.std()),),
    )


def ensure_dataset(name: str, data_dir, download: bool = False) -> None:
    """Fail early, before a run is created, when the data set is not there (fetching it if asked)."""
    if name == "cifar100" and not cifar100_present(data_dir):
        if not download:
            raise DatasetError(missing_cifar100_message(data_dir))
        download_cifar100(data_dir)


def load_dataset(name: str, data_dir) -> ImageDataset:
    return load_cifar100(data_dir) if name == "cifar100" else load_digits_dataset()
