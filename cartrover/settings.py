"""Settings, all read from the environment (see `.env.example` for every variable).

With nothing set, the hub runs on its embedded default: SQLite and a file-system Celery broker
under `var/`, DEBUG on, and a secret key and an encryption key generated once into `var/`.
With `DEBUG=false` the production settings are required and a missing one stops start-up with
an error naming it.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from cartrover import crypto

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=True)
# On while `make run` runs the demo: the login page then shows the demo's logins.
DEMO = env.bool("DEMO", default=False)


def _required(name: str) -> str:
    """Return a production setting, or stop start-up naming the missing variable."""
    value = env.str(name, default="")
    if not value:
        raise ImproperlyConfigured(
            f"{name} must be set when DEBUG is off (see .env.example for what it holds)."
        )
    return value


def _generated_once(filename: str, make: object) -> str:
    """Return a development value kept in var/, creating it on first use."""
    path = VAR_DIR / filename
    if not path.exists():
        path.write_text(make())  # type: ignore[operator]
        path.chmod(0o600)
    return path.read_text().strip()


if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="") or _generated_once(
        "secret-key", lambda: secrets.token_urlsafe(50)
    )
    _keys = env.str("FIELD_ENCRYPTION_KEYS", default="") or _generated_once(
        "field-encryption-keys", crypto.new_key
    )
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
else:
    SECRET_KEY = _required("SECRET_KEY")
    _keys = _required("FIELD_ENCRYPTION_KEYS")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off.")
    _required("DATABASE_URL")
    _required("CELERY_BROKER_URL")

# Newest key first: it encrypts; every listed key can decrypt (for rotation).
FIELD_ENCRYPTION_KEYS = crypto.parse_keys(_keys, setting="FIELD_ENCRYPTION_KEYS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "axes",
    "cartrover",
    "merchants",
    "wms",
    "carts",
    "orders",
    "sync",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "cartrover.request.RequestIdMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "cartrover.tenancy.TenantMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "cartrover.request.NotFoundPageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "cartrover.urls"
WSGI_APPLICATION = "cartrover.wsgi.application"

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
                "cartrover.tenancy.tenant_context",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one file: wait for locks instead of failing, and take the
    # write lock at the start of a transaction so two writers never deadlock on upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so test workers started as separate processes share it; one per
    # test run, so two runs side by side never drop each other's tables.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication ---------------------------------------------------------------------------

AUTH_USER_MODEL = "merchants.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# Login throttling: a (username, client address) pair is locked out after this many failures.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("LOGIN_COOLOFF_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The login form posts the email in the field Django names "username".
AXES_USERNAME_FORM_FIELD = "username"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "cartrover.request.client_ip"
AXES_VERBOSE = False
# How many reverse proxies in front of the hub append to X-Forwarded-For. 0: trust none.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# --- Security -------------------------------------------------------------------------------

_secure_default = not DEBUG
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=_secure_default)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=_secure_default)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 3600)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_secure_default)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if _secure_default else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=_secure_default)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Outbound connections to private, loopback and link-local addresses are refused unless this
# is on (the demo and the tests talk to emulators on 127.0.0.1).
ALLOW_PRIVATE_NETWORK_TARGETS = env.bool("ALLOW_PRIVATE_NETWORK_TARGETS", default=DEBUG)
# Private networks outbound connections may still reach with the switch above off, as CIDRs:
# for an on-premise WMS on the warehouse network. cartrover.http reads and checks them.
HTTP_ALLOWED_NETWORKS = env.list("HTTP_ALLOWED_NETWORKS", default=[])
# The sandbox cart and warehouse kinds (emulated shops, a warehouse that can be told to fail)
# are offered in the screens only with this on: the demo and development, never production.
SANDBOX_KINDS = env.bool("SANDBOX_KINDS", default=DEBUG or DEMO)

# --- Email ----------------------------------------------------------------------------------

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="hub@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Internationalization, static files -----------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# Counters that must hold across processes (API throttling) live in this cache: per process
# by default, shared when CACHE_URL names Redis (e.g. redis://127.0.0.1:6379/1).
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

# --- Celery ---------------------------------------------------------------------------------

_broker_dir = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="celery")
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Sync engine ----------------------------------------------------------------------------

# How often beat's tick claims due schedules.
SYNC_TICK_SECONDS = env.float("SYNC_TICK_SECONDS", default=5.0)
# A run holds its schedule this long and renews it as it goes; a dead worker's lease expires.
SYNC_LEASE_SECONDS = env.int("SYNC_LEASE_SECONDS", default=300)
# A run stops taking up new work after this many seconds and goes on in its next run. It must
# stay well below the lease (renewed as the run goes) and the broker's redelivery timeout.
SYNC_RUN_SECONDS = env.int(
    "SYNC_RUN_SECONDS", default=max(1, min(240, SYNC_LEASE_SECONDS * 4 // 5))
)
if SYNC_RUN_SECONDS >= SYNC_LEASE_SECONDS:
    raise ImproperlyConfigured("SYNC_RUN_SECONDS must be below SYNC_LEASE_SECONDS.")
# Schedules one tick claims at most.
SYNC_CLAIM_LIMIT = env.int("SYNC_CLAIM_LIMIT", default=1000)
# A failed delivery (or tracking upload) is retried this often, for this long, then given up.
DELIVERY_RETRY_MINUTES = env.int("DELIVERY_RETRY_MINUTES", default=60)
DELIVERY_RETRY_HORIZON_DAYS = env.int("DELIVERY_RETRY_HORIZON_DAYS", default=15)
DELIVERY_MAX_BATCHES_PER_RUN = env.int("DELIVERY_MAX_BATCHES_PER_RUN", default=200)
SHIPMENT_UPLOAD_MAX_PER_RUN = env.int("SHIPMENT_UPLOAD_MAX_PER_RUN", default=5000)
# Webhook bodies larger than this are refused (413).
WEBHOOK_MAX_BYTES = env.int("WEBHOOK_MAX_BYTES", default=1_000_000)
# Folders on this server that local-folder transports (CSV carts, a CSV WMS) may use as their
# root, and everything inside them. With DEBUG on (the demo, the tests) the temporary folder
# is allowed too.
LOCAL_FOLDER_ROOTS = env.list("LOCAL_FOLDER_ROOTS", default=[str(VAR_DIR / "exchange")])
if DEBUG:
    LOCAL_FOLDER_ROOTS = [*LOCAL_FOLDER_ROOTS, tempfile.gettempdir()]
# Webhooks that say they were sent longer ago than this are refused as replays (platforms
# retry a failed delivery for up to 48 hours; the download schedule catches what is refused).
WEBHOOK_MAX_AGE_SECONDS = env.int("WEBHOOK_MAX_AGE_SECONDS", default=3 * 24 * 3600)
# The hub's address as carts reach it, for webhook subscriptions (e.g. https://hub.example.com).
PUBLIC_URL = env.str("PUBLIC_URL", default="")
# Consecutive failed runs of a schedule before an alert opens.
SYNC_ALERT_AFTER_FAILURES = env.int("SYNC_ALERT_AFTER_FAILURES", default=3)

# Job runs (with their logs) are kept this many days, then deleted by hourly housekeeping.
JOB_RUN_RETENTION_DAYS = env.int("JOB_RUN_RETENTION_DAYS", default=30)

CELERY_BEAT_SCHEDULE = {
    "tick": {"task": "sync.tasks.tick_task", "schedule": SYNC_TICK_SECONDS},
    "housekeeping": {"task": "sync.tasks.housekeeping_task", "schedule": 3600.0},
    "webhooks": {
        "task": "api.tasks.webhooks_task",
        "schedule": env.float("API_WEBHOOK_TICK_SECONDS", default=30.0),
    },
}

# --- Logging --------------------------------------------------------------------------------

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Log lines carry the id of the request they belong to (X-Request-ID), or "-".
    "filters": {"request_id": {"()": "cartrover.request.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "axes": {"level": "WARNING"},
        # urllib3 logs each request line, query string included, at DEBUG: some platforms
        # take credentials there (WooCommerce, signed links). cartrover.http logs every
        # request itself with secrets redacted, so LOG_LEVEL=DEBUG must not enable these.
        "urllib3": {"level": "INFO"},
    },
}

# --- REST API -------------------------------------------------------------------------------

# Requests one API key may make, e.g. "600/min" (s, min, hour, day); empty: no limit.
API_THROTTLE_RATE = env.str("API_THROTTLE_RATE", default="600/min")
# API request bodies larger than this many bytes are refused (413).
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=5 * 1024 * 1024)
API_PAGE_SIZE = env.int("API_PAGE_SIZE", default=100)
API_MAX_PAGE_SIZE = env.int("API_MAX_PAGE_SIZE", default=500)
# Outbound webhooks: attempts per delivery, first retry after (doubling), read timeout.
API_WEBHOOK_MAX_ATTEMPTS = env.int("API_WEBHOOK_MAX_ATTEMPTS", default=8)
API_WEBHOOK_RETRY_BASE_SECONDS = env.int("API_WEBHOOK_RETRY_BASE_SECONDS", default=60)
API_WEBHOOK_TIMEOUT_SECONDS = env.float("API_WEBHOOK_TIMEOUT_SECONDS", default=10.0)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Order hub API",
    "DESCRIPTION": """Orders, shipments and stock between carts, the hub and the WMS.

