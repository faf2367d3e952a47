"""daphne's command line with its access log sent through logging, where phone numbers are masked.

daphne writes its access log straight to stdout (or a file), around the logging configuration;
a search for a contact (``GET /admin/calls/contact/?q=%2B79165500003``) put the number there in
full. Run ``python -m config.serve`` with daphne's own arguments instead of ``daphne``.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from daphne.access import AccessLogGenerator
from daphne.cli import CommandLineInterface
from daphne.server import Server

log = logging.getLogger("http.access")


class LoggedAccessLog(AccessLogGenerator):
    """The same NCSA-style line, written to the ``http.access`` logger (masked, JSON in production)."""

    def __init__(self) -> None:
        super().__init__(stream=None)

    def write_entry(self, host, date, request, status=None, length=None, ident=None, user=None) -> None:
        log.info('%s "%s" %s %s', host, request, status or "-", length or "-")


class LoggedAccessServer(Server):
    def __init__(self, *args: Any, action_logger: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, action_logger=LoggedAccessLog() if action_logger else None, **kwargs)


class MaskedCommandLineInterface(CommandLineInterface):
    server_class = LoggedAccessServer


def main(argv: list[str] | None = None) -> None:
    MaskedCommandLineInterface().run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
