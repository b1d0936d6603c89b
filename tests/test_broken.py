"""Broken power law: recovery of both exponents and the break; model comparison."""

import numpy as np
import pytest

from v1ann import compare_powerlaw_models, fit_broken_powerlaw
from v1ann.errors import InvalidInputError


def broken(rng, a1=0.8, a2=1.6, brk=80.0, n=1000, scatter=0.02):
    r = np.arange(1, n + 1.0)
    s = np.where(r <= brk, r**-a1, brk**-a1 * (r / brk) ** -a2)
    return s * np.exp(rng.normal(0, scatter, n))


def test_recovers_exponents_and_break(rng):
    fit = fit_broken_powerlaw(broken(rng), fit_range=(4, 800))
    assert fit.alpha1 == pytest.approx(0.8, abs=0.02)
    assert fit.alpha2 == pytest.approx(1.6, abs=0.02)
    assert fit.break_rank == pytest.approx(80, rel=0.1)
    assert fit.r2 > 0.99
    assert fit.predicted.shape == (1000,)


def test_noiseless_broken_law_is_exact():
    fit = fit_broken_powerlaw(broken(np.random.default_rng(0), scatter=0.0, brk=100.0), fit_range=(4, 800))
    assert fit.alpha1 == pytest.approx(0.8, abs=1e-3)
    assert fit.alpha2 == pytest.approx(1.6, abs=1e-3)
    assert fit.break_rank == pytest.approx(100, rel=0.01)


def test_comparison_prefers_the_broken_law_when_there_is_a_break(rng):
    table = compare_powerlaw_models(broken(rng), fit_range=(4, 800))
    assert list(table.index) == ["power law", "broken power law"]
    assert {"aic", "bic", "cv_rmse", "delta_aic", "delta_bic", "break_rank"} <= set(table.columns)
    assert table.loc["broken power law", "delta_bic"] == 0
    assert table.loc["power law", "delta_bic"] > 100
    assert table.loc["broken power law", "cv_rmse"] < 0.5 * table.loc["power law", "cv_rmse"]


def test_comparison_gives_no_edge_to_the_broken_law_on_a_pure_power_law(rng):
    r = np.arange(1, 1001.0)
    spectrum = r**-1.1 * np.exp(rng.normal(0, 0.05, r.size))
    table = compare_powerlaw_models(spectrum, fit_range=(11, 500))
    # two extra parameters buy at most a small improvement: held-out error not better by > 2 %
    assert table.loc["broken power law", "cv_rmse"] > 0.98 * table.loc["power law", "cv_rmse"]
    assert table.loc["power law", "alpha"] == pytest.approx(1.1, abs=0.05)


def test_errors():
    with pytest.raises(InvalidInputError, match="too short"):
        fit_broken_powerlaw(np.arange(1, 100.0) ** -1.0, fit_range=(10, 15))
    spectrum = np.arange(1, 601.0) ** -1.0
    spectrum[200] = -1
    with pytest.raises(InvalidInputError, match="rank 201"):
        fit_broken_powerlaw(spectrum)
