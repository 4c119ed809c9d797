"""gunicorn settings for production (`make serve`); every value can be overridden on the
command line or with GUNICORN_CMD_ARGS.

Sync workers: the API is short database and cache round trips, and each worker keeps one
persistent database connection (CONN_MAX_AGE with health checks).
"""

import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
# A request that takes longer than this is killed: the database and cache time out first
# (3 s and 1 s), so only a stuck request ever reaches it.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 30
keepalive = 5
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
