"""Spectral analysis of one state_dict: rows for layers.csv, the eigenvalues each fit used and, with
randomize, those of each layer's shuffled weights.

`fast` (default) is our own: Gram matrices + batched eigvalsh in float64 and the pruned vectorised fit.
`weightwatcher` runs weightwatcher 0.7.7's analyze() with its defaults: the reference and test oracle.
Both return the same columns for the same layers.
"""
from __future__ import annotations

import contextlib
import io
import itertools
import logging
import warnings
from collections.abc import Mapping
from typing import Callable

import numpy as np

from analysis.layers import AnalysableLayer, analysable_layers, dtype_of, tied_layers
from analysis.metrics import layer_row, warning_for
from analysis.options import BACKENDS, AnalysisError
from analysis.powerlaw import fit_power_law
from analysis.progress import LayerCount
from analysis.spectrum import eigenvalues


def _all_finite(values: np.ndarray) -> bool:
    """A finite sum proves every value finite (NaN and Inf propagate), at a fraction of isfinite's cost;
    only a sum that overflowed or met a NaN/Inf needs the element-wise check."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(values.sum())) or bool(np.isfinite(values).all())


def check_finite(state_dict: Mapping) -> None:
    """Refuse NaN/Inf, reading one tensor at a time (a lazily read checkpoint is never held whole)."""
    bad = [key for key in state_dict if np.issubdtype(dtype_of(state_dict, key), np.floating)
           and not _all_finite(np.asarray(state_dict[key]))]
    if bad:
        raise AnalysisError(f"non-finite (NaN/Inf) values in {', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}")


Spectra = tuple[list[dict], dict[str, np.ndarray], dict[str, np.ndarray]]  # rows, ESDs, randomized ESDs by layer
LayerDone = Callable[[LayerCount], None]  # called before the first layer and after each


def unreported(count: LayerCount) -> None:
    """The LayerDone of an analysis whose layers no one follows."""


def _counted(layers: list[AnalysableLayer]) -> Callable[[int], LayerCount]:
    """done -> its LayerCount, with the layers' matrix sizes (what a layer costs, roughly)."""
    sizes = [layer.N * layer.M * layer.rf for layer in layers]
    total = sum(sizes)

    def count(done: int) -> LayerCount:
        return LayerCount(done, len(layers), sum(sizes[:done]), total,
                          layers[done].name if done < len(layers) else None)
    return count


def _layer_spectra(layer: AnalysableLayer, device: str, rng: np.random.Generator | None) -> tuple[dict, np.ndarray,
                                                                                                   np.ndarray | None]:
    """The layer's row, ESD and (given rng) randomized ESD. Its float64 matrices live only inside this call,
    so one layer's are in memory at a time (holding them all doubles the cost, in page faults)."""
    matrices = layer.float64()
    evals = eigenvalues(matrices, device)
    row = layer_row(layer.name, layer.layer_type, layer.N, layer.M, evals, fit_power_law(evals))
    if rng is None:
        return row, evals, None
    from analysis.randomize import randomized_metrics  # here: its SciPy and scikit-learn imports add 0.7 s to a worker

    metrics, randomized = randomized_metrics(matrices, evals, rng, device)
    return {**row, **metrics}, evals, randomized


KeepLayer = Callable[[int, dict, np.ndarray, "np.ndarray | None"], None]  # (index, row, ESD, randomized ESD)


def analyze_fast(state_dict: dict, device: str = "cpu", randomize: bool = False, seed: int = 0,
                 on_layer: LayerDone = unreported, finished: dict | None = None,
                 keep: KeepLayer | None = None) -> Spectra:
    """A tied layer (the same tensor as an earlier one) is computed once: a tied 32000 x 4096 head is 7% of
    a Llama-2-7B checkpoint. `finished`: layers already done (spectrascope.runs.partial), taken as they are;
    `keep` is handed each layer computed here. Each layer's shuffle draws from its own stream (the seed and
    its index), so a checkpoint finished in two goes gives what one go would."""
    finished = finished or {}
    layers, ties = analysable_layers(state_dict), tied_layers(state_dict)
    rows, esd, randomized = {}, {}, {}
    count = _counted(layers)
    on_layer(count(0))
    with np.errstate(divide="ignore", invalid="ignore"):
        for done, layer in enumerate(layers, 1):
            source = ties.get(layer.name)
            if source in rows:
                rows[layer.name], esd[layer.name] = {**rows[source], "layer": layer.name}, esd[source]
                if source in randomized:
                    randomized[layer.name] = randomized[source]
            elif layer.name in finished:
                rows[layer.name], esd[layer.name], shuffled = finished[layer.name]
                if shuffled is not None:
                    randomized[layer.name] = shuffled
            else:
                rng = np.random.default_rng((seed, done)) if randomize else None
                rows[layer.name], esd[layer.name], shuffled = _layer_spectra(layer, device, rng)
                if shuffled is not None:
                    randomized[layer.name] = shuffled
                if keep is not None:
                    keep(done, rows[layer.name], esd[layer.name], shuffled)
            on_layer(count(done))
    return list(rows.values()), esd, randomized


