"""Environment -> typed settings, read one variable at a time as strings and validated once."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v26.0"
DEFAULT_PORT = 8001
DEFAULT_HOST = "127.0.0.1"

_TRUE = {"1", "true", "yes", "on"}
SYNCHRONOUS_LEVELS = ("FULL", "EXTRA", "NORMAL")
MIN_KEY_LENGTH = 16


class ConfigError(ValueError):
    """A configuration value is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment."""

    phone_number_id: str = ""
    access_token: str = ""
    verify_token: str = ""
    app_secret: str = ""
    api_url: str = DEFAULT_API_URL
    api_version: str = DEFAULT_API_VERSION
    business_account_id: str = ""
    agent_api_key: str = ""
    # Signs the dashboard's session cookie; unset, one is generated and kept in the database.
    secret_key: str = ""
    # Send the session cookie over HTTPS only (set it in production, behind TLS).
    session_cookie_secure: bool = False
    database_path: str = ""
    media_dir: str = ""
    port: int = DEFAULT_PORT
    # Interface `python app.py` listens on: loopback unless HOST widens it (gunicorn has GUNICORN_BIND).
    host: str = DEFAULT_HOST
    # Development only: accept webhook POSTs without a signature when no app secret is set.
    allow_unsigned_webhooks: bool = False
    # Seconds to wait for Meta's Graph API on each call.
    graph_timeout: float = 15.0
    # Attempts for Graph calls that provably sent nothing (connection refused, throttled).
    graph_max_attempts: int = 3
    graph_backoff: float = 0.5
    # Tell WhatsApp when an agent reads a conversation (blue ticks for the customer).
    send_read_receipts: bool = True
    # Download inbound media in the background as soon as a webhook is answered.
    media_auto_download: bool = True
    # Development only: also download media from WHATSAPP_API_URL's own origin (scheme, host and
    # port), for a stand-in Graph API that serves files itself (the simulator's, the tests').
    media_from_api_url: bool = False
    # PostgreSQL instead of the SQLite file: postgresql://user:password@host:port/database (psycopg's
    # connection string; docs/postgresql.md). Empty: SQLite at DATABASE_PATH.
    database_url: str = ""
    # Connections each process may hold to PostgreSQL (every request thread keeps one, and background
    # jobs take one each for a moment).
    database_pool_size: int = 48
    # SQLite's synchronous level: FULL (default) fsyncs every commit, so a webhook answered 200
    # survives a power cut; NORMAL survives a crash of the process but not of the machine.
    sqlite_synchronous: str = "FULL"
    # Seconds a writer waits for SQLite's write lock before answering 503 (start-up waits on).
    sqlite_busy_timeout: float = 30.0
    # Largest webhook body accepted; Meta's deliveries are at most about 3 MB.
    max_webhook_bytes: int = 4 * 1024 * 1024
    # Days a processed webhook body stays in the journal for replay (0: forever). Failed and
    # unprocessed bodies stay until they are processed.
    webhook_journal_days: int = 30
    # Days an event (GET /events, the dashboard's live updates) is kept (0: forever); conversation.merged
    # events are always kept (they keep merged-away conversation ids from being given again).
    events_retention_days: int = 30
    # Failed key attempts (/login, bearer keys) one client address may make per window before it is
    # locked out (429) for a window, twice as long at each lockout in a row; 0 turns the limit off.
    auth_failure_limit: int = 10
    auth_failure_window: float = 60.0
    # Reverse proxies in front of the service whose X-Forwarded-For/-Proto/-Host are believed (0: none).
    trusted_proxies: int = 0
    # Who commits webhook deliveries: 'process' (one writer process shared by all workers, the
    # default under gunicorn) or 'inline' (each process its own group commit, the default elsewhere).
    webhook_writer: str = ""
    # Seconds without a dashboard heartbeat after which an agent counts as offline (presence, routing).
    presence_timeout_seconds: int = 60


# Environment variable -> Settings field.
ENV_NAMES: dict[str, str] = {
    "WHATSAPP_PHONE_NUMBER_ID": "phone_number_id",
    "WHATSAPP_ACCESS_TOKEN": "access_token",
    "WHATSAPP_VERIFY_TOKEN": "verify_token",
    "WHATSAPP_APP_SECRET": "app_secret",
    "WHATSAPP_API_URL": "api_url",
    "WHATSAPP_API_VERSION": "api_version",
    "WHATSAPP_BUSINESS_ACCOUNT_ID": "business_account_id",
    "AGENT_API_KEY": "agent_api_key",
    "SECRET_KEY": "secret_key",
    "SESSION_COOKIE_SECURE": "session_cookie_secure",
    "DATABASE_PATH": "database_path",
    "DATABASE_URL": "database_url",
    "DATABASE_POOL_SIZE": "database_pool_size",
    "MEDIA_DIR": "media_dir",
    "PORT": "port",
    "HOST": "host",
    "WEBHOOK_ALLOW_UNSIGNED": "allow_unsigned_webhooks",
    "WHATSAPP_GRAPH_TIMEOUT": "graph_timeout",
    "WHATSAPP_SEND_READ_RECEIPTS": "send_read_receipts",
    "MEDIA_AUTO_DOWNLOAD": "media_auto_download",
    "WHATSAPP_MEDIA_FROM_API_URL": "media_from_api_url",
    "SQLITE_SYNCHRONOUS": "sqlite_synchronous",
    "SQLITE_BUSY_TIMEOUT": "sqlite_busy_timeout",
    "WEBHOOK_JOURNAL_DAYS": "webhook_journal_days",
    "EVENTS_RETENTION_DAYS": "events_retention_days",
    "AUTH_FAILURE_LIMIT": "auth_failure_limit",
    "AUTH_FAILURE_WINDOW": "auth_failure_window",
    "TRUSTED_PROXIES": "trusted_proxies",
    "WEBHOOK_WRITER": "webhook_writer",
    "PRESENCE_TIMEOUT_SECONDS": "presence_timeout_seconds",
}


def _coerce(name: str, raw: Any, kind: type) -> Any:
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        return str(raw).strip().lower() in _TRUE
    if kind in (int, float):
        try:
            return kind(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    return str(raw).strip()


def load_settings(
    instance_path: str, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build Settings from the environment (strings, one by one) and then from overrides (tests)."""
    environ = os.environ if environ is None else environ
    kinds = {f.name: f.type for f in fields(Settings)}
    types = {"str": str, "int": int, "float": float, "bool": bool}
    values: dict[str, Any] = {}
    for env_name, field_name in ENV_NAMES.items():
        raw = environ.get(env_name)
        if raw is not None and raw.strip() != "":
            values[field_name] = _coerce(env_name, raw, types[kinds[field_name]])
    for key, value in (overrides or {}).items():
        field_name = ENV_NAMES.get(key, key)
        if field_name in kinds:
            values[field_name] = _coerce(key, value, types[kinds[field_name]])
    values.setdefault("database_path", str(Path(instance_path) / "wa_inbox.sqlite3"))
    values.setdefault("media_dir", str(Path(instance_path) / "media"))
    settings = Settings(**values)
    _validate(settings)
    return settings


