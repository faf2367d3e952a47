"""WebSocket routes of the trainer (browser: session auth, Origin checked)."""

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from training.consumers import LiveSessionConsumer, ReviewConsumer

websocket_urlpatterns: list = [
    path(
        "ws/training/<int:session_id>/",
        AllowedHostsOriginValidator(AuthMiddlewareStack(LiveSessionConsumer.as_asgi())),
    ),
    path(
        "ws/training/<int:session_id>/review/",
        AllowedHostsOriginValidator(AuthMiddlewareStack(ReviewConsumer.as_asgi())),
    ),
]
