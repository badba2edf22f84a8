"""One settings file for every environment, driven by environment variables.

Defaults run with nothing installed: SQLite and a local archive under ``var/`` and
a filesystem Celery broker. ``DATABASE_URL``, ``CELERY_BROKER_URL`` and
``ARCHIVE_S3_BUCKET`` switch to PostgreSQL, Redis and S3. Every variable is
documented in ``.env.example``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_secret(name: str, default: str = "") -> str:
    """Read ``NAME`` or, when ``NAME_FILE`` is set, the file it points at."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return float(raw)


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"  # noqa: S105
SECRET_KEY = env_secret("SECRET_KEY", DEV_SECRET_KEY)
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Public base URL of the web UI and API, used in links (invitations, ServerLink).
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "postmark_clone",
    "accounts",
    "messages.apps.MailConfig",
    "bounces",
    "smtp_ingest",
    "api",
    "webhooks",
    "tracking",
    "inbound",
    "templating",
    "web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves /static/ (the web UI's CSS/JS) without a separate web server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "api.middleware.PostmarkPathMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "web.middleware.UiSecurityHeadersMiddleware",
]
# The API is matched ignoring a trailing slash; never redirect a POST (Postmark §13).
APPEND_SLASH = False

ROOT_URLCONF = "postmark_clone.urls"
WSGI_APPLICATION = "postmark_clone.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = env_secret("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60)
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL lets the worker read while the web process writes.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/ui/login"
LOGIN_REDIRECT_URL = "/ui/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
# Serve straight from the source folders too, so `make run` needs no collectstatic
# (and WhiteNoise's warning about a missing STATIC_ROOT is noise then).
WHITENOISE_USE_FINDERS = True
warnings.filterwarnings("ignore", message="No directory at: .*static")

# --- Web UI --------------------------------------------------------------------------
# Failed logins allowed per (client IP, username) within the window, then HTTP 429.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_FAILURE_WINDOW_SECONDS = env_int("LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60)
# API token guessing: after this many wrong X-Postmark-*-Token values from one IP
# within the window, that IP gets 429 (ErrorCode 429) until the window ends;
# 0 turns the limit off.
API_TOKEN_FAILURE_LIMIT = env_int("API_TOKEN_FAILURE_LIMIT", 30)
API_TOKEN_FAILURE_WINDOW_SECONDS = env_int("API_TOKEN_FAILURE_WINDOW_SECONDS", 300)
# Invitations are sent through the platform itself: a server of ours and a From
# address on one of its account's domains. Unset: the inviter is shown the link.
INVITE_SERVER_ID = env_int("INVITE_SERVER_ID", 0) or None
INVITE_FROM = env_str("INVITE_FROM", "")
# Invitation links expire after this many seconds (Django's reset-token timeout).
PASSWORD_RESET_TIMEOUT = env_int("INVITE_LINK_TTL_SECONDS", 3 * 24 * 3600)
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "SAMEORIGIN"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
)

# --- Archive (raw MIME, write-once) ---------------------------------------------
ARCHIVE_S3_BUCKET = env_str("ARCHIVE_S3_BUCKET")
ARCHIVE_LOCAL_ROOT = Path(env_str("ARCHIVE_LOCAL_ROOT", str(VAR_DIR / "archive")))
if not ARCHIVE_LOCAL_ROOT.is_absolute():
    ARCHIVE_LOCAL_ROOT = BASE_DIR / ARCHIVE_LOCAL_ROOT
if ARCHIVE_S3_BUCKET:
    _archive_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": ARCHIVE_S3_BUCKET,
            "endpoint_url": env_str("ARCHIVE_S3_ENDPOINT_URL") or None,
            "region_name": env_str("ARCHIVE_S3_REGION") or None,
            "access_key": env_secret("ARCHIVE_S3_ACCESS_KEY_ID") or None,
            "secret_key": env_secret("ARCHIVE_S3_SECRET_ACCESS_KEY") or None,
            "location": env_str("ARCHIVE_S3_PREFIX"),
            "file_overwrite": False,
            "default_acl": None,
            "querystring_auth": True,
        },
    }
else:
    _archive_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(ARCHIVE_LOCAL_ROOT)},
    }
