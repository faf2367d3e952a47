"""daphne serving this project from a background thread of the current process (rehearsals and tests).

Twisted's reactor cannot be restarted, so there is one server per process, started on first use and
left running until the process exits; every caller gets the same address.
"""

from __future__ import annotations

import socket
import threading
import time

from daphne.server import Server  # installs the asyncio reactor before anything imports Twisted's
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

_lock = threading.Lock()
_url: str | None = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def live_server_url(timeout_s: float = 20.0) -> str:
    """Start (once) and return ``http://127.0.0.1:<port>`` of the in-process ASGI server."""
    global _url
    with _lock:
        if _url is not None:
            return _url
        from config.asgi import application  # noqa: PLC0415  importing config.asgi builds the ASGI app and runs its start-up: only for a live server

        port = _free_port()
        ready = threading.Event()
        # static files from the finders, as runserver does, so pages work without collectstatic
        server = Server(ASGIStaticFilesHandler(application), endpoints=[f"tcp:port={port}:interface=127.0.0.1"],
                        signal_handlers=False, ready_callable=ready.set, verbosity=0)
        threading.Thread(target=server.run, name="daphne", daemon=True).start()
        if not ready.wait(timeout_s):
            raise RuntimeError("daphne did not start")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:  # the socket listens right after the ready call
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    _url = f"http://127.0.0.1:{port}"
                    return _url
            time.sleep(0.05)
        raise RuntimeError("daphne did not start listening")
