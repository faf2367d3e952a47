# Production image: daphne serves HTTP + WebSocket; the same image runs the Celery worker and beat.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production VAR_DIR=/app/var

RUN apt-get update && apt-get install -y --no-install-recommends libpq5 gettext \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 app

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
# Static files and the message catalogues are built into the image; the secret is a build-time dummy only.
RUN DJANGO_SECRET_KEY=build-only DJANGO_ALLOWED_HOSTS=localhost REDIS_URL=redis://localhost:6379/0 \
    DATABASE_URL=sqlite:////tmp/build.sqlite3 python manage.py collectstatic --noinput \
    && python manage.py compilemessages --ignore=/usr --ignore=/app/.venv \
    && mkdir -p /app/var/media && chown -R app /app/var
USER app
EXPOSE 8000
# config.serve is daphne's command line with the access log sent through the masking logger
CMD ["python", "-m", "config.serve", "-b", "0.0.0.0", "-p", "8000", "--proxy-headers", "config.asgi:application"]
