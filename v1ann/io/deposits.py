"""Download files of the public Stringer et al. 2019 deposits into a local cache.

The recordings behind the papers are large ``.mat`` files on Janelia's figshare:

* **natimg2800** deposit, doi:10.25378/janelia.6845348 (Stringer, Pachitariu, Steinmetz,
  Carandini & Harris, *Nature* 2019): responses of ~10,000 V1 neurons to 2,800 natural
  images (and the natimg2800 variants, natimg32, ori32) plus the image sets.
* **spont** deposit, doi:10.25378/janelia.6163622 (Stringer, Pachitariu et al., *Science*
  2019): spontaneous activity with running, pupil and face-motion behaviour.

:data:`REGISTRY` names the files v1ann knows (``v1ann datasets list``). The deposits are
licensed CC BY-NC 4.0 by their authors; v1ann does not redistribute them.

Where a file comes from
-----------------------
1. ``base_url`` (argument) or the environment variable ``V1ANN_DATA_URL``: a mirror that
   serves the files under their deposit names (``{base_url}/{name}``). Used by the tests
   with a loopback server, and handy for a lab-wide copy.
2. Otherwise figshare: ``https://ndownloader.figshare.com/files/{figshare_id}`` when the
   registry pins the file's id; else the id, size and MD5 are looked up by name in the
   deposit's file list through the public figshare API.

Integrity
---------
A download is checked against the MD5 pinned in the registry, else the MD5 figshare
reports for the file; a mismatch raises :class:`~v1ann.errors.DownloadError` and nothing
is left in the cache. ``md5=None`` in the registry means *not pinned here*: we record only
checksums that a public source states and never make one up. From a mirror, a file without
a pinned checksum is checked by size when the size is pinned, else not at all (said in a log
line).

Interrupted downloads resume: bytes arrive in ``{cache}/{name}.part`` and a later call asks
the server for the rest with an HTTP ``Range`` request.
"""

from __future__ import annotations

import difflib
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from v1ann._progress import progress_bar
from v1ann.errors import DownloadError, InvalidInputError

__all__ = ["DepositFile", "REGISTRY", "fetch_stringer", "list_stringer", "default_cache_dir"]

log = logging.getLogger(__name__)

ENV_BASE_URL = "V1ANN_DATA_URL"
ENV_CACHE_DIR = "V1ANN_CACHE_DIR"
FIGSHARE_API = "https://api.figshare.com/v2"
FIGSHARE_DOWNLOAD = "https://ndownloader.figshare.com/files"
TIMEOUT_S = 60

DEPOSITS = {
    "natimg2800": {"article": 6845348, "doi": "10.25378/janelia.6845348"},
    "spont": {"article": 6163622, "doi": "10.25378/janelia.6163622"},
}


@dataclass(frozen=True)
class DepositFile:
    """One file of a Stringer 2019 deposit.

    Attributes
    ----------
    name : str
        File name in the deposit (and in the cache).
    deposit : str
        Key of :data:`DEPOSITS` (``"natimg2800"`` or ``"spont"``).
    kind : str
        What the file holds: ``"recording"``, ``"images"`` or ``"spontaneous"``.
    description : str
        One line for ``v1ann datasets list``.
    figshare_id : int or None
        figshare file id where a public source states it; None → looked up by name.
    size : int or None
        Size in bytes where known.
    md5 : str or None
        MD5 hex digest where a public source states it; None → not pinned here.
    """

    name: str
    deposit: str
    kind: str
    description: str
    figshare_id: int | None = None
    size: int | None = None
    md5: str | None = None

    @property
    def doi(self) -> str:
        return DEPOSITS[self.deposit]["doi"]

    def to_dict(self) -> dict:
        return {**asdict(self), "doi": self.doi}


def _natimg(name: str, description: str, **pinned) -> DepositFile:
    return DepositFile(name, "natimg2800", "recording", description, **pinned)


def _images(name: str, description: str, **pinned) -> DepositFile:
    return DepositFile(name, "natimg2800", "images", description, **pinned)


