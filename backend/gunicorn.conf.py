"""gunicorn settings for production (`make serve`); every value can be overridden on the
command line or with GUNICORN_CMD_ARGS.

Production puts a buffering proxy in front (nginx with request buffering, README.md), so
gunicorn only ever sees whole requests arriving at once. Reached directly, it must still not be
held by slow clients: sync workers were (three sockets trickling headers stopped two workers,
/healthz included). So the workers are threaded (gthread: the main loop accepts and parks idle
connections without a thread) and every request must be read within GUNICORN_READ_TIMEOUT
seconds of its first byte (backend/gunicorn_worker.py; gunicorn has no such setting). Each
thread keeps its own persistent database connection (CONN_MAX_AGE with health checks):
workers times threads connections per instance.

With PROMETHEUS_MULTIPROC_DIR (backend/metrics.py) every worker writes its metrics to files
of its own there, named by its pid. At start the files of processes no longer running (an
earlier run) are removed; the Celery workers' files, which share the directory, stay. A worker
that exits is marked dead, so its live gauges stop counting; its counters stay in the sums.
"""

import multiprocessing
import os
import re
from pathlib import Path

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "backend.gunicorn_worker.ReadDeadlineWorker"
threads = int(os.environ.get("GUNICORN_THREADS", 4))
# A worker whose main loop is silent this long is restarted. (A request thread is not killed:
# the database and the cache time out first, 3 s and 1 s, and reads have their own deadline.)
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 30
keepalive = 5
# Above nginx's own limits (deploy/nginx: 8 KiB a line, 32 KiB of headers), so what is too large
# is refused by the proxy, as JSON, and never reaches gunicorn's HTML error pages.
limit_request_line = 8190
limit_request_fields = 1000
# Recycle workers now and then so no slow leak in a library can grow without bound.
max_requests = 20_000
max_requests_jitter = 2_000
# The application logs one JSON line per request itself (backend/logs.py).
accesslog = None
errorlog = "-"
# X-Forwarded-* from these addresses are believed (the load balancer); DJANGO_HTTPS decides
# what the application makes of X-Forwarded-Proto.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None


metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
_METRICS_FILE = re.compile(r"_(\d+)\.db$")


def on_starting(server):
    if not metrics_dir:
        return
    for file in Path(metrics_dir).glob("*.db"):
        found = _METRICS_FILE.search(file.name)
        if found and not _is_running(int(found.group(1))):
            file.unlink(missing_ok=True)


def child_exit(server, worker):
    if metrics_dir:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True
