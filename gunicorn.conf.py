"""gunicorn settings: `gunicorn -c gunicorn.conf.py wsgi:app` (all overridable from the environment)."""

import os

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8001')}")
# SQLite serialises writers; a few workers keep reads parallel while one writes.
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
# Threads let Server-Sent Event streams (the dashboard) stay open without blocking a worker: each
# open dashboard holds one thread, and a worker keeps 4 free for webhooks (README "Dashboard streams").
threads = int(os.environ.get("GUNICORN_THREADS", "32"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 10
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESSLOG")  # e.g. "-" for stdout
# The default format logs the query string, and Meta's handshake carries hub.verify_token in it:
# log the path only (%(U)s), never the query.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