def _validate(settings: Settings) -> None:
    if not settings.api_version.startswith("v"):
        raise ConfigError(f"WHATSAPP_API_VERSION must look like v26.0, got {settings.api_version!r}")
    if not settings.api_url.startswith(("http://", "https://")):
        raise ConfigError(f"WHATSAPP_API_URL must be an http(s) URL, got {settings.api_url!r}")
    if settings.database_url and not settings.database_url.startswith(("postgresql://", "postgres://")):
        raise ConfigError("DATABASE_URL must be a postgresql:// URL (leave it empty for SQLite at DATABASE_PATH)")
    if settings.database_pool_size < 2:
        raise ConfigError(f"DATABASE_POOL_SIZE must be at least 2, got {settings.database_pool_size}")
    if settings.sqlite_synchronous.upper() not in SYNCHRONOUS_LEVELS:
        raise ConfigError(f"SQLITE_SYNCHRONOUS must be FULL, EXTRA or NORMAL, got {settings.sqlite_synchronous!r}")
    if not 0 < settings.sqlite_busy_timeout <= 3600:
        raise ConfigError(f"SQLITE_BUSY_TIMEOUT must be seconds between 0 and 3600, got {settings.sqlite_busy_timeout}")
    if settings.webhook_journal_days < 0:
        raise ConfigError(f"WEBHOOK_JOURNAL_DAYS must be 0 (keep forever) or more, got {settings.webhook_journal_days}")
    if settings.events_retention_days < 0:
        raise ConfigError(
            f"EVENTS_RETENTION_DAYS must be 0 (keep forever) or more, got {settings.events_retention_days}"
        )
    if settings.auth_failure_limit < 0 or settings.auth_failure_window <= 0:
        raise ConfigError("AUTH_FAILURE_LIMIT must be 0 (off) or more and AUTH_FAILURE_WINDOW above 0 seconds")
    if settings.webhook_writer not in ("", "process", "inline"):
        raise ConfigError(f"WEBHOOK_WRITER must be process or inline, got {settings.webhook_writer!r}")
    if settings.trusted_proxies < 0:
        raise ConfigError(f"TRUSTED_PROXIES must be 0 or more, got {settings.trusted_proxies}")
    if not 5 <= settings.presence_timeout_seconds <= 3600:
        raise ConfigError(
            f"PRESENCE_TIMEOUT_SECONDS must be between 5 and 3600, got {settings.presence_timeout_seconds}"
        )
    if not 0 < settings.port < 65536:
        raise ConfigError(f"PORT must be between 1 and 65535, got {settings.port}")


def warn_about_gaps(settings: Settings) -> None:
    """Say at start-up what will not work, without ever logging a secret."""
    if not settings.app_secret:
        if settings.allow_unsigned_webhooks:
            log.warning(
                "WHATSAPP_APP_SECRET is not set and WEBHOOK_ALLOW_UNSIGNED is on: webhook POSTs are "
                "accepted WITHOUT signature checks. Development only."
            )
        else:
            log.warning(
                "WHATSAPP_APP_SECRET is not set: webhook POSTs are refused until it is "
                "(or WEBHOOK_ALLOW_UNSIGNED=true for local development)."
            )
    if not settings.verify_token:
        log.warning("WHATSAPP_VERIFY_TOKEN is not set: Meta's webhook verification will be refused.")
    if not settings.agent_api_key:
        log.warning("AGENT_API_KEY is not set: the agent API answers loopback clients only.")
    elif len(settings.agent_api_key) < MIN_KEY_LENGTH:
        log.warning(
            "AGENT_API_KEY is shorter than %d characters: it can be guessed; use a long random one "
            "(python3 -c 'import secrets; print(secrets.token_urlsafe(32))').",
            MIN_KEY_LENGTH,
        )
    if not (settings.phone_number_id and settings.access_token):
        log.warning("WHATSAPP_PHONE_NUMBER_ID or WHATSAPP_ACCESS_TOKEN is not set: sending messages will fail.")
    if settings.media_from_api_url:
        log.warning(
            "WHATSAPP_MEDIA_FROM_API_URL is on: media is also downloaded from %s (a stand-in Graph API). "
            "Development only.",
            settings.api_url,
        )