def _import_weightwatcher():
    """Import weightwatcher without letting it silence warnings or reconfigure logging for the process."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    logging.disable(logging.WARNING)  # its import-time notes about CUDA and SciPy
    try:
        with warnings.catch_warnings():
            import weightwatcher
    finally:
        logging.disable(logging.NOTSET)
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
    return weightwatcher


def _float(value) -> float:
    """weightwatcher leaves some columns None (xmax of a failed fit)."""
    return float("nan") if value is None else float(value)


_WW_TYPES = {"LAYER_TYPE.DENSE": "dense", "LAYER_TYPE.CONV2D": "conv2d"}


def _keeping(apply, kept: dict[str, np.ndarray], attribute: str):
    """A WeightWatcher apply_* step that also keeps the eigenvalues it leaves on the layer (`evals`,
    `rand_evals`) by longname: analyze() returns only the table."""
    def apply_and_keep(ww_layer, params=None):
        result = apply(ww_layer, params)
        kept[ww_layer.longname] = np.sort(np.asarray(getattr(ww_layer, attribute), dtype=np.float64))
        return result
    return apply_and_keep


def _reporting(apply, on_layer: LayerDone, count: Callable[[int], LayerCount]):
    """A WeightWatcher apply_esd step that reports each layer it has done: analyze() does them all in one call."""
    done = itertools.count(1)

    def apply_and_report(ww_layer, params=None):
        result = apply(ww_layer, params)
        on_layer(count(next(done)))
        return result
    return apply_and_report


def analyze_weightwatcher(state_dict: dict, randomize: bool = False, on_layer: LayerDone = unreported) -> Spectra:
    import torch  # weightwatcher's own dependency, loaded with it

    weightwatcher = _import_weightwatcher()
    model = {key: torch.from_numpy(np.asarray(value).copy()) for key, value in state_dict.items()}
    watcher = weightwatcher.WeightWatcher(model=model, log_level=logging.ERROR)
    esd: dict[str, np.ndarray] = {}
    randomized: dict[str, np.ndarray] = {}
    count = _counted(analysable_layers(state_dict))  # the layers it analyses, as the tests check
    watcher.apply_esd = _reporting(_keeping(watcher.apply_esd, esd, "evals"), on_layer, count)
    watcher.apply_random_esd = _keeping(watcher.apply_random_esd, randomized, "rand_evals")
    with warnings.catch_warnings(), np.errstate(all="ignore"), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        on_layer(count(0))
        details = watcher.analyze(randomize=randomize)
    rows = []
    for record in details.to_dict("records"):
        failed = record["num_pl_spikes"] < 0
        rows.append({
            "layer": record["longname"],
            "layer_type": _WW_TYPES.get(str(record["layer_type"]), str(record["layer_type"])),
            "N": int(record["N"]), "M": int(record["M"]), "num_evals": int(record["num_evals"]),
            **{key: _float(record[key]) for key in ("alpha", "alpha_weighted", "xmin", "xmax", "D", "sigma",
                                                     "lambda_max", "log_norm", "log_spectral_norm", "stable_rank")},
            "num_pl_spikes": int(record["num_pl_spikes"]),
            "warning": warning_for(record["alpha"], failed),
            **(_randomized_columns(record) if randomize else {}),
        })
    return rows, esd, randomized


def _randomized_columns(record: dict) -> dict:
    """weightwatcher's randomized-ESD columns, and its bulk edge in the ESD's units (analysis.randomize)."""
    from analysis.randomize import with_tracy_widom

    scale = record["rand_W_scale"] ** 2  # its rand_bulk_max is given back in the ESD's units, its margin is not
    fitted = record["rand_num_spikes"] >= 0  # -1: its MP fit failed
    edge = with_tracy_widom(record["rand_bulk_max"] * scale, int(record["N"]), int(record["M"])) / scale if fitted \
        else float("nan")
    return {"max_rand_eval": float(record["max_rand_eval"]), "rand_distance": float(record["rand_distance"]),
            "rand_num_spikes": int(record["rand_num_spikes"]), "rand_bulk_edge": float(edge)}


def analyze_state_dict(state_dict: dict, backend: str = "fast", device: str = "cpu", randomize: bool = False,
                       on_layer: LayerDone = unreported, layer_types: dict[str, str] | None = None,
                       finished: dict | None = None, keep: KeepLayer | None = None) -> Spectra:
    """Every analysable layer's row, ESD and randomized ESD; `layer_types` names the module types the shape
    does not tell (conv1d, embedding: analysis.hf_modules), and `tied_to` the layer a tied one shares. The
    fast backend takes the layers `finished` before and hands each new one to `keep` (analyze_fast)."""
    if backend not in BACKENDS:
        raise AnalysisError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    check_finite(state_dict)
    try:
        if backend == "fast":
            spectra = analyze_fast(state_dict, device, randomize, on_layer=on_layer, finished=finished, keep=keep)
        else:
            spectra = analyze_weightwatcher(state_dict, randomize, on_layer)
    except np.linalg.LinAlgError as exc:  # an eigensolver or SVD that did not converge: this checkpoint's error
        raise AnalysisError(f"linear algebra failed: {exc}") from None
    rows, esd, randomized = spectra
    if not rows:
        raise AnalysisError("no analysable layer (no Linear or Conv2d weight with at least 8 eigenvalues)")
    types, ties = layer_types or {}, tied_layers(state_dict)
    rows = [{**row, "layer_type": types.get(row["layer"], row["layer_type"]), "tied_to": ties.get(row["layer"], "")}
            for row in rows]
    return rows, esd, randomized
