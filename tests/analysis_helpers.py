"""Shared helpers for the analysis tests: weightwatcher as the oracle, row comparison, a tiny recorded run."""
from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from helpers import spectrascope as run_cli

# the numbers layers.csv must share with weightwatcher
COMPARED = ("alpha", "xmin", "D", "sigma", "num_pl_spikes", "lambda_max", "log_norm", "alpha_weighted", "stable_rank")
STRUCTURE = ("layer", "layer_type", "N", "M", "num_evals")
EVALS_THRESH = 1e-5  # weightwatcher's: eigenvalues at or below it are not fitted


@contextmanager
def single_threaded():
    """One BLAS/OpenMP thread while the tests compute. On two shared cores, BLAS threads spinning next to another
    busy process make SVDs and eigensolvers 10-100x slower; the numbers do not depend on the thread count."""
    from analysis.pool import limited_threads

    with limited_threads(1):
        yield


SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# --- weightwatcher as the oracle ---------------------------------------------------------------------


def weightwatcher():
    """The weightwatcher module, imported the way the package does it (its import would otherwise reconfigure
    root logging for every later test); call inside a test so pytest restores the warning filters it changes."""
    from analysis.backends import _import_weightwatcher

    return _import_weightwatcher()


def ww_fit(evals: np.ndarray):
    """weightwatcher's own power-law fit (WWFit) of the eigenvalues above its threshold; None if it cannot fit."""
    weightwatcher()
    from weightwatcher.WW_powerlaw import WWFit

    x = np.sort(np.asarray(evals, dtype=np.float64))
    x = x[x > EVALS_THRESH]
    with contextlib.redirect_stdout(io.StringIO()), np.errstate(all="ignore"):  # "SMALL N PL FIT" for n < 20
        try:
            return WWFit(x)
        except ValueError:  # argmin of an empty sequence: fewer than two values
            return None


def ww_fit_powerlaw(evals: np.ndarray) -> dict:
    """WeightWatcher.fit_powerlaw as analyze() calls it (threshold, failure handling, num_pl_spikes included)."""
    watcher = weightwatcher().WeightWatcher(log_level=logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()), np.errstate(all="ignore"):
        alpha, _, xmin, xmax, D, sigma, num_pl_spikes, *_rest, status, warning = watcher.fit_powerlaw(
            np.asarray(evals, dtype=np.float64), plot=False)
    return {"alpha": alpha, "xmin": xmin, "xmax": xmax, "D": D, "sigma": sigma, "num_pl_spikes": num_pl_spikes,
            "status": status, "warning": warning}


def ww_details(state_dict: dict):
    """weightwatcher 0.7.7 analyze() with its defaults, straight on the state_dict (no wrapper of ours)."""
    watcher = weightwatcher().WeightWatcher(model={k: v for k, v in state_dict.items() if torch.is_tensor(v)},
                                          log_level=logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()), np.errstate(all="ignore"):
        return watcher.analyze()


FIT_FIELDS = {"alpha", "xmin", "D", "sigma", "num_pl_spikes", "alpha_weighted"}


def assert_near_tie(evals: np.ndarray, ours: dict, theirs: dict, keys: list[str]) -> None:
    """Our fit chose another candidate xmin than weightwatcher only because their D values tie (to 1e-9):
    by weightwatcher's own arrays, our xmin is a candidate with our alpha and D, and its D is the minimum."""
    fit = ww_fit(evals)
    i = int(np.argmin(np.abs(fit.xmins - ours["xmin"])))
    context = f"{keys} differ: ours {ours} vs weightwatcher {theirs}"
    assert set(keys) <= FIT_FIELDS and not _close(ours["xmin"], theirs["xmin"], 1e-6), (
        f"not a different xmin candidate; {context}")
    assert (fit.xmins[i], fit.alphas[i], fit.Ds[i]) == pytest.approx((ours["xmin"], ours["alpha"], ours["D"]), rel=1e-6), (
        f"our fit is not weightwatcher's at our xmin; {context}")
    assert fit.Ds[i] - fit.Ds.min() <= 1e-9, (
        f"not a near-tie of D: weightwatcher's D at our xmin is {fit.Ds[i]}, its minimum {fit.Ds.min()}; {context}")


# --- comparing rows ------------------------------------------------------------------------------


