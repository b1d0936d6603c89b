"""``v1ann fit PATH``: the power-law exponent of a recording, activations or a spectrum."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
import xarray as xr

import v1ann
from v1ann._loglog import fit_range_pair
from v1ann.cli._options import OutputPath, fit_range_option
from v1ann.errors import InvalidInputError
from v1ann.plot import powerlaw_fit, save_figure
from v1ann.recording import preprocessing
from v1ann.spectrum.estimate import METHODS, MODEL_TEST_LEVEL

# every estimator but "wls", which a spectrum file gets by itself
METHOD_CHOICES = [m for m in METHODS if m != "wls"]
PREPROCESS_CHOICES = ["none", "center", "paper"]


def _preprocessed(obj, kind: str, how: str, path: Path):
    """``obj`` centred over stimuli (``how="center"``) or through the paper's pipeline."""


    if isinstance(obj, xr.Dataset):
        return preprocessing.mean_center(obj) if how == "center" else preprocessing.preprocess(obj)
    if kind == "data" and how == "center" and obj.ndim == 3:
        # (repeat, stimulus, neuron): the mean over every presentation, as mean_center does;
        # nanmean keeps a NaN where it was, so the error that follows counts it right
        return obj - np.nanmean(obj, axis=(0, 1), dtype=np.float64)
    needs = "a recording (.mat, .nwb, .zarr) with spontaneous activity" if how == "paper" else (
        "responses: a recording or a 3-D .npy")
    raise InvalidInputError(f"--preprocess {how} needs {needs}; {path} holds {_describe_kind(kind, obj)}")


def _describe_kind(kind: str, obj) -> str:
    if kind == "spectrum":
        return "a spectrum"
    return f"a {obj.ndim}-D array" if hasattr(obj, "ndim") else "a recording"


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--method", type=click.Choice(METHOD_CHOICES), default="auto", show_default=True,
              help="Estimator; 'auto' = cvpca-matched for repeats (refitted as cvpca-shape where its "
                   "test rejects one power law), pca for activations, svca for spontaneous activity, "
                   "the published fit for a spectrum file.")
@fit_range_option()
@click.option("--n-shuffles", type=click.IntRange(min=1), default=10, show_default=True,
              help="cvPCA repeat swaps.")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Random seed (reproducible results).")
@click.option("--ci", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95,
              show_default=True, help="Confidence level of alpha_ci.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--plot", type=OutputPath(dir_okay=False), default=None,
              metavar="OUT.png", help="Write the log-log spectrum with the fit and CI band.")
