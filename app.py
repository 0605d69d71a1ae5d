"""The application factory; `python app.py` serves on port 8001 (PORT overrides)."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from whatsapp import api, auth, cli, dashboard, db, errors, events, openapi, surrogates, webhook
from whatsapp.away_reply import AwayReplier
from whatsapp.config import load_settings, warn_about_gaps
from whatsapp.db import get_db
from whatsapp.errors import APIError
from whatsapp.graph import GraphClient
from whatsapp.media import MediaFetcher
from whatsapp.request_body import GuardBody
from whatsapp.store.signals import template_states
from whatsapp.templates import TemplateCache


def _not_json(name: str) -> Any:
    """NaN and Infinity, which Python's decoder takes and no JSON client can read back."""
    raise APIError(400, f"The JSON body holds {name}, which is not JSON: send a number or null")


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, used by every JSON route: nesting deeper than Python's recursion limit is refused
    as invalid (a 400), and so are NaN and Infinity, and text no UTF-8 can hold (an unpaired
    surrogate escape, "\\ud800")."""

    sort_keys = False
    ensure_ascii = False

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        kwargs.setdefault("parse_constant", _not_json)
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
        if surrogates.may_hold(s) and surrogates.find(value) is not None:
            raise APIError(
                400,
                "The JSON body holds an unpaired surrogate escape (such as \\ud800), which is not "
                "a character: send the text as valid Unicode",
            )
        return value


class RedactVerifyToken(logging.Filter):
    """Access logs print the request line: blank out Meta's hub.verify_token in it."""

    pattern = re.compile(r"(hub\.verify_token=)[^&\s\"]*")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "verify_token" in message:
            record.msg, record.args = self.pattern.sub(r"\1[redacted]", message), ()
        return True


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the service. `test_config` overrides environment variables (by their names)."""
    app = Flask(__name__, instance_relative_config=True)
    app.json = JSONProvider(app)
    # A broken chunked body is a 400; webhook POSTs are answered before Flask's machinery.
    app.wsgi_app = GuardBody(webhook.WebhookPost(app.wsgi_app, app))  # type: ignore[method-assign]
    settings = load_settings(app.instance_path, test_config)
    app.config["SETTINGS"] = settings
    app.config["WEBHOOK_WRITER"] = settings.webhook_writer  # wsgi.py makes '' mean 'process'
    # A body over the limit gets 413 before it is read. The webhook (Meta sends up to 3 MB) and
    # media uploads (documents up to 100 MB) raise it for their own requests.
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    db.init_app(app)  # app.extensions["database"], ready before anything uses it
    app.extensions["graph"] = GraphClient(settings)
    app.extensions["templates"] = TemplateCache(app.extensions["graph"], states=lambda: template_states(get_db()))
    app.extensions["media"] = MediaFetcher(app, auto=settings.media_auto_download)
    app.extensions["away_reply"] = AwayReplier(app)  # automatic replies outside business hours
    errors.register(app)
    app.register_blueprint(webhook.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(events.bp)
    app.register_blueprint(dashboard.bp)
    auth.init_app(app)
    access_log = logging.getLogger("werkzeug")  # the development server's access log
    if not any(isinstance(f, RedactVerifyToken) for f in access_log.filters):
        access_log.addFilter(RedactVerifyToken())
    cli.register(app)
    warn_about_gaps(settings)
    return app


def _load_env() -> None:
    from dotenv import load_dotenv

    load_dotenv(Path(__file__).resolve().parent / ".env")


def main(argv: list[str] | None = None) -> None:
    """`python app.py`: the development server on HOST:PORT; `--demo`: a simulated inbox on loopback."""
    import argparse

    parser = argparse.ArgumentParser(prog="python3 app.py", description="Run the wa-inbox service.")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="a living inbox without a Meta account: simulated customers, a stand-in Graph API and a demo agent",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.demo:
        from whatsapp.demo import Demo

        instance = str(Path(__file__).resolve().parent / "instance")
        # Only PORT is read from the environment: the demo's other settings are its own.
        port = load_settings(instance, environ={"PORT": os.environ.get("PORT", "")}).port
        Demo(instance, port, create_app).serve()
        return
    _load_env()
    application = create_app()
    settings = application.config["SETTINGS"]
    application.run(host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
