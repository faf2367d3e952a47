"""A local HTTP server speaking the Voximplant Management API, Twilio's Calls and Messages APIs and Bitrix24's REST
webhook.

Twilio's Messages: ``POST .../Messages.json`` creates one (kept in ``messages``, ``queued`` with an empty
``date_sent`` as Twilio answers), ``GET .../Messages.json`` lists them newest first, filtered by ``To``, ``From``
and ``DateSent`` (``YYYY-MM-DD``, or ``DateSent<`` / ``DateSent>``). ``lose_answers = n``: the next n creations
happen but their answer is lost (the connection drops), as when a network or a worker dies mid-request.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

VOX_ACCOUNT, VOX_KEY, VOX_RULE = "1234", "vox-api-key", "777"
TWILIO_SID, TWILIO_TOKEN = "AC" + "0" * 32, "twilio-auth-token"
BITRIX_PATH = "/rest/1/webhooksecret"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, list[str]] = field(default_factory=dict)
    json: Any = None


class CarrierServer:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.force_status: int | None = None
        self.delay_s = 0.0  # answer this late (after recording the request): a client timeout
        self.call_status: dict[str, str] = {}  # Twilio call sid -> its status, for GET .../Calls/<sid>.json
        self.messages: list[dict[str, Any]] = []  # Twilio Message resources, oldest first
        self.lose_answers = 0  # the next n message creations happen, but the client never hears back
        self.transferring: set[str] = set()  # Voximplant sessions that took a transfer command
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):  # Twilio's "fetch a call" and "read messages"
                parts = urlsplit(self.path)
                server.requests.append(Recorded("GET", parts.path, dict(self.headers), form=parse_qs(parts.query)))
                prefix = f"/2010-04-01/Accounts/{TWILIO_SID}/Calls/"
                expected = "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    return self._send(401, {"code": 20003, "message": "Authenticate", "status": 401})
                if parts.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json":
                    return self._twilio_message_list(parts.path, parse_qs(parts.query))
                sid = parts.path.removeprefix(prefix).removesuffix(".json")
                if not parts.path.startswith(prefix) or sid not in server.call_status:
                    return self._send(404, {"code": 20404, "message": "The requested resource was not found",
                                            "status": 404})
                return self._send(200, {"sid": sid, "account_sid": TWILIO_SID, "status": server.call_status[sid]})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                parts = urlsplit(self.path)
                rec = Recorded("POST", parts.path, dict(self.headers))
                if "json" in (self.headers.get("Content-Type") or ""):
                    rec.json = json.loads(body or b"{}")
                else:
                    rec.form = parse_qs(body.decode())
                server.requests.append(rec)
                if server.delay_s:
                    time.sleep(server.delay_s)
                if server.force_status:
                    return self._send(server.force_status, {"message": "forced", "code": 20500, "status":
                                                            server.force_status})
                if parts.path.startswith("/session/"):
                    return self._vox_session(parts.path.removeprefix("/session/"), rec.json)
                if parts.path.startswith("/platform_api/"):
                    return self._voximplant(parts.path.rsplit("/", 1)[-1], rec.form)
                if parts.path.startswith("/2010-04-01/Accounts/"):
                    return self._twilio(parts.path, rec.form)
                if parts.path.startswith(BITRIX_PATH):
                    return self._bitrix(parts.path, rec.json)
                return self._send(404, {"error": "not found"})

            def _send(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out first (delay_s): what the test is about

            def _voximplant(self, method: str, form: dict) -> None:
                # The Management API answers 200 with an "error" object on failures.
                get = lambda k: (form.get(k) or [""])[0]  # noqa: E731
                if get("account_id") != VOX_ACCOUNT or get("api_key") != VOX_KEY:
                    return self._send(200, {"error": {"msg": "Authorization failed", "code": 100}})
                if method != "StartScenarios":
                    return self._send(200, {"error": {"msg": "Unknown method", "code": 3}})
                if get("rule_id") != VOX_RULE:
                    return self._send(200, {"error": {"msg": "Rule not found", "code": 185}})
                json.loads(get("script_custom_data"))
                # the session's control URL is served here too (see ``_vox_session``); no secure one locally
                return self._send(200, {"result": 1, "call_session_history_id": 555001,
                                        "media_session_access_url": f"{server.url}/session/555001"})

            def _vox_session(self, session: str, payload: Any) -> None:
                # A running VoxEngine session: AppEvents.HttpRequest in outbound.js answers the command.
                if session != "555001":
                    return self._send(404, {"error": "session not found"})
                if not isinstance(payload, dict) or payload.get("command") != "transfer":
                    return self._send(200, {"ok": False, "error": "unknown command"})
                if bool(payload.get("to")) == bool(payload.get("queue")):
                    return self._send(200, {"ok": False, "error": "give either to or queue"})
                if session in server.transferring:
                    return self._send(200, {"ok": False, "error": "already transferring"})
                server.transferring.add(session)
                return self._send(200, {"ok": True})

            def _twilio(self, path: str, form: dict) -> None:
                expected = "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    return self._send(401, {"code": 20003, "message": "Authenticate", "status": 401})
                get = lambda k: (form.get(k) or [""])[0]  # noqa: E731
                if path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json":
                    return self._twilio_message(get)
                if not path.startswith(f"/2010-04-01/Accounts/{TWILIO_SID}/Calls"):
                    return self._send(404, {"code": 20404, "message": "Not found", "status": 404})
                tail = path.removeprefix(f"/2010-04-01/Accounts/{TWILIO_SID}/Calls")
                if get("MachineDetection") and get("MachineDetection") not in ("Enable", "DetectMessageEnd"):
                    return self._send(400, {"code": 21200, "message": "Invalid MachineDetection", "status": 400})
                if get("AsyncAmd") and get("AsyncAmd") not in ("true", "false"):
                    return self._send(400, {"code": 21200, "message": "Invalid AsyncAmd", "status": 400})
                if get("Twiml"):
                    try:
                        root = ElementTree.fromstring(get("Twiml"))  # noqa: S314 - the client's own TwiML
                    except ElementTree.ParseError:
                        root = None
                    if root is None or root.tag != "Response":
                        return self._send(400, {"code": 12100, "message": "Document parse failure", "status": 400})
                if tail == ".json":
                    if not get("To") or not (get("Twiml") or get("Url")):
                        return self._send(400, {"code": 21205, "message": "Url or Twiml required", "status": 400})
                    sid = "CA" + uuid.uuid4().hex
                    return self._send(201, {"sid": sid, "account_sid": TWILIO_SID, "to": get("To"),
                                            "from": get("From"), "status": "queued"})
                sid = tail.strip("/").removesuffix(".json")
                if not (get("Status") or get("Twiml") or get("Url")):  # an update must change something
                    return self._send(400, {"code": 20001, "message": "Missing parameter", "status": 400})
                if get("Twiml") and not get("Twiml").startswith("<Response>"):
                    return self._send(400, {"code": 12100, "message": "Document parse failure", "status": 400})
                return self._send(200, {"sid": sid, "account_sid": TWILIO_SID,
                                        "status": get("Status") or "in-progress"})

            def _twilio_message(self, get) -> None:
                if not get("Body") or not (get("From") or get("MessagingServiceSid")):
                    return self._send(400, {"code": 21602, "message": "Message body is required", "status": 400})
                if not get("To").startswith("+") or not get("To")[1:].isdigit():
                    return self._send(400, {"code": 21211, "message": f"Invalid 'To' Phone Number: {get('To')}",
                                            "status": 400})
                if len(get("Body")) > 1600:
                    return self._send(400, {"code": 21617, "message": "Body exceeds 1600 characters", "status": 400})
                now = format_datetime(datetime.now(UTC), usegmt=True)
                message = {"sid": "SM" + uuid.uuid4().hex, "account_sid": TWILIO_SID, "to": get("To"),
                           "from": get("From"), "body": get("Body"), "status": "queued", "direction": "outbound-api",
                           "date_created": now, "date_updated": now, "date_sent": None, "num_segments": "1"}
                server.messages.append(message)
                if server.lose_answers > 0:
                    server.lose_answers -= 1
                    self.close_connection = True  # sent, but the answer never reaches the client
                    return None
                return self._send(201, message)

            def _twilio_message_list(self, path: str, query: dict) -> None:
                get = lambda k: (query.get(k) or [""])[0]  # noqa: E731

                def sent_on(m: dict) -> str:  # DateSent filters compare GMT dates; unsent messages have none
                    return datetime.strptime(m["date_sent"], "%a, %d %b %Y %H:%M:%S %Z").date().isoformat() \
                        if m["date_sent"] else ""

                found = [m for m in reversed(server.messages)
                         if (not get("To") or m["to"] == get("To")) and (not get("From") or m["from"] == get("From"))
                         and (not get("DateSent") or sent_on(m) == get("DateSent")[:10])
                         and (not get("DateSent>") or (sent_on(m) and sent_on(m) >= get("DateSent>")[:10]))
                         and (not get("DateSent<") or (sent_on(m) and sent_on(m) <= get("DateSent<")[:10]))]
                size = int(get("PageSize") or 50)
                return self._send(200, {"messages": found[:size], "page": 0, "page_size": size, "start": 0,
                                        "end": max(0, min(size, len(found)) - 1), "uri": path,
                                        "first_page_uri": f"{path}?PageSize={size}&Page=0", "next_page_uri": None,
                                        "previous_page_uri": None})

            def _bitrix(self, path: str, payload: Any) -> None:
                if not path.endswith("/crm.lead.add.json"):
                    return self._send(404, {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found"})
                if not (payload or {}).get("fields", {}).get("TITLE"):
                    return self._send(400, {"error": "ERROR_CORE", "error_description": "TITLE required"})
                return self._send(200, {"result": 4242, "time": {"start": 0, "finish": 0}})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> CarrierServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
