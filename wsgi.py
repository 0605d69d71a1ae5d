"""Entry point for gunicorn: `gunicorn -c gunicorn.conf.py wsgi:app`."""

import logging
import sys
from pathlib import Path

from dotenv import load_dotenv

# gunicorn does not read .env itself; load it before the settings are read.
load_dotenv(Path(__file__).resolve().parent / ".env")

from app import create_app  # noqa: E402

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
app = create_app()
# Under gunicorn the workers share one webhook writer process unless WEBHOOK_WRITER=inline
# (another WSGI server commits inline unless told WEBHOOK_WRITER=process).
# PostgreSQL takes concurrent writers itself: there every worker commits its own deliveries.
if not app.config["WEBHOOK_WRITER"]:
    shared = "gunicorn.arbiter" in sys.modules and app.extensions["database"].engine == "sqlite"
    app.config["WEBHOOK_WRITER"] = "process" if shared else "inline"
app.extensions["media"].start()  # this worker's media sweeper, before its first request
app.extensions["away_reply"].start()  # and its sender of automatic replies
