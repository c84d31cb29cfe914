"""Settings shared by every environment; everything that differs comes from environment variables.

See docs/configuration.md for each variable.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parents[3]
VAR_DIR = Path(os.environ.get("CIVICGRID_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (case-insensitive); any other value stops the start with its name."""
    value = (os.environ.get(name) or default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}; it is {value!r}.")
    return value


def env_int(name: str, default: int, *, minimum: int) -> int:
    """A whole number of at least ``minimum``; anything else stops the start with its name."""
    text = (os.environ.get(name) or str(default)).strip()
    try:
        value = int(text)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number; it is {text!r}.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; it is {value}.")
    return value


def env_networks(name: str) -> list[str]:
    """Comma-separated IP networks (``10.0.0.0/8``, ``::1``); a bad one stops the start."""
    networks = []
    for item in env_list(name, ""):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name} must list IP networks such as 10.0.0.0/8 or ::1; {item!r} is not one."
            ) from None
    return networks


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me-in-production")
# Off unless a developer asks for it (DJANGO_DEBUG=1): the demo runs as the real thing does.
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_tasks_db",
    # Login throttling and second factors. Before our apps: accounts/admin.py unregisters
    # django-otp's device admins, which must be registered first.
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "civicgrid.core",
    "civicgrid.accounts",
    "civicgrid.geo",
    "civicgrid.cases",
    "civicgrid.open311",
    "civicgrid.web",
    "civicgrid.demo",
]

MIDDLEWARE = [
    # First: counts, times and logs every request.
    "civicgrid.core.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session passed the second factor.
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "civicgrid.core.middleware.RequestIdMiddleware",
    # Staff sessions that still owe their second factor reach only the steps that pay it.
    "civicgrid.web.middleware.StaffTwoFactorMiddleware",
    # Last, as django-axes asks: turns a lockout flagged during the request into the answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "civicgrid.config.urls"
WSGI_APPLICATION = "civicgrid.config.wsgi.application"
ASGI_APPLICATION = "civicgrid.config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "civicgrid.web.context_processors.site",
            ],
        },
    }
]

# --- database: SQLite in WAL mode by default, PostgreSQL through DATABASE_URL -----------------
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASE_URL = os.environ.get("DATABASE_URL", "")
# SQLite, however it is named: WAL lets readers run beside one writer; writers queue behind the
# busy timeout instead of failing, and IMMEDIATE takes the write lock when a transaction starts
# (no deadlock between two readers that both turn writer). Options given in a sqlite
# DATABASE_URL's query string win over these.
SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        DATABASES["default"]["OPTIONS"] = {
            **SQLITE_OPTIONS,
            **DATABASES["default"].get("OPTIONS", {}),
        }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "civicgrid.sqlite3"),
            "OPTIONS": dict(SQLITE_OPTIONS),
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Who may read GET /metrics (docs/operations.md): the bearer of this token, or a client straight
# from one of these networks (e.g. "127.0.0.1/32,::1/128"). Both empty: nobody.
CIVICGRID_METRICS_TOKEN = os.environ.get("CIVICGRID_METRICS_TOKEN", "")
CIVICGRID_METRICS_ALLOWED_NETWORKS = env_networks("CIVICGRID_METRICS_ALLOWED_NETWORKS")

# Messages live in the session, never in a cookie: one of them carries a newly issued API key.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# --- cache: per process by default; Redis shares rate limits between processes ----------------
CIVICGRID_CACHE_URL = os.environ.get("CIVICGRID_CACHE_URL", "")
if CIVICGRID_CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CIVICGRID_CACHE_URL,
            "KEY_PREFIX": "civicgrid",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "accounts.User"
