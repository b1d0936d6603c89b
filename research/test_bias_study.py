"""The bias study's rows (research/bias_study.py) say what was simulated."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

STUDY = Path(__file__).with_name("bias_study.py")


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


def test_rerun_replaces_the_rows_of_recordings_with_a_criterion_in_place(study, tmp_path):
    csv = tmp_path / "study.csv"
    grid = ["--n-stimuli", "200", "--fit-range", "5", "40", "--neurons", "300", "--alphas", "1", "2",
            "--ratios", "1", "--seeds", "1", "--n-shuffles", "2", "--csv", str(csv),
            "--figure", str(tmp_path / "study.png")]
    study.main(grid)
    first = study.pd.read_csv(csv)
    stale = first.copy()
    tampered = (stale.estimator == "cvpca-matched") & (stale.true_alpha == 1.0)
    stale.loc[tampered, ["alpha_hat", "criterion"]] = [99.0, "failed"]
    stale.to_csv(csv, index=False)
    study.main(grid)  # without --rerun nothing is recomputed
    assert (study.pd.read_csv(csv).alpha_hat == 99.0).sum() == 1
    study.main([*grid, "--rerun", "failed"])
    again = study.pd.read_csv(csv)
    # the tampered recording is recomputed where it stood; every row as first computed
    cols = ["estimator", "true_alpha", "alpha_hat", "ci_low", "ci_high", "criterion"]
    study.pd.testing.assert_frame_equal(again[cols], first[cols])
