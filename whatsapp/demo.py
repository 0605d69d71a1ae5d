"""`python3 app.py --demo`: a living inbox on loopback, with no Meta account and no `.env`.

The simulator's customers write in through correctly signed webhooks, its stand-in Graph API (on a
free loopback port) answers the agents' sends, uploads, media downloads and templates, and a demo
agent is created whose key is printed with the URL. Everything lives in `instance/demo/`, which is
made anew at every start; nothing of a real `.env` or database is read or touched.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from flask import Flask

from . import agents, db, simulate

log = logging.getLogger(__name__)

HOST = "127.0.0.1"  # the demo's secrets are printed, so it never listens beyond this machine
AGENT_NAME = "Demo Agent"
CHATTER_SECONDS = 20.0


def demo_config(folder: Path, graph_url: str, app_secret: str) -> dict[str, Any]:
    """The service's settings for the demo (they win over anything in the environment)."""
    return {
        "DATABASE_PATH": str(folder / "demo.sqlite3"),
        "MEDIA_DIR": str(folder / "media"),
        "WHATSAPP_APP_SECRET": app_secret,
        "WHATSAPP_VERIFY_TOKEN": secrets.token_urlsafe(16),
        "WHATSAPP_PHONE_NUMBER_ID": simulate.DEFAULT_PHONE_NUMBER_ID,
        "WHATSAPP_ACCESS_TOKEN": "demo-access-token",
        "WHATSAPP_BUSINESS_ACCOUNT_ID": simulate.WABA_ID,
        "WHATSAPP_API_URL": graph_url,
        "WHATSAPP_MEDIA_FROM_API_URL": True,  # the stand-in serves the customers' files on loopback
        # a random service key nobody is told: the demo agent's own key is the way in
        "AGENT_API_KEY": secrets.token_urlsafe(32),
        "SECRET_KEY": secrets.token_hex(32),
        "WEBHOOK_ALLOW_UNSIGNED": False,
    }


class Demo:
    """The demo's parts: a stand-in Graph API, the app over a fresh database, and a demo agent."""

    def __init__(self, instance_path: str, port: int, create_app: Any, chatter_seconds: float = CHATTER_SECONDS):
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self.folder = Path(instance_path) / "demo"
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.secret = secrets.token_hex(16)
        self.chatter_seconds = chatter_seconds
        self.graph = simulate.FakeGraph(0, webhook_url=f"{self.url}/api/whatsapp/webhook", app_secret=self.secret)
        self.app: Flask = create_app(demo_config(self.folder, self.graph.url, self.secret))
        with db.database(self.app).connection() as conn:
            _, self.agent_key = agents.create(conn, AGENT_NAME)

    def announce(self, out: TextIO = sys.stdout) -> None:
        out.write(
            f"\nwa-inbox demo: open {self.url}/ and sign in with this agent key:\n\n    {self.agent_key}\n\n"
            f"Simulated customers write in now and one more every {self.chatter_seconds:.0f} s; your replies get\n"
            f"sent, delivered and read ticks from a stand-in Graph API on {self.graph.url}.\n"
            f"Data lives in {self.folder} (made anew at every start). Ctrl-C stops.\n\n"
        )
        out.flush()

    def customers(self) -> None:
        """The simulator's script, then a message every `chatter_seconds` (in a daemon thread)."""
        simulate.wait_for_service(self.url)
        simulate.run(
            self.url,
            self.secret,
            graph=self.graph,
            phone_number_id=simulate.DEFAULT_PHONE_NUMBER_ID,
            keep_going=self.chatter_seconds,
        )

    def serve(self) -> None:
        self.graph.start()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # keep the key on screen, not access lines
        self.announce()
        threading.Thread(target=self.customers, name="demo-customers", daemon=True).start()
        try:
            self.app.run(host=HOST, port=self.port, threaded=True)
        finally:
            self.graph.stop()
