"""A local server speaking the Hugging Face hub's file protocol as huggingface_hub 2.x uses it (`HF_ENDPOINT`).

`HEAD`/`GET /datasets/<owner>/<name>/resolve/<revision>/<file>` answer with `X-Repo-Commit`, `ETag` and
`Content-Length`; a file marked as LFS answers as the hub does for large files instead: a `302` to a blob on
another origin (the "CDN", a second port) carrying `X-Linked-Etag` and `X-Linked-Size`, the blob served with
`Range` support (huggingface_hub resumes a dropped transfer with `Range: bytes=N-`). A missing file is a `404`
with `X-Error-Code: EntryNotFound`. Every request is recorded; faults cut the next body half way.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"
RESOLVE = re.compile(r"/datasets/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<file>[^?]+)")
BLOB = re.compile(r"/blobs/(?P<sha>[0-9a-f]{64})")


@dataclass
class HubFile:
    body: bytes
    lfs: bool = False

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    @property
    def git_sha(self) -> str:  # the ETag of a regular file on the hub: its git blob id
        return hashlib.sha1(b"blob %d\0" % len(self.body) + self.body).hexdigest()


@dataclass
class _Fault:
    """Cut the next body after half its bytes: `die` stops the server first, otherwise the connection stalls
    until `release` (the client is killed meanwhile)."""

    die: bool
    cut: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


class HubServer:
    """The hub (and its CDN) on loopback; `files` maps (repo id, file name) to what is served."""

    def __init__(self, files: dict[tuple[str, str], HubFile]) -> None:
        self.files = files
        self.requests: list[tuple[str, str]] = []
        self.fault: _Fault | None = None
        self.ports = (0, 0)
        self._servers: list[ThreadingHTTPServer] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports[0]}"

    @property
    def cdn(self) -> str:
        return f"http://127.0.0.1:{self.ports[1]}"

    def start(self) -> HubServer:
        """Listen (again, on the same ports after `stop`)."""
        handler = type("Handler", (_Handler,), {"hub": self})
        self._servers = [ThreadingHTTPServer(("127.0.0.1", port), handler) for port in self.ports]
        for server in self._servers:
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
        self.ports = tuple(server.server_address[1] for server in self._servers)
        return self

    def stop(self) -> None:
        """Stop listening on both ports (open connections end when their handler returns)."""
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers = []
        if self.fault:
            self.fault.release.set()

    def die_mid_body(self) -> _Fault:
        """The next body stops half way and the server goes down, as if its process were killed."""
        self.fault = _Fault(die=True)
        return self.fault

    def stall_mid_body(self) -> _Fault:
        """The next body stops half way and hangs there until `fault.release` is set or the server stops."""
        self.fault = _Fault(die=False)
        return self.fault

    def blob(self, sha: str) -> HubFile | None:
        return next((file for file in self.files.values() if file.sha256 == sha), None)


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    protocol_version = "HTTP/1.1"

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _answer(self, send_body: bool) -> None:
        self.hub.requests.append((self.command, self.path))
        if (resolve := RESOLVE.fullmatch(self.path)) is not None:
            file = self.hub.files.get((resolve["repo"], resolve["file"]))
            if file is None:
                self._headers(
                    404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": COMMIT, "Content-Length": "0"}
                )
            elif file.lfs:
                self._headers(302, {
                    "Location": f"{self.hub.cdn}/blobs/{file.sha256}", "X-Repo-Commit": COMMIT,
                    "X-Linked-Etag": f'"{file.sha256}"', "X-Linked-Size": str(len(file.body)),
                    "ETag": f'"{file.git_sha}"', "Content-Length": "0",
                })  # fmt: skip
            else:
                self._body(file, {"X-Repo-Commit": COMMIT, "ETag": f'"{file.git_sha}"'}, send_body)
        elif (blob := BLOB.fullmatch(self.path)) is not None and (
            file := self.hub.blob(blob["sha"])
        ) is not None:
            self._body(file, {"ETag": f'"{file.sha256}"'}, send_body)
        else:
            self._headers(404, {"Content-Length": "0"})

    def _headers(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _body(self, file: HubFile, headers: dict[str, str], send_body: bool) -> None:
        """The file, or its tail from `Range: bytes=N-`; a pending fault cuts it half way."""
        start = (
            int(match[1]) if (match := re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))) else 0
        )
        size = len(file.body)
        if start:
            headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
        self._headers(206 if start else 200, {**headers, "Content-Length": str(size - start)})
        if not send_body:
            return
        body, fault = file.body[start:], self.hub.fault
        if fault is None or fault.cut.is_set():
            self.wfile.write(body)
            return
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        fault.cut.set()
        if fault.die:
            self.hub.stop()
        fault.release.wait(60)
        self.close_connection = True
