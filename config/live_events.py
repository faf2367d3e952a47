"""Publishing to channel-layer groups from sync code (services, tasks) without holding a thread."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)


async def group_send_async(groups: Iterable[str], message: dict[str, Any], *, layer=None) -> None:
    """Send ``message`` to each group (on ``layer``, else the default one), best effort: live pages are a
    convenience, never a reason to fail."""
    groups = list(groups)
    layer = layer if layer is not None else get_channel_layer()
    if layer is None:
        return
    try:
        many = getattr(layer, "group_send_many", None)  # config.channel_layer: fewer round trips
        if many is not None:
            await many(groups, message)
        else:
            for group in groups:
                await layer.group_send(group, message)
    except Exception:
        log.warning("publishing %s to %s failed", message.get("type"), groups, exc_info=True)


def group_send(groups: Iterable[str], message: dict[str, Any]) -> None:
    """``group_send_async`` from sync code.

    In a thread that ``sync_to_async`` started (a consumer's or an ASGI view's database work),
    ``async_to_sync`` would run the send on the server's event loop and block this thread until it
    is done, and that thread is the one all database work of the process queues on. There the send
    is scheduled on the loop and this returns at once; elsewhere (Celery, commands) it sends now.
    """
    groups = list(groups)
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    same_process = getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) == os.getpid()
    if loop is not None and same_process and loop.is_running():
        asyncio.run_coroutine_threadsafe(group_send_async(groups, message), loop)
        return
    async_to_sync(_bounded_send)(groups, message)


async def _bounded_send(groups: list[str], message: dict[str, Any]) -> None:
    # From a worker thread whose loop is gone (a pooled thread outliving the loop that started it) the
    # send runs on a fresh loop; it may never block its caller: a live page is not worth a stuck call.
    try:
        async with asyncio.timeout(SYNC_SEND_TIMEOUT_S):
            await group_send_async(groups, message)
    except TimeoutError:
        log.warning("publishing %s to %s timed out", message.get("type"), groups)


SYNC_SEND_TIMEOUT_S = 5.0
