"""``TurnAssembler``: pipeline events in, the conversation's lines out, with no database and no clock of its own."""

from __future__ import annotations

from voice.events import (
    BotTextChunk,
    BotTurnFinished,
    ConversationEnded,
    DirectiveEvent,
    MindState,
    StateChanged,
    TurnMetrics,
    UserSpeechStarted,
    UserTranscript,
)
from voice.turns import Speaker, TurnAssembler, TurnRecord


def assembler(*, verdict_on_user: bool) -> TurnAssembler:
    # events are dated in seconds from the conversation's start: ms_at is the identity in milliseconds
    return TurnAssembler(ms_at=lambda at: round(at * 1000), verdict_on_user=verdict_on_user)


def feed_all(turns: TurnAssembler, events: list) -> list[TurnRecord]:
    out: list[TurnRecord] = []
    for event in events:
        out += turns.feed(event)
    return out


def answered_turn(index: int = 1, *, meta: dict) -> list:
    """The person speaks 1.0–2.0 s; the final transcript at 2.5 s; the answer plays 3.0–4.0 s."""
    return [
        UserSpeechStarted(at=1.0),
        UserTranscript(text="Сколько стоит?", final=False, turn_index=index, at=1.5),  # a partial: no line
        UserTranscript(text="Сколько стоит?", final=True, turn_index=index, at=2.5),
        DirectiveEvent(kind="meta", data=meta, turn_index=index, at=2.7),
        BotTextChunk(text="Тысяча рублей.", turn_index=index, at=2.8),
        TurnMetrics(turn_index=index, eou_ms=300.0, stt_ms=200.0, ttft_ms=100.0, tts_ttfb_ms=50.0,
                    voice_to_voice_ms=1000.0, stt_queue_wait_ms=5.0, at=3.0),
        StateChanged(state=MindState.SPEAKING, at=3.0),
        BotTurnFinished(text="Тысяча рублей.", full_text="Тысяча рублей.", turn_index=index, audio_ms=1000.0,
                        at=4.0),
    ]


def test_a_salespersons_verdict_goes_on_the_persons_line_and_on_the_answer():
    turns = assembler(verdict_on_user=True)
    lines = feed_all(turns, answered_turn(meta={"stage": "price", "intent": "ask_price", "objection": None}))
    user, bot = lines
    # the line ends where the speech ended: the transcript came after the silence and the STT time
    assert user == TurnRecord(speaker="user", text="Сколько стоит?", started_ms=1000, ended_ms=2000,
                              intent="ask_price")
    assert bot == TurnRecord(speaker="bot", text="Тысяча рублей.", started_ms=3000, ended_ms=4000, stage="price",
                             intent="ask_price", eou_ms=300.0, stt_ms=200.0, ttft_ms=100.0, tts_ttfb_ms=50.0,
                             voice_to_voice_ms=1000.0, stt_queue_wait_ms=5.0)
    assert user.speaker == Speaker.USER and turns.flush() == []


def test_a_practice_customer_labels_only_its_own_line_and_its_objection_is_its_intent():
    lines = feed_all(assembler(verdict_on_user=False),
                     answered_turn(meta={"intent": "objection_price", "objections": ["price"]}))
    user, bot = lines
    assert user.intent == "" and user.objection == ""
    assert (bot.intent, bot.objection) == ("objection_price", "objection_price")


def test_the_salesperson_names_the_objection_it_handled():
    lines = feed_all(assembler(verdict_on_user=True),
                     answered_turn(meta={"intent": "objection_busy", "objection": "busy", "stage": "objections"}))
    assert lines[1].objection == "busy"


def test_the_persons_line_waits_for_the_answer_of_its_turn():
    turns = assembler(verdict_on_user=True)
    assert turns.feed(UserTranscript(text="Нет.", final=True, turn_index=1, at=1.0)) == []
    assert turns.feed(DirectiveEvent(kind="meta", data={"intent": "refuse"}, turn_index=1, at=1.1)) == []
    [user, bot] = turns.feed(BotTurnFinished(text="Понимаю.", full_text="Понимаю.", turn_index=1, audio_ms=500,
                                             at=2.0))
    assert (user.text, user.intent, bot.text, bot.intent) == ("Нет.", "refuse", "Понимаю.", "refuse")


def test_the_stage_holds_until_changed_and_a_fixed_phrase_carries_no_stale_intent():
    turns = assembler(verdict_on_user=True)
    feed_all(turns, answered_turn(1, meta={"stage": "price", "intent": "ask_price"}))
    # a silence prompt: a turn of its own with no verdict
    [prompt] = turns.feed(BotTurnFinished(text="Вы меня слышите?", full_text="Вы меня слышите?", turn_index=2,
                                          audio_ms=800, at=9.0))
    assert (prompt.stage, prompt.intent) == ("price", "")
    assert prompt.started_ms == 8200  # no metrics: the audio's length before its end
    turns.feed(DirectiveEvent(kind="stage", data={"stage": "closing"}, turn_index=3, at=10.0))
    [line] = turns.feed(BotTurnFinished(text="До свидания.", full_text="До свидания.", turn_index=3, at=11.0))
    assert line.stage == "closing"


