"""Brain and network spectra side by side: overlaid eigenspectra, and α per layer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from v1ann.errors import InvalidInputError
from v1ann.experiments.comparison import fit_brain_and_layers
from v1ann.plot._style import BRAIN_COLOR, PALETTE, new_figure

__all__ = ["spectra", "alpha_by_layer"]


def spectra(brain, layers, *, match_stimuli: bool = True, ax=None, title: str | None = None, **estimate_kwargs):
    """Normalised eigenspectra of recordings and layers on log-log axes, with their power-law fits.

    Parameters
    ----------
    brain, layers, match_stimuli, **estimate_kwargs
        As for :func:`v1ann.compare` (fits are made with :func:`v1ann.estimate_alpha`,
        or taken as given when you pass ``PowerLawFit`` objects: pass fits to avoid
        measuring twice when you also build the table). With several recordings, the
        layers drawn are those measured on the first recording's stimuli.
    ax : matplotlib Axes, optional
        Draw here instead of on a new figure.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Solid lines: each spectrum as normalised by its fit (variance per rank, log-log;
        non-positive cvPCA values are left out). Dashed: the fitted power law over its
        fit range, shaded grey for the first recording. Legend: α per curve.
    """

    brain_fits, layer_fits = fit_brain_and_layers(brain, layers, match_stimuli=match_stimuli, **estimate_kwargs)
    if ax is None:
        fig, (ax,) = new_figure(width=5.6, height=4.4)
    else:
        fig = ax.figure
    first = next(iter(brain_fits.values()))
    lo, hi = first.fit_range
    ax.axvspan(lo + 1, hi, color="0.92", zorder=0, label=f"fit range {lo + 1}–{hi}")
    greys = _greys(len(brain_fits))
    for (source, fit), color in zip(brain_fits.items(), greys):
        _draw(ax, fit, f"{source}  {_alpha_text(fit)}", color, linewidth=2.6, zorder=4)
    layers_drawn = next(iter(layer_fits.values()))
    for (name, fit), color in zip(layers_drawn.items(), sns.color_palette(PALETTE, len(layers_drawn))):
        _draw(ax, fit, f"{name}  {_alpha_text(fit)}", color, linewidth=1.6, zorder=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rank (principal component)")
    ax.set_ylabel("normalised variance")
    ax.set_title(title or "Eigenspectra: brain vs network layers")
    # below the axes: inside, the entries of a few layers crossed the curves
    ax.legend(fontsize="small", frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.15))
    sns.despine(ax=ax)
    return fig


def alpha_by_layer(table: pd.DataFrame, *, ax=None, title: str | None = None):
    """Exponent α of each layer, with the recording's α and CI as a horizontal band.

    Parameters
    ----------
    table : pandas.DataFrame
        As returned by :func:`v1ann.compare`.
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Layers along x in table order; points are α with CI error bars where the table
        has them. Each recording is a line at its α with its CI shaded. With several
        recordings, points and bands share one colour per recording.
    """
    required = {"source", "layer", "kind", "alpha", "alpha_ci_low", "alpha_ci_high"}
    if not isinstance(table, pd.DataFrame) or not required <= set(table.columns):
        raise InvalidInputError(f"table must be a DataFrame from v1ann.compare with columns {sorted(required)}")
    brains = table[table["kind"] == "brain"]
    layer_rows = table[table["kind"] == "layer"]
    if brains.empty or layer_rows.empty:
        raise InvalidInputError("table needs at least one brain row and one layer row (as from v1ann.compare)")
    names = list(dict.fromkeys(layer_rows["layer"]))
    sources = list(dict.fromkeys(brains["source"]))
    if ax is None:
        fig, (ax,) = new_figure(width=max(3.8, 1.0 + _slot(names) * len(names)), height=3.8)
    else:
        fig = ax.figure
    several = len(sources) > 1
    source_colors = dict(zip(sources, sns.color_palette("colorblind", len(sources)) if several else [BRAIN_COLOR]))
    layer_colors = sns.color_palette(PALETTE, len(names))
    dodge = np.linspace(-0.15, 0.15, len(sources)) if several else [0.0]
    for offset, source in zip(dodge, sources):
        row = brains[brains["source"] == source].iloc[0]
        color = source_colors[source]
        ci = _ci_text(row)
        if np.isfinite(row["alpha_ci_low"]):
            ax.axhspan(row["alpha_ci_low"], row["alpha_ci_high"], color=color, alpha=0.15, lw=0)
        ax.axhline(row["alpha"], color=color, lw=1.8, label=f"{source}  α={row['alpha']:.2f}{ci}")
        rows = layer_rows[layer_rows["source"] == source].set_index("layer").reindex(names)
        x = np.arange(len(names)) + offset
        point_colors = [color] * len(names) if several else layer_colors
        # the CI as a bar from its ends: a percentile interval need not straddle the estimate
        has_ci = np.isfinite(rows["alpha_ci_low"].to_numpy(float))
        ax.vlines(x[has_ci], rows["alpha_ci_low"][has_ci], rows["alpha_ci_high"][has_ci],
                  colors=[c for c, keep in zip(point_colors, has_ci) if keep], lw=2, zorder=2)
        ax.scatter(x, rows["alpha"], s=64, c=point_colors, edgecolors="white", linewidths=0.8, zorder=3)
        if not several:
            for xi, alpha in zip(x, rows["alpha"]):
                ax.annotate(f"{alpha:.2f}", (xi, alpha), xytext=(9, 0), textcoords="offset points",
                            va="center", fontsize="small")
    ax.set_xticks(np.arange(len(names)))
    # names stand level in slots wide enough for them; where that would need a very wide figure,
    # or on axes given by the caller, they turn upright so that neighbours cannot collide
    upright = 1.0 + _slot(names) * len(names) > MAX_WIDTH or fig.get_figwidth() < 1.0 + _slot(names) * len(names)
    ax.set_xticklabels(names, rotation=90 if upright else 0)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.margins(y=0.15)
    ax.yaxis.grid(True, color="0.9", lw=0.8)
    ax.set_axisbelow(True)
    ax.set_xlabel("layer")
    ax.set_ylabel("power-law exponent α")
    ax.set_title(title or "α per layer vs brain")
    ax.legend(fontsize="small", frameon=False, loc="best")
    sns.despine(ax=ax)
    return fig


MAX_WIDTH = 9.0  # inches


def _alpha_text(fit) -> str:
    """``α=1.00``; for a noise-corrected fit also the slope of the curve drawn, which is shallower."""
    raw = fit.attrs.get("alpha_published")
    if fit.method == "cvpca-matched" and raw is not None:
        return f"α={fit.alpha:.2f} (noise-corrected; curve's slope {raw:.2f})"
    return f"α={fit.alpha:.2f}"


def _slot(names) -> float:
    """Inches of x axis per layer: 0.75, or enough for the longest name level (0.1 inch a character)."""
    slot = max(0.75, 0.1 * max(len(n) for n in names))
    return slot if 1.0 + slot * len(names) <= MAX_WIDTH else 0.75


def _draw(ax, fit, label: str, color, linewidth: float, zorder: int) -> None:
    spectrum = fit.spectrum
    ranks = np.asarray(spectrum["rank"].values, dtype=float)
    values = np.asarray(spectrum.values, dtype=float)
    ax.plot(ranks, np.where(values > 0, values, np.nan), color=color, lw=linewidth, label=label, zorder=zorder)
    predicted = fit.predicted
    lo, hi = fit.fit_range
    fit_ranks = np.asarray(predicted["rank"].values)
    inside = (fit_ranks >= lo + 1) & (fit_ranks <= hi)
    ax.plot(fit_ranks[inside], np.asarray(predicted.values)[inside], color=color, lw=1.2, ls="--",
            zorder=zorder + 1, alpha=0.9)


def _greys(n: int):
    return [BRAIN_COLOR] if n == 1 else [str(v) for v in np.linspace(0.1, 0.55, n)]


def _ci_text(row) -> str:
    if not np.isfinite(row["alpha_ci_low"]):
        return ""
    return f" [{row['alpha_ci_low']:.2f}, {row['alpha_ci_high']:.2f}]"
