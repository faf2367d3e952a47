"""WebSocket routes of the trainer (browser: session auth, Origin checked)."""

from channels.auth import AuthMiddlewareStack
from django.urls import path

from config.websocket import BrowserOriginValidator
from training.consumers import LiveSessionConsumer, ReviewConsumer

websocket_urlpatterns: list = [
    path(
        "ws/training/<int:session_id>/",
        BrowserOriginValidator(AuthMiddlewareStack(LiveSessionConsumer.as_asgi())),
    ),
    path(
        "ws/training/<int:session_id>/review/",
        BrowserOriginValidator(AuthMiddlewareStack(ReviewConsumer.as_asgi())),
    ),
]
