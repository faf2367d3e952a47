"""A local Telegram Bot API that answers ``POST /bot<token>/<method>`` the way api.telegram.org does.

Methods: ``sendMessage`` (a private chat the bot knows: one that sent ``/start``), ``setWebhook`` (an HTTPS
URL, a ``secret_token`` of 1-256 ``A-Z a-z 0-9 _ -``) and ``getMe``. Bodies are JSON or form fields.
Answers are ``{"ok": true, "result": …}`` or ``{"ok": false, "error_code", "description"[, "parameters"]}``
with the same HTTP status: a wrong token 401 ``Unauthorized``, an unknown chat 400 ``Bad Request: chat not
found``, a chat whose user blocked the bot 403 ``Forbidden: bot was blocked by the user``, flood control
429 ``Too Many Requests: retry after N`` with ``parameters.retry_after``. ``update_for`` builds the Update
Telegram posts to a webhook when a user opens a ``t.me/<bot>?start=<payload>`` link.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from typing import Any

from aiohttp import web

from crm.tests.bitrix24_server import Bitrix24Server

TOKEN = "123456:stand-in-bot-token"
USERNAME = "transtireks_bot"
SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
ROUTE = re.compile(r"^/bot([^/]+)/([A-Za-z]+)$")


def _form_value(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class BotAPIState:
    def __init__(self) -> None:
        self.chats: set[int] = set()  # private chats that started the bot
        self.blocked: set[int] = set()
        self.flood: list[int] = []  # retry_after of the next sendMessage calls, one each
        self.fail_5xx = 0  # the next N calls answer 502 Bad Gateway (a proxy in front of the API)
        self.sent: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] = {}
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._ids = itertools.count(1)
        self._updates = itertools.count(100_000)

    def update_for(self, *, chat_id: int, text: str, first_name: str = "Алишер") -> dict[str, Any]:
        """The Update Telegram posts when the user with ``chat_id`` sends ``text`` (``/start <payload>``)."""
        self.chats.add(chat_id)
        user = {"id": chat_id, "is_bot": False, "first_name": first_name, "language_code": "ru"}
        message: dict[str, Any] = {"message_id": next(self._ids), "from": user,
                                   "chat": {"id": chat_id, "first_name": first_name, "type": "private"},
                                   "date": int(time.time()), "text": text}
        if text.startswith("/"):
            message["entities"] = [{"offset": 0, "length": len(text.split(" ")[0]), "type": "bot_command"}]
        return {"update_id": next(self._updates), "message": message}

    @staticmethod
    def error(code: int, description: str, **parameters: Any) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if parameters:
            body["parameters"] = parameters
        return web.json_response(body, status=code)

    async def handle(self, request: web.Request) -> web.Response:
        route = ROUTE.match(request.path)
        if request.method != "POST" or route is None:
            return self.error(404, "Not Found")
        token, method = route.groups()
        if request.content_type == "application/json":
            params = await request.json()
        else:
            # form fields, as Telegram reads them: objects and arrays arrive JSON-serialised
            params = {k: _form_value(v) for k, v in (await request.post()).items()}
        self.requests.append((method, params))
        if token != TOKEN:
            return self.error(401, "Unauthorized")
        if self.fail_5xx:
            self.fail_5xx -= 1
            return web.Response(status=502, text="<html><body>502 Bad Gateway</body></html>",
                                content_type="text/html")
        handler = {"sendmessage": self.send_message, "setwebhook": self.set_webhook,
                   "getme": self.get_me}.get(method.lower())  # Bot API methods are case-insensitive
        if handler is None:
            return self.error(404, "Not Found")
        return handler(params)

    def get_me(self, params: dict[str, Any]) -> web.Response:
        return web.json_response({"ok": True, "result": {"id": 123456, "is_bot": True, "first_name": "ТРАНСТИРЕКС",
                                                         "username": USERNAME}})

    def send_message(self, params: dict[str, Any]) -> web.Response:
        if self.flood:
            retry_after = self.flood.pop(0)
            return self.error(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)
        try:
            chat_id = int(params.get("chat_id"))
        except (TypeError, ValueError):
            return self.error(400, "Bad Request: chat not found")
        text = str(params.get("text") or "")
        if not text.strip():
            return self.error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return self.error(400, "Bad Request: message is too long")
        if chat_id in self.blocked:
            return self.error(403, "Forbidden: bot was blocked by the user")
        if chat_id not in self.chats:
            return self.error(400, "Bad Request: chat not found")
        message = {"message_id": next(self._ids), "from": {"id": 123456, "is_bot": True, "first_name": "ТРАНСТИРЕКС",
                                                           "username": USERNAME},
                   "chat": {"id": chat_id, "type": "private"}, "date": int(time.time()), "text": text}
        self.sent.append(message)
        return web.json_response({"ok": True, "result": message})

    def set_webhook(self, params: dict[str, Any]) -> web.Response:
        url = str(params.get("url") or "")
        if url and not url.startswith("https://"):
            return self.error(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not SECRET.match(str(secret)):
            return self.error(400, "Bad Request: secret token contains unallowed characters")
        self.webhook = {"url": url, "secret_token": secret, "allowed_updates": params.get("allowed_updates")}
        return web.json_response({"ok": True, "result": True, "description": "Webhook was set"})


class TelegramServer(Bitrix24Server):
    """The Bot API on a random port in a background thread (the Bitrix24 stand-in's server): ``with TelegramServer()
    as tg: tg.url``; ``tg.api`` is its state."""

    def __init__(self) -> None:
        super().__init__()
        self.api = self.portal = BotAPIState()
