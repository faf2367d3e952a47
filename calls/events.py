"""A call's live events: the channel-layer groups they go to, and publishing them there (best effort)."""

from __future__ import annotations

from typing import Any

from config.live_events import group_send, group_send_async

BOARD_GROUP = "calls_board"


def call_group(call_id: int) -> str:
    return f"call_{call_id}"


def campaign_group(campaign_id: int) -> str:
    return f"campaign_{campaign_id}"


def _call_event(call_id: int, campaign_id: int, payload: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """The groups a call's event goes to (the call's, the campaign's, the board's) and the message."""
    message = {"type": "call.event", "payload": {"call_id": call_id, "campaign_id": campaign_id, **payload}}
    return [call_group(call_id), campaign_group(campaign_id), BOARD_GROUP], message


async def call_publish_async(*, call_id: int, campaign_id: int, payload: dict[str, Any]) -> None:
    """Publish a call's live event from an event loop (the media consumer), best effort."""
    await group_send_async(*_call_event(call_id, campaign_id, payload))


async def call_publish_pipeline(*, call_id: int, campaign_id: int, payload: dict[str, Any]) -> None:
    """A live call's transcript lines and mind states: only its own page shows them, so only its group gets them.

    Several such events a second per call would otherwise go to the campaign's and the board's groups
    as well (three Redis round trips each), which nobody there reads.
    """
    _, message = _call_event(call_id, campaign_id, payload)
    await group_send_async([call_group(call_id)], message)


def call_publish(*, call_id: int, campaign_id: int, payload: dict[str, Any]) -> None:
    """Publish a call's live event from sync code (services, tasks), best effort."""
    group_send(*_call_event(call_id, campaign_id, payload))
