"""Settings for Banana Studio, read from the environment.

Development needs no configuration: SQLite under var/, local media files and the local
upstream emulator. Production is the same code with DEBUG=false, which makes every value
that matters for safety mandatory and switches on the strict defaults.
"""

import ipaddress
import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)


def _required_in_production(name, dev_default, cast=str):
    if name in env.ENVIRON:
        return env.get_value(name, cast=cast)
    if DEBUG:
        return dev_default
    raise ImproperlyConfigured(f"{name} must be set when DEBUG is false.")


SECRET_KEY = _required_in_production(
    "SECRET_KEY", "django-insecure-development-only-never-use-in-production"
)
if not DEBUG and len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters long.")

ALLOWED_HOSTS = _required_in_production(
    "ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"], cast=list
)

# The address the outside world reaches this app at, e.g. https://banana.example.com.
# Used for the upstream's callback URL, signed reference-image URLs and share links.
# Empty means "not reachable from the internet": no callbacks (the reconciler settles
# generations) and uploaded references go to the upstream as data URIs.
PUBLIC_BASE_URL: str = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000" if DEBUG else "")
PUBLIC_BASE_URL = PUBLIC_BASE_URL.rstrip("/")
if PUBLIC_BASE_URL and not PUBLIC_BASE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured("PUBLIC_BASE_URL must start with http:// or https://.")
CSRF_TRUSTED_ORIGINS = env.list(
    "CSRF_TRUSTED_ORIGINS", default=[PUBLIC_BASE_URL] if PUBLIC_BASE_URL else []
)

INSTALLED_APPS = [
    # django.contrib.admin, whose site asks staff for a second factor (accounts/security.py)
    "generations.accounts.admin_site.StaffAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_htmx",
    "django_tasks_db",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "generations",
    "operations",
]

MIDDLEWARE = [
    # First: counts and times every answer (operations/metrics.py).
    "operations.metrics.RequestMetricsMiddleware",
    # Outermost but one: gives a streamed answer's database connection back once every
    # other middleware is done with it (operations/middleware.py).
    "operations.middleware.ReleaseConnectionForStreamsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Compresses text answers; below security and static files, above all that writes bodies.
    "operations.middleware.TextGZipMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): was this session confirmed with a second factor?
    "django_otp.middleware.OTPMiddleware",
    # Django's, but htmx requests are sent to the login page whole (HX-Redirect), and the
    # member comes back to the page they were on.
    "generations.middleware.LoginRequiredMiddleware",
    # The member's saved language and time zone, over the browser's (after the session and
    # the user are known; LocaleMiddleware above has applied the cookie or Accept-Language).
    "generations.middleware.MemberPreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "generations.middleware.VaryOnHtmxMiddleware",
    "generations.middleware.PermissionsPolicyMiddleware",
    "generations.middleware.RequestSizeLimitMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "banana_site.urls"
WSGI_APPLICATION = "banana_site.wsgi.application"
ASGI_APPLICATION = "banana_site.asgi.application"

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
                "django.template.context_processors.i18n",
                "generations.context_processors.credits",
            ],
            "builtins": [
                "django.templatetags.i18n",
                "generations.templatetags.credit_tags",
                "generations.templatetags.card_tags",
            ],
        },
    },
    {
        # Cards (templates/components/card.jinja), which pages place with {% card %}: a page
        # shows dozens (docs/benchmarks.md says what Jinja2 saves on them).
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "NAME": "jinja2",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": False,
        "OPTIONS": {"environment": "generations.rendering.engine.environment"},
    },
    {
        # Django's widget templates, drawn by Jinja2: the same HTML for less work
        # (FORM_RENDERER below, generations/rendering/forms.py).
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "NAME": "forms",
        "DIRS": [],
        "APP_DIRS": False,
        "OPTIONS": {"environment": "generations.rendering.forms.environment"},
    },
]

# Django's widget templates, rendered by Jinja2 where it has them (generations/rendering/forms.py).
FORM_RENDERER = "generations.rendering.forms.FormRenderer"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)
    # IMMEDIATE takes the write lock when a transaction starts, so concurrent
    # read-then-write transactions queue up instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 30}
    )
    # A file (not :memory:) so live-server and thread tests share it; per process, so two
    # test runs on one machine never share one.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}
