"""fetch_stringer against a loopback HTTP server; nothing here touches the network."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from v1ann.cli import main
from v1ann.errors import DownloadError, InvalidInputError
from v1ann.io import deposits as datasets
from v1ann.io.deposits import DepositFile, fetch_stringer, list_stringer

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB, position-dependent so a misplaced byte shows
NAME = "natimg2800_M160825_MP027_2016-12-14.mat"  # registered, no checksum pinned
PINNED = "natimg2800_M170714_MP032_2017-09-14.mat"  # registered with size and md5 pinned


class Deposit(ThreadingHTTPServer):
    """A loopback server for a dict of files, with switches to misbehave."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.cut_after: int | None = None  # close the connection after this many bytes, once
        self.honour_range = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        server: Deposit = self.server
        rng = self.headers.get("Range")
        server.requests.append((self.path, rng))
        body = server.files.get(self.path.lstrip("/"))
        if body is None:
            self.send_error(404, "no such file")
            return
        start = 0
        if rng and server.honour_range:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        part = body[start:]
        self.send_header("Content-Length", str(len(part)))
        self.end_headers()
        if server.cut_after is not None:
            part, server.cut_after = part[: server.cut_after], None
            self.wfile.write(part)
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(part)


@pytest.fixture
def deposit():
    server = Deposit()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    # however a test ends, the server stops within 60 s
    watchdog = threading.Timer(60, server.shutdown)
    watchdog.daemon = True
    watchdog.start()
    try:
        yield server
    finally:
        watchdog.cancel()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    monkeypatch.delenv(datasets.ENV_BASE_URL, raising=False)
    monkeypatch.delenv(datasets.ENV_CACHE_DIR, raising=False)


def test_registry_lists_each_file_once_with_its_deposit():
    files = list_stringer()
    names = [f.name for f in files]
    assert len(names) == len(set(names)) == len(datasets.REGISTRY)
    assert names == sorted(names)
    assert {f.deposit for f in files} == set(datasets.DEPOSITS)
    assert "images_natimg2800_all.mat" in names
    for f in files:
        assert f.md5 is None or len(f.md5) == 32
        assert f.doi.startswith("10.25378/janelia.")
    assert all(f.kind == "spontaneous" for f in list_stringer("spontaneous"))
    with pytest.raises(InvalidInputError, match="kind"):
        list_stringer("movies")


def test_fetch_from_mirror_then_from_cache(deposit, tmp_path):
    deposit.files[NAME] = PAYLOAD
    path = fetch_stringer(NAME, cache_dir=tmp_path, progress=False, verify=False, base_url=deposit.url)
    assert path == (tmp_path / NAME).resolve()
    assert path.read_bytes() == PAYLOAD
    assert not (tmp_path / f"{NAME}.part").exists()
    n_requests = len(deposit.requests)
    again = fetch_stringer(NAME[: -len(".mat")], cache_dir=tmp_path, progress=False, verify=False, base_url=deposit.url)
    assert again == path
    assert len(deposit.requests) == n_requests  # served from the cache


def test_env_var_sets_mirror_and_cache(deposit, tmp_path, monkeypatch):
    deposit.files[NAME] = PAYLOAD
    monkeypatch.setenv(datasets.ENV_BASE_URL, deposit.url + "/")
    monkeypatch.setenv(datasets.ENV_CACHE_DIR, str(tmp_path / "cache"))
    path = fetch_stringer(NAME, progress=False, verify=False)
    assert path.parent == (tmp_path / "cache").resolve()
    assert deposit.requests == [(f"/{NAME}", None)]


def test_interrupted_download_resumes_with_range(deposit, tmp_path):
    deposit.files[NAME] = PAYLOAD
    deposit.cut_after = 300_000
    with pytest.raises(DownloadError, match=NAME):
        fetch_stringer(NAME, cache_dir=tmp_path, progress=False, verify=False, base_url=deposit.url)
    partial = tmp_path / f"{NAME}.part"
    assert 0 < partial.stat().st_size < len(PAYLOAD)
    assert not (tmp_path / NAME).exists()
    have = partial.stat().st_size

    path = fetch_stringer(NAME, cache_dir=tmp_path, progress=False, verify=False, base_url=deposit.url)
    assert deposit.requests[-1] == (f"/{NAME}", f"bytes={have}-")
    assert path.read_bytes() == PAYLOAD
    assert not partial.exists()


def test_server_ignoring_range_restarts_cleanly(deposit, tmp_path):
    deposit.files[NAME] = PAYLOAD
    deposit.honour_range = False
    (tmp_path / f"{NAME}.part").write_bytes(b"stale bytes from some other file")
    path = fetch_stringer(NAME, cache_dir=tmp_path, progress=False, verify=False, base_url=deposit.url)
    assert path.read_bytes() == PAYLOAD


def test_complete_partial_file_is_accepted_on_416(deposit, tmp_path, monkeypatch):
    deposit.files[NAME] = PAYLOAD
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    monkeypatch.setitem(datasets.REGISTRY, NAME, DepositFile(NAME, "natimg2800", "recording", "t", md5=md5))
    (tmp_path / f"{NAME}.part").write_bytes(PAYLOAD)
    path = fetch_stringer(NAME, cache_dir=tmp_path, progress=False, base_url=deposit.url)
    assert path.read_bytes() == PAYLOAD


