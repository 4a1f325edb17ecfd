"""`spectrascope import`: a folder of the user's own checkpoints becomes an analysed `imported` run; files that are
not plain tensors are refused (never executed) and nothing is written; bad folders and names are one-line errors."""

import errno
import io
import os
import pickle
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file

from analysis.importer import import_checkpoints
from analysis.layouts import epoch_from_name
from analysis_helpers import RUN_ID, Payload, TinyNet, load, spectrascope
from helpers import snapshot_tree
from spectrascope.checkpoints import CheckpointError
from spectrascope.runs import checkpoint_epochs, read_run, run_paths
from spectrascope.runs.files import read_csv


def tiny_state_dict(seed: int) -> dict:
    """TinyNet's weights, different for every seed, so each epoch's tensors can be told apart."""
    torch.manual_seed(seed)
    return TinyNet().state_dict()


def save_legacy(state_dict, path):
    """torch's format before 1.6: a plain pickle stream, not a zip archive."""
    torch.save(state_dict, path, _use_new_zipfile_serialization=False)


def save_raw_pickle(obj, path):
    with open(path, "wb") as handle:
        pickle.dump(obj, handle)


# epoch -> (file name, how it is written): every format and naming style the importer accepts
VARIED = {
    1: ("epoch_1.pt", torch.save),
    3: ("model-ep3.pth", torch.save),
    5: ("ckpt_0005.safetensors", save_file),
    7: ("old_7.pt", save_legacy),
    9: ("wrapped_9.pt", lambda sd, path: torch.save({"state_dict": sd, "epoch": 9, "optimizer": {"lr": 0.1}}, path)),
}


