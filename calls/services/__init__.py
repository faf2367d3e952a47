"""Writes for campaigns, contacts and calls, one module per concern.

- ``contacts``: contact lists, contacts, the do-not-call list, CSV/XLSX import;
- ``lifecycle``: the call's state machine (``call_transition`` and its batch ``calls_transition`` are the
  only functions that change ``Call.status``), carrier progress, hang-up, the sweeper, what else a live call logs;
- ``planning``: calling windows, the day's plan under the concurrency cap, dispatching due calls;
- ``schedules``: campaign save and delete, and their beat schedules;
- ``dialing``: placing a queued call, single calls;
- ``after_call``: turns and the recording, analysis, follow-up, CRM, callbacks.

Reads live in ``calls.selectors``, media tokens and URLs in ``calls.media_auth``, live event groups and
publishing in ``calls.events``. This package re-exports the lot, so other apps may keep writing
``from calls import services; services.call_place(...)``; code inside ``calls`` imports the module itself.
"""

from calls.events import (
    BOARD_GROUP,
    call_group,
    call_publish,
    call_publish_async,
    call_publish_pipeline,
    campaign_group,
)
from calls.media_auth import MEDIA_TOKEN_SALT, call_media_token, call_media_token_valid, call_media_url, public_url
from calls.models import ACTIVE_STATUSES, AFTER_END_STATUSES, FINAL_STATUSES, LIVE_STATUSES
from calls.selectors import (
    LIVE_FOR_MEDIA,
    CallMediaContext,
    call_event_data,
    call_media_context,
    call_media_contexts,
    script_with_greeting,
)
from calls.services.after_call import (
    call_after_work,
    call_analyse,
    call_recording_save,
    call_turn_add,
    call_turns_add,
    callback_schedule,
)
from calls.services.contacts import (
    IMPORT_FORMATS,
    ImportReport,
    RowProblem,
    contact_delete,
    contact_list_delete,
    contact_list_save,
    contact_save,
    contacts_import,
    do_not_call_delete,
    do_not_call_save,
)
from calls.services.dialing import (
    COUNTRY_ZONES,
    SINGLE_CALLS_LIST,
    PlaceResult,
    SingleCallError,
    call_place,
    call_provider_id_seen,
    call_single_start,
)
from calls.services.lifecycle import (
    OPERATOR_EVENT_KINDS,
    PROGRESS,
    PROGRESS_OUTCOMES,
    STUCK_AFTER_S,
    SWEEP_BATCH,
    TRANSITIONS,
    IllegalTransition,
    call_fail,
    call_hangup,
    call_language_heard,
    call_media_not_started,
    call_operator_event,
    call_progress,
    call_transition,
    calls_progress,
    calls_sweep,
    calls_transition,
)
from calls.services.planning import (
    DISPATCH_HORIZON,
    LOCAL_EARLIEST,
    LOCAL_LATEST,
    PLAN_BATCH,
    REDISPATCH_AFTER,
    PlanResult,
    calling_window,
    calls_dispatch_due,
    campaign_concurrency,
    campaign_plan,
    contact_retry_plan,
    live_capacity,
    media_max_streams,
    stt_max_conversations,
)
from calls.services.schedules import (
    DEFAULT_PLAN_CRON,
    DISPATCH_TASK,
    PLAN_TASK,
    CampaignHasCalls,
    campaign_delete,
    campaign_plan_now,
    campaign_save,
    campaign_schedule_sync,
)

__all__ = [
    "ACTIVE_STATUSES", "AFTER_END_STATUSES", "BOARD_GROUP", "COUNTRY_ZONES", "DEFAULT_PLAN_CRON", "DISPATCH_HORIZON",
    "DISPATCH_TASK", "FINAL_STATUSES", "IMPORT_FORMATS", "LIVE_FOR_MEDIA", "LIVE_STATUSES", "LOCAL_EARLIEST",
    "LOCAL_LATEST", "MEDIA_TOKEN_SALT", "OPERATOR_EVENT_KINDS", "PLAN_BATCH", "PLAN_TASK", "PROGRESS",
    "PROGRESS_OUTCOMES", "REDISPATCH_AFTER", "SINGLE_CALLS_LIST", "STUCK_AFTER_S", "SWEEP_BATCH", "TRANSITIONS",
    "CallMediaContext", "CampaignHasCalls", "IllegalTransition", "ImportReport", "PlaceResult", "PlanResult",
    "RowProblem", "SingleCallError", "call_after_work", "call_analyse", "call_event_data", "call_fail", "call_group",
    "call_hangup", "call_language_heard", "call_media_context", "call_media_contexts", "call_media_not_started",
    "call_media_token", "call_media_token_valid", "call_media_url", "call_operator_event", "call_place",
    "call_progress",
    "call_provider_id_seen", "call_publish", "call_publish_async", "call_publish_pipeline", "call_recording_save",
    "call_single_start", "call_transition", "call_turn_add", "call_turns_add", "callback_schedule", "calling_window",
    "calls_dispatch_due", "calls_progress", "calls_sweep", "calls_transition", "campaign_concurrency",
    "campaign_delete", "campaign_group", "campaign_plan", "campaign_plan_now", "campaign_save",
    "campaign_schedule_sync", "contact_delete", "contact_list_delete", "contact_list_save", "contact_retry_plan",
    "contact_save", "contacts_import", "do_not_call_delete", "do_not_call_save", "live_capacity", "media_max_streams",
    "public_url", "script_with_greeting", "stt_max_conversations",
]