# The lockout check first (it refuses locked-out username+address pairs before any password is
# tried), then the usual password check.
AUTHENTICATION_BACKENDS = [
    "civicgrid.accounts.lockout.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "web:home"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- language and time --------------------------------------------------------------------
LANGUAGE_CODE = os.environ.get("CIVICGRID_LANGUAGE", "zh-hans")
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "civicgrid" / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = os.environ.get("CIVICGRID_TIME_ZONE", "Asia/Shanghai")

# --- static and media ----------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("CIVICGRID_STATIC_ROOT", BASE_DIR / "staticfiles"))
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("CIVICGRID_MEDIA_ROOT", VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
DATA_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024

# --- background tasks: Django's tasks API, database backend (RQ on Redis at scale) ------------
TASKS = {
    "default": {
        "BACKEND": os.environ.get("CIVICGRID_TASK_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}

# --- security headers (tightened further in production) ------------------------------------
from django.utils.csp import CSP  # noqa: E402

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:", "blob:", *env_list("CIVICGRID_TILE_HOSTS", "")],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
CSRF_FAILURE_VIEW = "civicgrid.web.errors.csrf_failure"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- login throttling (django-axes) and staff two-factor (django-otp): docs/security.md -----
AXES_ENABLED = env_bool("CIVICGRID_LOGIN_LOCKOUT", True)
# Failed logins of one username from one client address before that pair is locked out.
AXES_FAILURE_LIMIT = env_int("CIVICGRID_LOGIN_FAILURE_LIMIT", 5, minimum=1)
# The lockout ends this long after the last failed attempt (each attempt while locked restarts it).
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("CIVICGRID_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
# Username AND address together: an attacker cannot lock a person out from elsewhere, and a
# shared office address does not lock out every colleague.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "civicgrid.accounts.lockout.client_ip"
# The login page, the token endpoint and the admin answer a lockout with 429 and a translated
# message; the first refusal of each lockout is audited.
AXES_LOCKOUT_CALLABLE = "civicgrid.web.security_views.login_lockout"
AXES_VERBOSE = False
# Proxies in front of the app that append to X-Forwarded-For (1 behind the nginx of
# docs/deployment.md). 0 uses the socket's address; a wrong count lets clients choose theirs.
CIVICGRID_TRUSTED_PROXY_COUNT = env_int("CIVICGRID_TRUSTED_PROXY_COUNT", 0, minimum=0)

# "required": every staff account (all roles but resident, and anyone who may enter the admin)
# must pass a TOTP code after the password, enrolling at first login; "optional": staff who
# enrolled pass a code, others log in with the password; "off": no second factor. Bearer-token
# API calls are never asked (a token is issued only after a full login and is itself the key).
CIVICGRID_STAFF_2FA = env_choice("CIVICGRID_STAFF_2FA", "optional", ("required", "optional", "off"))
OTP_TOTP_ISSUER = os.environ.get("CIVICGRID_OTP_ISSUER", "civicgrid")
# Wrong codes: 1, 2, 4, 8… seconds before the next code is looked at.
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1

# --- logging: JSON lines with request ids ------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "civicgrid.core.logging.RequestIdFilter"}},
    "formatters": {"json": {"()": "civicgrid.core.logging.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("CIVICGRID_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django_tasks_db": {"level": "WARNING"},
        # django-axes logs every login at INFO; failures and lockouts are WARNING.
        "axes": {"level": "WARNING"},
    },
}

# --- civicgrid domain configuration (see docs/configuration.md) ------------------------------
# Work periods of a working day, local time. One city uses 09-11 and 13-17; change to suit.
CIVICGRID_WORK_PERIODS = os.environ.get("CIVICGRID_WORK_PERIODS", "09:00-12:00,13:30-17:30")
# Tile URL for the maps; empty shows the grid cells on a blank background (offline intranets).
CIVICGRID_TILE_URL = os.environ.get("CIVICGRID_TILE_URL", "")
CIVICGRID_TILE_ATTRIBUTION = os.environ.get("CIVICGRID_TILE_ATTRIBUTION", "")
# Duplicate suggestion: same category within this radius and window.
CIVICGRID_DUPLICATE_RADIUS_M = int(os.environ.get("CIVICGRID_DUPLICATE_RADIUS_M", "100"))
CIVICGRID_DUPLICATE_WINDOW_HOURS = int(os.environ.get("CIVICGRID_DUPLICATE_WINDOW_HOURS", "72"))
# Photos: images only, capped in bytes and pixels.
CIVICGRID_PHOTO_MAX_BYTES = int(os.environ.get("CIVICGRID_PHOTO_MAX_BYTES", str(8 * 1024 * 1024)))
CIVICGRID_PHOTO_MAX_PIXELS = int(os.environ.get("CIVICGRID_PHOTO_MAX_PIXELS", str(40_000_000)))
# Transfers: the number of unit-to-unit transfers after which the street office decides.
CIVICGRID_MAX_TRANSFERS = int(os.environ.get("CIVICGRID_MAX_TRANSFERS", "2"))
CIVICGRID_MAX_EXTENSIONS = int(os.environ.get("CIVICGRID_MAX_EXTENSIONS", "2"))
# Periodic work of the embedded worker (seconds).
CIVICGRID_SWEEP_INTERVAL_S = int(os.environ.get("CIVICGRID_SWEEP_INTERVAL_S", "60"))
CIVICGRID_SEAL_INTERVAL_S = int(os.environ.get("CIVICGRID_SEAL_INTERVAL_S", "2"))
# A task left running this many seconds by a worker that is gone is queued again (workers on
# the same host are seen gone at once); keep it well above the longest task. See
# civicgrid/core/task_recovery.py.
CIVICGRID_TASK_LEASE_SECONDS = env_int("CIVICGRID_TASK_LEASE_SECONDS", 600, minimum=1)
# Jobs of the embedded worker's scheduler: (dotted path to a plain callable, interval seconds).
CIVICGRID_PERIODIC_JOBS = [
    ("civicgrid.core.services.audit_seal", CIVICGRID_SEAL_INTERVAL_S),
    ("civicgrid.core.services.audit_publish_head", 3600),
    ("civicgrid.cases.services.case_escalate_overdue", CIVICGRID_SWEEP_INTERVAL_S),
]
# District code used for cases that have an address but no point yet (GB/T 2260).
CIVICGRID_DISTRICT_CODE = os.environ.get("CIVICGRID_DISTRICT_CODE", "110105")
# Overrides of the intake/check step limits in minutes (see civicgrid/cases/services.py).
CIVICGRID_STEP_LIMITS: dict[str, int] = {}
# How often (seconds) a process checks whether the grid changed and its lookup index is stale.
CIVICGRID_GEO_CACHE_CHECK_S = float(os.environ.get("CIVICGRID_GEO_CACHE_CHECK_S", "1"))
# Seconds a public list answer (Open311 GET requests, /api/v1/public/cases) stays in the read
# cache (civicgrid/core/readcache.py). Every case write invalidates it at once in the process
# that wrote, and in every process when the cache is shared (CIVICGRID_CACHE_URL); other
# processes of a per-process cache see a change within this many seconds. 0 turns it off.
CIVICGRID_PUBLIC_CACHE_SECONDS = env_int("CIVICGRID_PUBLIC_CACHE_SECONDS", 10, minimum=0)
# Open311 GeoReport v2 (/open311/v2/). The jurisdiction_id accepted besides an empty one; empty
# here accepts the district code (CIVICGRID_DISTRICT_CODE). Contact and key_service are the
# discovery texts; empty ones fall back to a translated default.
CIVICGRID_OPEN311_JURISDICTION = os.environ.get("CIVICGRID_OPEN311_JURISDICTION", "")
CIVICGRID_OPEN311_CONTACT = os.environ.get("CIVICGRID_OPEN311_CONTACT", "")
CIVICGRID_OPEN311_KEY_SERVICE = os.environ.get("CIVICGRID_OPEN311_KEY_SERVICE", "")
