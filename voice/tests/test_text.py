"""Sentence splitting of streamed text and the finished-sentence heuristic."""

from __future__ import annotations

import pytest

from voice.text import SentenceSplitter, looks_finished


def stream(text: str, step: int = 3, **kwargs) -> list[str]:
    splitter = SentenceSplitter(**kwargs)
    out: list[str] = []
    for i in range(0, len(text), step):
        out += splitter.push(text[i : i + step])
    return out + splitter.flush()


@pytest.mark.parametrize("step", [1, 3, 50])
def test_russian_sentences_with_abbreviations_and_numbers(step):
    text = "Здравствуйте! Меня зовут Анна, т.е. ваш менеджер. Тариф стоит 3.5 тыс. руб. в месяц. Вам удобно?"
    assert stream(text, step) == [
        "Здравствуйте!",
        "Меня зовут Анна, т.е. ваш менеджер.",
        "Тариф стоит 3.5 тыс. руб. в месяц.",
        "Вам удобно?",
    ]


def test_english_and_mixed_terminators():
    text = "Hello there! Dr. Smith will call you at 5 p.m. tomorrow. Really?! Great… See you."
    assert stream(text, 4) == ["Hello there!", "Dr. Smith will call you at 5 p.m. tomorrow.", "Really?! Great…",
                               "See you."]


def test_short_sentences_are_joined():
    assert stream("Да. Конечно, расскажу подробнее.", 2) == ["Да. Конечно, расскажу подробнее."]
    assert stream("Да.", 1) == ["Да."]  # flush still returns a short tail


def test_lowercase_after_period_is_not_a_sentence_end():
    assert stream("Мы работаем с 9 ч. утра и до вечера. Приходите.", 5) == [
        "Мы работаем с 9 ч. утра и до вечера.", "Приходите.",
    ]


def test_sentence_is_emitted_as_soon_as_the_next_one_starts():
    splitter = SentenceSplitter()
    assert splitter.push("Добрый день, Иван!") == []  # could still be followed by "?" or a quote
    assert splitter.push(" Как") == ["Добрый день, Иван!"]


def test_run_on_text_is_cut_at_a_comma():
    text = "Наш сервис помогает, " * 20
    parts = stream(text, 7, max_chars=80)
    assert len(parts) > 3
    assert all(len(p) <= 100 for p in parts)
    assert " ".join(parts).split() == text.split()


def test_quotes_and_newlines():
    assert stream("Он сказал «хорошо». Потом он ушёл домой\nНовая строка тут", 3) == [
        "Он сказал «хорошо».", "Потом он ушёл домой", "Новая строка тут",
    ]


@pytest.mark.parametrize(
    ("text", "finished"),
    [("Да, мне это интересно.", True), ("Сколько это стоит?", True), ("ну хорошо", True), ("Thank you", True),
     ("я думаю что", False), ("Подождите...", False), ("", False), ("и ещё", False)],
)
def test_looks_finished(text, finished):
    assert looks_finished(text) is finished