# Local archive: fsync each object (and its folder) before the message is
# acknowledged, so a 200/250 survives a crash or power cut. Only turn off on a
# throwaway demo box or a filesystem that is already synchronous.
ARCHIVE_FSYNC = env_bool("ARCHIVE_FSYNC", True)
# Parallel archive writes per batch request (S3 PUTs are network round trips).
# Default 8 on S3; 1 on the local disk, where a thread pool per request costs more
# (milliseconds per small SMTP batch in the profile) than the writes it overlaps.
ARCHIVE_WRITE_CONCURRENCY = env_int(
    "ARCHIVE_WRITE_CONCURRENCY", 8 if ARCHIVE_S3_BUCKET else 1
)
# Archive search: time budget of the exact TotalCount (ms); past it, broad
# searches answer the planner's estimate. 0 = always count exactly (up to 10,000).
ARCHIVE_COUNT_BUDGET_MS = env_int("ARCHIVE_COUNT_BUDGET_MS", 50)
# Retention purge: ids per batch (one short transaction each) and seconds per run.
ARCHIVE_PURGE_BATCH_SIZE = env_int("ARCHIVE_PURGE_BATCH_SIZE", 1000)
ARCHIVE_PURGE_MAX_SECONDS = env_float("ARCHIVE_PURGE_MAX_SECONDS", 240)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "archive": _archive_storage,
}