def test_checksum_verified_and_bad_file_not_cached(deposit, tmp_path, monkeypatch):
    deposit.files[NAME] = PAYLOAD
    good = hashlib.md5(PAYLOAD).hexdigest()
    entry = DepositFile(NAME, "natimg2800", "recording", "test", md5=good)
    monkeypatch.setitem(datasets.REGISTRY, NAME, entry)
    assert fetch_stringer(NAME, cache_dir=tmp_path / "a", progress=False, base_url=deposit.url).exists()

    monkeypatch.setitem(datasets.REGISTRY, NAME, DepositFile(NAME, "natimg2800", "recording", "t", md5="0" * 32))
    with pytest.raises(DownloadError) as err:
        fetch_stringer(NAME, cache_dir=tmp_path / "b", progress=False, base_url=deposit.url)
    assert NAME in str(err.value) and deposit.url in str(err.value)
    assert not any((tmp_path / "b").iterdir())  # neither the file nor a partial is kept


def test_pinned_size_rejects_a_different_file(deposit, tmp_path):
    deposit.files[PINNED] = PAYLOAD  # far smaller than the real recording
    with pytest.raises(DownloadError, match="expected 244,220,197"):
        fetch_stringer(PINNED, cache_dir=tmp_path, progress=False, base_url=deposit.url)
    assert not (tmp_path / PINNED).exists()


def test_missing_file_and_unreachable_server_raise_download_error(deposit, tmp_path):
    with pytest.raises(DownloadError, match=rf"{NAME}.*{deposit.url}/{NAME}"):
        fetch_stringer(NAME, cache_dir=tmp_path, progress=False, base_url=deposit.url)
    closed = Deposit()
    url = closed.url
    closed.server_close()  # nothing listens there any more
    with pytest.raises(DownloadError, match=NAME):
        fetch_stringer(NAME, cache_dir=tmp_path, progress=False, base_url=url)


def test_unknown_name_suggests_close_matches(tmp_path):
    with pytest.raises(InvalidInputError, match="did you mean natimg2800_M160825_MP027_2016-12-14.mat"):
        fetch_stringer("natimg2800_M160825_MP027_2016-12-41.mat", cache_dir=tmp_path)


def test_figshare_listing_supplies_url_and_checksum(deposit, tmp_path, monkeypatch):
    """Without a mirror, the figshare API's file list gives the download URL and MD5."""
    listing = [
        {
            "name": NAME,
            "id": 1,
            "size": len(PAYLOAD),
            "computed_md5": hashlib.md5(PAYLOAD).hexdigest(),
            "download_url": f"{deposit.url}/files/1",
        }
    ]
    deposit.files["api/articles/6845348/files?page_size=1000"] = json.dumps(listing).encode()
    deposit.files["files/1"] = PAYLOAD
    monkeypatch.setattr(datasets, "FIGSHARE_API", f"{deposit.url}/api")
    path = fetch_stringer(NAME, cache_dir=tmp_path / "ok", progress=False)
    assert path.read_bytes() == PAYLOAD

    listing[0]["computed_md5"] = "f" * 32  # figshare's checksum disagrees with the bytes
    deposit.files["api/articles/6845348/files?page_size=1000"] = json.dumps(listing).encode()
    with pytest.raises(DownloadError, match="failed its check"):
        fetch_stringer(NAME, cache_dir=tmp_path / "bad", progress=False)

    deposit.files["api/articles/6845348/files?page_size=1000"] = b"[]"
    with pytest.raises(DownloadError, match="not in the file list"):
        fetch_stringer(NAME, cache_dir=tmp_path / "gone", progress=False)


def run_cli(argv) -> int:
    """Exit status of ``v1ann ARGV`` run in-process."""
    try:
        main(argv)
    except SystemExit as exc:
        return exc.code or 0
    return 0


def test_cli_list_and_fetch(deposit, tmp_path, capsys):
    assert run_cli(["datasets", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {row["name"] for row in listed} == set(datasets.REGISTRY)
    assert run_cli(["datasets", "list", "--kind", "images"]) == 0
    assert "images_natimg2800_all.mat" in capsys.readouterr().out

    deposit.files[NAME] = PAYLOAD
    argv = ["datasets", "fetch", NAME, "--cache-dir", str(tmp_path), "--base-url", deposit.url, "--quiet"]
    assert run_cli(argv) == 2  # no checksum known for this file: refused unless the user opts out
    assert "cannot be verified" in capsys.readouterr().err
    assert run_cli([*argv, "--no-verify"]) == 0
    assert capsys.readouterr().out.strip() == str((tmp_path / NAME).resolve())

    assert run_cli(["datasets", "fetch", "nope.mat", "--cache-dir", str(tmp_path)]) == 2
    assert "nope.mat" in capsys.readouterr().err


def test_a_file_without_a_known_checksum_is_refused_unless_the_user_opts_out(deposit, tmp_path):
    deposit.files[NAME] = PAYLOAD
    with pytest.raises(DownloadError, match="cannot be verified"):
        fetch_stringer(NAME, cache_dir=tmp_path, progress=False, base_url=deposit.url)
    assert not (tmp_path / NAME).exists()


def test_a_web_page_in_place_of_the_file_is_refused_and_not_cached(deposit, tmp_path):
    deposit.files[NAME] = b"<!DOCTYPE html><html><body>figshare portal</body></html>"
    with pytest.raises(DownloadError, match="web page"):
        fetch_stringer(NAME, cache_dir=tmp_path, progress=False, base_url=deposit.url, verify=False)
    assert not (tmp_path / NAME).exists()


def test_a_cached_file_of_other_bytes_is_downloaded_again(deposit, tmp_path, monkeypatch):
    deposit.files[NAME] = PAYLOAD
    monkeypatch.setitem(datasets.REGISTRY, NAME, DepositFile(NAME, "natimg2800", "recording", "t",
                                                             md5=hashlib.md5(PAYLOAD).hexdigest()))
    (tmp_path / NAME).write_bytes(b"tampered" + PAYLOAD[8:])
    path = fetch_stringer(NAME, cache_dir=tmp_path, progress=False, base_url=deposit.url)
    assert path.read_bytes() == PAYLOAD