@click.option("--preprocess", type=click.Choice(PREPROCESS_CHOICES), default="none", show_default=True,
              help="Before cvPCA: 'center' subtracts each neuron's mean over stimuli; 'paper' is "
                   "the published pipeline (drop red GAD+ cells, z-score by and remove 32 PCs of "
                   "spontaneous activity, then centre; recordings with spont only).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def fit(path, method, fit_range, n_shuffles, seed, ci, as_json, plot, preprocess, quiet):
    """Estimate the power-law exponent alpha of the spectrum in PATH.

    PATH is a recording (.mat, .nwb, .zarr), a spectrum (.csv: one variance per rank,
    last column; .npy 1-D), activations (.npy 2-D, stimulus x unit) or responses (.npy 3-D,
    repeat x stimulus x neuron). Raw recordings (e.g. deconvolved spikes) need
    ``--preprocess``: cvPCA does not centre over stimuli, and warns when that matters.
    """
    fit_range = fit_range_pair(fit_range, "--fit-range")  # before reading the file
    kind, obj = v1ann.io.load_any(path)
    if preprocess != "none":
        obj = _preprocessed(obj, kind, preprocess, path)
    if kind == "spectrum":
        if method not in ("auto", "cvpca"):
            raise InvalidInputError(
                f"--method {method} needs the responses; {path} holds only a spectrum "
                "(use --method auto or cvpca for the published fit)"
            )
        method = "wls"  # the published fit of the spectrum given
    result = v1ann.estimate_alpha(obj, method=method, fit_range=fit_range, n_shuffles=n_shuffles, seed=seed,
                                  ci=ci, progress=not quiet)
    if plot is not None:
        save_figure(powerlaw_fit(result, title=path.name), plot)
    if as_json:
        click.echo(json.dumps(result.to_dict()))
        return
    ci_text = "" if result.alpha_ci is None else (
        f"  {100 * ci:.0f}% CI [{result.alpha_ci[0]:.3f}, {result.alpha_ci[1]:.3f}]")
    lo, hi = result.fit_range
    asked = result.attrs.get("fit_range_requested")
    clipped = f" of {asked[0] + 1}..{asked[1]} asked: the data have no more" if asked else ""
    click.echo(f"alpha = {result.alpha:.4f}{ci_text}  (ranks {lo + 1}..{hi}{clipped}, "
               f"method {result.method}, r2 {result.r2:.3f})")
    shape = _shape_line(result)
    if shape:
        click.echo(shape)
    if plot is not None:
        click.echo(f"plot: {plot}")


def _shape_line(result) -> str:
    """The model comparison in words (cvpca-matched, MEME, cvpca-shape, svca-matched): does
    one power law describe the recording?"""
    if result.method == "svca-matched":
        a = result.attrs
        verdict = "describes" if a["p_model"] >= MODEL_TEST_LEVEL else "does not describe"
        published = "" if a["alpha_published"] is None else f"; published fit {a['alpha_published']:.3f}"
        return (f"model: one power law + private noise {verdict} the SVCA spectrum (p = {a['p_model']:.3g}; "
                f"noise/shared variance {a['noise_ratio']:.3g}{published})")
    if result.method == "cvpca-matched":
        a = result.attrs
        if a["p_model"] >= MODEL_TEST_LEVEL:
            return (f"model: one power law describes the cvPCA spectrum (in-range slope "
                    f"{a['slope_mismatch']:+.3f} from the model's, p = {a['p_model']:.3g})")
        direction = "steeper" if a["slope_mismatch"] > 0 else "flatter"
        return (f"model: one power law does not describe this recording: inside the fit range the spectrum is "
                f"{abs(a['slope_mismatch']):.3f} {direction} than the model (p = {a['p_model']:.3g}); "
                "--method cvpca-shape fits a broken power law")
    if "one_power_law" not in result.attrs:
        return ""
    a = result.attrs
    refit = ""
    if a.get("refit_from") == "cvpca-matched":
        low, high = a["matched_alpha_ci"] or (float("nan"), float("nan"))
        direction = "steeper" if a["slope_mismatch"] > 0 else "flatter"
        refit = (f"model: one power law does not describe this recording (cvpca-matched: {a['matched_alpha']:.3f} "
                 f"[{low:.3f}, {high:.3f}], the spectrum {abs(a['slope_mismatch']):.3f} {direction} inside the "
                 f"fit range, p = {a['p_model']:.3g}); refitted as a broken power law (cvpca-shape)\n")
    if result.method == "meme":
        slopes, break_rank, evidence = a["meme_slopes"], a["meme_break_rank"], "signal eigenmoments"
        comparison = f"chi2 {a['chi2_single']:.1f}" + ("" if a["one_power_law"] else f" -> {a['chi2_broken']:.1f}")
    else:
        slopes, break_rank, evidence = a["broken_slopes"], a["broken_break_rank"], "noise-corrected cvPCA spectrum"
        comparison = f"p = {a['p_one_power_law']:.3g} for one power law"
    if a["one_power_law"]:
        slope = a.get("alpha_one_power_law", slopes[0])
        return f"{refit}shape: one power law describes the {evidence} (slope {slope:.2f}; {comparison})"
    slope_text = ", ".join(f"{v:.2f}" for v in slopes)
    if refit:  # the broken law is kept because cvpca-matched's test rejected one law, whatever this p
        line = f"{refit}shape: a break at rank {break_rank:.0f} (slopes {slope_text}; {comparison})"
    else:
        line = (f"shape: one power law does not describe this recording: a break at rank {break_rank:.0f} "
                f"fits the {evidence} better (slopes {slope_text}; {comparison})")
    if "alpha_1_ci" in a:
        (a1, b1), (a2, b2), (r1, r2) = a["alpha_1_ci"], a["alpha_2_ci"], a["break_rank_ci"]
        line += f"\n       alpha_1 [{a1:.2f}, {b1:.2f}], alpha_2 [{a2:.2f}, {b2:.2f}], break rank [{r1:.0f}, {r2:.0f}]"
    return line