@pytest.mark.parametrize("key", ["model_state", "weights_ema"])  # a known wrapper key, and any other single one
def test_a_training_script_checkpoint_is_unwrapped_saying_which_key_was_used(folder, tmp_path, key):
    for epoch in (0, 1):
        model = TinyNet()
        model.load_state_dict(tiny_state_dict(epoch))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for parameter in model.parameters():
            parameter.grad = torch.ones_like(parameter)
        optimizer.step()  # momentum buffers: tensors in the optimizer state too
        torch.save({key: model.state_dict(), "optimizer_state": optimizer.state_dict(), "step": 100 * epoch},
                   folder / f"ckpt_{epoch}.pt")
    result = import_cli(folder, tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert f"the weights are read from the {key!r} entry of the checkpoints" in result.stderr
    paths = run_paths(tmp_path / "data", "imp")
    assert torch.load(paths.checkpoint(1), weights_only=True).keys() == model.state_dict().keys()


def test_a_checkpoint_with_weights_under_two_unknown_keys_is_refused(folder, tmp_path):
    torch.save({"student": tiny_state_dict(0), "teacher": tiny_state_dict(1)}, folder / "ckpt_0.pt")
    result = import_cli(folder, tmp_path / "data")
    assert result.returncode == 2 and "is not a state_dict" in one_error_line(result)


def written(data):
    """Every file and folder under the data dir (none if it was never created)."""
    return sorted(data.rglob("*")) if data.exists() else []


def import_cli(source, data, run_id="imp", *flags):
    return spectrascope("import", source, "--data-dir", data, "--run-id", run_id, *flags)


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spectrascope: error: "), result.stderr
    return lines[0]


@pytest.fixture
def folder(tmp_path):
    """An empty folder to put checkpoints in."""
    (tmp_path / "checkpoints").mkdir()
    return tmp_path / "checkpoints"


@pytest.mark.parametrize("name, epoch", [
    ("epoch_12.pt", 12), ("model-ep3.pth", 3), ("ckpt_0005.safetensors", 5), ("run2_epoch_10.pt", 10),
    ("resnet18-v2.1-e7.pth", 7), ("final.pt", None), ("best-model.safetensors", None),
])
def test_the_epoch_is_the_last_number_in_the_file_name(tmp_path, name, epoch):
    assert epoch_from_name(tmp_path / name) == epoch


def test_a_folder_of_varied_checkpoints_becomes_an_analysed_imported_run(folder, tmp_path):
    originals = {epoch: tiny_state_dict(epoch) for epoch in VARIED}
    for epoch, (name, save) in VARIED.items():
        save(originals[epoch], folder / name)
    data = tmp_path / "data"
    result = import_cli(folder, data)
    assert result.returncode == 0, result.stderr
    assert "run imp: analysed 5 epoch(s)" in result.stdout

    paths = run_paths(data, "imp")
    record = read_run(paths)
    assert (record.kind, record.status) == ("imported", "completed")
    assert record.config == {"source": str(folder.resolve()), "layout": "files"}
    assert record.analysis.status == "completed" and record.analysis.errors == {}
    assert checkpoint_epochs(paths) == [1, 3, 5, 7, 9]
    for epoch, original in originals.items():  # the same tensors, each under the epoch its file name gave
        imported = load(paths.checkpoint(epoch))
        assert sorted(imported) == sorted(original), VARIED[epoch][0]  # (safetensors stores keys sorted)
        for key, tensor in original.items():
            assert imported[key].dtype == tensor.dtype and torch.equal(imported[key], tensor), (VARIED[epoch][0], key)

    rows = read_csv(paths.layers_csv)
    assert sorted((int(r["epoch"]), r["layer"]) for r in rows) == sorted(
        (epoch, layer) for epoch in VARIED for layer in TinyNet.ANALYSABLE)
    assert {int(r["epoch"]) for r in read_csv(paths.weight_stats_csv)} == set(VARIED)
    # the analysis it recorded is complete: analysing again finds nothing to do
    again = spectrascope("analyze", "--run-id", "imp", "--data-dir", data)
    assert again.returncode == 0 and "analysed 0 epoch(s), 5 already up to date" in again.stdout, again.stdout


def test_plain_tensors_that_cannot_be_analysed_are_imported_and_the_error_reported_with_exit_1(folder, tmp_path):
    good, bad = tiny_state_dict(0), tiny_state_dict(1)
    bad["fc1.weight"][0, 0] = float("nan")
    torch.save(good, folder / "epoch_1.pt")
    torch.save(bad, folder / "epoch_2.pt")
    data = tmp_path / "data"
    result = import_cli(folder, data)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert any(line.startswith("epoch 2:") and "non-finite" in line for line in lines), result.stderr
    paths = run_paths(data, "imp")
    assert checkpoint_epochs(paths) == [1, 2] and read_run(paths).status == "completed"
    assert list(read_run(paths).analysis.errors) == ["2"]
    assert {int(r["epoch"]) for r in read_csv(paths.layers_csv)} == {1}


PAYLOAD_FORMATS = {"zip": torch.save, "legacy": save_legacy, "raw pickle": save_raw_pickle}
UNSAFE_LOAD = {"zip": lambda path: torch.load(path, weights_only=False),
               "legacy": lambda path: torch.load(path, weights_only=False),
               "raw pickle": lambda path: pickle.loads(path.read_bytes())}


@pytest.mark.parametrize("fmt", PAYLOAD_FORMATS)
def test_a_pickled_object_among_good_files_is_refused_never_executed_and_nothing_is_written(folder, tmp_path, fmt):
    save = PAYLOAD_FORMATS[fmt]
    # the payload is live: loading it the unsafe way does create its marker
    probe = tmp_path / "probe.pt"
    save({"w": torch.ones(2, 2), "x": Payload(tmp_path / "probe-ran")}, probe)
    UNSAFE_LOAD[fmt](probe)
    assert (tmp_path / "probe-ran").exists()

    marker = tmp_path / "pwned"
    torch.save(tiny_state_dict(1), folder / "epoch_1.pt")
    torch.save(tiny_state_dict(3), folder / "epoch_3.pth")
    save({"w": torch.ones(2, 2), "x": Payload(marker)}, folder / "evil_2.pt")
    data = tmp_path / "data"
    result = import_cli(folder, data)
    assert result.returncode == 2, result.stderr
    line = one_error_line(result)
    refusal = ("refused: not a plain-tensor file (Unsupported operand" if fmt == "raw pickle"  # not torch.save's
               else "refused: the file holds a pickled object (io.open), not plain tensors; nothing was run")
    assert line.startswith(f"spectrascope: error: cannot read evil_2.pt: {refusal}") and "state_dict()" in line, line
    assert "\x1b" not in line and "weights_only` set to `False`" not in line  # no advice to load it unsafely
    assert not marker.exists()
    assert not run_paths(data, "imp").root.exists() and written(data) == []


NOT_A_STATE_DICT = {
    "truncated.pt": lambda path: path.write_bytes(_bytes_of(tiny_state_dict(0))[:2000]),
    "list.pt": lambda path: torch.save(list(tiny_state_dict(0).values()), path),
    "tensor.pt": lambda path: torch.save(torch.randn(20, 20), path),
    "no-tensors.pth": lambda path: torch.save({"epoch": 2, "lr": 0.1}, path),
    "garbage.safetensors": lambda path: path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!"),
}
EXPECTED_REASON = {"truncated.pt": "cannot read", "list.pt": "not a state_dict", "tensor.pt": "not a state_dict",
                   "no-tensors.pth": "not a state_dict", "garbage.safetensors": "cannot read"}


def _bytes_of(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", NOT_A_STATE_DICT)
def test_a_file_that_is_not_a_state_dict_is_refused_by_name_and_nothing_is_written(folder, tmp_path, kind):
    torch.save(tiny_state_dict(1), folder / "epoch_1.pt")
    name = kind.replace(".", "_2.", 1)  # truncated_2.pt, ...: epoch 2
    NOT_A_STATE_DICT[kind](folder / name)
    data = tmp_path / "data"
    with pytest.raises(CheckpointError) as refused:
        import_checkpoints(folder, data, "imp")
    assert name in str(refused.value) and EXPECTED_REASON[kind] in str(refused.value)
    assert written(data) == []


def test_a_file_without_a_number_in_its_name_is_a_one_line_error_and_exit_2(folder, tmp_path):
    torch.save(tiny_state_dict(1), folder / "epoch_1.pt")
    torch.save(tiny_state_dict(2), folder / "final.pt")
    torch.save(tiny_state_dict(3), folder / "best.pth")
    data = tmp_path / "data"
    result = import_cli(folder, data)
    assert result.returncode == 2
    line = one_error_line(result)
    assert "best.pth" in line and "final.pt" in line and "epoch_1.pt" not in line
    assert "put the epoch number in each file name" in line
    assert written(data) == []


def test_two_files_claiming_the_same_epoch_are_named_and_nothing_is_written(folder, tmp_path):
    torch.save(tiny_state_dict(1), folder / "epoch_1.pt")
    save_file(tiny_state_dict(1), folder / "model-ep01.safetensors")
    torch.save(tiny_state_dict(2), folder / "epoch_2.pt")
    data = tmp_path / "data"
    result = import_cli(folder, data)
    assert result.returncode == 2
    line = one_error_line(result)
    assert "epoch_1.pt" in line and "model-ep01.safetensors" in line and "epoch 1" in line
    assert written(data) == []


def test_without_run_id_the_run_is_named_after_the_folder_as_a_valid_id(tmp_path):
    folder = tmp_path / "my ckpts (v2)"
    folder.mkdir()
    torch.save(tiny_state_dict(1), folder / "epoch_1.pt")
    result = spectrascope("import", folder, "--data-dir", tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert "run my-ckpts-v2-: analysed 1 epoch(s)" in result.stdout
    again = spectrascope("import", folder, "--data-dir", tmp_path / "data")  # the same folder twice: the run exists
    assert again.returncode == 2 and "'my-ckpts-v2-' already exists" in one_error_line(again)


def test_an_existing_run_id_is_refused_and_the_run_left_untouched(folder, data_dir):
    torch.save(tiny_state_dict(1), folder / "epoch_1.pt")
    before = snapshot_tree(data_dir)
    result = import_cli(folder, data_dir, RUN_ID)
    assert result.returncode == 2
    line = one_error_line(result)
    assert repr(RUN_ID) in line and "already exists" in line and "--run-id" in line
    assert snapshot_tree(data_dir) == before


def test_an_invalid_run_id_is_refused_before_anything_is_written(folder, tmp_path):
    torch.save(tiny_state_dict(1), folder / "epoch_1.pt")
    result = import_cli(folder, tmp_path / "data", "../escape")
    assert result.returncode == 2 and "invalid run id" in one_error_line(result)
    assert written(tmp_path / "data") == [] and not (tmp_path / "escape").exists()


@pytest.mark.parametrize("what", ["a file", "a missing path"])
def test_a_path_that_is_not_a_folder_is_a_one_line_error_and_exit_2(folder, tmp_path, what):
    path = folder / "epoch_1.pt" if what == "a file" else tmp_path / "no-such-folder"
    torch.save(tiny_state_dict(1), folder / "epoch_1.pt")
    result = import_cli(path, tmp_path / "data")
    assert result.returncode == 2
    expected = "is not a folder" if what == "a file" else "does not exist"
    assert f"{path} {expected}: give the folder that holds your checkpoints" in one_error_line(result)
    assert written(tmp_path / "data") == []


@pytest.mark.parametrize("contents", ["nothing", "no checkpoint files"])
def test_a_folder_without_checkpoints_is_a_one_line_error_and_exit_2(folder, tmp_path, contents):
    if contents == "no checkpoint files":
        (folder / "notes_1.txt").write_text("epoch 1")
        torch.save(tiny_state_dict(1), folder / "epoch_1.bin")  # not a suffix the importer reads
        (folder / "sub_2.pt").mkdir()  # a folder, not a file
    result = import_cli(folder, tmp_path / "data")
    assert result.returncode == 2
    line = one_error_line(result)
    assert "no checkpoints" in line and "*.pt, *.pth, *.safetensors" in line and str(folder) in line
    assert written(tmp_path / "data") == []


def test_an_epoch_of_five_digits_is_imported_and_analysed(folder, tmp_path):
    torch.save(tiny_state_dict(1), folder / "step_3.pt")
    torch.save(tiny_state_dict(2), folder / "step_12000.pt")
    data = tmp_path / "data"
    result = import_cli(folder, data)
    assert result.returncode == 0, result.stderr
    paths = run_paths(data, "imp")
    assert checkpoint_epochs(paths) == [3, 12000]
    assert {int(r["epoch"]) for r in read_csv(paths.layers_csv)} == {3, 12000}


def test_an_import_that_fails_while_copying_leaves_no_run_behind(folder, tmp_path):
    torch.save(tiny_state_dict(1), folder / "epoch_1.pt")
    torch.save(tiny_state_dict(2), folder / f"e{'9' * 250}.pt")  # its copy, epoch_999...9.pt, is too long a name
    data = tmp_path / "data"
    with pytest.raises(OSError):
        import_checkpoints(folder, data, "imp")
    assert not run_paths(data, "imp").root.exists()


def saved_on(path) -> set[str]:
    """The devices a torch.save file's tensors were saved from."""
    locations = set()
    torch.load(path, weights_only=True, map_location=lambda storage, location: locations.add(location) or storage)
    return locations


def test_a_plain_state_dict_is_copied_byte_for_byte_and_stays_apart_from_the_original(folder, tmp_path):
    torch.save(tiny_state_dict(1), folder / "epoch_1.pt")
    original = (folder / "epoch_1.pt").read_bytes()
    paths = import_checkpoints(folder, tmp_path / "data", "imp")
    copy = paths.checkpoint(1)
    assert copy.read_bytes() == original  # copied (cloned where it can be), not loaded and saved again
    assert copy.stat().st_ino != (folder / "epoch_1.pt").stat().st_ino and copy.stat().st_nlink == 1
    torch.save(tiny_state_dict(2), folder / "epoch_1.pt")  # rewrites the user's file in place
    assert copy.read_bytes() == original


def test_a_checkpoint_saved_from_a_gpu_or_holding_more_than_tensors_is_saved_again_as_a_plain_one(
        folder, tmp_path, monkeypatch):
    torch.save({**tiny_state_dict(1), "step": 7}, folder / "epoch_1.pt")
    with monkeypatch.context() as patched:  # as torch.save writes tensors that were on a GPU
        patched.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        torch.save(tiny_state_dict(2), folder / "epoch_2.pt")
    assert saved_on(folder / "epoch_2.pt") == {"cuda:0"}
    paths = import_checkpoints(folder, tmp_path / "data", "imp")
    assert "step" not in load(paths.checkpoint(1)) and sorted(load(paths.checkpoint(1))) == sorted(tiny_state_dict(1))
    assert saved_on(paths.checkpoint(2)) == {"cpu"}  # loads where there is no GPU
    assert all(torch.equal(load(paths.checkpoint(2))[k], v) for k, v in tiny_state_dict(2).items())


def test_where_the_kernel_cannot_copy_a_file_it_is_copied_by_reading_it(folder, tmp_path, monkeypatch):
    torch.save(tiny_state_dict(1), folder / "epoch_1.pt")
    kernel_copy, calls = os.copy_file_range, []

    def copy_a_little_then_refuse(source, target, count):  # as across filesystems on some kernels
        calls.append(count)
        if len(calls) > 1:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return kernel_copy(source, target, 1000)

    monkeypatch.setattr(os, "copy_file_range", copy_a_little_then_refuse)
    paths = import_checkpoints(folder, tmp_path / "data", "imp")
    assert len(calls) == 2 and paths.checkpoint(1).read_bytes() == (folder / "epoch_1.pt").read_bytes()


def test_where_checkpoints_cannot_be_memory_mapped_they_are_read_whole(folder, tmp_path, monkeypatch):
    weights = tiny_state_dict(1)
    torch.save({"model_state_dict": weights, "step": 3}, folder / "epoch_1.pt")  # read through torch
    torch_load, mapped = torch.load, []

    def load_without_mmap(*args, mmap=None, **kwargs):  # as on a filesystem that cannot map files
        if mmap:
            mapped.append(args[0])
            raise OSError(errno.ENODEV, "No such device")
        return torch_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", load_without_mmap)
    paths = import_checkpoints(folder, tmp_path / "data", "imp")
    assert mapped == [folder / "epoch_1.pt"]
    assert all(torch.equal(load(paths.checkpoint(1))[key], value) for key, value in weights.items())


def test_plain_state_dicts_are_imported_and_analysed_without_loading_torch(folder, tmp_path):
    """torch takes 1.3 s to load: a zip of plain tensors, what torch.save(model.state_dict()) writes, is
    checked, copied and analysed without it (spectrascope.torchzip)."""
    for epoch in (1, 2):
        torch.save(tiny_state_dict(epoch), folder / f"epoch_{epoch}.pt")
    code = ("import sys; from spectrascope.cli import main; status = main(sys.argv[1:]); "
            "print('torch loaded:', 'torch' in sys.modules); sys.exit(status)")
    result = subprocess.run([sys.executable, "-c", code, "import", str(folder), "--run-id", "imp",
                             "--data-dir", str(tmp_path / "data")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "run imp: analysed 2 epoch(s)" in result.stdout and "torch loaded: False" in result.stdout
    paths = run_paths(tmp_path / "data", "imp")
    assert paths.checkpoint(2).read_bytes() == (folder / "epoch_2.pt").read_bytes()
    assert {row["layer"] for row in read_csv(paths.layers_csv)} == set(TinyNet.ANALYSABLE)
