"""gunicorn's threaded worker, with a deadline on reading each request.

gunicorn 27 has no header or body read timeout: a client that sends a header line every few
seconds, or announces a Content-Length it never sends, holds whatever serves it for as long as
it likes. With sync workers that is the whole worker (until `timeout` kills it, 30 s), so
three such sockets stop two workers answering anyone, /healthz included.

This worker is gthread: the main loop accepts and parks idle connections without a thread, so
a stalled client holds one thread, never the worker. And every read of a request (its headers,
then its body, whoever reads it) shares one deadline, `GUNICORN_READ_TIMEOUT` seconds from the
first byte, after which the connection is dropped (a body read by Django then fails, which the
API answers with 400). Production still puts a buffering proxy in front (README.md): this only
keeps a directly reached server from being held hostage.

A request without a Host header is passed on with an empty one: gunicorn would otherwise fill
SERVER_NAME from its bind address and Django would accept that (API.md: a missing or empty
Host is a 400, which backend/middleware.py answers)."""

import os
import time

from gunicorn.http.errors import NoMoreData
from gunicorn.workers.gthread import ThreadWorker

READ_TIMEOUT = float(os.environ.get("GUNICORN_READ_TIMEOUT", "10"))


class RequestReadTimeout(NoMoreData, TimeoutError):
    """Quiet in gunicorn's log like a client that hung up (NoMoreData); an OSError to Django,
    which turns it into UnreadablePostError."""

    def __str__(self) -> str:
        return f"the request was not read within {READ_TIMEOUT:g} s"


class DeadlineSocket:
    """A client socket whose reads share one deadline per request; everything else passes
    through to the socket."""

    def __init__(self, sock, seconds: float):
        self._sock, self._seconds, self._deadline = sock, seconds, None

    def __getattr__(self, name):
        return getattr(self._sock, name)

    def fileno(self) -> int:
        return self._sock.fileno()

    def next_request(self) -> None:
        """The clock starts again at the next read, the first byte of the next request."""
        self._deadline = None

    def recv(self, size: int, *flags) -> bytes:
        now = time.monotonic()
        if self._deadline is None:
            self._deadline = now + self._seconds
        remaining = self._deadline - now
        prior = self._sock.gettimeout()
        if prior == 0.0:  # a non-blocking read (a drain before close) never waits anyway
            return self._sock.recv(size, *flags)
        if remaining <= 0:
            raise RequestReadTimeout()
        self._sock.settimeout(remaining if prior is None else min(prior, remaining))
        try:
            return self._sock.recv(size, *flags)
        except TimeoutError:
            if time.monotonic() >= self._deadline:
                raise RequestReadTimeout() from None
            raise  # the caller's own, shorter timeout
        finally:
            self._sock.settimeout(prior)


class ReadDeadlineWorker(ThreadWorker):
    def handle(self, conn):
        if not self.cfg.is_ssl:  # TLS ends at the proxy; gunicorn's own wraps the raw socket
            if not isinstance(conn.sock, DeadlineSocket):
                conn.sock = DeadlineSocket(conn.sock, READ_TIMEOUT)
            conn.sock.next_request()
        return super().handle(conn)

    def handle_request(self, req, conn):
        if not any(name == "HOST" for name, _ in req.headers):
            req.headers.append(("HOST", ""))
        return super().handle_request(req, conn)
