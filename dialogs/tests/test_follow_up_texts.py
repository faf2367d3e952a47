"""Follow-up and summary texts come from the script's own phrases (with variables) or neutral gettext defaults,
never from the freight demo's wording when a campaign sells something else."""

from __future__ import annotations

import copy

import pytest

from dialogs.analysis import analyse_transcript
from dialogs.scriptmap import demo_map, validate_map

INTERESTED_RU = [("bot", "Здравствуйте!"), ("user", "Да, интересно, пришлите предложение"),
                 ("user", "Моя почта ivan@okna.ru")]
CALLBACK_RU = [("bot", "Здравствуйте!"), ("user", "Сейчас неудобно, перезвоните завтра в 10")]


def _windows_map(language: str = "ru") -> dict:
    """The demo map turned into another product: no follow-up phrases of its own."""
    data = copy.deepcopy(demo_map(language))
    data["variables"] = {**data["variables"], "company": "ОкнаПро", "product": "пластиковые окна"}
    for kind in [k for k in data["phrases"] if k.startswith("follow_up_")]:
        del data["phrases"][kind]
    return data


def test_a_script_without_follow_up_phrases_gets_neutral_texts_with_its_own_variables():
    r = analyse_transcript(INTERESTED_RU, script_map=_windows_map(), language="ru",
                           variables={"contact": {"name": "Иван"}})
    assert r.disposition == "interested"
    assert "Иван" in r.follow_up and "ОкнаПро" in r.follow_up
    for freight in ("логист", "Китая", "расчёт"):
        assert freight not in r.follow_up and freight not in r.summary
    assert r.summary.startswith("Клиент заинтересован")


def test_callback_texts_carry_the_time_the_customer_named():
    r = analyse_transcript(CALLBACK_RU, script_map=_windows_map(), language="ru")
    assert r.disposition == "callback"
    assert "завтра в 10" in r.follow_up and "завтра в 10" in r.summary


def test_english_campaigns_get_english_texts():
    data = _windows_map("en")
    r = analyse_transcript([("bot", "Hello!"), ("user", "I'm busy, call me tomorrow at 10")], script_map=data,
                           language="en")
    assert r.disposition == "callback"
    assert r.follow_up.startswith("Many thanks!") and "tomorrow at 10" in r.follow_up
    assert r.summary.startswith("The customer asked to call back")


def test_the_scripts_own_phrase_wins_and_is_rendered_with_variables():
    data = _windows_map()
    data["phrases"]["follow_up_interested"] = ["{{contact.name}}, замерщик {{company}} позвонит вам сегодня."]
    assert validate_map(data) == []
    r = analyse_transcript(INTERESTED_RU, script_map=data, language="ru", variables={"contact": {"name": "Иван"}})
    assert r.follow_up == "Иван, замерщик ОкнаПро позвонит вам сегодня."


@pytest.mark.parametrize("language", ["ru", "en"])
def test_the_freight_demo_keeps_its_own_wording_in_its_script(language):
    data = demo_map(language)
    assert data["phrases"]["follow_up_interested"] and validate_map(data) == []
