"""`v1ann fit`: recordings (.mat), spectra (.csv/.npy), --json and --plot."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

import v1ann
from v1ann.cli import cli, main

KEYS = {"alpha", "alpha_ci", "ci_level", "ci_method", "fit_range", "ranks", "r2", "method", "n_stimuli",
        "n_neurons", "warnings", "details"}


@pytest.fixture(scope="module")
def mat_file(tmp_path_factory):
    ds = v1ann.simulate_recording(1.5, n_stimuli=300, n_neurons=800, noise_scale=0.5, seed=4)
    return v1ann.save_stringer_mat(ds, tmp_path_factory.mktemp("fit") / "x.mat")


def test_json_carries_everything_the_text_shows(mat_file):
    args = ["fit", str(mat_file), "--fit-range", "5", "80", "--n-shuffles", "2", "--seed", "0", "--quiet",
            "--ci", "0.9"]
    lines = CliRunner().invoke(cli, args).output.strip().splitlines()
    text = next(line for line in lines if line.startswith("alpha = "))
    record = json.loads(CliRunner().invoke(cli, [*args, "--json"]).output.strip().splitlines()[-1])
    expected = (f"alpha = {record['alpha']:.4f}  {100 * record['ci_level']:.0f}% CI [{record['alpha_ci'][0]:.3f}, "
                f"{record['alpha_ci'][1]:.3f}]  (ranks {record['ranks'][0]}..{record['ranks'][1]}, method "
                f"{record['method']}, r2 {record['r2']:.3f})")
    assert text == expected
    assert record["ci_level"] == 0.9 and record["ci_method"] and record["warnings"] == []
    assert {"alpha_published", "alpha_sd", "n_shuffles"} <= set(record["details"])


def test_fit_mat_json(mat_file, tmp_path):
    out = tmp_path / "fit.png"
    result = CliRunner().invoke(cli, ["fit", str(mat_file), "--json", "--fit-range", "5", "80",
                                      "--n-shuffles", "2", "--seed", "0", "--quiet", "--plot", str(out)])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output.strip().splitlines()[-1])
    assert set(record) == KEYS
    assert record["method"] == "cvpca-matched"
    assert record["fit_range"] == [5, 80] and record["n_stimuli"] == 300 and record["n_neurons"] == 800
    assert abs(record["alpha"] - 1.5) < 0.15
    assert record["alpha_ci"][0] < record["alpha"] < record["alpha_ci"][1]
    assert out.stat().st_size > 10_000


def test_fit_published_method_is_reproducible(mat_file):
    args = ["fit", str(mat_file), "--json", "--method", "cvpca", "--fit-range", "5", "80",
            "--n-shuffles", "3", "--seed", "7", "--quiet"]
    first, second = (json.loads(CliRunner().invoke(cli, args).output) for _ in range(2))
    # the same seed gives the same result to rounding: the thread budget follows the idle cores,
    # and threaded BLAS sums in a different order (1e-14 apart in CI)
    numbers = ("alpha", "alpha_ci", "r2")
    assert {k: v for k, v in first.items() if k not in numbers} == {k: v for k, v in second.items() if k not in numbers}
    for key in numbers:
        assert first[key] == pytest.approx(second[key], rel=1e-12)
    assert first["method"] == "cvpca"


def test_fit_csv_spectrum(stringer_spectrum_path):
    result = CliRunner().invoke(cli, ["fit", str(stringer_spectrum_path), "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert abs(record["alpha"] - 0.97336) < 1e-4 and record["alpha_ci"] is None


def test_fit_npy_spectrum_text_output(tmp_path):
    path = tmp_path / "s.npy"
    np.save(path, np.arange(1, 601.0) ** -1.25)
    result = CliRunner().invoke(cli, ["fit", str(path)])
    assert result.exit_code == 0
    assert result.output.startswith("alpha = 1.2500")


@pytest.mark.parametrize("name, content, message", [
    ("missing.mat", None, "no such file"),
    ("x.txt", "1,2,3", "unsupported file type"),
])
def test_bad_paths_exit_2_with_one_line(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(SystemExit) as exc:
        main(["fit", str(path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_spectrum_file_refuses_matched_method(tmp_path, capsys):
    path = tmp_path / "s.csv"
    np.savetxt(path, np.arange(1, 601.0) ** -1.0, delimiter=",")
    with pytest.raises(SystemExit) as exc:
        main(["fit", str(path), "--method", "cvpca-matched"])
    assert exc.value.code == 2
    assert "needs the responses" in capsys.readouterr().err


def test_uncentred_counts_warn_in_one_line_and_preprocess_center_fixes_them(tmp_path, capsys):
    ds = v1ann.simulate_recording(2.0, n_stimuli=300, n_neurons=800, noise="poisson", seed=0)
    path = v1ann.save_stringer_mat(ds, tmp_path / "counts.mat")
    args = ["fit", str(path), "--json", "--fit-range", "11", "100", "--seed", "0", "--quiet"]
    main(args)
    captured = capsys.readouterr()
    # one line each: the raw counts are not centred, and so one power law fits them badly
    first, second = captured.err.splitlines()
    assert first.startswith("v1ann: warning: cvPCA on counts.mat") and "not centred over stimuli" in first
    assert "--preprocess center" in first and second.startswith("v1ann: warning: one power law describes")
    warned = json.loads(captured.out)["warnings"]
    assert len(warned) == 2 and "not centred" in warned[0] and "r2 = " in warned[1]
    main(args + ["--preprocess", "center"])
    captured = capsys.readouterr()
    assert captured.err == ""
    record = json.loads(captured.out)
    assert abs(record["alpha"] - 2.0) < 0.15  # raw counts read about -0.2 with the published fit


@pytest.mark.parametrize("how, content, message", [
    ("center", "spectrum", "--preprocess center needs responses"),
    ("paper", "mat", "no spontaneous activity"),
])
def test_preprocess_needs_the_right_input(tmp_path, capsys, how, content, message):
    if content == "spectrum":
        path = tmp_path / "s.npy"
        np.save(path, np.arange(1, 601.0) ** -1.0)
    else:
        ds = v1ann.simulate_recording(1.0, n_stimuli=60, n_neurons=100, seed=0)
        path = v1ann.save_stringer_mat(ds, tmp_path / "x.mat")
    with pytest.raises(SystemExit) as exc:
        main(["fit", str(path), "--preprocess", how, "--quiet"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_preprocess_center_keeps_a_nan_where_it_was(tmp_path, capsys):
    responses = np.random.default_rng(0).standard_normal((2, 50, 80))
    responses[0, 3, 4] = np.nan
    path = tmp_path / "r.npy"
    np.save(path, responses)
    with pytest.raises(SystemExit) as exc:
        main(["fit", str(path), "--preprocess", "center", "--fit-range", "5", "30", "--quiet"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "contain 1 NaN/Inf value(s) (first in neuron 4)" in err


def test_fit_meme_says_when_one_power_law_does_not_describe_the_recording(tmp_path):
    from v1ann.recording.simulate import broken_power_law_spectrum

    ds = v1ann.simulate_recording(spectrum=broken_power_law_spectrum([0.4, 1.5], [12], 600), n_stimuli=600,
                                  n_neurons=600, noise_scale=1.0, stimuli="sampled", seed=5)
    path = v1ann.save_stringer_mat(ds, tmp_path / "broken.mat")
    args = ["fit", str(path), "--method", "meme", "--fit-range", "11", "200", "--seed", "0", "--quiet"]
    record = json.loads(CliRunner().invoke(cli, [*args, "--json"]).output.strip().splitlines()[-1])
    truth = v1ann.recording.simulate.true_alpha(ds["true_signal_spectrum"].values, (11, 200))
    assert record["method"] == "meme" and record["alpha_ci"][0] <= truth <= record["alpha_ci"][1]
    assert record["details"]["one_power_law"] is False
    text = CliRunner().invoke(cli, args).output
    assert "one power law does not describe this recording: a break at rank" in text


def test_fit_cvpca_shape_reports_a_covering_interval_and_the_break(tmp_path):
    from v1ann.recording.simulate import broken_power_law_spectrum, true_alpha

    ds = v1ann.simulate_recording(spectrum=broken_power_law_spectrum([0.5, 1.2], [25], 1500), n_stimuli=400,
                                  n_neurons=1500, noise_scale=1.0, seed=4)
    path = v1ann.save_stringer_mat(ds, tmp_path / "broken.mat")
    args = ["fit", str(path), "--method", "cvpca-shape", "--fit-range", "6", "100", "--n-shuffles", "4",
            "--preprocess", "center", "--seed", "0", "--quiet"]
    record = json.loads(CliRunner().invoke(cli, [*args, "--json"]).output.strip().splitlines()[-1])
    truth = true_alpha(ds["true_signal_spectrum"].values, (5, 100))
    assert record["method"] == "cvpca-shape" and record["alpha_ci"][0] <= truth <= record["alpha_ci"][1]
    assert record["details"]["one_power_law"] is False
    text = CliRunner().invoke(cli, args).output
    assert "one power law does not describe this recording: a break at rank" in text
    assert "noise-corrected cvPCA spectrum" in text and "alpha_1 [" in text


def test_fit_svca_matched_reports_its_interval_and_the_model_test(tmp_path):
    ds = v1ann.simulate_spontaneous(1.0, n_time=600, n_neurons=300, noise_scale=1.0, time_courses="gaussian", seed=6)
    path = v1ann.io.save(ds, tmp_path / "spont.zarr")
    args = ["fit", str(path), "--method", "svca-matched", "--fit-range", "5", "100", "--seed", "0", "--quiet"]
    record = json.loads(CliRunner().invoke(cli, [*args, "--json"]).output.strip().splitlines()[-1])
    assert record["method"] == "svca-matched" and abs(record["alpha"] - 1.0) < 0.1  # one small recording
    assert record["alpha_ci"][0] <= record["alpha"] <= record["alpha_ci"][1]
    assert record["details"]["alpha_published"] > 1.3  # the published fit, steep where noise dominates
    text = CliRunner().invoke(cli, args).output
    assert "model: one power law + private noise describes the SVCA spectrum" in text


def test_fit_default_refits_a_broken_spectrum_and_says_one_power_law_does_not_fit(tmp_path):
    from v1ann.recording.simulate import broken_power_law_spectrum, true_alpha

    # a head flatter up to rank 10, the fit over ranks 11..100 (where one law reads ~1.0 for 1.2)
    spectrum = broken_power_law_spectrum([0.5, 1.2], [10], 1500)
    ds = v1ann.simulate_recording(spectrum=spectrum, n_stimuli=400, n_neurons=1500, noise_scale=1.0, seed=4)
    path = v1ann.save_stringer_mat(ds, tmp_path / "broken.mat")
    args = ["fit", str(path), "--fit-range", "10", "100", "--preprocess", "center", "--seed", "0", "--quiet"]
    record = json.loads(CliRunner().invoke(cli, [*args, "--json"]).output.strip().splitlines()[-1])
    details = record["details"]
    truth = true_alpha(ds["true_signal_spectrum"].values, tuple(record["fit_range"]))
    # the one-law fit is rejected (its tail steeper than one law of the total allows) and kept
    assert details["refit_from"] == "cvpca-matched" and details["p_model"] < 0.05
    assert details["slope_mismatch"] > 0
    low, high = details["matched_alpha_ci"]
    assert not low <= truth <= high
    # the refit: a broken law whose interval covers the truth
    assert record["method"] == "cvpca-shape" and details["one_power_law"] is False
    assert record["alpha_ci"][0] <= truth <= record["alpha_ci"][1]
    assert abs(record["alpha"] - truth) < abs(details["matched_alpha"] - truth)
    text = CliRunner().invoke(cli, args).output
    assert "model: one power law does not describe this recording (cvpca-matched" in text
    assert "refitted as a broken power law" in text and "shape: a break at rank" in text


def test_fit_cvpca_matched_warns_where_one_power_law_does_not_fit(tmp_path):
    from v1ann.recording.simulate import broken_power_law_spectrum

    ds = v1ann.simulate_recording(spectrum=broken_power_law_spectrum([0.5, 1.2], [10], 1500), n_stimuli=400,
                                  n_neurons=1500, noise_scale=1.0, seed=4)
    path = v1ann.save_stringer_mat(ds, tmp_path / "broken.mat")
    args = ["fit", str(path), "--method", "cvpca-matched", "--fit-range", "10", "100", "--preprocess", "center",
            "--seed", "0", "--quiet"]
    text = CliRunner().invoke(cli, args).output
    assert "one power law does not describe this recording" in text and "--method cvpca-shape" in text


def test_fit_default_keeps_one_power_law_where_it_describes_the_recording(mat_file):
    text = CliRunner().invoke(cli, ["fit", str(mat_file), "--seed", "0", "--quiet"]).output
    assert "model: one power law describes the cvPCA spectrum" in text