# --- Celery ---------------------------------------------------------------------
CELERY_BROKER_URL = env_secret("CELERY_BROKER_URL", "filesystem://")
_broker_dir = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        # The filesystem broker is polled; 0.1 s keeps `make run` delivery
        # well under a second after the API accepts a message.
        "polling_interval": 0.1,
    }
    # kombu's filesystem transport does not create its folders; a fresh clone's
    # `make run` starts the web process and the worker before anything else could.
    for _folder in ("queue", "processed"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int("CELERY_PREFETCH_MULTIPLIER", 4)
CELERY_TASK_ALWAYS_EAGER = False  # tasks always run in a real worker process
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
REDIS_URL = env_secret("REDIS_URL", "")

# --- Cache (login rate limits) ----------------------------------------------------
# Redis when configured, so every web process shares the counters; otherwise a
# per-process memory cache (fine for `make run`'s single web process).
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "pmc",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Sending policy ---------------------------------------------------------------
# Require the From domain's DKIM/Return-Path DNS verification before sending.
REQUIRE_VERIFIED_DOMAINS = env_bool("REQUIRE_VERIFIED_DOMAINS", False)
MAX_MESSAGE_BYTES = env_int("MAX_MESSAGE_BYTES", 10 * 1024 * 1024)
# Seconds a web process may cache token, stream and sender-domain lookups on the
# send path (0 disables). A revoked token keeps working in *other* processes for
# at most this long; the process that revokes it forgets at once.
LOOKUP_CACHE_SECONDS = env_float("LOOKUP_CACHE_SECONDS", 5)
# CNAME target tenants point their Return-Path domain at (our bounce MX host).
RETURN_PATH_CNAME_TARGET = env_str("RETURN_PATH_CNAME_TARGET", "pm.mtasv.localhost")
# Default Return-Path domain when a sender domain has none of its own.
DEFAULT_RETURN_PATH_DOMAIN = env_str("DEFAULT_RETURN_PATH_DOMAIN", "bounces.localhost")
# DNS resolvers for domain verification: comma-separated "ip" or "ip:port"
# ("[v6]:port" for IPv6); empty = the system's resolv.conf.
DNS_RESOLVERS = env_list("DNS_RESOLVERS", [])
DNS_TIMEOUT_SECONDS = env_float("DNS_TIMEOUT_SECONDS", 5)
# Domain of each server's inbound address (<InboundHash>@<this>).
INBOUND_ADDRESS_DOMAIN = env_str("INBOUND_ADDRESS_DOMAIN", "inbound.localhost")
# Sender domain created by `manage.py demo_setup` (used by `make run`).
DEMO_DOMAIN = env_str("DEMO_DOMAIN", "example.com")
# Secret used to sign VERP return paths (defaults to SECRET_KEY).
VERP_SECRET = env_secret("VERP_SECRET", "") or SECRET_KEY
# Broadcast unsubscribe links (docs/streams.md): base URL of the public
# /unsubscribe/<token> page (default SITE_URL; RFC 8058 wants https), and the
# address of the List-Unsubscribe mailto (default unsubscribe@<return-path domain>).
UNSUBSCRIBE_BASE_URL = env_str("UNSUBSCRIBE_BASE_URL", "")
UNSUBSCRIBE_MAILTO = env_str("UNSUBSCRIBE_MAILTO", "")

# --- Delivery (sender pool) -----------------------------------------------------
SENDER_POOL = env_str("SENDER_POOL", "smtp://127.0.0.1:2625")
DELIVERY_RETRY_WINDOW_HOURS = env_float("DELIVERY_RETRY_WINDOW_HOURS", 72)
DELIVERY_BATCH_SIZE = env_int("DELIVERY_BATCH_SIZE", 100)
# A web process publishes at most one delivery task per this many milliseconds:
# the first commit after a quiet spell goes out at once, later ones wait for the
# window's end and share one task (0: one task per commit, at once).
DELIVERY_DISPATCH_WINDOW_MS = env_float("DELIVERY_DISPATCH_WINDOW_MS", 20)
DELIVERY_LEASE_SECONDS = env_int("DELIVERY_LEASE_SECONDS", 300)
SMTP_TIMEOUT_SECONDS = env_float("SMTP_TIMEOUT_SECONDS", 30)
METRICS_TOKEN = env_secret("METRICS_TOKEN", "")
# Retries after a 4xx: base × 2^(attempt-1) seconds, ±25 % jitter, capped.
DELIVERY_RETRY_BASE_SECONDS = env_float("DELIVERY_RETRY_BASE_SECONDS", 60)
DELIVERY_RETRY_MAX_SECONDS = env_float("DELIVERY_RETRY_MAX_SECONDS", 3600)
# A route that fails is skipped for base × 2^(failures-1) seconds, capped.
DELIVERY_ROUTE_COOLDOWN_SECONDS = env_float("DELIVERY_ROUTE_COOLDOWN_SECONDS", 10)
DELIVERY_ROUTE_COOLDOWN_MAX_SECONDS = env_float(
    "DELIVERY_ROUTE_COOLDOWN_MAX_SECONDS", 600
)
# The sweeper runs this often, and re-enqueues first attempts that have waited
# longer than the grace period with no worker claiming them (lost broker message).
DELIVERY_SWEEP_SECONDS = env_float("DELIVERY_SWEEP_SECONDS", 15)
DELIVERY_SWEEP_GRACE_SECONDS = env_float("DELIVERY_SWEEP_GRACE_SECONDS", 60)
# Outcomes are committed every N transactions, which bounds the duplicates a
# worker killed mid-batch can cause (see docs/delivery.md).
DELIVERY_RECORD_EVERY = env_int("DELIVERY_RECORD_EVERY", 20)
# Prometheus multiprocess mode: every process writes its counters here and
# GET /metrics sums them. Wipe the directory when restarting every process.
PROMETHEUS_MULTIPROC_DIR = env_str(
    "PROMETHEUS_MULTIPROC_DIR", str(VAR_DIR / "prometheus")
)
if PROMETHEUS_MULTIPROC_DIR:
    # prometheus_client reads the variable when first imported, after settings.
    Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", PROMETHEUS_MULTIPROC_DIR)

# --- SMTP submission ------------------------------------------------------------
SMTPD_HOST = env_str("SMTPD_HOST", "127.0.0.1")
SMTPD_PORTS = [int(p) for p in env_list("SMTPD_PORTS", ["2525"])]
SMTPD_TLS_PORTS = [int(p) for p in env_list("SMTPD_TLS_PORTS", [])]
SMTPD_TLS_CERT = env_str("SMTPD_TLS_CERT", "")
SMTPD_TLS_KEY = env_str("SMTPD_TLS_KEY", "")
SMTPD_HOSTNAME = env_str("SMTPD_HOSTNAME", "localhost")
SMTPD_AUTH_REQUIRE_TLS = env_bool("SMTPD_AUTH_REQUIRE_TLS", True)
# Development only: also allow AUTH before STARTTLS from loopback peers.
SMTPD_AUTH_ALLOW_LOOPBACK_PLAINTEXT = env_bool(
    "SMTPD_AUTH_ALLOW_LOOPBACK_PLAINTEXT", False
)
# Seconds a client may stay silent between commands (RFC 5321 §4.5.3.2.7: 5 min),
# and the whole DATA transfer deadline (§4.5.3.2.6: 10 min) against slow clients.
SMTPD_IDLE_TIMEOUT = env_float("SMTPD_IDLE_TIMEOUT", 300)
SMTPD_DATA_TIMEOUT = env_float("SMTPD_DATA_TIMEOUT", 600)
# Per-connection limits (421 and close): messages per connection, failed AUTHs.
SMTPD_MAX_MESSAGES_PER_CONNECTION = env_int("SMTPD_MAX_MESSAGES_PER_CONNECTION", 10000)
SMTPD_MAX_AUTH_FAILURES = env_int("SMTPD_MAX_AUTH_FAILURES", 3)
SMTPD_MAX_CONNECTIONS = env_int("SMTPD_MAX_CONNECTIONS", 1000)
# Per client IP: failed AUTHs within the window across connections (421 4.7.0;
# shared through Redis), and concurrent connections per process (421 4.3.2).
SMTPD_AUTH_FAILURES_PER_IP = env_int("SMTPD_AUTH_FAILURES_PER_IP", 20)
SMTPD_AUTH_FAILURE_WINDOW_SECONDS = env_int("SMTPD_AUTH_FAILURE_WINDOW_SECONDS", 300)
SMTPD_MAX_CONNECTIONS_PER_IP = env_int("SMTPD_MAX_CONNECTIONS_PER_IP", 100)
# Per-token token bucket (451 4.7.1): sustained messages/s and burst; 0 = off.
# Shared through Redis when REDIS_URL is set, in-process otherwise.
SMTPD_TOKEN_RATE = env_float("SMTPD_TOKEN_RATE", 2000)
SMTPD_TOKEN_BURST = env_int("SMTPD_TOKEN_BURST", 4000)
# Threads running the synchronous core, one DB connection and one group-commit
# batch in flight each: few threads make bigger batches (less work per message).
SMTPD_WORKERS = env_int("SMTPD_WORKERS", 2)
# smtpd processes sharing the ports (SO_REUSEPORT); 0 = one per CPU.
SMTPD_PROCESSES = env_int("SMTPD_PROCESSES", 0)
# Group commit: how long a committer may wait for messages whose transaction is
# already under way (MAIL FROM accepted) to join its batch; 0 = never wait.
SMTPD_GROUP_COMMIT_WAIT_MS = env_float("SMTPD_GROUP_COMMIT_WAIT_MS", 2)
# Seconds a committer reuses a server's stream and sender-domain lookups
# (a deleted domain may still be accepted for that long); 0 = look up every batch.
SMTPD_LOOKUP_CACHE_SECONDS = env_float("SMTPD_LOOKUP_CACHE_SECONDS", 2)

# --- Bounce MX ---------------------------------------------------------------------
BOUNCE_MX_HOST = env_str("BOUNCE_MX_HOST", "127.0.0.1")
BOUNCE_MX_PORT = env_int("BOUNCE_MX_PORT", 2526)
BOUNCE_TESTING_DOMAIN = env_str("BOUNCE_TESTING_DOMAIN", "bounce-testing.localhost")
# Operator mailboxes at the bounce MX for ARF feedback loops / abuse reports
# (accepted without VERP; matched by the returned message's X-PM-Message-Id).
BOUNCE_MX_FBL_ADDRESSES = env_list("BOUNCE_MX_FBL_ADDRESSES", [])
# Per-route secrets for POST /webhooks/bounce: "route_name=secret,route2=secret2".
POOL_WEBHOOK_SECRETS = dict(
    (name.strip(), secret.strip())
    for name, _, secret in (
        item.partition("=")
        for item in env_secret("POOL_WEBHOOK_SECRETS", "").split(",")
    )
    if name.strip() and secret.strip()
)
# Signed requests older or newer than this are refused (replay protection).
POOL_WEBHOOK_MAX_SKEW_SECONDS = env_int("POOL_WEBHOOK_MAX_SKEW_SECONDS", 300)

# --- Statistics and tenant webhooks -------------------------------------------------
# Time zone whose calendar days the /stats/outbound* counters use (Postmark: US
# Eastern; we default to UTC so days match the timestamps we emit).
STATS_TIME_ZONE = env_str("STATS_TIME_ZONE", "UTC")
# Rows each statistics counter is spread over, so concurrent submissions of one
# server do not queue on one row lock (bounces.stats.stats_shard). Readers sum.
STATS_COUNTER_SHARDS = env_int("STATS_COUNTER_SHARDS", 64)
# Delays (seconds) before each webhook retry. The default spans ~24.4 h in 12
# retries: Postmark's classic schedule (1, 5, 10, 10, 10, 15, 30 min, 1, 2, 6 h)
# extended by 6 h and 8 h so a receiver down for a day still gets its events.
WEBHOOK_RETRY_DELAYS = [
    int(x)
    for x in env_list(
        "WEBHOOK_RETRY_DELAYS",
        "60,300,600,600,600,900,1800,3600,7200,21600,21600,28800".split(","),
    )
]
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 15)

