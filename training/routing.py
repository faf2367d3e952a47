"""WebSocket routes of the trainer (browser: session auth, Origin checked)."""

websocket_urlpatterns: list = []