def _close(a, b, rtol: float) -> bool:
    a, b = float(a), float(b)
    if np.isnan(a) or np.isnan(b):
        return np.isnan(a) and np.isnan(b)
    if np.isinf(a) or np.isinf(b):
        return a == b
    return abs(a - b) <= rtol * max(abs(a), abs(b))


def differing_rows(ours: list[dict], reference: list[dict], rtol: float = 1e-6) -> list[tuple[dict, dict, list[str]]]:
    """Rows whose COMPARED numbers differ by more than rtol, with the names of those numbers.
    The structure (layer names, order, type, N, M, num_evals) must be identical: it is asserted here."""
    assert [r["layer"] for r in ours] == [r["layer"] for r in reference], "different layers or order"
    for a, b in zip(ours, reference):
        assert {k: a[k] for k in STRUCTURE} == {k: b[k] for k in STRUCTURE}, f"structure differs: {a} vs {b}"
    diffs = []
    for a, b in zip(ours, reference):
        keys = [k for k in COMPARED if not _close(a[k], b[k], rtol)]
        if keys:
            diffs.append((a, b, keys))
    return diffs


def assert_backends_agree(ours: list[dict], reference: list[dict], reference_esd: dict, rtol: float = 1e-6) -> None:
    """At least 99% of rows within rtol; any other row must be a near-tie of D between two candidate xmins
    (see assert_near_tie), so only the argmin flipped."""
    diffs = differing_rows(ours, reference, rtol)
    assert len(ours) - len(diffs) >= 0.99 * len(ours), f"{len(diffs)} of {len(ours)} rows differ: {diffs}"
    for a, b, keys in diffs:
        assert_near_tie(reference_esd[a["layer"]], a, b, keys)


def assert_esds_agree(ours: dict, reference: dict) -> None:
    """Same layers and lengths; eigenvalues above 1e-6 lambda_max equal to 1e-8 relative."""
    assert list(ours) == list(reference)
    for name in ours:
        a, b = np.asarray(ours[name]), np.asarray(reference[name])
        assert a.shape == b.shape, f"{name}: {a.shape} vs {b.shape} eigenvalues"
        assert np.all(np.diff(a) >= 0), f"{name}: not sorted"
        big = b > 1e-6 * b.max()
        np.testing.assert_allclose(a[big], b[big], rtol=1e-8, atol=0, err_msg=name)
        assert np.all(np.abs(a[~big]) <= 2e-6 * b.max()), f"{name}: small eigenvalues far from the reference"


# --- a tiny recorded run -------------------------------------------------------------------------


class TinyNet(nn.Module):
    """conv (16,3,3,3): 27 eigenvalues; fc1 (32,64): 32; fc2 (10,32): 10 (a small-n fit); head (4,32): M=4 < 8,
    skipped; bn: 1-D, skipped."""

    ANALYSABLE = ("conv", "fc1", "fc2")

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)
        self.bn = nn.BatchNorm2d(16)
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 10)
        self.head = nn.Linear(32, 4)


RUN_ID = "tiny"
EPOCHS = (0, 1, 2, 3)


def record_tiny_run(data_dir: Path, run_id: str = RUN_ID, epochs=EPOCHS) -> None:
    """A run recorded by training.recorder.RunRecorder: the tiny net, its weights perturbed every epoch."""
    from training.recorder import RunRecorder

    torch.manual_seed(0)
    model = TinyNet()
    with RunRecorder(data_dir, run_id, config={"model": "tiny"}, total_epochs=len(epochs)) as run:
        for epoch in epochs:
            if epoch:
                with torch.no_grad():
                    for p in model.parameters():
                        p.add_(0.05 * epoch * torch.randn_like(p))
            run.log_epoch(epoch, model, train_loss=1.0 / (epoch + 1))


def spectrascope(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The installed `spectrascope` command, as a user runs it, with one BLAS thread (see single_threaded)."""
    return run_cli(*args, cwd=cwd, timeout=300, env=SINGLE_THREAD_ENV)


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def pid_after(seconds: float, fail: bool = False, die: bool = False) -> int:
    """A task for the worker pool tests: which process ran it (or an error, or the process's end)."""
    time.sleep(seconds)
    if die:
        os._exit(1)
    if fail:
        raise ValueError(f"task failed in process {os.getpid()}")
    return os.getpid()


class Payload:
    """Unpickling this creates `marker` (open(marker, "w")): code execution on load."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))
