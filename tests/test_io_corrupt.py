"""Damaged files raise V1AnnError (naming the file) and never anything else.

Property-based: hypothesis truncates files at arbitrary lengths and overwrites arbitrary
byte ranges of MATLAB v5/v7 files. A damaged file may still parse (a changed byte inside a
number is just another number; a cut through trailing padding loses nothing), so the
property is: the loader returns a valid recording or raises a V1AnnError naming the file
-- never another exception. A truncated file either raises or, when only trailing
padding was cut, loads exactly as the intact one.
HDF5-based files (v7.3, NWB) are fuzzed by truncation only: the HDF5 C library is not
hardened against arbitrary byte edits of its metadata.
"""

from __future__ import annotations

import functools
import os
import tempfile
import warnings
from pathlib import Path

import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import v1ann
from v1ann.errors import DataFileError, V1AnnError
from v1ann.recording.schema import validate_recording

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _recording():
    return v1ann.simulate_recording(1.0, n_stimuli=12, n_neurons=9, seed=0, n_blanks=1, n_spont=5)


@functools.lru_cache(maxsize=None)
def _original(kind: str) -> bytes:
    """Bytes of one small recording written as ``kind`` (cached: hypothesis calls often)."""
    with tempfile.TemporaryDirectory() as tmp:
        ds, root = _recording(), Path(tmp)
        path = {
            "mat5": lambda: v1ann.save_stringer_mat(ds, root / "rec5.mat", version="5"),
            "mat7": lambda: v1ann.save_stringer_mat(ds, root / "rec7.mat", version="7"),
            "mat73": lambda: v1ann.save_stringer_mat(ds, root / "rec73.mat", version="7.3"),
            "nwb": lambda: v1ann.save_nwb(ds, root / "rec.nwb"),
        }[kind]()
        return Path(path).read_bytes()


LOADERS = {"mat5": v1ann.load_stringer, "mat7": v1ann.load_stringer, "mat73": v1ann.load_stringer, "nwb": v1ann.load_nwb}
SUFFIX = {"mat5": ".mat", "mat7": ".mat", "mat73": ".mat", "nwb": ".nwb"}