def _spont(name: str) -> DepositFile:
    return DepositFile(
        name, "spont", "spontaneous", "spontaneous activity (Fsp) with running, pupil, face motion"
    )


_FULL = "2,800 natural images, 2 repeats, ~10k neurons"
# Pinned ids, size and MD5 are those published in public documentation of the deposit
# (file-id table and calibration input of a public re-analysis); every other field of
# identity is looked up on figshare at download time.
_FILES = (
    _natimg("natimg2800_M160825_MP027_2016-12-14.mat", _FULL),
    _natimg("natimg2800_M161025_MP030_2017-05-29.mat", _FULL),
    _natimg("natimg2800_M170604_MP031_2017-06-28.mat", _FULL),
    _natimg("natimg2800_M170714_MP032_2017-08-07.mat", _FULL),
    _natimg(
        "natimg2800_M170714_MP032_2017-09-14.mat",
        _FULL,
        figshare_id=12462698,
        size=244_220_197,
        md5="597145257e2571213d51bcbbcae263fa",
    ),
    _natimg("natimg2800_M170717_MP033_2017-08-20.mat", _FULL),
    _natimg("natimg2800_M170717_MP034_2017-09-11.mat", _FULL),
    _natimg("natimg2800_8D_M170604_MP031_2017-07-02.mat", "2,800 images reduced to 8 dimensions"),
    _natimg("natimg2800_8D_M170717_MP033_2017-08-22.mat", "2,800 images reduced to 8 dimensions"),
    _natimg("natimg2800_small_M170717_MP033_2017-08-23.mat", "2,800 small (spatially cropped) images"),
    _natimg("natimg32_M150824_MP019_2016-03-23.mat", "32 natural images, many repeats"),
    _natimg("natimg32_M170604_MP031_2017-06-27.mat", "32 natural images, many repeats"),
    _natimg("natimg32_M170714_MP032_2017-08-01.mat", "32 natural images, many repeats"),
    _natimg("natimg32_M170717_MP033_2017-08-25.mat", "32 natural images, many repeats"),
    _natimg("ori32_M160825_MP027_2016-12-15.mat", "32 grating orientations, many repeats"),
    _natimg("ori32_M170604_MP031_2017-06-26.mat", "32 grating orientations, many repeats"),
    _natimg("ori32_M170714_MP032_2017-08-02.mat", "32 grating orientations, many repeats"),
    _natimg("ori32_M170717_MP033_2017-08-17.mat", "32 grating orientations, many repeats"),
    _images("images_natimg2800_all.mat", "the 2,800 stimulus images (imgs: 68 x 270 x N)"),
    _images("images_natimg2800_8D_M161025_MP030_2017-06-07.mat", "8D images", figshare_id=12462530),
    _images("images_natimg2800_8D_M170604_MP031_2017-07-02.mat", "8D images", figshare_id=12462533),
    _images("images_natimg2800_8D_M170714_MP032_2017-08-10.mat", "8D images", figshare_id=12462539),
    _images("images_natimg2800_8D_M170714_MP032_2017-09-15.mat", "8D images", figshare_id=12462536),
    _images("images_natimg2800_8D_M170717_MP033_2017-08-22.mat", "8D images", figshare_id=12462542),
    _images("images_natimg2800_8D_M170717_MP034_2017-09-15.mat", "8D images", figshare_id=12462545),
    _images("images_natimg2800_4D_M170714_MP032_2017-09-22.mat", "4D images", figshare_id=12462758),
    _images("images_natimg2800_4D_M170717_MP033_2017-09-19.mat", "4D images", figshare_id=12462761),
    _images("images_natimg2800_4D_M170717_MP033_2017-09-22.mat", "4D images", figshare_id=12462524),
    _images("images_natimg2800_4D_M170717_MP034_2017-09-20.mat", "4D images", figshare_id=12462527),
    _spont("spont_M150824_MP019_2016-04-05.mat"),
    _spont("spont_M160825_MP027_2016-12-12.mat"),
    _spont("spont_M160907_MP028_2016-09-26.mat"),
)

