"""The CLI on a table of bad inputs: one line on stderr, exit status 2, no traceback."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import v1ann
from v1ann.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    v1ann.save_stringer_mat(v1ann.simulate_recording(alpha=1.0, n_stimuli=60, n_neurons=50, seed=0), root / "ok.mat")
    (root / "empty.npy").write_bytes(b"")
    with open(root / "huge.npy", "wb") as f:  # a header claiming 10^6 x 10^6 float64, no data
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
    np.save(root / "complex.npy", np.ones((20, 10)) + 1j)
    np.save(root / "overflow.npy", np.random.default_rng(0).normal(size=(40, 30)) * 1e200)
    (root / "folder.mat").mkdir()
    (root / "truncated.mat").write_bytes((root / "ok.mat").read_bytes()[:300])
    (root / "portal.mat").write_text("<html><body>figshare</body></html>")
    return root


CASES = {
    "missing file": ["fit", "{root}/nonexist.mat"],
    "truncated .mat": ["fit", "{root}/truncated.mat"],
    "HTML saved as .mat": ["fit", "{root}/portal.mat"],
    "empty .npy": ["fit", "{root}/empty.npy"],
    "npy header claiming 8 TB": ["fit", "{root}/huge.npy"],
    "complex activations": ["fit", "{root}/complex.npy"],
    "values that overflow the covariance": ["fit", "{root}/overflow.npy", "--fit-range", "2", "20"],
    "negative seed": ["fit", "{root}/ok.mat", "--seed", "-1"],
    "reversed fit range": ["fit", "{root}/ok.mat", "--fit-range", "50", "11"],
    "unknown suffix": ["fit", "{root}/ok.txt"],
    "simulate into a missing folder": ["simulate", "{root}/no/such/x.mat", "--alpha", "1"],
    "simulate onto a folder": ["simulate", "{root}/folder.mat", "--alpha", "1"],
    "simulate a billion neurons": ["simulate", "{root}/big.mat", "--alpha", "1", "--n-neurons", "1000000000"],
    "simulate with a negative seed": ["simulate", "{root}/s.mat", "--alpha", "1", "--seed", "-1"],
    "compare with a missing model": ["compare", "{root}/ok.mat", "--model", "{root}/none.pt", "--images", "{root}/ok.mat"],
    "unknown command": ["fitt", "{root}/ok.mat"],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gives_one_line_and_exit_2(files, case, capsys):
    args = [a.format(root=files) for a in CASES[case]]
    with pytest.raises(SystemExit) as exited:
        main(args)
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert exited.value.code == 2, (case, exited.value.code, out.err)
    assert len(lines) == 1 and lines[0].startswith("v1ann: error:"), (case, out.err)
    assert "Traceback" not in out.err + out.out
    assert not (files / "no").exists()  # a refused target creates no folder


def test_the_console_script_answers_the_same_way(files):
    out = subprocess.run([sys.executable, "-m", "v1ann", "fit", str(files / "empty.npy")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