**Keys.** Send an API key as HTTP Basic (`key_id:secret`) or as `Authorization: Bearer
key_id.secret`. Cart keys push orders into one API cart; merchant keys see one merchant;
warehouse keys see the whole account and manage merchants and carts. Another tenant's object
answers 404, like a missing one.

**Errors** all have one shape: `{"error": {"code", "message", "fields"}, "request_id"}`.
Every answer carries `X-Request-ID`. Too many requests: `429` with `Retry-After`.

**The WMS pull loop** (a WMS of kind "API"):

1. `GET /api/v1/orders/?status=new&limit=100`, following `next` until it is null.
2. `POST /api/v1/orders/acknowledge/` with `{"orders": [{"id": 17, "reference": "W-88"}]}`:
   each order moves to `at_wms` and is not listed as new again.
3. `POST /api/v1/shipments/` with `{"shipments": [{"order_id": "H17", "tracking_number":
   "1Z...", "carrier": "UPS", "lines": [{"sku": "SKU-1", "quantity": 2}]}]}`; a repeated
   tracking number is reported as `duplicate`.
4. `POST /api/v1/inventory/` with `{"merchant": 3, "levels": [{"sku": "SKU-1", "quantity":
   40, "warehouse": "MAIN"}]}`.

The hub then uploads tracking and stock to each cart on its schedules.""",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.security_either",
    ],
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "orders.models.OrderStatus",
        "UploadStateEnum": "orders.models.UploadState",
    },
}