def _load_damaged(kind: str, content: bytes):
    """Load ``content`` as a file of ``kind``: a Dataset, or the V1AnnError it raised."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"damaged{SUFFIX[kind]}"
        path.write_bytes(content)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = LOADERS[kind](path, lazy=False)
                if "trial_response" in ds:
                    v1ann.stimulus_responses(ds)
            return validate_recording(ds)
        except V1AnnError as exc:
            assert path.name in str(exc)
            return exc


@pytest.mark.parametrize("kind", list(LOADERS))
@SETTINGS
@given(fraction=st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
def test_truncated_files_raise_or_lose_nothing(kind, fraction):
    content = _original(kind)
    result = _load_damaged(kind, content[: int(len(content) * fraction)])
    if not isinstance(result, V1AnnError):  # only trailing padding was cut
        xr.testing.assert_identical(result, _load_damaged(kind, content))


@pytest.mark.parametrize("kind", list(LOADERS))
@pytest.mark.parametrize("fraction", [0.05, 0.3, 0.6, 0.9])
def test_truncation_inside_the_data_raises(kind, fraction):
    content = _original(kind)
    assert isinstance(_load_damaged(kind, content[: int(len(content) * fraction)]), DataFileError)


@pytest.mark.parametrize("kind", ["mat5", "mat7"])
@SETTINGS
@given(data=st.data())
def test_overwritten_bytes_in_mat_v5_v7_never_escape_as_other_errors(kind, data):
    original = _original(kind)
    content = bytearray(original)
    start = data.draw(st.integers(0, len(content) - 1))
    junk = data.draw(st.binary(min_size=1, max_size=64))
    content[start : start + len(junk)] = junk
    _load_damaged(kind, bytes(content[: len(original)]))


@pytest.mark.parametrize("kind", list(LOADERS))
def test_empty_and_garbage_files(kind):
    assert isinstance(_load_damaged(kind, b""), DataFileError)
    assert isinstance(_load_damaged(kind, os.urandom(4096)), DataFileError)


def test_lazy_v73_damaged_after_opening_names_the_file(tmp_path):
    path = tmp_path / "rec73.mat"
    big = v1ann.simulate_recording(1.0, n_stimuli=300, n_neurons=200, seed=0)
    v1ann.save_stringer_mat(big, path, version="7.3")
    lazy = v1ann.load_stringer(path, lazy=True)
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])  # cut while the recording is open
    with pytest.raises(DataFileError, match="rec73.mat"):
        lazy["trial_response"].values


@pytest.fixture
def zarr_store(tmp_path):
    return v1ann.save_zarr(_recording(), tmp_path / "rec.zarr", chunk_bytes=26 * 4 * 3)


def _chunk_files(store: Path, name: str) -> list[Path]:
    return sorted(p for p in (store / name).rglob("*") if p.is_file() and p.name not in ("zarr.json", ".zarray", ".zattrs"))


def test_zarr_store_missing_a_chunk_is_refused_at_load(zarr_store):
    _chunk_files(zarr_store, "trial_response")[1].unlink()
    with pytest.raises(DataFileError, match=r"rec.zarr: store is truncated: 'trial_response' has 2 of 3 chunk"):
        v1ann.load_zarr(zarr_store)


@SETTINGS
@given(fraction=st.floats(min_value=0.0, max_value=0.99), which=st.integers(0, 2))
def test_zarr_truncated_chunk_raises_naming_store_and_chunk(tmp_path, fraction, which):
    with tempfile.TemporaryDirectory() as tmp:
        store = v1ann.save_zarr(_recording(), Path(tmp) / "rec.zarr", chunk_bytes=26 * 4 * 3)
        chunk = _chunk_files(store, "trial_response")[which]
        content = chunk.read_bytes()
        chunk.write_bytes(content[: int(len(content) * fraction)])
        ds = v1ann.load_zarr(store)
        with pytest.raises(DataFileError, match=r"rec.zarr: cannot read chunk .*'trial_response'"):
            ds["trial_response"].values


def test_zarr_damaged_metadata(zarr_store):
    (zarr_store / "zarr.json").write_text("{ not json")
    with pytest.raises(DataFileError, match="rec.zarr: not a readable zarr store"):
        v1ann.load_zarr(zarr_store)


def test_nothing_is_left_behind_when_a_write_fails(tmp_path):
    ds = _recording()
    bad = ds.copy()
    bad["trial_response"] = bad["trial_response"].where(bad["trial"] != 3)  # NaN row
    for writer, name in ((v1ann.save_stringer_mat, "a.mat"), (v1ann.save_nwb, "a.nwb"), (v1ann.save_zarr, "a.zarr")):
        with pytest.raises(V1AnnError):
            writer(bad, tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_writing_from_a_damaged_lazy_source_leaves_nothing(tmp_path):
    source = tmp_path / "src.mat"
    v1ann.save_stringer_mat(v1ann.simulate_recording(1.0, n_stimuli=300, n_neurons=200, seed=0), source, version="7.3")
    lazy = v1ann.load_stringer(source, lazy=True)
    content = source.read_bytes()
    source.write_bytes(content[: len(content) // 2])
    with pytest.raises(DataFileError, match="src.mat"):
        v1ann.save_zarr(lazy, tmp_path / "out.zarr")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.mat"]


def test_complex_flag_without_an_imaginary_part_is_refused_not_a_crash(tmp_path):
    # scipy.io.loadmat segfaulted on this (found by the fuzz test above, scipy 1.17.1)
    import numpy as np
    import scipy.io

    from v1ann.errors import DataFileError
    from v1ann.io._matfile import read_mat

    arrays = {"x": np.arange(3.0), "z": np.array([1 + 2j, 3 - 1j])}
    for compressed in (False, True):  # complex arrays that are whole still load
        good = tmp_path / f"good{int(compressed)}.mat"
        scipy.io.savemat(good, arrays, do_compression=compressed)
        assert np.allclose(read_mat(good)["z"], arrays["z"])
    content = bytearray((tmp_path / "good0.mat").read_bytes())
    flags_at = 128 + 8 + 8  # header, x's matrix tag, its flags element's tag
    assert content[flags_at] == 6  # x is a double array
    content[flags_at + 1] |= 0x08  # the complex bit of x, which has no imaginary part
    bad = tmp_path / "bad.mat"
    bad.write_bytes(bytes(content))
    with pytest.raises(DataFileError, match="without its imaginary part"):
        read_mat(bad)
