"""nginx terminating TLS in front of application instances, configured from the production
example (deploy/nginx/catalog.conf.template) by `.ci/nginx`, the one place that renders it.

Requests go over HTTPS to 127.0.0.1, trusting the certificate `.ci/nginx` made for the run.
The instance is stopped by its process id."""

import http.client
import json
import os
import shutil
import ssl
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.ops.servers import PROJECT, Response, free_port

NGINX = str(PROJECT / ".ci" / "nginx")


@dataclass
class Proxy:
    directory: Path
    https_port: int
    http_port: int
    media_root: str = ""

    @classmethod
    def start(cls, upstreams: list[str], media_root: str = "") -> "Proxy":
        """In front of `upstreams`, serving /media/ from `media_root` when given."""
        directory = Path(tempfile.mkdtemp(prefix="catalog-nginx-"))
        proxy = cls(directory, free_port(), free_port(), media_root)
        hosts = [upstream.removeprefix("http://") for upstream in upstreams]
        subprocess.run([NGINX, "start", *proxy._where, *hosts], check=True, timeout=300,
                       env=proxy._env)  # fmt: skip
        return proxy

    def balance(self, upstreams: list[str]) -> None:
        """Balance over these upstreams from now on ("127.0.0.1:8001 down" drains one)."""
        subprocess.run([NGINX, "reload", *self._where, *upstreams], check=True, timeout=60,
                       env=self._env)  # fmt: skip

    def stop(self) -> None:
        subprocess.run([NGINX, "stop", str(self.directory)], check=True, timeout=30)
        shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def _where(self) -> list[str]:
        return [str(self.directory), str(self.https_port), str(self.http_port)]

    @property
    def _env(self) -> dict | None:
        return os.environ | {"MEDIA_ROOT": self.media_root} if self.media_root else None

    @property
    def base(self) -> str:
        return f"https://localhost:{self.https_port}"

    def request(self, method: str, path: str, body=None, headers=None, plain=False) -> Response:
        """One request on a connection of its own, over HTTP/1.1 (TLS unless `plain`): the
        request line and headers go out as given, however long."""
        if plain:
            connection = http.client.HTTPConnection("localhost", self.http_port, timeout=20)
        else:
            context = ssl.create_default_context(cafile=str(self.directory / "cert.pem"))
            connection = http.client.HTTPSConnection(
                "localhost", self.https_port, timeout=20, context=context
            )
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"Content-Type": "application/json"} | (headers or {})
        try:
            connection.request(method, path, body=data, headers=sent)
            answer = connection.getresponse()
            raw = answer.read()
        except OSError:
            return Response(0, {}, None, 0.0)
        finally:
            connection.close()
        found = {key.lower(): value for key, value in answer.getheaders()}
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return Response(answer.status, found, parsed, 0.0)
