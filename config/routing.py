"""All WebSocket routes. Browser routes check Origin and session; telephony routes check a signed token.

Each app keeps its own ``routing.py`` with the right middleware stack around its consumers.
"""

from calls.routing import websocket_urlpatterns as calls_routes
from training.routing import websocket_urlpatterns as training_routes

websocket_urlpatterns = [*training_routes, *calls_routes]
