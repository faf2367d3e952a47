"""WebSocket routes of calls: telephony media streams (signed per-call token) and the live operator feed."""

from channels.auth import AuthMiddlewareStack
from django.urls import path

from calls.consumers import CallMonitorConsumer, MediaStreamConsumer
from calls.listen import CallListenConsumer
from config.websocket import BrowserOriginValidator

websocket_urlpatterns = [
    # Carriers connect with no Origin and no session: the per-call signed token is the credential.
    path("ws/calls/<int:call_id>/media/", MediaStreamConsumer.as_asgi()),
    path("ws/calls/live/", BrowserOriginValidator(AuthMiddlewareStack(CallMonitorConsumer.as_asgi()))),
    path("ws/calls/<int:call_id>/live/",
         BrowserOriginValidator(AuthMiddlewareStack(CallMonitorConsumer.as_asgi()))),
    path("ws/calls/<int:call_id>/listen/",
         BrowserOriginValidator(AuthMiddlewareStack(CallListenConsumer.as_asgi()))),
]
