"""A model hub on loopback: the part of the Hugging Face Hub's HTTP API that ``huggingface_hub``
(and so fastembed) uses to download a model, serving files the test gives it. Point a process at
it with ``HF_ENDPOINT=hub.url``.

Served: ``GET /api/models/{repo}[/revision/{rev}]`` (the commit and the file list), ``GET
/api/models/{repo}/tree/{rev}[/{path}]`` (files with their size, git blob id and, for large files,
their LFS SHA-256), and ``HEAD``/``GET /{repo}/resolve/{rev}/{path}`` with the headers the client
names a cached file by (``X-Repo-Commit``; ``ETag``, the git blob SHA-1, or for an LFS file
``X-Linked-Etag``, its SHA-256). ``tamper`` serves other bytes under a file's published hashes, as a
corrupted download or a compromised mirror would."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

COMMIT = "c0ffee" + "0" * 34
LFS_SUFFIXES = (".onnx", ".onnx_data", ".safetensors", ".bin")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    files: dict[str, bytes]
    tampered: dict[str, bytes] = field(default_factory=dict)

    def entry(self, path: str) -> dict[str, object]:
        data = self.files[path]
        found: dict[str, object] = {
            "type": "file",
            "path": path,
            "size": len(data),
            "oid": git_blob_sha1(data),
        }
        if path.endswith(LFS_SUFFIXES):
            found["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return found


class ModelHub:
    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add(self, repo: str, files: dict[str, bytes]) -> None:
        self.repos[repo] = Repo(dict(files))

    def tamper(self, repo: str, path: str, data: bytes) -> None:
        """Serve ``data`` for ``path`` under the hashes of its real content."""
        self.repos[repo].tampered[path] = data

    def __enter__(self) -> ModelHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                hub.requests.append(f"{self.command} {self.path}")

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def _answer(self, *, body: bool) -> None:
                path = unquote(urlsplit(self.path).path)
                for pattern, method in (
                    (r"^/api/models/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)(?:/(?P<sub>.*))?$", self._tree),
                    (r"^/api/models/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?$", self._info),
                    (r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$", self._file),
                ):
                    match = re.match(pattern, path)
                    if match and match.group("repo") in hub.repos:
                        method(hub.repos[match.group("repo")], match, body)
                        return
                self._json({"error": "Repository not found"}, 404, body, {"X-Error-Code": "RepoNotFound"})

            def _json(
                self, value: object, status: int, body: bool, headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(value).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, header in (headers or {}).items():
                    self.send_header(name, header)
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def _info(self, repo: Repo, match: re.Match[str], body: bool) -> None:
                siblings = [{"rfilename": p} for p in sorted(repo.files)]
                name = match.group("repo")
                self._json({"id": name, "modelId": name, "sha": COMMIT, "siblings": siblings}, 200, body)

            def _tree(self, repo: Repo, match: re.Match[str], body: bool) -> None:
                sub = (match.group("sub") or "").strip("/")
                found = [repo.entry(p) for p in sorted(repo.files) if not sub or p.startswith(sub + "/")]
                self._json(found, 200, body)

            def _file(self, repo: Repo, match: re.Match[str], body: bool) -> None:
                name = match.group("file")
                if name not in repo.files:
                    self._json({"error": "Entry not found"}, 404, body, {"X-Error-Code": "EntryNotFound"})
                    return
                entry = repo.entry(name)
                data = repo.tampered.get(name, repo.files[name])
                self.send_response(200)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{entry["oid"]}"')
                lfs = entry.get("lfs")
                if isinstance(lfs, dict):
                    self.send_header("X-Linked-Etag", f'"{lfs["oid"]}"')
                    self.send_header("X-Linked-Size", str(len(data)))
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if body:
                    self.wfile.write(data)

        return Handler
