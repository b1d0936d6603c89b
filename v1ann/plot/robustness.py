"""Figures of adversarial robustness and α sweeps (results of ``robustness`` and ``sweep``)."""

from __future__ import annotations

import json

import matplotlib as mpl
import numpy as np
import xarray as xr

from v1ann.errors import InvalidInputError
from v1ann.plot._style import BRAIN_COLOR, PALETTE, new_figure

VANILLA_STYLE = dict(color=BRAIN_COLOR, linestyle="--")


def accuracy_vs_eps(results: xr.Dataset, *, attacks=None):
    """Accuracy against the attack budget.

    Parameters
    ----------
    results : xarray.Dataset
        A :func:`v1ann.nn.robustness` result (one line per attack) or a :func:`v1ann.sweep`
        store (one panel per attack, one line per condition: mean over seeds, band ± 1 sd;
        vanilla dashed black, target α coloured).
    attacks : sequence of str, optional
        Attacks to draw; default all.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _require(results, ("accuracy",))
    attacks = list(results["attack"].values) if attacks is None else list(attacks)
    if "run" not in results.dims:
        fig, (ax,) = new_figure()
        for attack in attacks:
            acc = results["accuracy"].sel(attack=attack)
            ax.plot(acc["eps"], acc, marker="o", label=attack.upper())
        _eps_axes(ax, f"n = {results.attrs.get('n_samples', '?')} images")
        ax.legend(frameon=False)
        return fig
    fig, axes = new_figure(ncols=len(attacks), width=4.0)
    for ax, attack in zip(axes, attacks):
        for label, style, runs in _conditions(results):
            acc = results["accuracy"].sel(attack=attack, run=runs)
            mean, sd = acc.mean("run"), acc.std("run")
            ax.plot(acc["eps"], mean, marker="o", ms=3.5, label=label, **style)
            if acc.sizes["run"] > 1:
                ax.fill_between(acc["eps"], mean - sd, mean + sd, alpha=0.15, color=style["color"], lw=0)
        _eps_axes(ax, attack.upper())
    for ax in axes[1:]:
        ax.set_ylabel("")
    fig.tight_layout()
    _legend_below(fig, axes[0], results)
    return fig


def robust_accuracy_vs_alpha(results: xr.Dataset, *, eps: float = 0.1, attack: str = "pgd"):
    """Clean and attacked accuracy against the target α, every seed shown.

    Parameters
    ----------
    results : xarray.Dataset
        A :func:`v1ann.sweep` store.
    eps : float
        Budget of the attacked accuracy (must be in the store's ``eps``).
    attack : str

    Returns
    -------
    matplotlib.figure.Figure
        Left: clean accuracy; right: accuracy under ``attack`` at ``eps``. Dots are seeds,
        the line is the mean, the dashed line and band are vanilla (mean ± sd).
    """
    _require(results, ("accuracy", "clean_accuracy", "target_alpha", "vanilla"), sweep=True)
    if attack not in results["attack"].values:
        raise InvalidInputError(f"attack={attack!r} is not in the results ({list(results['attack'].values)})")
    if not np.isclose(results["eps"].values, eps).any():
        raise InvalidInputError(f"eps={eps} is not in the results ({list(results['eps'].values)})")
    eps_value = results["eps"].values[np.argmin(np.abs(results["eps"].values - eps))]
    panels = [
        (results["clean_accuracy"], "clean accuracy"),
        (results["accuracy"].sel(attack=attack, eps=eps_value), f"{attack.upper()} accuracy, eps = {eps_value:g}"),
    ]
    fig, axes = new_figure(ncols=2, width=4.0)
    vanilla = results["vanilla"].values.astype(bool)
    for ax, (values, title) in zip(axes, panels):
        if vanilla.any():
            base = values.isel(run=np.flatnonzero(vanilla))
            m, s = float(base.mean()), float(base.std())
            ax.axhline(m, label="vanilla", **VANILLA_STYLE)
            ax.axhspan(m - s, m + s, color=BRAIN_COLOR, alpha=0.08, lw=0)
        for k, (label, runs) in enumerate(_regularizer_settings(results)):
            group = values.sel(run=runs)
            color = f"C{k}"
            ax.scatter(group["target_alpha"], group.values, s=16, color=color, alpha=0.5, zorder=3)
            means = group.groupby("target_alpha").mean()
            ax.plot(means["target_alpha"], means.values, color=color, marker="o",
                    label=f"{label} (mean; dots: seeds)", zorder=4)
        ax.set(xlabel="target α", ylabel="accuracy", title=title)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    _legend_below(fig, axes[0], results)
    return fig


def measured_vs_target_alpha(results: xr.Dataset, *, layer: str | None = None):
    """Does the regularizer reach its target? Held-out α of a layer against the target α.

    Parameters
    ----------
    results : xarray.Dataset
        A :func:`v1ann.sweep` store (``alpha`` over ``run``, ``layer``).
    layer : str, optional
        Default: the first layer.

    Returns
    -------
    matplotlib.figure.Figure
        Dots per seed, the identity line (target reached), vanilla's α as a dashed line.
    """
    _require(results, ("alpha", "target_alpha", "vanilla"), sweep=True)
    layers = list(results["layer"].values)
    layer = layers[0] if layer is None else layer
    if layer not in layers:
        raise InvalidInputError(f"layer={layer!r} is not in the results ({layers})")
    alpha = results["alpha"].sel(layer=layer)
    vanilla = results["vanilla"].values.astype(bool)
    fig, (ax,) = new_figure()
    regularized = alpha.isel(run=np.flatnonzero(~vanilla))
    if regularized.sizes["run"]:
        top = max(regularized["target_alpha"].values.max(), np.nanmax(regularized.values)) * 1.1
        ax.plot([0, top], [0, top], color="0.6", lw=1, label="measured = target")
    for k, (label, runs) in enumerate(_regularizer_settings(results)):
        group = alpha.sel(run=runs)
        ax.scatter(group["target_alpha"], group.values, s=18, color=f"C{k}", alpha=0.7,
                   label=f"{label} (seeds)", zorder=3)
    if vanilla.any():
        ax.axhline(float(alpha.isel(run=np.flatnonzero(vanilla)).mean()), label="vanilla (mean)", **VANILLA_STYLE)
    fit = results.attrs.get("sweep_config")
    ranks = ""
    if fit:
        lo, hi = json.loads(fit).get("fit_range", (None, None))
        if "alpha_fit_hi" in results and np.isfinite(results["alpha_fit_hi"].sel(layer=layer)).any():
            hi = int(np.nanmax(results["alpha_fit_hi"].sel(layer=layer)))  # the ranks fitted, not the ones asked
        ranks = f", ranks {lo + 1}–{hi}" if lo is not None else ""
    ax.set(xlabel="target α", ylabel=f"measured α (held-out{ranks})", title=f"layer {layer}")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize="small")
    return fig


def _regularizer_settings(results):
    """(label, run ids) of the regularized runs per (strength, tau)."""
    vanilla = results["vanilla"].values.astype(bool)
    strength, tau = results["strength"].values, results["tau"].values
    settings = sorted({(float(s), int(t)) for s, t, v in zip(strength, tau, vanilla) if not v})
    out = []
    for s, t in settings:
        mask = ~vanilla & np.isclose(strength, s) & (tau == t)
        out.append((f"β = {s:g}, τ = {t}", results["run"].values[mask]))
    return out


def _conditions(results):
    """(label, line style, run ids) per condition: vanilla first, then by target α."""
    vanilla = results["vanilla"].values.astype(bool)
    runs = results["run"].values
    out = []
    if vanilla.any():
        out.append(("vanilla", dict(VANILLA_STYLE), runs[vanilla]))
    keys = sorted(
        {(float(a), float(s), int(t)) for a, s, t, v in zip(
            results["target_alpha"].values, results["strength"].values, results["tau"].values, vanilla
        ) if not v}
    )
    alphas = sorted({k[0] for k in keys})
    cmap = mpl.colormaps[PALETTE]
    settings = sorted({k[1:] for k in keys})
    several = len(settings) > 1
    for alpha, strength, tau in keys:
        dashes = ("-", ":", "-.", (0, (5, 1)))[settings.index((strength, tau)) % 4]
        shade = 0.1 + 0.8 * (alphas.index(alpha) / max(len(alphas) - 1, 1))
        mask = (
            ~vanilla
            & np.isclose(results["target_alpha"].values, alpha)
            & np.isclose(results["strength"].values, strength)
            & (results["tau"].values == tau)
        )
        label = f"α = {alpha:g}" + (f" (β={strength:g}, τ={tau})" if several else "")
        out.append((label, dict(color=cmap(shade), linestyle=dashes), runs[mask]))
    return out


def _legend_below(fig, ax, results) -> None:
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(len(labels), 4),
               frameon=False, fontsize="small", title=_seed_note(results), title_fontsize="small")


def _eps_axes(ax, title: str) -> None:
    ax.set(xlabel="eps (L∞, pixel units)", ylabel="accuracy", ylim=(-0.02, 1.02), title=title)
    ax.grid(alpha=0.3)


def _seed_note(results) -> str:
    seeds = np.unique(results["seed"].values) if "seed" in results.coords else []
    return f"{len(seeds)} seed(s)" if len(seeds) else ""


def _require(results, names, sweep: bool = False) -> None:
    if not isinstance(results, xr.Dataset):
        raise InvalidInputError(f"results must be an xarray.Dataset, got {type(results).__name__}")
    missing = [n for n in names if n not in results.variables]
    if sweep and "run" not in results.dims:
        missing.append("run dim")
    if missing:
        kind = "a v1ann.sweep store" if sweep else "a robustness or sweep result"
        raise InvalidInputError(f"results lack {missing}; expected {kind}")