else:
    # A gunicorn worker opens at most DB_POOL_SIZE connections to PostgreSQL, whatever its
    # threads: they share a pool (psycopg's, through Django), and a thread beyond it waits up
    # to DB_POOL_TIMEOUT seconds for one. Other processes (the task worker, whose threads
    # give their connection back after each task and before each wait on the network;
    # management commands; tests) keep one connection per thread unless DB_POOL_SIZE is set.
    # Sizing: docs/deployment.md; each server process checks it when it starts
    # (operations/capacity.py). DB_POOL_SIZE=0: no pool anywhere.
    DB_POOL_SIZE = env.int(
        "DB_POOL_SIZE", default=8 if env.int("BANANA_WEB_THREADS", default=0) else 0
    )
    if DB_POOL_SIZE < 0:
        raise ImproperlyConfigured("DB_POOL_SIZE must be 0 (no pool) or more.")
    if DB_POOL_SIZE:
        # Django's PostgreSQL backend, failing fast while the server is down.
        DATABASES["default"]["ENGINE"] = "operations.postgresql"
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps them; Django must not
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": DB_POOL_SIZE,
            # Also how long requests wait before failing while the database is down.
            "timeout": env.float("DB_POOL_TIMEOUT", default=5.0),
        }
    else:
        DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
        DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TASKS = {
    "default": {
        "BACKEND": env.str("TASKS_BACKEND", default="django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # First: refuses an account's sign-in from an address it is locked out at.
    "generations.accounts.security.LoginThrottleBackend",
    # Django's ModelBackend, signing nobody in while BANANA_LOCAL_PASSWORDS is off.
    "generations.accounts.security.LocalPasswordBackend",
    # The team's identity provider (OpenID Connect), when configured: see "Members" below.
    "generations.accounts.oidc.ProviderBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Mail: password-reset links ---------------------------------------------------------
# EMAIL_URL, e.g. smtp+tls://user:password@mail.example.com:587 (STARTTLS) or
# smtp+ssl://…:465. Development prints each mail to the console; production defaults to
# the machine's own mail relay on port 25.
_email = env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25")
_mailer_options = {}
if _email["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend":
    _smtp = {
        "host": _email["EMAIL_HOST"],
        "port": _email["EMAIL_PORT"],
        "username": _email["EMAIL_HOST_USER"],
        "password": _email["EMAIL_HOST_PASSWORD"],
        "use_tls": _email.get("EMAIL_USE_TLS"),
        "use_ssl": _email.get("EMAIL_USE_SSL"),
        "timeout": env.int("EMAIL_TIMEOUT", default=10),
    }
    _mailer_options = {name: value for name, value in _smtp.items() if value is not None}
elif _email["EMAIL_FILE_PATH"]:
    _mailer_options = {"file_path": _email["EMAIL_FILE_PATH"]}
MAILERS = {"default": {"BACKEND": _email["EMAIL_BACKEND"], "OPTIONS": _mailer_options}}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Banana Studio <studio@localhost>")
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
# How long a password-reset link works, in seconds.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3 * 3600)
# Reset requests per hour from one client network, and for one address (whether or not it
# has an account); more are answered 429. 0: no such limit.
PASSWORD_RESETS_PER_CLIENT: int = env.int("PASSWORD_RESETS_PER_CLIENT", default=10)
PASSWORD_RESETS_PER_ADDRESS: int = env.int("PASSWORD_RESETS_PER_ADDRESS", default=3)

# --- Sign-in throttle (django-axes) -------------------------------------------------------
# Failed sign-ins are counted per account *and* client address, on /login/ and the admin's
# login alike, in the database (shared by every process). After LOGIN_FAILURE_LIMIT
# failures that account is refused from that address, even with the right password, until
# LOGIN_COOLOFF_MINUTES have passed without another attempt.
# Why not per account alone: anyone could then lock any member out from anywhere by typing
# wrong passwords. Why not per address alone: the team often shares one office address, so
# one member's typos would lock everyone out. Axes has one failure limit for every
# parameter, so a second, looser per-account limit against guessing spread over many
# addresses is not available cleanly; strong passwords (the validators above) and a second
# factor for staff cover that case.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_COOLOFF_MINUTES = env.int("LOGIN_COOLOFF_MINUTES", default=15)
# How long the log of sign-ins (who, when, from which address: django-axes' access log)
# is kept; failed sign-ins themselves are dropped once their cool-off is over.
LOGIN_LOG_KEEP_DAYS: int = env.int("LOGIN_LOG_KEEP_DAYS", default=90)
# Password sign-ins per client network (IPv6: per /64) and minute, whatever the username,
# counted before any password is hashed: a guesser cycling through usernames gets 429s, not
# a slower login page for everyone. 0: no such limit.
LOGIN_ATTEMPTS_PER_MINUTE: int = env.int("LOGIN_ATTEMPTS_PER_MINUTE", default=20)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
# A member who gets in clears their own earlier typos (for that address only).
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "generations.accounts.security.lockout_response"
# The client's address by the project's one rule (BEHIND_TLS_PROXY below): REMOTE_ADDR when
# reached directly, so a forged X-Forwarded-For counts for nothing; behind our proxy, the
# hop it appended.
AXES_CLIENT_IP_CALLABLE = "generations.ratelimit.client_address"
AXES_VERBOSE = False

# --- A second factor for staff (django-otp) ------------------------------------------------
# The admin asks staff for a code from an authenticator app (TOTP) once per session; the
# first time, they set one up and get single-use recovery codes. Members are never asked.
# Wrong codes are throttled per device (each one doubles the wait before the next try).
OTP_TOTP_ISSUER = "Banana Studio"
# Admins may remove a member's authenticator (lost phone: they set up a new one) but never
# read its secret.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# --- Languages, formats and time zones (docs/languages.md) ----------------------------
# English unless the member chose otherwise (saved in their profile), else the browser's
# language cookie (the switcher) or Accept-Language. The Korean catalogue lives in locale/;
# its compiled .mo files are committed and a test checks they match the .po files.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("ko", _("Korean"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["banana_site.formats"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Media storage: local files, or an S3-compatible bucket -------------------------------
# Local files under MEDIA_ROOT unless S3_BUCKET is set: then django-storages' S3 backend
# (AWS S3, MinIO, Ceph, R2, ...), a private bucket. MEDIA_STORAGE_BACKEND and
# MEDIA_STORAGE_OPTIONS (JSON) choose any other Django storage class; with S3_BUCKET the
# options are added to (and override) the ones built here.
# Media is never public: pages carry signed, expiring URLs (BANANA_MEDIA_URL_TTL) checked
# without the database, other image URLs check permission, and then the bytes are streamed
# by the web process (local files) or the browser is sent to a presigned URL of the bucket
# valid for S3_PRESIGNED_URL_TTL seconds (MEDIA_PRESIGNED_DOWNLOADS).
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
S3_BUCKET: str = env.str("S3_BUCKET", default="")
S3_PRESIGNED_URL_TTL: int = env.int("S3_PRESIGNED_URL_TTL", default=3600)
S3_BACKEND = "storages.backends.s3.S3Storage"
MEDIA_STORAGE_BACKEND: str = env.str(
    "MEDIA_STORAGE_BACKEND",
    default=S3_BACKEND if S3_BUCKET else "django.core.files.storage.FileSystemStorage",
)
MEDIA_STORAGE_OPTIONS: dict[str, Any] = {}
if S3_BUCKET:
    _s3_endpoint = env.str("S3_ENDPOINT_URL", default="").rstrip("/")
    _s3_options = {
        "bucket_name": S3_BUCKET,
        "endpoint_url": _s3_endpoint,
        "region_name": env.str("S3_REGION", default=""),
        "access_key": env.str("S3_ACCESS_KEY_ID", default=""),
        "secret_key": env.str("S3_SECRET_ACCESS_KEY", default=""),
        "location": env.str("S3_PREFIX", default="").strip("/"),
        # Path style for your own endpoint (MinIO and friends), virtual hosts on AWS.
        "addressing_style": env.str(
            "S3_ADDRESSING_STYLE", default="path" if _s3_endpoint else "virtual"
        ),
    }
    MEDIA_STORAGE_OPTIONS = {name: value for name, value in _s3_options.items() if value}
    MEDIA_STORAGE_OPTIONS |= {
        "signature_version": "s3v4",
        "default_acl": None,  # objects are private: the bucket's policy, no public ACL
        "querystring_auth": True,
        "querystring_expire": S3_PRESIGNED_URL_TTL,
        # A name is never reused for other bytes, so a URL's content never changes.
        "file_overwrite": False,
        # Files read back (retention, ZIP downloads, remixes) spill to disk past 2 MB.
        "max_memory_size": 2 * 1024 * 1024,
    }
MEDIA_STORAGE_OPTIONS |= env.json("MEDIA_STORAGE_OPTIONS", default={})
# Send browsers to the bucket (302 to a presigned URL) instead of streaming through a web
# worker. On by default with S3; the endpoint must then be reachable from browsers.
MEDIA_PRESIGNED_DOWNLOADS: bool = env.bool(
    "MEDIA_PRESIGNED_DOWNLOADS", default=MEDIA_STORAGE_BACKEND == S3_BACKEND
)


def _bucket_origins(options: dict[str, Any]) -> list[str]:
    """Where presigned URLs point, for the Content-Security-Policy's img-src."""
    bucket, endpoint = options.get("bucket_name", ""), options.get("endpoint_url", "")
    if endpoint:
        scheme, _sep, host = endpoint.partition("://")
        host = host.split("/")[0]
        if options.get("addressing_style") == "virtual":
            return [f"{scheme}://{bucket}.{host}"]
        return [f"{scheme}://{host}"]
    region = options.get("region_name", "")
    origins = [f"https://{bucket}.s3.amazonaws.com"]
    if region:
        origins.append(f"https://{bucket}.s3.{region}.amazonaws.com")
    return origins


# Override when a proxy or CDN serves the bucket under another name.
MEDIA_DOWNLOAD_ORIGINS: list[str] = env.list(
    "MEDIA_DOWNLOAD_ORIGINS",
    default=(
        _bucket_origins(MEDIA_STORAGE_OPTIONS)
        if MEDIA_PRESIGNED_DOWNLOADS and MEDIA_STORAGE_BACKEND == S3_BACKEND
        else []
    ),
)
# Signed image URLs in pages are valid for between one and two of these (seconds): stable
# within a window, so browsers reuse what they cached, and renewed by every page.
BANANA_MEDIA_URL_TTL: int = env.int("BANANA_MEDIA_URL_TTL", default=3600)
# The display variant's long side, in pixels (WebP); thumbnails are 384.
BANANA_DISPLAY_SIZE: int = env.int("BANANA_DISPLAY_SIZE", default=1600)


def _size_in_bytes(name: str, default: str) -> int:
    """A size such as 1073741824, 500MB or 1GB (powers of 1024); 0 is 0."""
    text = env.str(name, default=default).strip().upper().removesuffix("B").replace(" ", "")
    units = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
    factor = units.get(text[-1:], 1)
    digits = text[:-1] if text[-1:] in units else text
    try:
        return int(float(digits) * factor)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: a size such as 500MB or 1GB.") from None


# Each member's storage quota: the team default (admins override it in Team settings, and
# per member on their credit account). 0 = no limit. A member at or over it cannot submit
# until they free room; results of generations already sent are always stored.
BANANA_STORAGE_QUOTA: int = _size_in_bytes("BANANA_STORAGE_QUOTA", "0")
# Originals older than this many days that nobody favourited, put in a collection or
# shares are removed (thumbnail and display variant stay); 0 keeps everything. The worker
# applies it every BANANA_RETENTION_EVERY seconds.
BANANA_RETENTION_DAYS: int = env.int("BANANA_RETENTION_DAYS", default=0)
BANANA_RETENTION_EVERY: float = env.float("BANANA_RETENTION_EVERY", default=3600.0)

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    # Media is never served from a public path (see "Media storage" above).
    "default": {"BACKEND": MEDIA_STORAGE_BACKEND, "OPTIONS": MEDIA_STORAGE_OPTIONS},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        ),
    },
}
# Form fields (files aside) of one request, and how many files: our forms take at most four
# reference images, so more is not a member's mistake. Whole request bodies are capped by
# generations.middleware.RequestSizeLimitMiddleware (anonymous ones far lower).
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_NUMBER_FILES = 8

# --- Security: strict unless DEBUG -------------------------------------------------------
# Behind a proxy that terminates TLS: trust its X-Forwarded-Proto.
BEHIND_TLS_PROXY = env.bool("BEHIND_TLS_PROXY", default=False)
# The networks our reverse proxies connect from. Only a request from one of them may name
# its client in X-Forwarded-For (rate limits); from anywhere else the header is ignored.
TRUSTED_PROXIES: list[str] = env.list(
    "TRUSTED_PROXIES",
    default=(
        ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]
        if BEHIND_TLS_PROXY
        else []
    ),
)
try:
    for _network in TRUSTED_PROXIES:
        ipaddress.ip_network(_network)