#: name → :class:`DepositFile` for every file ``fetch_stringer`` knows.
REGISTRY: dict[str, DepositFile] = {f.name: f for f in _FILES}


def list_stringer(kind: str | None = None) -> list[DepositFile]:
    """The registered deposit files, sorted by name.

    Parameters
    ----------
    kind : {"recording", "images", "spontaneous"}, optional
        Keep only files of this kind.
    """
    kinds = {f.kind for f in _FILES}
    if kind is not None and kind not in kinds:
        raise InvalidInputError(f"kind={kind!r} is not one of {sorted(kinds)}")
    return sorted((f for f in _FILES if kind is None or f.kind == kind), key=lambda f: f.name)


def default_cache_dir() -> Path:
    """``$V1ANN_CACHE_DIR`` if set, else the OS cache folder (e.g. ``~/.cache/v1ann``)."""
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env).expanduser()
    import pooch

    return Path(pooch.os_cache("v1ann"))


def fetch_stringer(
    name: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    base_url: str | None = None,
    verify: bool = True,
) -> Path:
    """Download one file of the Stringer 2019 deposits (once) and return its local path.

    A file already in the cache whose checksum matches is returned without a download;
    one whose checksum does not match is downloaded again.

    Parameters
    ----------
    name : str
        A file name from :func:`list_stringer`, e.g.
        ``"natimg2800_M170714_MP032_2017-09-14.mat"`` (the ``.mat`` may be left out).
    cache_dir : path, optional
        Folder for the cache; default :func:`default_cache_dir`.
    progress : bool
        Show a tqdm bar of bytes downloaded.
    base_url : str, optional
        Fetch ``{base_url}/{name}`` instead of figshare (a mirror); default
        ``$V1ANN_DATA_URL`` when set.
    verify : bool
        Refuse a file whose MD5 is not known (pinned in the registry, or listed by
        figshare): its bytes, from the network or the cache, could be anything. ``False``
        accepts such a file after its size check (where a size is known). A web page
        (HTML) in place of a recording is refused either way.

    Returns
    -------
    pathlib.Path
        Absolute path of the cached file.

    Raises
    ------
    InvalidInputError
        ``name`` is not a registered file.
    DownloadError
        The server could not be reached or refused, the file is not in the deposit, or
        the download failed its checksum or size check; the message names file and URL.
    """
    entry = _lookup(name)
    name = entry.name
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    base_url = base_url or os.environ.get(ENV_BASE_URL) or None
    if base_url:
        url, md5, size = f"{base_url.rstrip('/')}/{name}", entry.md5, entry.size
    else:
        url, md5, size = _figshare_source(entry)
    if md5 is None:
        if verify:
            raise DownloadError(
                f"{name}: no checksum is known for the file at {url}, so its bytes cannot be verified; "
                "pass verify=False (`v1ann datasets fetch --no-verify`) to accept it after its size check"
            )
        log.info("%s: no checksum known; checking %s only", name, "size" if size else "nothing")
    path = _retrieve(url, name, cache, md5, size, progress)
    _refuse_web_page(path, url)
    return path


def _refuse_web_page(path: Path, url: str) -> None:
    """A portal or error page saved under a recording's name: remove it and say so."""
    with open(path, "rb") as f:
        head = f.read(512).lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head")):
        path.unlink()
        raise DownloadError(f"{path.name}: {url} sent a web page, not the file; check the mirror's address")


