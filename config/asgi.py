"""ASGI entry point: HTTP through Django, WebSocket through Channels' per-app routes."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
# Build the Django app before anything imports models (Channels docs).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)

# Last: everything above (and the call path it warms) lives as long as the process.
from config.runtime import freeze_startup_heap  # noqa: E402

freeze_startup_heap()
