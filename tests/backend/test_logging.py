"""Logging in development (settings LOGGING): one line a request, ours, as in production.

What a record reaches is worked out as `logging` does it (the logger's filters, then each
handler up the tree while it propagates, else `logging.lastResort`), so the tests see stderr
lines too, which pytest's own log capture would miss."""

import logging

import pytest

from backend.logs import ACCESS_LINE


def handlers_reached(record: logging.LogRecord) -> list[logging.Handler]:
    logger = logging.getLogger(record.name)
    if not logger.isEnabledFor(record.levelno) or not logger.filter(record):
        return []
    reached, current = [], logger
    while current:
        reached += [h for h in current.handlers if record.levelno >= h.level and h.filter(record)]
        current = current.parent if current.propagate else None
    reached = [h for h in reached if not type(h).__module__.startswith("_pytest")]
    if not reached and record.levelno >= logging.lastResort.level:
        return [logging.lastResort]
    return reached


def runserver_access_line(request_line: str, status: int) -> logging.LogRecord:
    """The record django.core.servers.basehttp.WSGIRequestHandler.log_message makes."""
    level = logging.WARNING if status >= 400 else logging.INFO
    args = (request_line, str(status), "24")
    record = logging.getLogger("django.server").makeRecord(
        "django.server", level, __file__, 0, ACCESS_LINE, args, None
    )
    record.status_code, record.request, record.server_time = status, None, ""
    return record


def record_of(name: str, level: int, message: str) -> logging.LogRecord:
    return logging.getLogger(name).makeRecord(name, level, __file__, 0, message, (), None)


@pytest.fixture(autouse=True)
def _development(settings):
    settings.DEBUG = True  # Django's console handler prints only in DEBUG


@pytest.mark.parametrize(
    ("request_line", "status"),
    [
        ("GET /api/v1/nope/ HTTP/1.1", 404),
        ("POST /api/v1/auth/register/ HTTP/1.1", 400),
        ("GET /api/v1/products/ HTTP/1.1", 200),
        ("GET /static/nope.css HTTP/1.1", 404),
        ("GET /api/v1/products/ HTTP/1.1", 500),
    ],
)
def test_runservers_access_line_is_left_to_our_request_line(request_line, status):
    assert handlers_reached(runserver_access_line(request_line, status)) == []


def test_our_request_line_is_written_once():
    record = record_of("backend.requests", logging.INFO, "GET /api/v1/nope/ 404")

    assert len(handlers_reached(record)) == 1


def test_runservers_other_lines_are_written_once():
    record = record_of("django.server", logging.INFO, "code 400, message Bad request version")

    assert len(handlers_reached(record)) == 1


def test_a_server_error_django_reports_is_written_once_not_also_on_stderr():
    record = record_of("django.request", logging.ERROR, "Internal Server Error: /api/v1/me/")

    assert len(handlers_reached(record)) == 1


def test_djangos_4xx_warnings_are_left_to_our_request_line():
    record = record_of("django.request", logging.WARNING, "Not Found: /api/v1/nope/")

    assert handlers_reached(record) == []


def test_a_4xx_request_makes_one_log_record(api_client, caplog):
    with caplog.at_level(logging.DEBUG):
        response = api_client.get("/api/v1/nope/")

    assert response.status_code == 404
    lines = [r for r in caplog.records if "/api/v1/nope/" in r.getMessage()]
    assert [r.name for r in lines] == ["backend.requests"]