def _lookup(name: str) -> DepositFile:
    if isinstance(name, str) and name not in REGISTRY and f"{name}.mat" in REGISTRY:
        name = f"{name}.mat"
    if not isinstance(name, str) or name not in REGISTRY:
        near = difflib.get_close_matches(str(name), REGISTRY, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        raise InvalidInputError(
            f"name={name!r} is not a file of the Stringer 2019 deposits that v1ann knows"
            f"{hint} (`v1ann datasets list` shows them all)"
        )
    return REGISTRY[name]


def _figshare_source(entry: DepositFile) -> tuple[str, str | None, int | None]:
    """Download URL, MD5 and size of a deposit file, asking figshare what the registry lacks."""
    if entry.figshare_id is not None and entry.md5 is not None:
        return f"{FIGSHARE_DOWNLOAD}/{entry.figshare_id}", entry.md5, entry.size
    listing = _figshare_files(DEPOSITS[entry.deposit]["article"])
    info = listing.get(entry.name)
    if info is None:
        raise DownloadError(
            f"{entry.name}: not in the file list of figshare deposit doi:{entry.doi} "
            f"({len(listing)} files listed); the deposit may have changed"
        )
    url = info.get("download_url") or f"{FIGSHARE_DOWNLOAD}/{info['id']}"
    return url, entry.md5 or info.get("computed_md5") or None, entry.size or info.get("size")


def _figshare_files(article: int) -> dict[str, dict]:
    """The file list of a figshare article: name → {id, size, computed_md5, download_url}."""
    import requests

    url = f"{FIGSHARE_API}/articles/{article}/files"
    try:
        response = requests.get(url, params={"page_size": 1000}, timeout=TIMEOUT_S)
        response.raise_for_status()
        return {item["name"]: item for item in response.json()}
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        raise DownloadError(f"could not list the files of figshare article {article} ({url}): {exc}") from None


def _retrieve(url: str, name: str, cache: Path, md5: str | None, size: int | None, progress: bool) -> Path:
    import pooch
    import requests

    downloader = ResumableDownloader(cache / f"{name}.part", progress=progress, expected_size=size)
    try:
        path = pooch.retrieve(
            url,
            known_hash=f"md5:{md5}" if md5 else None,
            fname=name,
            path=cache,
            downloader=downloader,
        )
    except requests.RequestException as exc:
        raise DownloadError(f"{name}: download from {url} failed: {exc}") from None
    except ValueError as exc:  # pooch's checksum mismatch; it has already removed the file
        raise DownloadError(f"{name}: the file from {url} failed its check: {exc}") from None
    return Path(path).resolve()


class ResumableDownloader:
    """A pooch downloader that keeps partial bytes and resumes with an HTTP Range request.

    pooch downloads into a temporary file that it deletes on failure, so an interrupted
    1 GB download starts over. This downloader streams into ``partial`` instead (kept
    across calls) and hands the finished file to pooch, which then verifies the checksum.

    Parameters
    ----------
    partial : path
        Where partial bytes live between attempts (``{cache}/{name}.part``).
    progress : bool
        Show a tqdm bar of bytes.
    expected_size : int, optional
        Size in bytes the finished file must have.
    """

    def __init__(self, partial: Path, progress: bool = True, expected_size: int | None = None):
        self.partial = Path(partial)
        self.progress = progress
        self.expected_size = expected_size

    def __call__(self, url: str, output_file, pooch=None) -> None:
        import requests  # pooch's own dependency: loaded with the download

        have = self.partial.stat().st_size if self.partial.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        announced = None
        with requests.get(url, headers=headers, stream=True, timeout=TIMEOUT_S) as response:
            # 416: nothing left to send, the partial file is already whole
            if not (have and response.status_code == 416):
                response.raise_for_status()
                if response.status_code != 206:  # the server ignored Range: start over
                    have = 0
                remaining = int(response.headers.get("content-length", 0)) or None
                announced = have + remaining if remaining else None
                with open(self.partial, "ab" if have else "wb") as out, progress_bar(
                    total=self.expected_size or announced,
                    initial=have,
                    unit="B",
                    unit_scale=True,
                    desc=self.partial.name[: -len(".part")],
                    progress=self.progress,
                ) as bar:
                    for chunk in response.iter_content(chunk_size=1 << 16):
                        out.write(chunk)
                        bar.update(len(chunk))
        got = self.partial.stat().st_size
        expected = self.expected_size or announced
        if expected is not None and got != expected:
            if got > expected:
                self.partial.unlink()  # not a prefix of the right file: never resume from it
            raise DownloadError(
                f"{self.partial.name[: -len('.part')]}: {url} gave {got:,} bytes, expected "
                f"{expected:,}" + ("; run again to resume" if got < expected else "")
            )
        os.replace(self.partial, output_file)
