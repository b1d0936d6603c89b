"""Brain beside network: the same estimator on a recording and on each layer, in one table.

Every exponent here comes from :func:`v1ann.estimate_alpha`, the one entry point shared
with the rest of the package: cvPCA for recordings (repeats separate signal from noise),
PCA for a deterministic network's (``stimulus``, ``unit``) activations. When both sides
carry stimulus labels, each layer is measured on the stimuli the recording saw, so the
two spectra describe responses to the same images.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from v1ann._loglog import DEFAULT_FIT_RANGE, named_fit_range
from v1ann.errors import InvalidInputError, warn
from v1ann.spectrum.estimate import estimate_alpha
from v1ann.spectrum.powerlaw import PowerLawFit

__all__ = ["compare", "fit_brain_and_layers", "COLUMNS"]

COLUMNS = (
    "source",
    "layer",
    "kind",
    "alpha",
    "alpha_ci_low",
    "alpha_ci_high",
    "r2",
    "fit_lo",
    "fit_hi",
    "delta_alpha",
    "method",
    "n_stimuli",
    "n_units",
)


def compare(brain, layers, *, match_stimuli: bool = True, **estimate_kwargs) -> pd.DataFrame:
    """Power-law exponents of recordings and network layers, side by side.

    Parameters
    ----------
    brain : xarray.Dataset, xarray.DataArray, PowerLawFit, or dict of them
        A recording (see ``docs/architecture.md``), a (``repeat``, ``stimulus``,
        ``neuron``) DataArray, any other input of :func:`v1ann.estimate_alpha`, or a
        fit already made. A dict names several recordings (its keys fill ``source``);
        a single one is called ``"brain"``.
    layers : dict of str to DataArray/PowerLawFit, or xarray.Dataset
        Layer activations (``stimulus``, ``unit``) as returned by
        :func:`v1ann.nn.activations`, or fits already made. Keys (or variable names)
        fill ``layer``; their order is kept.
    match_stimuli : bool
        When a recording and a layer both label their stimuli, measure the layer on the
        recording's stimuli only (each layer is then fitted once per distinct stimulus
        set). Stimuli the layer lacks, or differing stimulus counts, raise one
        :class:`V1AnnWarning`: such spectra are not strictly comparable.
    **estimate_kwargs
        Passed to every :func:`v1ann.estimate_alpha` call (e.g. ``fit_range``, ``seed``),
        so brain and layers are fitted alike. Fits passed in are used as they are.

    Returns
    -------
    pandas.DataFrame
        One row per recording (``kind="brain"``, ``layer="brain"``) followed by one row
        per layer (``kind="layer"``), for each recording. Columns (:data:`COLUMNS`):
        ``source`` (recording name), ``layer``, ``kind``, ``alpha``, ``alpha_ci_low``,
        ``alpha_ci_high`` (NaN without a CI), ``r2`` (of the log-log fit), ``fit_lo``,
        ``fit_hi`` (first and last rank fitted, 1-based, inclusive), ``delta_alpha``
        (layer α − that recording's α; 0 on brain rows), ``method`` (estimator),
        ``n_stimuli``, ``n_units`` (neurons or units).

    Warns
    -----
    V1AnnWarning
        Once for the layers with fewer ranks than the fit range (fitted up to their last
        rank, :func:`v1ann._loglog.clip_fit_range`: ``fit_hi`` shows it), once for
        those left out because their spectrum ends before the range starts, and once for
        layers measured on other stimuli than the recording.

    Examples
    --------
    >>> rec = v1ann.simulate_recording(alpha=1.0, n_stimuli=300, n_neurons=1000, seed=0)  # doctest: +SKIP
    >>> acts = v1ann.nn.activations(model, images)                                          # doctest: +SKIP
    >>> v1ann.compare({"sim": rec}, acts)                                                   # doctest: +SKIP
    """
    brain_fits, layer_fits = fit_brain_and_layers(brain, layers, match_stimuli=match_stimuli, **estimate_kwargs)
    rows = []
    for source, brain_fit in brain_fits.items():
        rows.append(_row(source, "brain", "brain", brain_fit, brain_fit.alpha))
        for name, fit in layer_fits[source].items():
            rows.append(_row(source, name, "layer", fit, brain_fit.alpha))
    return pd.DataFrame(rows, columns=list(COLUMNS)).astype({"n_stimuli": "Int64", "n_units": "Int64"})


def fit_brain_and_layers(brain, layers, *, match_stimuli: bool = True, **estimate_kwargs):
    """The fits behind :func:`compare` and :func:`v1ann.plot.spectra`.

    Returns
    -------
    brain_fits : dict of str to PowerLawFit
    layer_fits : dict of str to (dict of str to PowerLawFit)
        Per recording, the layers measured on that recording's stimuli.
    """
    brains = _named_brains(brain)
    named_layers = _named_layers(layers)
    brain_fits = {source: _fit(obj, f"brain {source!r}", estimate_kwargs) for source, obj in brains.items()}
    cache: dict[tuple, PowerLawFit] = {}
    layer_fits: dict[str, dict[str, PowerLawFit]] = {}
    mismatches: list[str] = []
    too_short: dict[str, str] = {}
    shortened: set[str] = set()
    for source, obj in brains.items():
        ids = _stimulus_ids(obj) if match_stimuli else None
        layer_fits[source] = {}
        for name, layer in named_layers.items():
            layer, missing, restricted = _restrict(layer, ids)
            shortfall = _too_short(layer, estimate_kwargs)
            if shortfall:
                too_short[name] = shortfall
                continue
            key = (name, ids.tobytes() if restricted else None)
            if key not in cache:
                cache[key] = _fit(layer, f"layer {name!r}", estimate_kwargs)
            fit = cache[key]
            layer_fits[source][name] = fit
            if fit.fit_range != brain_fits[source].fit_range:
                shortened.add(f"{name} ranks {fit.fit_range[0] + 1}..{fit.fit_range[1]}")
            n_brain, n_layer = brain_fits[source].n_stimuli, fit.n_stimuli
            if missing:
                mismatches.append(f"{name!r} lacks {missing} of the stimuli of {source!r}")
            elif n_brain is not None and n_layer is not None and n_brain != n_layer:
                mismatches.append(f"{source!r} has {n_brain} stimuli, {name!r} {n_layer}")
    if too_short:
        warn(f"{len(too_short)} layer(s) left out: their spectra end before the fit range starts "
            f"({'; '.join(f'{name}: {why}' for name, why in too_short.items())}); pass a fit_range "
            "that starts lower (the same for brain and layers) to include them")
    if not any(layer_fits.values()):
        raise InvalidInputError("no layer has enough principal components for the fit range; pass a shorter fit_range")
    if shortened:
        brain_ranges = sorted({f"{fit.fit_range[0] + 1}..{fit.fit_range[1]}" for fit in brain_fits.values()})
        warn(f"{len(shortened)} layer(s) have fewer ranks than the fit range and were fitted up to their last "
            f"one ({'; '.join(sorted(shortened))}; brain ranks {', '.join(brain_ranges)}); exponents over "
            "different ranks are not strictly comparable: pass a fit_range that every layer covers")
    if mismatches:
        warn(f"{len(mismatches)} layer/recording pair(s) were measured on different stimuli, so their "
            f"spectra are not strictly comparable: {'; '.join(mismatches)}")
    return brain_fits, layer_fits


def _named_brains(brain) -> dict:
    if isinstance(brain, Mapping) and not isinstance(brain, xr.Dataset):  # a Dataset is a Mapping too
        if not brain:
            raise InvalidInputError("brain is an empty dict; pass at least one recording")
        return {str(name): obj for name, obj in brain.items()}
    return {"brain": brain}


def _named_layers(layers) -> dict:
    if isinstance(layers, xr.Dataset):
        named = {str(name): layers[name] for name in layers.data_vars}
    elif isinstance(layers, Mapping):
        named = {str(name): obj for name, obj in layers.items()}
    elif isinstance(layers, xr.DataArray):
        named = {str(layers.name or "layer"): layers}
    else:
        raise InvalidInputError(
            "layers must be a dict of layer name to activations (as from v1ann.nn.activations) "
            f"or PowerLawFit, or an xarray Dataset; got {type(layers).__name__}"
        )
    if not named:
        raise InvalidInputError("layers is empty; pass at least one layer")
    return named


def _fit(obj, label: str, estimate_kwargs) -> PowerLawFit:
    if isinstance(obj, PowerLawFit):
        return obj
    try:
        return estimate_alpha(obj, **estimate_kwargs)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{label}: {exc}") from exc


def _too_short(layer, estimate_kwargs) -> str:
    """Why ``layer``'s PCA spectrum ends before the fit range starts ('' when it does not or is unknown).

    Shorter spectra that reach into the range are fitted up to their last rank (the rule
    of :func:`v1ann._loglog.clip_fit_range`).

    PCA gives ``min(n - 1, n_units)`` components, ``n`` the stimuli its components are
    fitted on (half of them for ``method="pca-cv"``); see :func:`v1ann.pca_spectrum`.
    """
    fit_range = named_fit_range(estimate_kwargs.get("fit_range", DEFAULT_FIT_RANGE))
    shape = getattr(layer, "shape", None)
    if isinstance(fit_range, str) or isinstance(layer, PowerLawFit) or shape is None or len(shape) != 2:
        return ""
    if isinstance(layer, xr.DataArray) and {"stimulus", "unit"} <= set(layer.dims):
        n_stimuli, n_units = layer.sizes["stimulus"], layer.sizes["unit"]
    else:
        n_stimuli, n_units = (int(n) for n in shape)
    if estimate_kwargs.get("method") == "pca-cv":
        n_stimuli = (n_stimuli + 1) // 2
    n_components = min(n_stimuli - 1, n_units)
    need = int(fit_range[0]) + 2
    return f"{n_components} components < {need}" if n_components < need else ""


def _stimulus_ids(brain) -> np.ndarray | None:
    """Ids of the stimuli a recording shows (blanks excluded), or None when unlabelled."""
    if isinstance(brain, xr.Dataset) and "stimulus" in brain.coords:
        ids = brain["stimulus"].values
        if "is_blank" in brain.coords:
            ids = ids[~brain["is_blank"].values.astype(bool)]
        return np.unique(ids)
    if isinstance(brain, xr.DataArray) and "stimulus" in brain.coords:
        return np.unique(brain["stimulus"].values)
    return None


def _restrict(layer, ids: np.ndarray | None):
    """``(layer, number of ids it lacks, whether it was cut down to ids)``."""
    if ids is None or not isinstance(layer, xr.DataArray) or "stimulus" not in layer.coords:
        return layer, 0, False
    have = layer["stimulus"].values
    missing = int(np.size(ids) - np.isin(ids, have).sum())
    if missing or (have.shape == ids.shape and np.array_equal(np.sort(have), ids)):
        return layer, missing, False
    return layer.sel(stimulus=ids), 0, True


def _row(source: str, layer: str, kind: str, fit: PowerLawFit, brain_alpha: float) -> dict:
    low, high = fit.alpha_ci if fit.alpha_ci is not None else (np.nan, np.nan)
    start, stop = fit.fit_range
    return {
        "source": source,
        "layer": layer,
        "kind": kind,
        "alpha": float(fit.alpha),
        "alpha_ci_low": float(low),
        "alpha_ci_high": float(high),
        "r2": float(fit.r2),
        "fit_lo": int(start) + 1,
        "fit_hi": int(stop),
        "delta_alpha": float(fit.alpha) - float(brain_alpha),
        "method": str(fit.method),
        "n_stimuli": _count(fit.n_stimuli),
        "n_units": _count(fit.n_neurons),
    }


def _count(value):
    return pd.NA if value is None else int(value)
