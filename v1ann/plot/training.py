"""Figures of training runs: a layer's eigenspectrum against the target power law, and the history."""

from __future__ import annotations

import json

import numpy as np
import seaborn as sns
import xarray as xr

from v1ann._loglog import DEFAULT_FIT_RANGE
from v1ann.errors import InvalidInputError
from v1ann.plot._style import new_figure
from v1ann.spectrum.powerlaw import fit_powerlaw


def layer_spectrum_vs_target(spectra, target_alpha, *, tau: int = 10, fit_range: tuple[int, int] = DEFAULT_FIT_RANGE,
                             title: str | None = None):
    """Log-log eigenspectrum of each layer with the target line ``λ_τ (τ/n)^alpha``.

    Parameters
    ----------
    spectra : DataArray over ``rank``, 1-D array, or dict mapping layer name to either
        Eigenvalues (e.g. :func:`v1ann.pca_spectrum` of held-out activations), descending.
    target_alpha : float or PowerLawFit
        The exponent the layer was trained towards (``.alpha`` is read from a fit).
    tau : int
        1-based rank anchoring the target line (as in :class:`~v1ann.nn.SpectralRegularizer`).
    fit_range : (int, int)
        0-based half-open indices of the power-law fit shown in the legend (clipped to
        each spectrum's length); default ranks 12..500.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Spectra normalised to sum 1, solid; each layer's target line dashed in its colour.
    """

    alpha = float(getattr(target_alpha, "alpha", target_alpha))
    if not isinstance(spectra, dict):
        spectra = {getattr(spectra, "name", None) or "layer": spectra}
    if not spectra:
        raise InvalidInputError("spectra is empty: give at least one layer's eigenvalues")
    fig, (ax,) = new_figure(width=5.0, height=4.2)
    colors = sns.color_palette("viridis", n_colors=max(len(spectra), 2))
    floor = np.inf  # the y axis stops a decade below the fit range, not at the last ranks' rounding noise
    fitted_to = 0  # the shaded band covers the ranks actually fitted, not the ones asked for
    for color, (name, spectrum) in zip(colors, spectra.items()):
        values = np.asarray(getattr(spectrum, "values", spectrum), dtype=float).ravel()
        if values.size < tau + 2:
            raise InvalidInputError(f"spectrum of {name!r} has {values.size} ranks; tau={tau} needs at least {tau + 2}")
        values = values / values.sum()
        ranks = np.arange(1, values.size + 1)
        shown = values > 0
        lo, hi = fit_range[0], min(fit_range[1], int(np.argmin(shown)) if not shown.all() else values.size)
        label = name
        if hi - lo >= 2:
            label = f"{name}: α = {fit_powerlaw(values, fit_range=(lo, hi)).alpha:.2f} (ranks {lo + 1}–{hi})"
            fitted_to = max(fitted_to, hi)
        ax.loglog(ranks[shown], values[shown], color=color, lw=1.8, label=label)
        floor = min(floor, values[lo:hi][values[lo:hi] > 0].min(initial=np.inf) / 10)
        target = values[tau - 1] * (tau / ranks) ** alpha
        ax.loglog(ranks[tau - 1:], target[tau - 1:], color=color, lw=1.2, ls="--")
    ax.plot([], [], color="0.3", ls="--", label=f"target n$^{{-{alpha:.2f}}}$ anchored at rank {tau}")
    if fitted_to:
        ax.axvspan(fit_range[0] + 1, fitted_to, color="0.92", zorder=0)
    if np.isfinite(floor):
        ax.set_ylim(bottom=floor)
    ax.set_xlabel("rank n")
    ax.set_ylabel("variance (normalised)")
    ax.set_title(title or f"layer spectrum vs target α = {alpha:.2f}")
    ax.legend(frameon=False, fontsize="small", loc="lower left")
    sns.despine(fig)
    return fig


def training_history(history: xr.Dataset, *, title: str | None = None):
    """Loss, accuracy and per-layer alpha over epochs of a :func:`v1ann.nn.train` history.

    Parameters
    ----------
    history : xarray.Dataset
        Over ``epoch``, as returned by ``train`` (or :func:`v1ann.nn.train.load_history`).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Three panels; the target alpha, when the run had a regularizer, is a dashed line.
    """
    if not isinstance(history, xr.Dataset) or "epoch" not in history.dims or "train_loss" not in history:
        raise InvalidInputError("history must be the xarray.Dataset over `epoch` returned by train()")
    has_alpha = "alpha" in history
    fig, axes = new_figure(ncols=3 if has_alpha else 2, width=3.8, height=3.3)
    epoch = history.epoch.values
    for ax, metric, label in ((axes[0], "loss", "loss"), (axes[1], "accuracy", "accuracy")):
        ax.plot(epoch, history[f"train_{metric}"], marker="o", ms=3, label="train")
        if np.isfinite(history[f"val_{metric}"].values).any():
            ax.plot(epoch, history[f"val_{metric}"], marker="o", ms=3, label="held out")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
    if "train_penalty" in history and float(np.nanmax(history.train_penalty.values, initial=0.0)) > 0:
        axes[0].plot(epoch, history.train_penalty, marker="o", ms=3, color="0.5", label="penalty (in loss)")
    axes[0].legend(frameon=False, fontsize="small")
    if has_alpha:
        ax = axes[2]
        colors = sns.color_palette("viridis", n_colors=max(history.sizes["layer"], 2))
        for color, layer in zip(colors, history.layer.values):
            ax.plot(epoch, history.alpha.sel(layer=layer), marker="o", ms=3, color=color, label=str(layer))
        regularizer = json.loads(history.attrs.get("config", "{}")).get("regularizer")
        if regularizer:
            ax.axhline(regularizer["target_alpha"], color="0.3", ls="--", lw=1.2, label="target")
        ax.set_xlabel("epoch")
        ax.set_ylabel("α of the layer (training images)")
        ax.legend(frameon=False, fontsize="small")
    if title:
        fig.suptitle(title)
    sns.despine(fig)
    fig.tight_layout()
    return fig
