"""The rubric, the metrics and the advice on hand-made transcripts whose answers were counted by hand."""

from __future__ import annotations

from training.scoring import Line, compute_metrics, end_phrase_matches, filler_counts, questions_in, score_transcript

U, B = "user", "bot"

GOOD_RU = [
    Line(B, "Алло."),
    Line(U, "Здравствуйте! Меня зовут Анна, компания КаргоЛайн. Звоню по поводу доставки грузов из Китая."),
    Line(B, "Так, и что?"),
    Line(U, "Скажите, как вы сейчас возите грузы? Сколько контейнеров в месяц?"),
    Line(B, "Возим мебель из Фошань, два контейнера в месяц."),
    Line(U, "Вы сказали, два контейнера мебели — мы доставим за 25 дней и сэкономим вам 10 процентов."),
    Line(B, "Дорого, если честно."),
    Line(U, "Понимаю вас. А сколько вы платите сейчас за контейнер?"),
    Line(B, "Около трёх тысяч долларов, иногда больше, зависит от сезона и от того, какая линия свободна. "
         "Нас в целом всё устраивает, но посмотрим."),
    Line(U, "Давайте я пришлю расчёт, и созвонимся завтра в 11? Спасибо!"),
]


def test_good_russian_call_scores_every_stage():
    r = score_transcript(lines=GOOD_RU, language="ru")
    by_key = {s.key: s for s in r.stages}
    assert [c.key for c in by_key["greeting"].checks if not c.passed] == []
    assert [c.key for c in by_key["presentation"].checks if not c.passed] == []
    assert [c.key for c in by_key["objections"].checks if not c.passed] == []
    assert [c.key for c in by_key["closing"].checks if not c.passed] == []
    # trainee words 13+10+15+9+10 = 57 of 57+37 -> 60.6% <= 65: listens passes; every check passes
    assert r.metrics.trainee_words == 57
    assert r.metrics.customer_words == 37
    assert r.metrics.talk_ratio == 60.6
    assert r.total == 100
    assert r.metrics.questions_asked == 4
    assert r.metrics.open_questions == 3  # как, сколько, сколько; «Давайте ... в 11?» is closed
    assert r.metrics.objections_met == 1 and r.metrics.objections_handled == 1
    assert r.metrics.filler_words == 0


def test_poor_call_partial_credit_and_known_total():
    lines = [
        Line(B, "Hello?"),
        Line(U, "Um, so, we sell logistics services."),  # no greeting, no name, no purpose phrase
        Line(B, "We already have a carrier."),
        Line(U, "You're wrong, ours is the best."),  # argues: objection not handled
        Line(B, "Goodbye."),
    ]
    r = score_transcript(lines=lines, language="en")
    stages = {s.key: s for s in r.stages}
    assert stages["greeting"].share == 0
    # discovery: 0 questions, no open one, talk ratio 12/(12+7)=63.2% listens -> 1 of 3
    assert r.metrics.talk_ratio == 63.2
    assert [c.passed for c in stages["discovery"].checks] == [False, False, True]
    # presentation: no benefit, no tie (no content-word overlap), no numbers -> 0
    assert stages["presentation"].share == 0
    # objections: answered (1), acknowledged (0, argued), handled (0) -> 1 of 3
    assert [c.passed for c in stages["objections"].checks] == [True, False, False]
    # closing: nothing -> 0
    assert stages["closing"].share == 0
    # (0 + 20/3 + 0 + 20/3 + 0) / 100 = 13.3 -> 13
    assert r.total == 13
    assert r.metrics.filler_words == 1 and r.metrics.fillers_found == {"um": 1}
    # advice quotes the trainee's own lines
    assert any("Um, so, we sell logistics services." in a for a in r.advice)
    assert any("You're wrong, ours is the best." in a for a in r.advice)


def test_no_objection_means_stage_not_applicable_and_scaled():
    lines = [
        Line(U, "Hello, my name is Bob from Acme. I'm calling about freight."),
        Line(B, "Okay."),
        Line(U, "Thank you, goodbye."),
    ]
    r = score_transcript(lines=lines, language="en")
    objections = next(s for s in r.stages if s.key == "objections")
    assert not objections.applicable and all(c.passed is None for c in objections.checks)
    # greeting 3/3 (20), discovery: 0 questions, listens? 13/(13+1) words = 92.9% -> 0 of 3,
    # presentation 0/3, closing: polite 1/3 (6.67): (20 + 6.67) / 80 = 33.3%
    assert r.total == 33


def test_metrics_from_timings_monologue_interruptions_and_fillers():
    lines = [
        Line(B, "Алло, слушаю.", 0, 1000),
        Line(U, "Ну, короче, мы как бы возим грузы.", 1500, 4500),
        Line(U, "Э-э, типа из Китая.", 4600, 6600),
        Line(B, "Мне это неинтересно, не звоните", 7000, 8000, interrupted=True),
        Line(U, "Понимаю. Что для вас сейчас важнее всего в доставке?", 8100, 11100),
    ]
    m = compute_metrics(lines=lines, language="ru")
    assert m.talk_basis == "time"
    assert m.talk_ratio == 80.0  # 8 s of 10 s
    assert m.longest_monologue_s == 5.0  # the first two trainee lines run together
    assert m.longest_monologue_words == 11
    assert m.interruptions == 1
    assert m.fillers_found == {"ну": 1, "короче": 1, "как бы": 1, "э-э": 1, "типа": 1}
    assert m.filler_words == 5
    assert m.trainee_words == 20  # 7 + 4 + 9; «э-э» is one word
    assert m.filler_rate == 25.0
    assert m.questions_asked == 1 and m.open_questions == 1
    assert m.objections_met == 1 and m.objections_handled == 1


def test_question_detection_without_punctuation():
    assert questions_in("How do you ship today") == ["How do you ship today"]
    assert questions_in("We ship fast. Is that useful?") == ["Is that useful?"]
    assert questions_in("Мы возим быстро.") == []
    assert filler_counts("Ну это, короче, такой вот вариант", "ru") == {"ну": 1, "короче": 1, "вот": 1}


def test_empty_conversation_scores_zero_with_advice():
    r = score_transcript(lines=[Line(B, "Алло?")], language="ru")
    assert r.total == 0
    assert r.advice and "Разговора почти не было" in r.advice[0]


def test_end_phrase_fuzzy():
    assert end_phrase_matches(text="Ну всё, завершить.", phrase="Завершить")
    assert end_phrase_matches(text="Завершит", phrase="Завершить")  # recognition dropped a letter
    assert end_phrase_matches(text="Okay. Finish session.", phrase="finish session")
    assert end_phrase_matches(text="finish sessions", phrase="finish session")
    for said in ("OK, finish the session now.", "Okay, finish this session now.", "Please finish my session"):
        assert end_phrase_matches(text=said, phrase="finish session"), said
    assert end_phrase_matches(text="Завершить эту сессию, пожалуйста", phrase="Завершить сессию")
    assert not end_phrase_matches(text="Let's discuss the session price", phrase="finish session")
    assert not end_phrase_matches(text="", phrase="Завершить")
