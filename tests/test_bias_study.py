"""The bias study's rows (benchmarks/bias_study.py) say what was simulated."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

STUDY = Path(__file__).parents[1] / "benchmarks" / "bias_study.py"


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("bias_study", STUDY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("noise", ["gaussian", "multiplicative", "poisson"])
def test_rows_record_the_noise_model_and_both_estimators(study, noise):
    rows = study.one_recording(1.0, 1.0, 300, 400, 0, (5, 60), 2, noise=noise)
    assert [r["estimator"] for r in rows] == ["published", "cvpca-matched"]
    # the published row has no interval parts; the matched one has every column
    assert set(rows[0]) <= set(study.COLUMNS) and set(rows[1]) == set(study.COLUMNS)
    for row in rows:
        assert row["noise"] == noise  # the model's name, not an array that shadowed it
        assert row["ci_low"] <= row["alpha_hat"] <= row["ci_high"]
        assert np.isfinite(row["alpha_hat"])