# --- Open and click tracking (docs/tracking.md) ---
# Public base URL of the /t/o/ (open pixel) and /t/c/ (click) endpoints that
# tracked messages point at; SITE_URL when unset.
TRACKING_BASE_URL = env_str("TRACKING_BASE_URL", "") or SITE_URL
# Events recorded per batch when the Redis buffer is drained into PostgreSQL.
TRACKING_DRAIN_BATCH = env_int("TRACKING_DRAIN_BATCH", 1000)
# A claimed delivery becomes due again after this long (worker died mid-POST).
WEBHOOK_LEASE_SECONDS = env_int("WEBHOOK_LEASE_SECONDS", 120)
# Retries due within this many seconds get a Celery countdown; later ones wait
# for the sweeper, so nothing depends on far-future broker ETAs.
WEBHOOK_ETA_MAX_SECONDS = env_int("WEBHOOK_ETA_MAX_SECONDS", 300)
# Delivered and dead webhook deliveries are deleted after this many days.
WEBHOOK_DELIVERY_RETENTION_DAYS = env_int("WEBHOOK_DELIVERY_RETENTION_DAYS", 30)
# Let tenant webhooks target loopback/private/link-local addresses. Off in
# production: a tenant could otherwise make us POST into our own network (SSRF).
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env_bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", False)

