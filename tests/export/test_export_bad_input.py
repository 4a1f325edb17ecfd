"""Bad input to `spectrascope export`: one line naming the problem and what to do, exit status 2, and nothing
written anywhere."""
from __future__ import annotations

import pytest

from refusals import refused

GOOD = {"--run": "exp", "--view": "esd", "--layer": "fc1", "--format": "gif"}

CASES = {
    "unknown run": ({"--run": "nope"}, "no run 'nope' in", "the runs there: exp, raw"),
    "unknown layer": ({"--layer": "fc9"}, "run exp has no analysed layer 'fc9'; its layers: fc1, fc2", ""),
    "no layer, unanalysed": ({"--run": "raw", "--layer": None}, "run raw has not been analysed yet", "analyze"),
    "unknown view": ({"--view": "movie"}, "argument --view: invalid choice: 'movie'", "(see spectrascope export --help)"),
    "unknown format": ({"--format": "avi"}, "argument --format: invalid choice: 'avi'", "(see spectrascope export --help)"),
    "no bias": ({"--view": "histogram", "--layer": "fc2", "--biases": ""}, "layer fc2 of run exp has no bias",
                "export its weights (leave out --biases)"),
    "unanalysed esd": ({"--run": "raw"}, "run raw has not been analysed yet",
                       "run `spectrascope analyze --run-id raw` first"),
    "unanalysed alpha": ({"--run": "raw", "--view": "alpha"}, "run raw has not been analysed yet", "analyze"),
    "unanalysed grid": ({"--run": "raw", "--view": "grid"}, "run raw has not been analysed yet", "analyze"),
    "unanalysed histogram": ({"--run": "raw", "--view": "histogram"}, "run raw has no histograms yet", "analyze"),
    "no epochs": ({"--epochs": "7:9"}, "--epochs 7:9 holds none of run exp's analysed epochs (0–3)",
                  "choose a range within them"),
    "bad epochs": ({"--epochs": "one:two"}, "--epochs takes A:B", "not 'one:two'"),
    "reversed epochs": ({"--epochs": "3:1"}, "--epochs 3:1 is reversed", "give the first epoch first (1:3)"),
    "bad fps": ({"--fps": "0"}, "argument --fps: 0 is not between 0.1 and 60", ""),
}


def _arguments(changes: dict, out) -> list[str]:
    options = {**GOOD, **changes, "--out": str(out)}
    return [part for flag, value in options.items() if value is not None for part in (flag, value) if part != ""]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_and_exit_2_and_writes_nothing(export_data, tmp_path, case):
    changes, problem, fix = CASES[case]
    message = refused(export_data, tmp_path, "export", *_arguments(changes, tmp_path / "out.gif"))
    assert problem in message and fix in message


@pytest.mark.parametrize("format_, out, problem", [
    ("gif", "a-file/x.gif", "folder {tmp}/a-file is a file, not a folder; choose another --out"),
    ("gif", "a-folder", "--out {tmp}/a-folder is a folder; name the file to write"),
    ("png", "a-file", "--out {tmp}/a-file is a file; --format png writes one image per epoch into a folder"),
    ("png", "a-folder", "--out {tmp}/a-folder already holds files; name a new or empty folder"),
    ("gif", "x.mp4", "--out {tmp}/x.mp4 is named for .mp4 but this writes gif: name it x.gif"),
])
def test_an_out_that_cannot_be_written_is_refused_before_anything_is_drawn(export_data, tmp_path, format_, out,
                                                                           problem):
    (tmp_path / "a-file").write_text("mine")
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "a-folder" / "mine.txt").write_text("mine")
    message = refused(export_data, tmp_path, "export", *_arguments({"--format": format_}, tmp_path / out))
    assert problem.format(tmp=tmp_path) in message


@pytest.mark.parametrize("fmt", ["gif", "mp4", "png"])
def test_a_machine_without_chromium_is_told_to_install_it_or_export_html(export_data, tmp_path, fmt):
    out = tmp_path / ("frames" if fmt == "png" else f"out.{fmt}")
    message = refused(export_data, tmp_path, "export", *_arguments({"--format": fmt}, out),
                      env={"BROWSER_PATH": str(tmp_path / "no-such-browser")})
    assert "exporting images needs Chromium: install it" in message and "--format html needs no browser" in message