except ValueError as exc:
    raise ImproperlyConfigured(f"TRUSTED_PROXIES: {exc}") from None
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_TLS_PROXY else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers probe over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
# No script reads the CSRF cookie: htmx sends the token from the page (hx-headers on body).
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Scripts come from this site only: no inline script, no eval (htmx is told so too).
# Inline style attributes stay allowed: the Django admin writes some.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:", "blob:", *MEDIA_DOWNLOAD_ORIGINS],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}
SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=[])

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {
        "redact_secrets": {"()": "operations.redaction.RedactSecretsFilter"},
        "probe_answers": {"()": "operations.logs.ProbeAnswers"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own handlers are replaced by ours, which redacts secrets in paths.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # /readyz logs its failing answers itself (operations/views.py).
        "django.request": {"filters": ["probe_answers"]},
        "django.db.backends": {"level": "WARNING"},
        # Failed sign-ins and lockouts are warnings; the rest of axes' chatter is not kept.
        "axes": {"level": "WARNING"},
    },
}

# --- Members: invitations, roles, the identity provider -----------------------------------
# Credits every new member is granted once, however they join (admins can override this
# under Team settings). 0: none.
BANANA_STARTING_CREDITS = Decimal(env.str("BANANA_STARTING_CREDITS", default="0"))
# How long a mailed invitation link works, and how many addresses one form may invite.
BANANA_INVITATION_DAYS: int = env.int("INVITATION_DAYS", default=7)
BANANA_INVITATIONS_AT_ONCE: int = env.int("INVITATIONS_AT_ONCE", default=200)
# false: nobody signs in with a password kept here. The login page offers only the identity
# provider (which must then be configured), and password change and reset are off.
BANANA_LOCAL_PASSWORDS: bool = env.bool("LOCAL_PASSWORDS", default=True)

