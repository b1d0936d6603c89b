"""Reading and writing MATLAB .mat files of either kind as one nested-dict tree.

MATLAB v5/v7 files are parsed by ``scipy.io`` (eagerly: the format has no random
access). v7.3 files are HDF5 and are read with ``h5py``; their numeric variables come
back as :class:`H5Variable` handles that read on demand, whole (``numpy()``) or lazily in
chunks (``dask()``), so a file bigger than memory is never read whole.

Tree conventions (both directions): a struct is a ``dict``; a 1 x N struct array (the
deposits' ``stat``) is a ``list`` of dicts; strings are ``str``; everything else is an
array in MATLAB's orientation (rows x columns), never transposed by the caller.
"""

from __future__ import annotations

import datetime
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import dask.array as da
import h5py
import numpy as np
import scipy.io

from v1ann._checks import check_memory
from v1ann._utils import atomic_path
from v1ann.errors import DataFileError

__all__ = ["H5Variable", "H5DatasetReader", "read_mat", "write_mat", "to_numpy", "struct_field"]

# Bytes per dask chunk of a lazily read variable.
LAZY_CHUNK_BYTES = 64 * 2**20


def _fail(path, problem: str) -> DataFileError:
    return DataFileError(f"{path}: {problem}")


class H5DatasetReader:
    """Array-like view of one HDF5 dataset for ``dask.array.from_array``.

    Picklable (holds the path and the dataset name, opens the file per read), so dask
    graphs built on it also run on ``dask.distributed`` workers. Read errors (a truncated
    or damaged file) raise :class:`DataFileError` naming the file and dataset.
    """

    def __init__(self, path: str, key: str, shape: tuple[int, ...], dtype):
        self.path, self.key = path, key
        self.shape, self.dtype, self.ndim = shape, np.dtype(dtype), len(shape)

    def __getitem__(self, index):

        try:
            with h5py.File(self.path, "r") as f:
                return f[self.key][index]
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            raise _fail(self.path, f"cannot read {self.key!r} (file truncated or damaged?): {exc}") from None


