"""Test settings: fast hashing, in-memory email, eager nothing (tests start real workers when they need one)."""

import os

from config.settings.base import *  # noqa: F403
from config.settings.base import VAR_DIR, env

DEBUG = False
SECRET_KEY = "test-secret-key-not-for-production-0123456789-abcdefghijklmnopqrstuv"
ALLOWED_HOSTS = ["*"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
MEDIA_ROOT = VAR_DIR / "test-media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Tests never reach a vendor: the offline providers unless a test says otherwise.
OPENAI_API_KEY = ""
DIALOG = {"RESPONDER": "flow", "ANALYSIS": "offline"}
# Keys of one test run never meet another's in the (persistent) test Redis: call ids restart at 1.
CACHES = {"default": {**CACHES["default"], "KEY_PREFIX": f"test-{os.getpid()}"}}
# Audio synthesised in one test must not answer another's: tests that check the live cache turn it on.
# Tests feed audio as fast as they can: the real-time guard allows 1000x here (its own tests set 1).
# Campaign tests run many simulated calls with fake or scripted STT: the STT capacity cap is tested on its own.
VOICE = {**VOICE, "LIVE_AUDIO_CACHE": False, "MEDIA_MAX_SPEED": 1000.0,
         "STT_ADMISSION": {**VOICE["STT_ADMISSION"], "MAX_CONVERSATIONS": 1000}}
LOG_LEVEL = env("LOG_LEVEL", default="WARNING")
from config.logging import build_logging  # noqa: E402

LOGGING = build_logging(level=LOG_LEVEL, json=False)
WHITENOISE_AUTOREFRESH = True  # serve from the finders; no collectstatic in tests
ASGI_GC_FREEZE = False  # the suite imports config.asgi in-process: its heap is the test runner's

# The suite runs real servers and workers in threads (daphne, Celery): an in-memory SQLite database
# uses table locks with no busy wait there, so tests on SQLite get a file that honours the timeout.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}

# Servers and workers run in threads of the test process: connections they kept open would stop
# the test database from being dropped at the end, so each database call closes its own.
DATABASES["default"]["CONN_MAX_AGE"] = 0
ANALYTICS_CACHE_SECONDS = 0  # each test's own calls; the cache test turns it on
