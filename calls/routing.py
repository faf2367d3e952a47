"""WebSocket routes of calls: telephony media streams (signed per-call token) and the live operator feed."""

websocket_urlpatterns: list = []
