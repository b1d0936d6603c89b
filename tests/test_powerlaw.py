"""fit_powerlaw: the published fit, exactly, and the rule for non-positive values."""

import json

import numpy as np
import pytest
import xarray as xr

from v1ann import PowerLawFit, fit_powerlaw
from v1ann.errors import InvalidInputError, V1AnnWarning

PUBLISHED_ALPHA = 0.97336


def published_get_powerlaw(ss, trange):
    """The authors' fit (Stringer et al. 2019, utils.get_powerlaw), verbatim in substance."""
    logss = np.log(np.abs(ss))
    y = logss[trange][:, np.newaxis]
    trange = trange + 1
    nt = trange.size
    x = np.concatenate((-np.log(trange)[:, np.newaxis], np.ones((nt, 1))), axis=1)
    w = 1.0 / trange.astype(np.float32)[:, np.newaxis]
    b = np.linalg.solve(x.T @ (x * w), (w * x).T @ y).flatten()
    return b[0], b[1]


def test_stringer_spectrum_gives_published_alpha(stringer_spectrum_path):
    table = np.loadtxt(stringer_spectrum_path, delimiter=",", skiprows=1)
    fit = fit_powerlaw(table[:, 1])
    assert fit.alpha == pytest.approx(PUBLISHED_ALPHA, abs=1e-4)
    assert fit.offset == pytest.approx(-1.8785, abs=1e-3)
    assert fit.fit_range == (11, 500)
    assert fit.r2 > 0.99


def test_matches_the_authors_code_on_a_noisy_spectrum(rng):
    ss = np.arange(1, 1025.0) ** -1.2 * np.exp(rng.normal(0, 0.1, 1024))
    ss /= ss.sum()
    alpha, offset = published_get_powerlaw(ss, np.arange(11, 500))
    fit = fit_powerlaw(ss)
    assert fit.alpha == pytest.approx(alpha, rel=1e-6)
    assert fit.offset == pytest.approx(offset, rel=1e-6)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.5])
def test_exact_power_law_is_recovered_exactly(alpha):
    spectrum = 3.0 * np.arange(1, 801.0) ** -alpha
    fit = fit_powerlaw(spectrum, fit_range=(11, 500))
    assert fit.alpha == pytest.approx(alpha, abs=1e-10)
    assert fit.r2 == pytest.approx(1.0)
    np.testing.assert_allclose(fit.predicted.values, fit.spectrum.values, rtol=1e-9)


def test_result_object_and_json():
    spectrum = xr.DataArray(np.arange(1, 601.0) ** -1.0, dims="rank", coords={"rank": np.arange(1, 601)},
                            attrs={"n_stimuli": 600, "n_neurons": 900})
    fit = fit_powerlaw(spectrum)
    assert isinstance(fit, PowerLawFit)
    assert fit.spectrum.dims == ("rank",) and fit.spectrum.sum() == pytest.approx(1.0)
    assert fit.predicted.dims == ("rank",) and fit.predicted["rank"][0] == 1
    d = json.loads(json.dumps(fit.to_dict()))
    assert set(d) == {"alpha", "alpha_ci", "ci_level", "ci_method", "fit_range", "ranks", "r2", "method",
                      "n_stimuli", "n_neurons", "warnings", "details"}
    assert d["n_stimuli"] == 600 and d["fit_range"] == [11, 500] and d["ranks"] == [12, 500]
    assert d["alpha_ci"] is None and d["ci_level"] is None and d["warnings"] == []


def test_input_is_not_modified():
    spectrum = np.arange(1, 601.0) ** -1.0
    before = spectrum.copy()
    fit_powerlaw(spectrum)
    np.testing.assert_array_equal(spectrum, before)


def negative_tail():
    spectrum = np.arange(1, 601.0) ** -1.0
    spectrum[[300, 350, 420]] = [-1e-4, 0.0, -2e-4]
    return spectrum


def test_nonpositive_values_raise_by_default_naming_ranks():
    with pytest.raises(InvalidInputError, match=r"3 zero/negative.*rank\(s\) 301, 351, 421"):
        fit_powerlaw(negative_tail())


def test_nonpositive_truncate_stops_before_the_first_and_warns():
    with pytest.warns(V1AnnWarning, match=r"truncated from \(11, 500\) to \(11, 300\)"):
        fit = fit_powerlaw(negative_tail(), nonpositive="truncate")
    assert fit.fit_range == (11, 300)
    assert fit.alpha == pytest.approx(1.0, abs=1e-9)


def test_nonpositive_abs_reproduces_the_published_code():
    spectrum = negative_tail()
    spectrum[350] = -3e-4
    alpha, _ = published_get_powerlaw(spectrum / spectrum.sum(), np.arange(11, 500))
    with pytest.warns(V1AnnWarning, match="abs"):
        fit = fit_powerlaw(spectrum, nonpositive="abs")
    assert fit.alpha == pytest.approx(alpha, rel=1e-9)


def test_abs_still_refuses_exact_zeros():
    with pytest.raises(InvalidInputError, match="exactly zero at rank"):
        fit_powerlaw(negative_tail(), nonpositive="abs")


def test_truncate_with_nothing_left_raises():
    spectrum = np.arange(1, 601.0) ** -1.0
    spectrum[12] = -1.0
    with pytest.raises(InvalidInputError, match="nothing is left"):
        fit_powerlaw(spectrum, nonpositive="truncate")


def test_a_spectrum_shorter_than_the_fit_range_is_fitted_to_its_last_rank():
    spectrum = np.arange(1, 300.0) ** -1.0
    fit = fit_powerlaw(spectrum)
    assert fit.fit_range == (11, 299) and fit.attrs["fit_range_requested"] == [11, 500]
    assert fit.alpha == fit_powerlaw(spectrum, fit_range=(11, 299)).alpha


@pytest.mark.parametrize(
    "spectrum, message",
    [
        (np.r_[np.arange(1, 600.0) ** -1.0, np.nan], "NaN"),
        (np.zeros(600), "all zero"),
        (np.arange(1, 12.0) ** -1.0, "starts at rank 12 but the spectrum has 11 ranks"),
        (-np.arange(1, 600.0) ** -1.0, "positive total"),
    ],
)
def test_bad_spectra_raise(spectrum, message):
    with pytest.raises(InvalidInputError, match=message):
        fit_powerlaw(spectrum)


@pytest.mark.parametrize("fit_range", [(5, 6), (-1, 100), "widest", (10,)])
def test_bad_fit_range_raises(fit_range):
    with pytest.raises(InvalidInputError, match="fit_range"):
        fit_powerlaw(np.arange(1, 601.0) ** -1.0, fit_range=fit_range)


def test_auto_fit_range_finds_the_power_law_stretch():
    ranks = np.arange(1, 1001.0)
    # flat head below rank 8 and a collapsing tail after 400: only 8..400 is a power law
    spectrum = np.where(ranks < 8, 8.0**-1.3, ranks**-1.3) * np.where(ranks > 400, np.exp(-(ranks - 400) / 40), 1)
    fit = fit_powerlaw(spectrum, fit_range="auto")
    lo, hi = fit.fit_range
    assert 7 <= lo <= 20 and 250 <= hi <= 450
    assert fit.alpha == pytest.approx(1.3, abs=0.02)
