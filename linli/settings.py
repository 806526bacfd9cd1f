"""Django settings for Linli, read from the environment with safe defaults for the embedded mode."""

import hashlib
import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("LINLI_VAR_DIR", BASE_DIR.parent / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _secret_key() -> str:
    """Take the key from the environment, or keep a generated one in var/ so sessions survive restarts."""
    if key := os.environ.get("LINLI_SECRET_KEY"):
        return key
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        from django.core.management.utils import get_random_secret_key

        key_file.write_text(get_random_secret_key())
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("LINLI_DEBUG", False)
ALLOWED_HOSTS = env_list("LINLI_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("LINLI_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "linli.core",
    "linli.registry",
    "linli.grid",
    "linli.exchange",
    "linli.iot",
    "linli.core.admin_site.LinliAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "linli.core.middleware.ChineseFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Before the account gates: the idle timeout tells the user why they are back at the login page.
    "django.contrib.messages.middleware.MessageMiddleware",
    "linli.core.middleware.IdleTimeoutMiddleware",
    "linli.core.middleware.AccountGateMiddleware",
    "linli.core.middleware.CurrentRegionMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "linli.urls"
ASGI_APPLICATION = "linli.asgi.application"
WSGI_APPLICATION = "linli.wsgi.application"

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
                "linli.core.context_processors.console",
            ],
        },
    },
]