# --- Inbound mail (received by the bounce MX, posted to InboundHookUrl) -----------
# Largest message the MX accepts (Postmark: 35 MB of attachments, ~47 MB once
# base64-encoded). Bounce reports keep their own 10 MB limit.
INBOUND_MAX_MESSAGE_BYTES = env_int("INBOUND_MAX_MESSAGE_BYTES", 50 * 1024 * 1024)
# Delays (seconds) before each retry of a failed InboundHookUrl POST: Postmark's
# inbound schedule (1, 5, 10, 10, 10, 15, 30 min, 1, 2, 6 h ≈ 10.5 h); then the
# message is failed and gets an InboundError bounce. A 403 answer stops at once.
INBOUND_RETRY_DELAYS = [
    int(x)
    for x in env_list(
        "INBOUND_RETRY_DELAYS", "60,300,600,600,600,900,1800,3600,7200,21600".split(",")
    )
]
# Postmark waits up to 2 minutes for an inbound hook.
INBOUND_HOOK_TIMEOUT_SECONDS = env_float("INBOUND_HOOK_TIMEOUT_SECONDS", 120)
# A claimed POST becomes due again after this long (worker died mid-POST); must
# exceed the timeout.
INBOUND_HOOK_LEASE_SECONDS = env_int("INBOUND_HOOK_LEASE_SECONDS", 300)

# --- Sink (development receiver) ----------------------------------------------------
SINK_HOST = env_str("SINK_HOST", "127.0.0.1")
SINK_PORT = env_int("SINK_PORT", 2625)
# Where the sink keeps what it received (index.jsonl + .eml files).
SINK_DIR = Path(env_str("SINK_DIR", str(VAR_DIR / "sink")))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.LenientJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "api.parsers.LenientContentNegotiation",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 60 * 1024 * 1024

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # aiosmtpd logs every command at INFO and a deprecation per AUTH: too chatty.
        "mail.log": {"level": env_str("SMTPD_PROTOCOL_LOG_LEVEL", "ERROR")},
    },
}