def test_a_line_nobody_answered_comes_out_before_the_next_one():
    turns = assembler(verdict_on_user=True)
    turns.feed(UserTranscript(text="Алло?", final=True, turn_index=1, at=1.0))
    # the bot was cut off before it said anything, and the pipeline did not carry the words on
    [unanswered] = turns.feed(UserTranscript(text="Кто это?", final=True, turn_index=2, at=3.0))
    assert (unanswered.text, unanswered.ended_ms, unanswered.intent) == ("Алло?", 1000, "")
    assert [r.text for r in turns.flush()] == ["Кто это?"]


def test_words_carried_into_the_next_utterance_are_not_given_twice():
    turns = assembler(verdict_on_user=True)
    turns.feed(UserTranscript(text="Да, но", final=True, turn_index=1, at=1.0))
    assert turns.feed(UserTranscript(text="Да, но сколько это стоит?", final=True, turn_index=2, at=3.0)) == []
    [line] = turns.feed(BotTurnFinished(text="", full_text="", turn_index=2, at=4.0))
    assert line.text == "Да, но сколько это стоит?"


def test_the_end_gives_out_what_waits_and_noise_is_no_line():
    turns = assembler(verdict_on_user=False)
    assert turns.feed(UserTranscript(text=" ... ", final=True, turn_index=1, at=1.0)) == []
    assert turns.feed(UserTranscript(text="", final=True, turn_index=1, recognised=False, at=1.0)) == []
    turns.feed(UserTranscript(text="Хорошо.", final=True, turn_index=2, at=2.0))
    [line] = turns.feed(ConversationEnded(at=3.0))
    assert line.text == "Хорошо." and turns.flush() == []


def test_an_interrupted_answer_keeps_what_was_heard_and_never_ends_before_it_starts():
    turns = assembler(verdict_on_user=True)
    turns.feed(TurnMetrics(turn_index=1, at=5.0, stt_missed=True))
    [bot] = turns.feed(BotTurnFinished(text="Наша", full_text="Наша компания", turn_index=1, interrupted=True,
                                       audio_ms=400, at=4.9))  # dated a little before the metrics
    assert bot.interrupted and bot.stt_missed and bot.started_ms == bot.ended_ms == 5000


def unvoiced_answer(index: int = 1, *, text: str = "", interrupted: bool = False) -> list:
    """The person's line, then an answer whose every sentence the TTS failed on (``voiced`` False)."""
    return [
        UserTranscript(text="Сколько стоит?", final=True, turn_index=index, at=1.0),
        TurnMetrics(turn_index=index, ttft_ms=100.0, at=1.5),  # no audio: no tts_ttfb_ms
        BotTurnFinished(text=text, full_text="Тысяча рублей.", turn_index=index, voiced=False,
                        interrupted=interrupted, at=2.0),
    ]


def test_an_answer_the_voice_failed_on_is_no_line_of_what_was_heard_by_default():
    # a call's transcript is what the callee heard: the words the TTS failed on were never said there
    lines = feed_all(assembler(verdict_on_user=True), unvoiced_answer())
    assert [(r.speaker, r.text) for r in lines] == [("user", "Сколько стоит?")]
    # with the apology voiced in its place, the line is the apology, as it was heard
    lines = feed_all(assembler(verdict_on_user=True), unvoiced_answer(text="Извините, повторите, пожалуйста."))
    assert [(r.text, r.voiced) for r in lines[1:]] == [("Извините, повторите, пожалуйста.", True)]


def test_kept_unvoiced_the_answer_is_the_responders_words_marked_not_voiced():
    turns = TurnAssembler(ms_at=lambda at: round(at * 1000), verdict_on_user=False, keep_unvoiced=True)
    user, bot = feed_all(turns, unvoiced_answer())
    assert user.voiced and user.text == "Сколько стоит?"
    assert bot == TurnRecord(speaker="bot", text="Тысяча рублей.", started_ms=1500, ended_ms=2000, ttft_ms=100.0,
                             voiced=False)
    # the apology that could be voiced is not the customer's answer: its words are
    [_, bot] = feed_all(TurnAssembler(ms_at=lambda at: round(at * 1000), verdict_on_user=False, keep_unvoiced=True),
                        unvoiced_answer(text="Извините, повторите, пожалуйста."))
    assert (bot.text, bot.voiced) == ("Тысяча рублей.", False)
    # a voiced answer is as it was
    [_, bot] = feed_all(TurnAssembler(ms_at=lambda at: round(at * 1000), verdict_on_user=False, keep_unvoiced=True),
                        answered_turn(meta={}))
    assert (bot.text, bot.voiced) == ("Тысяча рублей.", True)


def test_kept_unvoiced_an_interrupted_answer_still_keeps_only_what_was_played():
    turns = TurnAssembler(ms_at=lambda at: round(at * 1000), verdict_on_user=False, keep_unvoiced=True)
    [_, bot] = feed_all(turns, unvoiced_answer(text="Извините,", interrupted=True))
    assert (bot.text, bot.interrupted, bot.voiced) == ("Извините,", True, True)
