"""Figures of power-law fits: one spectrum with its fit, and the estimator bias study."""

from __future__ import annotations

import numpy as np
import seaborn as sns

from v1ann.errors import InvalidInputError
from v1ann.plot._style import BRAIN_COLOR, new_figure

__all__ = ["powerlaw_fit", "bias_study"]

FIT_COLOR = "#c0392b"


# the spectrum each simulation-matched estimator's fitted model predicts (fit.predicted)
MATCHED_SPECTRA = {"cvpca-matched": "cvPCA", "cvpca-shape": "cvPCA", "svca-matched": "SVCA"}


def powerlaw_fit(fit, *, ax=None, title: str | None = None):
    """Log-log spectrum with the fitted power law and its confidence band.

    Parameters
    ----------
    fit : PowerLawFit
        From :func:`v1ann.fit_powerlaw` or :func:`v1ann.estimate_alpha`.
    ax : matplotlib Axes, optional
        Draw here instead of on a new figure.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Black: the normalised spectrum (non-positive values left out, their count in the
        legend). Red: the power law ``exp(offset) rank**-alpha`` over the fit range (grey
        band), with a band spanning ``alpha_ci`` pivoted at the middle of the range (log
        rank). For the simulation-matched estimators (``cvpca-matched``, ``cvpca-shape``,
        ``svca-matched``), dotted: the expected cvPCA or SVCA spectrum of the fitted model,
        which the data should follow, while the red line is the signal's power law.
    """
    if ax is None:
        fig, (ax,) = new_figure(width=5.0, height=4.0)
    else:
        fig = ax.figure
    spectrum = np.asarray(fit.spectrum.values, dtype=float)
    ranks = np.arange(1, spectrum.size + 1)
    positive = spectrum > 0
    lo, hi = fit.fit_range
    ax.axvspan(lo + 1, hi, color="0.93", zorder=0, label=f"fit range {lo + 1}–{hi}")
    dropped = int((~positive).sum())
    label = "spectrum" + (f" ({dropped} non-positive not shown)" if dropped else "")
    ax.plot(ranks[positive], spectrum[positive], color=BRAIN_COLOR, lw=1.4, label=label, zorder=3)
    r = np.arange(lo + 1, hi + 1, dtype=float)
    ci = "" if fit.alpha_ci is None else f" [{fit.alpha_ci[0]:.2f}, {fit.alpha_ci[1]:.2f}]"
    line = np.exp(fit.offset) * r ** -fit.alpha
    matched = MATCHED_SPECTRA.get(fit.method)
    what = "signal power law" if matched else "fit"
    ax.plot(r, line, color=FIT_COLOR, lw=2.0, label=f"{what}: α = {fit.alpha:.3f}{ci} ({fit.method})",
            zorder=4)
    if fit.alpha_ci is not None:
        pivot = np.exp(np.mean(np.log(r)))
        bounds = [np.exp(fit.offset) * pivot ** -fit.alpha * (r / pivot) ** -a for a in fit.alpha_ci]
        ax.fill_between(r, np.minimum(*bounds), np.maximum(*bounds), color=FIT_COLOR, alpha=0.2,
                        lw=0, zorder=2, label=f"{100 * fit.attrs.get('ci_level', 0.95):.0f}% CI of α")
    if matched:
        expected = np.asarray(fit.predicted.values, dtype=float)
        keep = np.isfinite(expected) & (expected > 0)
        ax.plot(ranks[keep], expected[keep], color=FIT_COLOR, lw=1.2, ls=":",
                label=f"expected {matched} of the fit", zorder=4)
    ax.set_xscale("log")
    ax.set_yscale("log")
    fitted = spectrum[lo:hi][spectrum[lo:hi] > 0]
    if fitted.size:  # a decade below the fitted ranks, not down to a layer's rounding noise
        ax.set_ylim(bottom=max(ax.get_ylim()[0], fitted.min() / 10))
    ax.set_xlabel("rank (principal component)")
    ax.set_ylabel("normalised variance")
    ax.set_title(title or "Power-law fit of the eigenspectrum")
    # below the axes: inside, its long entries hid the head or the tail of the spectrum
    ax.legend(fontsize="x-small", frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    sns.despine(ax=ax)
    return fig


def bias_study(results, *, title: str | None = None):
    """Error and interval coverage of alpha estimators over simulated recordings.

    Parameters
    ----------
    results : pandas.DataFrame
        One row per (estimator, simulated recording): columns ``estimator``,
        ``true_alpha``, ``noise_ratio``, ``n_neurons``, ``alpha_hat``, ``ci_low``,
        ``ci_high`` (as written by ``benchmarks/bias_study.py``).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Left: median estimate vs true alpha (identity dashed), one line per estimator and
        noise/signal ratio. Middle: median ``|alpha_hat - alpha|`` by noise ratio. Right:
        share of 95 % intervals that contain the true alpha (target line at 0.9).
    """
    need = {"estimator", "true_alpha", "noise_ratio", "n_neurons", "alpha_hat", "ci_low", "ci_high"}
    missing = need - set(results.columns)
    if missing:
        raise InvalidInputError(f"bias study results lack column(s) {sorted(missing)}")
    df = results.copy()
    df["abs_error"] = (df["alpha_hat"] - df["true_alpha"]).abs()
    df["covered"] = (df["ci_low"] <= df["true_alpha"]) & (df["true_alpha"] <= df["ci_high"])
    fig, axes = new_figure(ncols=3, width=4.3, height=3.9)
    medians = df.groupby(["estimator", "noise_ratio", "true_alpha"], as_index=False)["alpha_hat"].median()
    sns.lineplot(data=medians, x="true_alpha", y="alpha_hat", hue="noise_ratio", style="estimator",
                 markers=True, palette="viridis", ax=axes[0])
    lims = [df["true_alpha"].min() * 0.9, df["true_alpha"].max() * 1.05]
    axes[0].plot(lims, lims, color="0.5", ls="--", lw=1)
    axes[0].set(xlabel="true α", ylabel="median estimated α", title="estimate vs truth")
    axes[0].legend(fontsize="x-small", frameon=False)
    errors = df.groupby(["estimator", "noise_ratio"], as_index=False)["abs_error"].median()
    sns.barplot(data=errors, x="noise_ratio", y="abs_error", hue="estimator", ax=axes[1])
    axes[1].axhline(0.05, color="0.3", ls="--", lw=1)
    axes[1].set(xlabel="noise / signal variance", ylabel="median |α̂ − α|", title="error (target 0.05)")
    coverage = df.groupby(["estimator", "noise_ratio"], as_index=False)["covered"].mean()
    sns.barplot(data=coverage, x="noise_ratio", y="covered", hue="estimator", ax=axes[2])
    axes[2].axhline(0.9, color="0.3", ls="--", lw=1)
    axes[2].set(xlabel="noise / signal variance", ylabel="95% CI coverage", ylim=(0, 1.02),
                title="coverage (target 0.9)")
    axes[1].legend(fontsize="x-small", frameon=False)
    # the coverage bars fill the panel up to the target line: the legend goes beside it
    axes[2].legend(fontsize="x-small", frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    for ax in axes:
        sns.despine(ax=ax)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
