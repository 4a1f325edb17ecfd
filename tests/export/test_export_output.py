"""An export's target appears whole or not at all."""
from __future__ import annotations

import pytest

from export import output


def test_a_folder_of_images_appears_whole_or_not_at_all(tmp_path):
    with pytest.raises(OSError):
        output.write_folder(tmp_path / "frames", {"epoch_0000.png": b"png", "no/such/folder.png": b"png"})
    assert list(tmp_path.iterdir()) == []
    output.write_folder(tmp_path / "frames", {"epoch_0000.png": b"png"})
    assert [path.name for path in (tmp_path / "frames").iterdir()] == ["epoch_0000.png"]
    assert (tmp_path / "frames").stat().st_mode & 0o777 == 0o755
