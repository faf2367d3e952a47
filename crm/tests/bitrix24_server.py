"""A local Bitrix24 portal that answers an inbound REST webhook the way Bitrix24 does.

Methods: ``crm.item.add`` / ``crm.item.list`` (entityTypeId 1 lead, 2 deal, 3 contact; ``=field`` filters),
``crm.timeline.comment.add`` / ``.list``, ``tasks.task.add`` / ``.list`` and ``batch`` (up to 50 commands,
``halt``, ``$result[key][path]`` macros). Parameters come as JSON or PHP-style form/query strings.

Limits as documented for cloud portals: a leaky bucket per portal of 50 requests that drains 2 per second;
past it every request gets ``503 {"error": "QUERY_LIMIT_EXCEEDED"}``. A wrong webhook secret gets 401.
Faults on demand (seeded): ``fail_rate`` answers 500 before doing anything, ``timeout_rate`` does the work and
then answers too late (the client's timeout), which is how duplicates happen in real life.

Run standalone for the benchmark: ``python -m crm.tests.bitrix24_server --port 8111 --fail-rate 0.05``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import threading
import time
from collections import Counter
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

USER_ID, SECRET = "1", "stand-in-secret"
WEBHOOK_PATH = f"/rest/{USER_ID}/{SECRET}"
MACRO = re.compile(r"\$result\[([^\]]+)\]((?:\[[^\]]*\])*)")


def parse_php(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``fields[fm][0][value]=x`` -> nested dicts (numeric keys become list indexes later)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"([^\[\]]+)|\[([^\]]*)\]", key)
        names = [a or b for a, b in parts]
        node = root
        for i, name in enumerate(names):
            if i == len(names) - 1:
                node[name] = value
            else:
                node = node.setdefault(name, {})
    return _lists(root)


def _lists(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _lists(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


class Bitrix24Portal:
    def __init__(self, *, capacity: int = 50, leak_per_s: float = 2.0, fail_rate: float = 0.0,
                 timeout_rate: float = 0.0, timeout_s: float = 15.0, seed: int = 1):
        self.capacity, self.leak_per_s = capacity, leak_per_s
        self.fail_rate, self.timeout_rate, self.timeout_s = fail_rate, timeout_rate, timeout_s
        self.random = random.Random(seed)
        self.level, self.level_at = 0.0, time.monotonic()
        self.items: dict[int, dict[int, dict[str, Any]]] = {1: {}, 2: {}, 3: {}}
        self.comments: list[dict[str, Any]] = []
        self.tasks: list[dict[str, Any]] = []
        self.next_id = 1
        self.stats: Counter[str] = Counter()
        self.lock = threading.Lock()

    # --- the wire -------------------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path
        if path == "/_state":
            return web.json_response(self.state())
        if not path.startswith("/rest/"):
            return web.json_response({"error": "NOT_FOUND", "error_description": "Not found"}, status=404)
        parts = path.strip("/").split("/")
        if len(parts) != 4 or parts[1] != USER_ID or parts[2] != SECRET:
            self.stats["auth_refused"] += 1
            return web.json_response(
                {"error": "INVALID_CREDENTIALS", "error_description": "Invalid request credentials"}, status=401)
        method = parts[3].removesuffix(".json")
        self.stats["requests"] += 1
        if not self._admit():
            self.stats["rejected_503"] += 1
            return web.json_response({"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"},
                                     status=503)
        if self.fail_rate and self.random.random() < self.fail_rate:
            self.stats["injected_500"] += 1
            return web.json_response({"error": "INTERNAL_SERVER_ERROR", "error_description": "Internal server error"},
                                     status=500)
        late = bool(self.timeout_rate) and self.random.random() < self.timeout_rate
        params = await self._params(request)
        status, body = self.run(method, params)
        if late:  # the work is done, the answer is lost to the client's timeout
            self.stats["injected_timeouts"] += 1
            await asyncio.sleep(self.timeout_s)
        return web.json_response(body, status=status)

    async def _params(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        if "json" in (request.content_type or ""):
            return json.loads(raw or b"{}")
        pairs = parse_qsl(raw.decode(), keep_blank_values=True) + list(request.query.items())
        return parse_php(pairs)

    def _admit(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.level = max(0.0, self.level - (now - self.level_at) * self.leak_per_s)
            self.level_at = now
            if self.level + 1 > self.capacity:
                return False
            self.level += 1
            return True

    # --- methods --------------------------------------------------------------------------------------------

    def run(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.stats[f"method:{method}"] += 1
        handler = {"batch": self._batch, "crm.item.add": self._item_add, "crm.item.list": self._item_list,
                   "crm.timeline.comment.add": self._comment_add, "crm.timeline.comment.list": self._comment_list,
                   "tasks.task.add": self._task_add, "tasks.task.list": self._task_list}.get(method)
        if handler is None:
            return 404, {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}
        try:
            with self.lock:
                result = handler(params)
        except ValueError as exc:
            return 400, {"error": "ERROR_CORE" if method != "crm.item.add" else "INVALID_ARG_VALUE",
                         "error_description": str(exc)}
        return 200, {"result": result, "time": {"start": time.time(), "duration": 0.001}}

    def _new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def _item_add(self, params: dict[str, Any]) -> dict[str, Any]:
        entity = int(params.get("entityTypeId") or 0)
        if entity not in self.items:
            raise ValueError("Unknown entityTypeId")
        fields = dict(params.get("fields") or {})
        if entity in (1, 2) and not fields.get("title"):
            raise ValueError("Не заполнено обязательное поле «Название»")
        item = {"id": self._new_id(), "entityTypeId": entity, **fields}
        self.items[entity][item["id"]] = item
        return {"item": item}

    def _item_list(self, params: dict[str, Any]) -> dict[str, Any]:
        entity = int(params.get("entityTypeId") or 0)
        if entity not in self.items:
            raise ValueError("Unknown entityTypeId")
        flt = params.get("filter") or {}
        items = [i for i in self.items[entity].values()
                 if all(str(i.get(k.lstrip("=@"), "")) == str(v) for k, v in flt.items())]
        return {"items": items[:50]}

    def _comment_add(self, params: dict[str, Any]) -> int:
        fields = params.get("fields") or {}
        entity_type = {"lead": 1, "deal": 2, "contact": 3}.get(str(fields.get("ENTITY_TYPE", "")).lower())
        if entity_type is None or int(fields.get("ENTITY_ID") or 0) not in self.items[entity_type]:
            raise ValueError("Entity not found")
        if not fields.get("COMMENT"):
            raise ValueError("COMMENT is empty")
        comment = {"ID": self._new_id(), **fields}
        self.comments.append(comment)
        return comment["ID"]

    def _comment_list(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        flt = params.get("filter") or {}
        return [c for c in self.comments if str(c.get("ENTITY_ID")) == str(flt.get("ENTITY_ID"))
                and str(c.get("ENTITY_TYPE")).lower() == str(flt.get("ENTITY_TYPE", "")).lower()]

    def _task_add(self, params: dict[str, Any]) -> dict[str, Any]:
        fields = params.get("fields") or {}
        if not fields.get("TITLE"):
            raise ValueError("Не указано название задачи")
        if not fields.get("RESPONSIBLE_ID"):
            raise ValueError("Не указан ответственный")
        task = {"id": str(self._new_id()), "title": fields["TITLE"], "description": fields.get("DESCRIPTION", ""),
                "deadline": fields.get("DEADLINE", ""), "ufCrmTask": fields.get("UF_CRM_TASK") or [],
                "responsibleId": str(fields["RESPONSIBLE_ID"])}
        self.tasks.append(task)
        return {"task": task}

    def _task_list(self, params: dict[str, Any]) -> dict[str, Any]:
        link = str((params.get("filter") or {}).get("UF_CRM_TASK", ""))
        return {"tasks": [t for t in self.tasks if link in t["ufCrmTask"]]}

    def _batch(self, params: dict[str, Any]) -> dict[str, Any]:
        commands = params.get("cmd") or {}
        if isinstance(commands, list):
            commands = {str(i): c for i, c in enumerate(commands)}
        if len(commands) > 50:
            raise ValueError("Max batch length exceeded")
        halt = str(params.get("halt", "0")) in ("1", "true", "Y")
        results: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        for key, command in commands.items():
            method, _, query = str(command).partition("?")
            pairs = [(k, self._substitute(v, results)) for k, v in parse_qsl(query, keep_blank_values=True)]
            handler = {"crm.item.add": self._item_add, "crm.item.list": self._item_list,
                       "crm.timeline.comment.add": self._comment_add, "crm.timeline.comment.list": self._comment_list,
                       "tasks.task.add": self._task_add, "tasks.task.list": self._task_list}.get(method)
            self.stats[f"batch:{method}"] += 1
            try:
                if handler is None:
                    raise ValueError(f"Method {method} not found")
                results[key] = handler(parse_php(pairs))
            except ValueError as exc:
                errors[key] = {"error": "ERROR_CORE", "error_description": str(exc)}
                if halt:
                    break
        return {"result": results or [], "result_error": errors or [], "result_total": [], "result_next": [],
                "result_time": {}}

    @staticmethod
    def _substitute(value: str, results: dict[str, Any]) -> str:
        def one(m: re.Match) -> str:
            node: Any = results.get(m.group(1))
            for step in re.findall(r"\[([^\]]*)\]", m.group(2)):
                if isinstance(node, list) and step.isdigit() and int(step) < len(node):
                    node = node[int(step)]
                elif isinstance(node, dict):
                    node = node.get(step)
                else:
                    node = None
            return "" if node is None else str(node)

        return MACRO.sub(one, value)

    # --- what happened ---------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        with self.lock:
            origins = Counter(i.get("originId") for e in (1, 2) for i in self.items[e].values())
            return {"leads": len(self.items[1]), "deals": len(self.items[2]), "contacts": len(self.items[3]),
                    "comments": len(self.comments), "tasks": len(self.tasks),
                    "duplicates": sum(n - 1 for n in origins.values() if n > 1), "stats": dict(self.stats)}


class Bitrix24Server:
    """The portal on a random port in a background thread: ``with Bitrix24Server() as b: b.webhook_url``."""

    def __init__(self, **portal_options: Any):
        self.portal = Bitrix24Portal(**portal_options)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook_url(self) -> str:
        return self.url + WEBHOOK_PATH + "/"

    def __enter__(self) -> Bitrix24Server:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.portal.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def __exit__(self, *exc: Any) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8111)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--timeout-rate", type=float, default=0.0)
    parser.add_argument("--timeout-s", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    portal = Bitrix24Portal(fail_rate=args.fail_rate, timeout_rate=args.timeout_rate, timeout_s=args.timeout_s,
                            seed=args.seed)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", portal.handle)
    print(f"Bitrix24 stand-in: BITRIX24_WEBHOOK_URL=http://127.0.0.1:{args.port}{WEBHOOK_PATH}/", flush=True)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
