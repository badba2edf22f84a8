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
    }
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
# CNAME target tenants point their Return-Path domain at (our bounce MX host).
RETURN_PATH_CNAME_TARGET = env_str("RETURN_PATH_CNAME_TARGET", "pm.mtasv.localhost")
# Default Return-Path domain when a sender domain has none of its own.
DEFAULT_RETURN_PATH_DOMAIN = env_str("DEFAULT_RETURN_PATH_DOMAIN", "bounces.localhost")
# DNS resolvers for domain verification (comma-separated IPs; empty = system).
DNS_RESOLVERS = env_list("DNS_RESOLVERS", [])
# Secret used to sign VERP return paths (defaults to SECRET_KEY).
VERP_SECRET = env_secret("VERP_SECRET", "") or SECRET_KEY

# --- Delivery (sender pool) -----------------------------------------------------
SENDER_POOL = env_str("SENDER_POOL", "smtp://127.0.0.1:2625")
DELIVERY_RETRY_WINDOW_HOURS = env_float("DELIVERY_RETRY_WINDOW_HOURS", 72)
DELIVERY_BATCH_SIZE = env_int("DELIVERY_BATCH_SIZE", 100)
DELIVERY_LEASE_SECONDS = env_int("DELIVERY_LEASE_SECONDS", 300)
SMTP_TIMEOUT_SECONDS = env_float("SMTP_TIMEOUT_SECONDS", 30)
METRICS_TOKEN = env_secret("METRICS_TOKEN", "")

# --- SMTP submission ------------------------------------------------------------
SMTPD_HOST = env_str("SMTPD_HOST", "127.0.0.1")
SMTPD_PORTS = [int(p) for p in env_list("SMTPD_PORTS", ["2525"])]
SMTPD_TLS_PORTS = [int(p) for p in env_list("SMTPD_TLS_PORTS", [])]
SMTPD_TLS_CERT = env_str("SMTPD_TLS_CERT", "")
SMTPD_TLS_KEY = env_str("SMTPD_TLS_KEY", "")
SMTPD_HOSTNAME = env_str("SMTPD_HOSTNAME", "localhost")
SMTPD_AUTH_REQUIRE_TLS = env_bool("SMTPD_AUTH_REQUIRE_TLS", True)

# --- Bounce MX ---------------------------------------------------------------------
BOUNCE_MX_HOST = env_str("BOUNCE_MX_HOST", "127.0.0.1")
BOUNCE_MX_PORT = env_int("BOUNCE_MX_PORT", 2526)
BOUNCE_TESTING_DOMAIN = env_str("BOUNCE_TESTING_DOMAIN", "bounce-testing.localhost")

# --- Sink (development receiver) ----------------------------------------------------
SINK_HOST = env_str("SINK_HOST", "127.0.0.1")
SINK_PORT = env_int("SINK_PORT", 2625)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.LenientJSONParser"],
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
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
