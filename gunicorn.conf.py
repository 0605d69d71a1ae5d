"""gunicorn settings: `gunicorn -c gunicorn.conf.py wsgi:app` (all overridable from the environment)."""

import os
from pathlib import Path

from dotenv import load_dotenv

# The same .env as the app's (wsgi.py loads it too, but only after these settings are read).
load_dotenv(Path(__file__).resolve().parent / ".env")


def env(name: str, default: str) -> str:
    """A variable's value, or the default when it is unset or empty (as in .env.example)."""
    return os.environ.get(name, "").strip() or default


bind = env("GUNICORN_BIND", f"0.0.0.0:{env('PORT', '8001')}")
# SQLite serialises writers; a few workers keep reads parallel while one writes.
workers = int(env("WEB_CONCURRENCY", "4"))
# Threads let Server-Sent Event streams (the dashboard) stay open without blocking a worker: each
# open dashboard holds one thread, and a worker keeps 4 free for webhooks (README "Dashboard streams").
threads = int(env("GUNICORN_THREADS", "32"))
worker_class = "gthread"
timeout = int(env("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 10
keepalive = 5
accesslog = env("GUNICORN_ACCESSLOG", "") or None  # e.g. "-" for stdout
# The default format logs the query string, and Meta's handshake carries hub.verify_token in it:
# log the path only (%(U)s), never the query.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
# gunicorn 27's control socket (reload, scale, stop) defaults to one path per user, shared by every
# gunicorn that user runs: a second service (or a benchmark's second server) would take over the
# first one's. Nothing here uses it; GUNICORN_CONTROL_SOCKET=<path> turns it on at a path of its own.
control_socket = env("GUNICORN_CONTROL_SOCKET", "") or "gunicorn.ctl"
control_socket_disable = not env("GUNICORN_CONTROL_SOCKET", "")


def post_worker_init(worker) -> None:  # noqa: ANN001 (gunicorn's Worker)
    """Say when a worker has loaded the app and serves (gunicorn only says it is booting)."""
    worker.log.info("Worker ready (pid: %s)", worker.pid)
