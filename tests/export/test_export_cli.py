"""`spectrascope export` end to end: each format holds one frame per epoch asked for, at the size drawn."""
from __future__ import annotations

import re
import subprocess

import imageio_ffmpeg
from PIL import Image

from helpers import spectrascope

FRAME_SIZE = (1920, 920)  # an ESD frame: 960 x 460 CSS pixels drawn 1920 pixels wide


def export(data_dir, *args) -> subprocess.CompletedProcess:
    done = spectrascope("export", "--data-dir", data_dir, "--run", "exp", *args, timeout=300)
    assert done.returncode == 0, done.stderr
    return done


def decoded_frames(video) -> tuple[int, tuple[int, int], str]:
    """(frames, (width, height), pixel format) of the video's stream, as ffmpeg decodes it."""
    done = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(video), "-map", "0:v",
                           "-f", "null", "-"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    stream = re.search(r"Stream #0:0.*Video: (\w+).*?, (yuv\w+).*?, (\d+)x(\d+)", done.stderr)
    frames = int(re.findall(r"frame=\s*(\d+)", done.stderr)[-1])
    assert stream.group(1) == "h264", done.stderr
    return frames, (int(stream.group(3)), int(stream.group(4))), stream.group(2)


def test_an_mp4_is_h264_in_yuv420p_with_a_frame_per_epoch(export_data, tmp_path):
    done = export(export_data, "--view", "esd", "--layer", "fc1", "--epochs", "1:3", "--format", "mp4",
                  "--out", tmp_path / "fc1.mp4")
    assert decoded_frames(tmp_path / "fc1.mp4") == (3, FRAME_SIZE, "yuv420p")
    assert "3 frames, epochs 1 to 3" in done.stdout  # the run's unit: epochs
    assert [path.name for path in tmp_path.iterdir()] == ["fc1.mp4"]  # no temporary file left beside it


def test_a_gif_has_a_frame_per_epoch_and_loops(export_data, tmp_path):
    export(export_data, "--view", "histogram", "--layer", "fc1", "--biases", "--format", "gif",
           "--out", tmp_path / "bias.gif", "--fps", "10")
    with Image.open(tmp_path / "bias.gif") as gif:
        assert gif.n_frames == 4 and gif.size[0] == 1920
        assert gif.info["loop"] == 0 and gif.info["duration"] == 100


def test_png_writes_one_image_per_epoch_into_a_new_folder(export_data, tmp_path):
    export(export_data, "--view", "grid", "--epochs", "2:", "--format", "png", "--out", tmp_path / "grid")
    names = sorted(path.name for path in (tmp_path / "grid").iterdir())
    assert names == ["epoch_0002.png", "epoch_0003.png"]
    sizes = {Image.open(tmp_path / "grid" / name).size for name in names}
    assert len(sizes) == 1 and sizes.pop()[0] == 1920
    assert [path.name for path in tmp_path.iterdir()] == ["grid"]


def test_a_file_already_there_is_replaced_whole(export_data, tmp_path):
    out = tmp_path / "alpha.gif"
    out.write_bytes(b"an older export")
    export(export_data, "--view", "alpha", "--epochs", "0:1", "--format", "gif", "--out", out)
    with Image.open(out) as gif:
        assert gif.n_frames == 2