# Embedded default: an SQLite file under var/ in WAL mode; production sets DATABASE_URL to PostgreSQL.
# One cache shared by every process on the machine (figures' monthly tallies, among others), kept apart per
# database so that two installations on one machine never read each other's counts.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": os.environ.get("LINLI_CACHE_DIR", str(VAR_DIR / "cache")),
        "OPTIONS": {"MAX_ENTRIES": 20000},
    }
}

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'linli.sqlite3'}"), conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers go on while one writer writes; IMMEDIATE avoids "database is locked" on upgrade.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("LINLI_TEST_SQLITE_NAME") or None}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "core.User"
LOGIN_URL = "core:login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "core:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "linli.core.passwords.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "linli.core.passwords.CharacterClassValidator", "OPTIONS": {"required_classes": 3}},
    {"NAME": "linli.core.passwords.NotUsernameValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# Login security (see docs/security.md).
LINLI_LOCKOUT_FAILURES = int(os.environ.get("LINLI_LOCKOUT_FAILURES", "5"))
LINLI_LOCKOUT_MINUTES = int(os.environ.get("LINLI_LOCKOUT_MINUTES", "15"))
LINLI_STAFF_IDLE_MINUTES = int(os.environ.get("LINLI_STAFF_IDLE_MINUTES", "30"))
LINLI_RESIDENT_IDLE_MINUTES = int(os.environ.get("LINLI_RESIDENT_IDLE_MINUTES", str(7 * 24 * 60)))
LINLI_TOTP_REQUIRED_ROLES = env_list("LINLI_TOTP_REQUIRED_ROLES", "district_admin")
LINLI_TOTP_ISSUER = os.environ.get("LINLI_TOTP_ISSUER", "Linli 邻里")

# Personal-data encryption (see docs/security-keys.md): keys live outside the database, in LINLI_KEYS (JSON)
# or in this key file, created 0600 on first use in the embedded mode; back it up apart from the database.
LINLI_KEY_FILE = Path(os.environ.get("LINLI_KEY_FILE", VAR_DIR / "keys.json"))
LINLI_PII_CIPHER = os.environ.get("LINLI_PII_CIPHER", "aes-256-gcm")  # or "sm4-gcm"
LINLI_BLIND_INDEX = os.environ.get("LINLI_BLIND_INDEX", "hmac-sha256")  # or "hmac-sm3"

# Audit hash chain (see docs/security.md): the HMAC key lives outside the database. Without LINLI_AUDIT_KEY a
# random key is generated into var/audit_key (0600) on first use; keep a copy apart from database backups.
LINLI_AUDIT_KEY = os.environ.get("LINLI_AUDIT_KEY", "")
LINLI_AUDIT_KEY_FILE = Path(os.environ.get("LINLI_AUDIT_KEY_FILE", VAR_DIR / "audit_key"))
LINLI_AUDIT_HASH = os.environ.get("LINLI_AUDIT_HASH", "hmac-sha256")  # or "hmac-sm3"

# Working calendar (docs/working-calendar.md): other processes see an administrator's edit after this long.
LINLI_CALENDAR_CACHE_SECONDS = float(os.environ.get("LINLI_CALENDAR_CACHE_SECONDS", "60"))

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("LINLI_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_AGE = 7 * 24 * 3600

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
CACHES["default"]["KEY_PREFIX"] = hashlib.sha256(str(DATABASES["default"].get("NAME")).encode()).hexdigest()[
    :12
]

LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"  # filled by `linli manage collectstatic` in production
STATIC_ROOT.mkdir(exist_ok=True)
# Uploaded files (event photos). Never served as public URLs: pages that may show them stream them after the
# scope check. Several web processes need this on shared storage.
MEDIA_ROOT = Path(os.environ.get("LINLI_MEDIA_ROOT", VAR_DIR / "media"))
LINLI_GRID_WARN_FRACTION = float(os.environ.get("LINLI_GRID_WARN_FRACTION", "0.8"))
# Exchange (docs/open311.md, docs/exchange.md). Jurisdictions: "id=region code" pairs besides district codes.
LINLI_OPEN311_JURISDICTIONS = dict(
    item.split("=", 1) for item in env_list("LINLI_OPEN311_JURISDICTIONS", "") if "=" in item
)
LINLI_OPEN311_PUBLIC_READS = env_bool("LINLI_OPEN311_PUBLIC_READS", True)
LINLI_OPEN311_PRIVATE_CATEGORIES = os.environ.get("LINLI_OPEN311_PRIVATE_CATEGORIES", "SG01,SG04")
LINLI_OPEN311_CONTACT = os.environ.get("LINLI_OPEN311_CONTACT", "")
LINLI_OPEN311_KEY_SERVICE = os.environ.get("LINLI_OPEN311_KEY_SERVICE", "")
LINLI_OPEN311_ENDPOINT_TYPE = os.environ.get("LINLI_OPEN311_ENDPOINT_TYPE", "production")
LINLI_EXCHANGE_SINK = os.environ.get("LINLI_EXCHANGE_SINK", "")  # dotted path of a CaseSink; empty: built-in
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so that an anonymous call answers 401 with a WWW-Authenticate header, not 403.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["linli.core.api.permissions.IsActiveAccount"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Linli 邻里 API",
    "DESCRIPTION": (
        "Smart community platform API. Every list and detail is limited to the caller's region scope; "
        "objects outside it answer 404."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "/static/vendor/swagger-ui",
    "SWAGGER_UI_FAVICON_HREF": "/static/vendor/swagger-ui/favicon-32x32.png",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a "kind"; name each enum after its model so clients get stable, readable types.
    "ENUM_NAME_OVERRIDES": {
        "BuildingKindEnum": "linli.registry.models.Building.Kind",
        "OrganisationKindEnum": "linli.registry.models.Organisation.Kind",
        "VehicleKindEnum": "linli.registry.models.Vehicle.Kind",
        "ImportKindEnum": "linli.registry.models.ImportJob.Kind",
        "TagEnum": "linli.registry.models.Tag",
        "AlarmSeverityEnum": "linli.iot.models.Severity",
        "LightActionEnum": "linli.iot.api.serializers.LIGHT_ACTION_CHOICES",
        # Names the API had before other apps brought fields of the same name.
        "StateEnum": "linli.registry.models.Facility.State",
        "StatusEnum": "linli.registry.models.ImportJob.Status",
        "PublicStatusEnum": "linli.exchange.models.PublicStatus",
        "GridStateEnum": "linli.grid.models.State",
        "GridActionEnum": "linli.grid.api.serializers.STEP_ACTIONS",
        "CategoryKindEnum": "linli.grid.models.Category.Kind",
        "PhotoKindEnum": "linli.grid.models.Evidence.Kind",
        "RequestKindEnum": "linli.grid.models.Request.Kind",
        "NotificationKindEnum": "linli.grid.models.Notification.Kind",
        "LevelEnum": "linli.core.regions.Level",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Every line passes the identifier mask on its way out (docs/registry.md, "Personal data").
    "filters": {"mask_identifiers": {"()": "linli.core.pii.logfilter.MaskIdentifiersFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["mask_identifiers"]}
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LINLI_LOG_LEVEL", "INFO")},
    "loggers": {"django.server": {"level": "WARNING"}},
}

# IoT hub (docs/iot.md): whole months of time series kept, and the per-device alarm creation cap per hour.
LINLI_IOT_RETENTION_MONTHS = int(os.environ.get("LINLI_IOT_RETENTION_MONTHS", "12"))
LINLI_IOT_ALARMS_PER_DEVICE_HOUR = int(os.environ.get("LINLI_IOT_ALARMS_PER_DEVICE_HOUR", "6"))