class H5Variable:
    """One numeric variable of a v7.3 .mat file, read on demand (whole or lazily)."""

    def __init__(self, path: str, key: str, shape: tuple[int, ...], dtype, refs: bool = False):
        self.path, self.key = str(path), key
        self.h5_shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.refs = refs

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape in MATLAB's orientation (HDF5 stores MATLAB arrays transposed)."""
        return self.h5_shape[::-1]

    def _reader(self) -> H5DatasetReader:
        return H5DatasetReader(self.path, self.key, self.h5_shape, self.dtype)

    def numpy(self) -> np.ndarray:
        """The whole variable in memory, MATLAB orientation."""
        if self.refs:
            return self._dereference()
        # the header's claim, checked before reading: a damaged file may claim terabytes
        check_memory(self.dtype.itemsize * float(np.prod(self.h5_shape, dtype=np.float64)),
                     f"{self.path}: variable {self.key!r} of shape {self.shape}")
        return np.asarray(self._reader()[()]).T

    def dask(self, chunk_bytes: int = LAZY_CHUNK_BYTES):
        """A dask array in MATLAB orientation, chunked along HDF5's slowest axis.

        For a MATLAB (rows x columns) matrix the chunks hold whole rows of HDF5, i.e.
        blocks of MATLAB *columns* (the deposits' neurons), each about ``chunk_bytes``.
        """

        row_bytes = max(1, int(np.prod(self.h5_shape[1:])) * self.dtype.itemsize)
        rows = int(max(1, min(self.h5_shape[0] or 1, chunk_bytes // row_bytes)))
        chunks = (rows,) + self.h5_shape[1:]
        stat = os.stat(self.path)  # a rewritten file must not share task names with the old one
        name = f"mat73-{self.path}-{stat.st_mtime_ns}-{stat.st_size}-{self.key}-{rows}"
        return da.from_array(self._reader(), chunks=chunks, asarray=True, lock=False, name=name).T

    def _dereference(self) -> np.ndarray:

        try:
            with h5py.File(self.path, "r") as f:
                refs = np.asarray(f[self.key]).ravel()
                values = [np.asarray(f[r][()]).T for r in refs]
        except (OSError, KeyError, ValueError, RuntimeError, TypeError) as exc:
            raise _fail(self.path, f"cannot read {self.key!r}: {exc}") from None
        if all(v.size == 1 for v in values):
            return np.array([v.item() for v in values])
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out


def to_numpy(value) -> np.ndarray:
    """A tree leaf as an in-memory array (reads an :class:`H5Variable`)."""
    if isinstance(value, H5Variable):
        return value.numpy()
    return np.asarray(value)


def struct_field(node, name: str):
    """Field ``name`` of every element of a struct array, as an array; None if absent."""
    if isinstance(node, dict):  # a v7.3 struct array (fields of references) or a 1x1 struct
        if name not in node:
            return None
        return to_numpy(node[name]).ravel()
    if isinstance(node, (list, tuple, np.ndarray)):
        values = [el.get(name) if isinstance(el, dict) else None for el in node]
        if not values or any(v is None for v in values):
            return None
        return np.array([np.asarray(v).item() if np.asarray(v).size == 1 else np.nan for v in values])
    return None


# ---------------------------------------------------------------- reading


def read_mat(path: str | os.PathLike) -> dict[str, Any]:
    """Read a .mat file (v5/v7 or v7.3) into a tree; raises :class:`DataFileError`."""
    path = Path(path)
    if not path.exists():
        raise _fail(path, "no such file")
    if path.is_dir():
        raise _fail(path, "is a directory, not a .mat file")

    try:
        is_hdf5 = h5py.is_hdf5(str(path))
    except OSError as exc:
        raise _fail(path, f"cannot be read: {exc}") from None
    if is_hdf5:
        return _read_v73(path)
    return _read_v5(path)


# MATLAB v5 data-element type codes (miINT8 .. miUTF32); anything else is damage.
_MI_TYPES = {1, 2, 3, 4, 5, 6, 7, 9, 12, 13, 14, 15, 16, 17, 18}
_MI_MATRIX, _MI_COMPRESSED = 14, 15
_MI_UINT32 = 6
# array flags: the complex bit; classes: sparse, then the numeric ones up to uint64
_COMPLEX_FLAG = 0x0800
_MX_SPARSE, _MX_LAST_NUMERIC = 5, 15


class _Damaged(Exception):
    """Internal: the v5 element structure is inconsistent."""


class _ByteStream:
    """Sequential exact-length reads from a file region, optionally through zlib."""

    def __init__(self, fh, n_bytes: int, compressed: bool = False):
        self.fh, self.left = fh, n_bytes
        self.inflate = zlib.decompressobj() if compressed else None
        self.buffer = b""

    def _raw(self, n: int) -> bytes:
        data = self.fh.read(n) if n <= self.left else b""
        if len(data) < n:
            raise _Damaged("element runs past the end of the file")
        self.left -= n
        return data

    def read(self, n: int) -> bytes:
        if self.inflate is None:
            return self._raw(n)
        while len(self.buffer) < n:
            if self.inflate.unconsumed_tail:
                chunk = self.inflate.unconsumed_tail
            elif self.left:
                chunk = self._raw(min(self.left, 1 << 20))
            else:
                raise _Damaged("compressed element ends early")
            try:
                self.buffer += self.inflate.decompress(chunk, max(n - len(self.buffer), 1 << 16))
            except zlib.error as exc:
                raise _Damaged(f"compressed element is corrupt ({exc})") from None
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def skip(self, n: int) -> None:
        if self.inflate is None:
            if n > self.left:
                raise _Damaged("element runs past the end of the file")
            self.fh.seek(n, os.SEEK_CUR)
            self.left -= n
            return
        while n > 0:
            step = min(n, 1 << 20)
            self.read(step)
            n -= step


def _check_elements(stream: _ByteStream, length: int, order: str, in_matrix: bool) -> None:
    """Walk ``length`` bytes of tagged elements, checking every type code and size.

    ``in_matrix``: the bytes are one matrix's sub-elements (array flags first), which must
    hold an imaginary part where the flags say complex (scipy reads past the matrix if not).
    """
    pos, count, flags = 0, 0, None
    while pos < length:
        if length - pos < 8:
            raise _Damaged("trailing bytes too short for an element tag")
        mdtype, n_bytes = struct.unpack(order + "II", stream.read(8))
        count += 1
        if mdtype >> 16:  # small data element: 4 bytes of data inside the tag
            if (mdtype >> 16) > 4 or (mdtype & 0xFFFF) not in _MI_TYPES:
                raise _Damaged(f"bad small element (type {mdtype & 0xFFFF})")
            pos += 8
            continue
        if mdtype not in _MI_TYPES or (in_matrix and mdtype == _MI_COMPRESSED):
            raise _Damaged(f"unknown element type {mdtype}")
        padded = n_bytes + (-n_bytes % 8) if in_matrix else n_bytes
        if pos + 8 + padded > length:
            raise _Damaged("element size exceeds its container")
        if mdtype == _MI_MATRIX:
            _check_elements(stream, n_bytes, order, True)
            stream.skip(padded - n_bytes)
        elif mdtype == _MI_COMPRESSED:  # only at top level: stream reads the file directly
            if n_bytes > stream.left:
                raise _Damaged("compressed element runs past the end of the file")
            start = stream.fh.tell()
            inner = _ByteStream(stream.fh, n_bytes, compressed=True)
            inner_type, inner_bytes = struct.unpack(order + "II", inner.read(8))
            if inner_type != _MI_MATRIX:
                raise _Damaged("compressed element does not hold a matrix")
            _check_elements(inner, inner_bytes, order, True)
            stream.fh.seek(start + n_bytes)
            stream.left -= n_bytes
        elif in_matrix and count == 1 and mdtype == _MI_UINT32 and n_bytes == 8:
            flags = struct.unpack(order + "I", stream.read(4))[0]
            stream.skip(padded - 4)
        else:
            stream.skip(padded)
        pos += 8 + padded
    if flags is not None and flags & _COMPLEX_FLAG:
        cls = flags & 0xFF
        # flags, dims, name, then real and imaginary parts (sparse: ir, jc, real, imaginary)
        needed = {_MX_SPARSE: 7}.get(cls, 5)
        if cls < _MX_SPARSE or (cls <= _MX_LAST_NUMERIC and count < needed):
            raise _Damaged(f"a complex array (class {cls}) without its imaginary part")


def _check_v5_structure(path: Path) -> None:
    """Refuse damaged v5 files before scipy's C reader sees them.

    scipy.io.loadmat can crash the interpreter (segfault) on some damaged files, e.g.
    an unknown element type code; walking the element tags first turns that into a
    :class:`DataFileError`.
    """
    size = path.stat().st_size
    if size < 128:
        raise _fail(path, f"only {size} bytes: too short for a .mat file (truncated?)")
    with open(path, "rb") as fh:
        header = fh.read(128)
        order = {b"IM": "<", b"MI": ">"}.get(header[126:128])
        if order is None:
            raise _fail(path, "not a MATLAB .mat file (no v5 header)")
        try:
            _check_elements(_ByteStream(fh, size - 128), size - 128, order, False)
        except (_Damaged, struct.error) as exc:
            raise _fail(path, f"damaged .mat file: {exc}") from None


def _read_v5(path: Path) -> dict[str, Any]:

    _check_v5_structure(path)
    try:
        tree = scipy.io.loadmat(str(path), simplify_cells=True, appendmat=False)
    except NotImplementedError:  # a v7.3 header but no valid HDF5 behind it
        raise _fail(path, "MATLAB v7.3 header but the HDF5 content is unreadable (truncated?)") from None
    except MemoryError:
        raise _fail(path, "corrupt .mat file (a header claims an impossible size)") from None
    except Exception as exc:  # noqa: BLE001 -- scipy's parser raises many types on bad bytes
        raise _fail(path, f"not a readable MATLAB .mat file (truncated or corrupt?): {type(exc).__name__}: {exc}") from None
    return {k: v for k, v in tree.items() if not k.startswith("__")}


def _read_v73(path: Path) -> dict[str, Any]:

    try:
        with h5py.File(str(path), "r") as f:
            return {k: _h5_node(path, f, f[k]) for k in f.keys() if not k.startswith("#")}
    except DataFileError:
        raise
    except Exception as exc:  # noqa: BLE001 -- HDF5 reports damage with many error types
        raise _fail(path, f"not a readable HDF5 (.mat v7.3) file (truncated or corrupt?): {type(exc).__name__}: {exc}") from None


def _matlab_class(obj) -> str:
    value = obj.attrs.get("MATLAB_class", b"")
    return value.decode() if isinstance(value, bytes) else str(value)


def _h5_node(path: Path, f, obj):

    if isinstance(obj, h5py.Group):
        return {k: _h5_node(path, f, obj[k]) for k in obj.keys()}
    if obj.dtype == h5py.ref_dtype:
        return H5Variable(path, obj.name, obj.shape, obj.dtype, refs=True)
    cls = _matlab_class(obj)
    if obj.attrs.get("MATLAB_empty", 0):  # MATLAB stores an empty array's dims as its data
        return np.zeros((0, 0))
    if cls == "char":
        return "".join(chr(c) for c in np.asarray(obj).T.ravel())
    if obj.size <= 1024 or cls == "logical":  # small: read now, no handle to keep
        return np.asarray(obj[()]).T
    return H5Variable(path, obj.name, obj.shape, obj.dtype)


# ---------------------------------------------------------------- writing


def write_mat(path: str | os.PathLike, tree: dict[str, Any], version: str = "5") -> None:
    """Write ``tree`` as a .mat file, atomically.

    ``version``: "5" (scipy, uncompressed), "7" (scipy, zlib-compressed elements, as
    MATLAB's default ``-v7``) or "7.3" (HDF5 via h5py).
    """
    if version not in ("5", "7", "7.3"):
        raise ValueError(f"version must be '5', '7' or '7.3', got {version!r}")
    with atomic_path(path) as tmp:
        if version == "7.3":
            _write_v73(tmp, tree)
        else:
            _write_v5(tmp, tree, compress=version == "7")


def _v5_value(value):
    if isinstance(value, dict):
        return {k: _v5_value(v) for k, v in value.items()}
    if isinstance(value, list):  # struct array, 1 x N
        fields = list(value[0]) if value else []
        out = np.zeros((1, len(value)), dtype=[(name, object) for name in fields])
        for i, element in enumerate(value):
            for name in fields:
                out[0, i][name] = _v5_value(element[name])
        return out
    return value


def _write_v5(tmp: Path, tree: dict[str, Any], compress: bool) -> None:

    scipy.io.savemat(
        str(tmp), {k: _v5_value(v) for k, v in tree.items()}, appendmat=False, oned_as="column", do_compression=compress
    )


_MATLAB_CLASS = {
    np.dtype(np.float64): "double",
    np.dtype(np.float32): "single",
    np.dtype(np.int64): "int64",
    np.dtype(np.int32): "int32",
    np.dtype(np.int16): "int16",
    np.dtype(np.int8): "int8",
    np.dtype(np.uint64): "uint64",
    np.dtype(np.uint32): "uint32",
    np.dtype(np.uint16): "uint16",
    np.dtype(np.uint8): "uint8",
    np.dtype(bool): "logical",
}


def _matlab_2d(value: np.ndarray) -> np.ndarray:
    return value.reshape(-1, 1) if value.ndim <= 1 else value


def _h5_write(parent, name: str, value, refs_group) -> None:

    if isinstance(value, dict):
        group = parent.create_group(name)
        group.attrs["MATLAB_class"] = np.bytes_("struct")
        for k, v in value.items():
            _h5_write(group, k, v, refs_group)
        return
    if isinstance(value, list):  # struct array: each field is a column of references
        group = parent.create_group(name)
        group.attrs["MATLAB_class"] = np.bytes_("struct")
        for field in (value[0] if value else {}):
            refs = []
            for element in value:
                target = f"{len(refs_group)}"
                _h5_write(refs_group, target, element[field], refs_group)
                refs.append(refs_group[target].ref)
            ds = group.create_dataset(field, data=np.array(refs, dtype=h5py.ref_dtype).reshape(-1, 1))
            ds.attrs["MATLAB_class"] = np.bytes_("cell")
        return
    if isinstance(value, str):
        codes = np.array([ord(c) for c in value], dtype=np.uint16).reshape(1, -1)
        ds = parent.create_dataset(name, data=codes.T)
        ds.attrs["MATLAB_class"] = np.bytes_("char")
        return
    value = np.asarray(value)
    if value.dtype == bool:
        ds = parent.create_dataset(name, data=_matlab_2d(value).astype(np.uint8).T)
    else:
        big = value.nbytes > LAZY_CHUNK_BYTES // 4
        data = _matlab_2d(value).T
        # Chunks of whole HDF5 rows (= MATLAB columns = neurons) match how they are read.
        chunks = None
        if big and data.ndim == 2:
            rows = max(1, min(data.shape[0], (8 * 2**20) // max(1, data.shape[1] * data.itemsize)))
            chunks = (rows, data.shape[1])
        ds = parent.create_dataset(name, data=data, chunks=chunks)
    ds.attrs["MATLAB_class"] = np.bytes_(_MATLAB_CLASS.get(value.dtype, "double"))


def _write_v73(tmp: Path, tree: dict[str, Any]) -> None:

    with h5py.File(str(tmp), "w", userblock_size=512, libver="earliest") as f:
        refs_group = f.create_group("#refs#")
        for name, value in tree.items():
            _h5_write(f, name, value, refs_group)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%a %b %d %H:%M:%S %Y")
    text = f"MATLAB 7.3 MAT-file, Platform: v1ann, Created on: {stamp} HDF5 schema 1.00 ."
    header = text.encode("ascii").ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    with open(tmp, "r+b") as fh:
        fh.write(header.ljust(512, b"\x00"))