# Sign-in with the team's identity provider: OpenID Connect, authorization code with PKCE
# (mozilla-django-oidc, glued in generations/accounts/oidc.py). On when OIDC_ISSUER and
# OIDC_CLIENT_ID are set; the provider must allow <PUBLIC_BASE_URL>/login/provider/callback/
# as a redirect URI. Endpoints come from the issuer's /.well-known/openid-configuration
# (read the first time they are needed) unless set explicitly below.
OIDC_ISSUER: str = env.str("OIDC_ISSUER", default="").rstrip("/")
OIDC_RP_CLIENT_ID: str = env.str("OIDC_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET: str = env.str("OIDC_CLIENT_SECRET", default="")
# The button says "Sign in with <this>".
OIDC_PROVIDER_NAME: str = env.str("OIDC_PROVIDER_NAME", default="your company account")
# Who may join without an invitation: addresses at these domains and/or people whose groups
# claim holds this group. With neither set, only invited people join through the provider.
OIDC_ALLOWED_DOMAINS: list[str] = [d.lower() for d in env.list("OIDC_ALLOWED_DOMAINS", default=[])]
OIDC_REQUIRED_GROUP: str = env.str("OIDC_REQUIRED_GROUP", default="")
OIDC_GROUPS_CLAIM: str = env.str("OIDC_GROUPS_CLAIM", default="groups")
OIDC_RP_SCOPES: str = env.str("OIDC_SCOPES", default="openid email profile")
OIDC_OP_AUTHORIZATION_ENDPOINT: str = env.str("OIDC_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT: str = env.str("OIDC_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT: str = env.str("OIDC_USERINFO_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT: str = env.str("OIDC_JWKS_ENDPOINT", default="")
OIDC_RP_SIGN_ALGO: str = env.str("OIDC_SIGN_ALGORITHM", default="RS256")
OIDC_USE_PKCE = True
OIDC_TOKEN_USE_BASIC_AUTH: bool = env.bool("OIDC_TOKEN_USE_BASIC_AUTH", default=True)
OIDC_TIMEOUT: float = env.float("OIDC_TIMEOUT", default=10.0)
# How often (seconds) a provider sign-in is checked with the provider again (prompt=none):
# a person deactivated there is signed out at their next page load after that.
OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS: int = env.int("OIDC_RECHECK_SECONDS", default=900)
MIDDLEWARE.insert(
    MIDDLEWARE.index("django_otp.middleware.OTPMiddleware") + 1,
    "generations.accounts.oidc.SessionRefresh",
)
# The sign-in throttle counts password sign-ins only (generations.accounts.security).
AXES_WHITELIST_CALLABLE = "generations.accounts.security.not_a_password_sign_in"
if OIDC_ISSUER and not OIDC_ISSUER.startswith(("https://", "http://")):
    raise ImproperlyConfigured("OIDC_ISSUER must be a URL, e.g. https://login.example.com.")
if OIDC_ISSUER and not DEBUG and not OIDC_ISSUER.startswith("https://"):
    raise ImproperlyConfigured("OIDC_ISSUER must use https:// when DEBUG is false.")
if not BANANA_LOCAL_PASSWORDS and not (OIDC_ISSUER and OIDC_RP_CLIENT_ID):
    raise ImproperlyConfigured(
        "LOCAL_PASSWORDS=false needs the identity provider (OIDC_ISSUER, OIDC_CLIENT_ID): "
        "nobody could sign in."
    )

# --- The upstream ------------------------------------------------------------------------
DEV_EMULATOR_KEY = "dk-devlocalemulator0"
BANANA_API_BASE_URL: str = env.str(
    "BANANA_API_BASE_URL", default="http://127.0.0.1:8765" if DEBUG else "https://api.defapi.org"
).rstrip("/")
BANANA_API_KEY: str = _required_in_production("BANANA_API_KEY", DEV_EMULATOR_KEY)
BANANA_API_TIMEOUT: tuple[float, float] = (
    env.float("BANANA_API_CONNECT_TIMEOUT", default=5.0),
    env.float("BANANA_API_READ_TIMEOUT", default=30.0),
)
BANANA_API_MAX_RETRIES: int = env.int("BANANA_API_MAX_RETRIES", default=3)
BANANA_API_BACKOFF: float = env.float("BANANA_API_BACKOFF", default=0.5)

# The models members may pick. Configuration, not code: the upstream's list changes.
# "sizes" is empty for models that take no image_size.
BANANA_MODELS: list[dict[str, Any]] = env.json(
    "BANANA_MODELS",
    default=[
        {"id": "google/gempix2", "label": "Nano Banana (gempix2)", "sizes": ["1k", "2k", "4k"]},
        {"id": "google/gemini-2.5-flash-image", "label": "Gemini 2.5 Flash Image", "sizes": []},
        {"id": "google/nano-banana", "label": "Nano Banana", "sizes": []},
        {
            "id": "google/nano-banana-pro",
            "label": "Nano Banana Pro",
            "sizes": ["1k", "2k", "4k"],
        },
        {"id": "google/nano-banana-2", "label": "Nano Banana 2", "sizes": ["1k", "2k", "4k"]},
        {
            "id": "google/gemini-3.1-flash-image-preview",
            "label": "Gemini 3.1 Flash Image (preview)",
            "sizes": [],
        },
    ],
)

# How often (seconds) the status poll may ask the upstream about one generation, however
# many browser tabs poll it. Coalesced in the database, so it holds across processes.
BANANA_POLL_INTERVAL: float = env.float("BANANA_POLL_INTERVAL", default=3.0)
# The upstream briefly answers "task not found" right after a submit.
BANANA_NOT_FOUND_GRACE: float = env.float("BANANA_NOT_FOUND_GRACE", default=60.0)
# Generations nobody watches are settled by the reconciler once they are this old.
BANANA_RECONCILE_AFTER: float = env.float("BANANA_RECONCILE_AFTER", default=30.0)
BANANA_RECONCILE_EVERY: float = env.float("BANANA_RECONCILE_EVERY", default=30.0)
# One refresh per generation is in flight at a time: its claim holds until it has run or,
# if its worker died, for this long (seconds).
BANANA_REFRESH_CLAIM_TIMEOUT: float = env.float("BANANA_REFRESH_CLAIM_TIMEOUT", default=300.0)
# The task worker (`manage.py worker`, generations/lanes.py) runs tasks in lanes, each with
# threads of its own: sending, refreshing and storing (what members wait for), callbacks to
# members' receivers, and upkeep (reconciler, housekeeping, retention). It looks for tasks
# enqueued by other processes every BANANA_WORKER_INTERVAL seconds.
BANANA_WORKER_THREADS: int = env.int("BANANA_WORKER_THREADS", default=32)
BANANA_WORKER_CALLBACK_THREADS: int = env.int("BANANA_WORKER_CALLBACK_THREADS", default=4)
BANANA_WORKER_UPKEEP_THREADS: int = env.int("BANANA_WORKER_UPKEEP_THREADS", default=1)
BANANA_WORKER_INTERVAL: float = env.float("BANANA_WORKER_INTERVAL", default=0.25)
# The worker prunes finished task results and rate counters, and gives tasks whose
# worker died to another, this often (seconds); successful results are kept this long.
BANANA_HOUSEKEEPING_EVERY: float = env.float("BANANA_HOUSEKEEPING_EVERY", default=300.0)
BANANA_TASK_RESULTS_KEEP: int = env.int("BANANA_TASK_RESULTS_KEEP", default=24 * 3600)
# Finished callback deliveries (delivered, given up, cancelled) and their attempts are
# kept this many days for members and admins to look into, then pruned.
BANANA_CALLBACKS_KEEP_DAYS: int = env.int("BANANA_CALLBACKS_KEEP_DAYS", default=30)
# A submit whose outcome is unknown is settled (its hold released, flagged "may have been
# charged") as soon as nothing can tell us more: at once when no callback URL was sent,
# otherwise when no callback has named its task this long (seconds) after it was sent. The
# upstream finishes a task within minutes (4K: up to about 2), then calls back.
BANANA_UNKNOWN_TIMEOUT: float = env.float("BANANA_UNKNOWN_TIMEOUT", default=10 * 60.0)
BANANA_PROMPT_MAX_LENGTH: int = env.int("BANANA_PROMPT_MAX_LENGTH", default=4000)
BANANA_UPLOAD_MAX_BYTES: int = env.int("BANANA_UPLOAD_MAX_BYTES", default=10 * 1024 * 1024)
# The largest reference image, in pixels, decoded at all: the image service works at up to
# 4K, so a larger one only costs memory (checked from the header, before decoding).
BANANA_REFERENCE_MAX_PIXELS: int = env.int("BANANA_REFERENCE_MAX_PIXELS", default=4096 * 4096)
# Request bodies: anonymous requests (login, webhooks) are small; a member's at most four
# uploads and the form.
BANANA_ANONYMOUS_MAX_BODY: int = env.int("BANANA_ANONYMOUS_MAX_BODY", default=1024 * 1024)
BANANA_MEMBER_MAX_BODY: int = env.int(
    "BANANA_MEMBER_MAX_BODY", default=4 * BANANA_UPLOAD_MAX_BYTES + 1024 * 1024
)
BANANA_REFERENCE_URL_TTL: int = env.int("BANANA_REFERENCE_URL_TTL", default=3600)

# Downloading results: https only and public addresses only in production. The local
# emulator lives on 127.0.0.1, so development allows private addresses.
BANANA_FETCH_REQUIRE_HTTPS: bool = env.bool("BANANA_FETCH_REQUIRE_HTTPS", default=not DEBUG)
BANANA_FETCH_ALLOW_PRIVATE: bool = env.bool("BANANA_FETCH_ALLOW_PRIVATE", default=DEBUG)
BANANA_FETCH_ALLOWED_HOSTS: list[str] = env.list("BANANA_FETCH_ALLOWED_HOSTS", default=[])
BANANA_FETCH_MAX_BYTES: int = env.int("BANANA_FETCH_MAX_BYTES", default=30 * 1024 * 1024)
BANANA_MAX_PIXELS: int = env.int("BANANA_MAX_PIXELS", default=40_000_000)

BANANA_DEFAULT_CREDIT_PRICE = Decimal("0.5")
# Prices per model and image size ("" = any size); admins override them in the admin.
BANANA_PRICES: dict[str, dict[str, str | float]] = env.json(
    "BANANA_PRICES",
    default={
        "google/gempix2": {"": "0.5", "4k": "1.0"},
        "google/nano-banana-pro": {"": "0.5", "4k": "1.0"},
        "google/nano-banana-2": {"": "0.5", "4k": "1.0"},
    },
)
# Credits each member receives at the start of a month (the team default; per member in
# the admin). 0 means credits are only granted by hand.
BANANA_DEFAULT_MONTHLY_ALLOWANCE = Decimal(env.str("BANANA_DEFAULT_MONTHLY_ALLOWANCE", "0"))
BANANA_DEFAULT_MAX_IN_FLIGHT: int = env.int("BANANA_DEFAULT_MAX_IN_FLIGHT", default=4)
BANANA_DEFAULT_MAX_PER_MINUTE: int = env.int("BANANA_DEFAULT_MAX_PER_MINUTE", default=20)

# --- Galleries and share links -----------------------------------------------------------
# Who sees a new generation unless its owner chooses otherwise: "team" or "private".
BANANA_DEFAULT_VISIBILITY: str = env.str("BANANA_DEFAULT_VISIBILITY", default="team")
if BANANA_DEFAULT_VISIBILITY not in ("team", "private"):
    raise ImproperlyConfigured('BANANA_DEFAULT_VISIBILITY must be "team" or "private".')
BANANA_GALLERY_PAGE_SIZE: int = env.int("BANANA_GALLERY_PAGE_SIZE", default=24)
# Unknown share tokens per client network and minute before answering 429 (counted in the
# database, shared by every process). Valid tokens are never refused.
BANANA_SHARE_MISSES_PER_MINUTE: int = env.int("BANANA_SHARE_MISSES_PER_MINUTE", default=20)
# A table in the database by default: shared by every process with no extra service.
CACHES = {"default": env.cache("CACHE_URL", default="dbcache://banana_cache")}

# --- Operations: probes, metrics, logs, error reports (operations/; docs/operations.md)
# The task worker records a heartbeat this often (seconds); /readyz fails when no worker
# has been seen for BANANA_WORKER_STALE_AFTER seconds.
BANANA_WORKER_HEARTBEAT_EVERY = env.float("BANANA_WORKER_HEARTBEAT_EVERY", default=10.0)
BANANA_WORKER_STALE_AFTER = env.float("BANANA_WORKER_STALE_AFTER", default=60.0)
# /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`; with none set, it is a 404.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Log lines: "plain" text, or "json" (one object per line, operations/logs.py). Either way
# the handler's filter redacts secrets in URL paths; gunicorn.conf.py follows this too.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured('LOG_FORMAT must be "plain" or "json".')
LOGGING["formatters"]["plain"]["()"] = "operations.logs.RedactingFormatter"  # tracebacks too
LOGGING["formatters"]["json"] = {"()": "operations.logs.JsonFormatter"}
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT
# Error reports to Sentry when SENTRY_DSN is set: no personal data, no request bodies, and
# the upstream key, webhook secrets and other secrets scrubbed (operations/sentry.py).
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    from operations.sentry import init_sentry

    init_sentry(
        SENTRY_DSN,
        secret_values=[BANANA_API_KEY, SECRET_KEY, METRICS_TOKEN],
        environment=env.str("SENTRY_ENVIRONMENT", default="development" if DEBUG else "production"),
        release=env.str("SENTRY_RELEASE", default=""),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )

# --- Personal API keys and the APIs they open (generations/api/) ------
# A request to an API route whose `Authorization: Bearer` names a usable personal key is its
# member's: it runs before the body-size limit, so it may send what a member may (data:
# URIs, uploads for edits); without a valid key a request keeps the anonymous limit.
MIDDLEWARE.insert(
    MIDDLEWARE.index("generations.middleware.RequestSizeLimitMiddleware"),
    "generations.api.keys.BearerKeyMiddleware",
)
# How long the OpenAI-compatible image calls wait for their images before answering 504
# (the generations go on and stay in the member's history), and how often they look.
BANANA_API_WAIT_SECONDS: float = env.float("BANANA_API_WAIT_SECONDS", default=120.0)
BANANA_API_WAIT_INTERVAL: float = env.float("BANANA_API_WAIT_INTERVAL", default=1.0)
# Waiting image calls one web process serves at once; more are refused at once (429)
# before anything is spent. Under gunicorn the cap follows its real threads per process
# (BANANA_WEB_THREADS, set by operations/gunicorn.py in each worker): half of them by
# default, and a cap that leaves pages fewer than an eighth of them (at least one) refuses
# to start. Elsewhere (runserver, tests) it is 50 unless set.
BANANA_WEB_THREADS: int = env.int("BANANA_WEB_THREADS", default=0)
BANANA_API_MAX_WAITING: int = env.int(
    "BANANA_API_MAX_WAITING", default=BANANA_WEB_THREADS // 2 if BANANA_WEB_THREADS else 50
)
if BANANA_WEB_THREADS:
    _most_waiting = BANANA_WEB_THREADS - max(1, BANANA_WEB_THREADS // 8)
    if _most_waiting < BANANA_API_MAX_WAITING:
        raise ImproperlyConfigured(
            f"BANANA_API_MAX_WAITING={BANANA_API_MAX_WAITING} leaves pages too few of "
            f"gunicorn's {BANANA_WEB_THREADS} threads per process: set it to at most "
            f"{_most_waiting}, or unset it, or raise --threads."
        )
# How long the signed result-image URLs the APIs hand out keep working (seconds).
BANANA_API_RESULT_URL_TTL: int = env.int("BANANA_API_RESULT_URL_TTL", default=7 * 24 * 3600)
# OpenAI's own image model names (dall-e-2, dall-e-3, gpt-image-1…) that the OpenAI-compatible
# API takes, each to one of BANANA_MODELS ("": the key's default model). Unset: all of them to
# the default model; {} turns the aliases off (docs/api.md).
BANANA_OPENAI_MODEL_ALIASES: dict[str, str] | None = env.json(
    "BANANA_OPENAI_MODEL_ALIASES", default=None
)
# Callbacks to members' URLs: each attempt ends within this many seconds whatever the
# receiver does (a trickle of bytes included), and one member has at most this many
# attempts running per worker process; they run in the worker's callback lane.
BANANA_CALLBACK_DEADLINE: float = env.float("BANANA_CALLBACK_DEADLINE", default=15.0)
BANANA_CALLBACKS_PER_MEMBER: int = env.int("BANANA_CALLBACKS_PER_MEMBER", default=2)
