"""A small rehearsal through the real daphne server, Celery worker, simulated carrier, consumer and pipeline."""

from __future__ import annotations

import pytest


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_small_rehearsal_loses_no_call():
    from calls.models import Call
    from calls.simulation import campaign_rehearse
    from crm.models import Lead

    result = campaign_rehearse(contacts=3, seed=3, pace_speed=6.0, concurrency=3, timeout_s=170,
                               shares={"answer": 0.5, "no_answer": 0.25, "busy": 0.25, "voicemail": 0})
    assert result.calls == 3
    assert result.lost == 0, result
    assert result.completed + result.no_answer + result.busy + result.voicemail + result.failed == 3
    assert result.analysed == result.completed
    answered = Call.objects.filter(campaign_id=result.campaign_id, outcome="completed")
    for call in answered:
        assert call.turns.filter(speaker="bot").exists() and call.turns.filter(speaker="user").exists()
        assert call.recording.name.endswith(".wav")
        should_lead = call.crm_status in ("lead", "task")
        assert Lead.objects.filter(call=call).exists() == should_lead
