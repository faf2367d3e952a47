"""Classifier accuracy on the labelled sets (printed per label) and slot extraction."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from dialogs.classifier import ALL_LABELS, LABELS, classify, get_classifier
from dialogs.slots import find_phone, normalise_phone, spoken_numbers

DATA = Path(__file__).resolve().parent.parent / "data"


def _load(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def _accuracy(name: str, language: str) -> tuple[float, dict[str, tuple[int, int]], list[tuple[str, str, str]]]:
    clf = get_classifier(language)
    ok, total, errors = Counter(), Counter(), []
    for row in _load(name):
        got = clf.classify(row["text"]).label
        total[row["label"]] += 1
        if got == row["label"]:
            ok[row["label"]] += 1
        else:
            errors.append((row["text"], row["label"], got))
    per_label = {label: (ok[label], total[label]) for label in total}
    print(f"\n{name}: {sum(ok.values())}/{sum(total.values())} = {sum(ok.values()) / sum(total.values()):.3f}")
    for label, (good, n) in sorted(per_label.items()):
        print(f"  {label:30s} {good:3d}/{n:<3d} {good / n:.2f}")
    for text, want, got in errors:
        print(f"  MISS {want} -> {got}: {text}")
    return sum(ok.values()) / sum(total.values()), per_label, errors


def test_dataset_is_large_varied_and_labelled_with_known_labels():
    rows = _load("labelled_ru.jsonl")
    assert len(rows) >= 300
    counts = Counter(r["label"] for r in rows)
    assert set(counts) == set(ALL_LABELS)
    assert min(counts.values()) >= 15
    assert len({r["text"].lower() for r in rows}) == len(rows)
    assert len(_load("labelled_en.jsonl")) >= 60


def test_russian_accuracy_at_least_90_percent():
    acc, per_label, _ = _accuracy("labelled_ru.jsonl", "ru")
    assert acc >= 0.90
    assert all(good / n >= 0.7 for good, n in per_label.values())


def test_russian_holdout_written_after_the_lexicon():
    # A smaller set phrased after the lexicon existed; see the report for its first, untuned score (0.83).
    acc, _, _ = _accuracy("labelled_ru_holdout.jsonl", "ru")
    assert acc >= 0.85


def test_english_accuracy_at_least_85_percent():
    acc, _, _ = _accuracy("labelled_en.jsonl", "en")
    assert acc >= 0.85


def test_below_threshold_is_other_and_odd_input_never_crashes():
    for text in ["", "   ", "хм", "???", "😀", "x" * 5000, "12345", "\x00\x01"]:
        c = classify(text)
        assert c.label in ALL_LABELS
        assert 0.0 <= c.confidence <= 1.0
    assert classify("").label == "other"


def test_typos_and_negation():
    assert classify("неинтерестно").label == "objection_not_interested"
    assert classify("нас это не интерисует").label == "objection_not_interested"
    assert classify("да, интересно").label == "agree"
    assert classify("дароговато").label == "objection_too_expensive"


def test_script_phrases_extend_the_classifier():
    script_map = {"intents": {"objection_has_supplier": ["мы дружим с китайской почтой"]}}
    assert classify("мы дружим с китайской почтой", "ru", script_map).label == "objection_has_supplier"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("пишите на почту Ivanov@StroyTorg.ru", {"email": "ivanov@stroytorg.ru"}),
        ("мой телефон 8 916 123 45 67", {"phone": "+79161234567"}),
        ("звоните 9161234567", {"phone": "+79161234567"}),
        ("Телефон +7 (912) 345-67-89, спросите Дмитрия", {"phone": "+79123456789", "name": "Дмитрий"}),
        ("Меня зовут Анна, почта anna.k@mail.ru", {"email": "anna.k@mail.ru", "name": "Анна"}),
        ("Меня Наталья зовут, номер восемь девятьсот шестнадцать сто двадцать три сорок пять шестьдесят семь",
         {"phone": "+79161234567", "name": "Наталья"}),
        ("записывай: olga собака yandex точка ru", {"email": "olga@yandex.ru"}),
    ],
)
def test_contact_slots(text, expected):
    c = classify(text)
    assert c.label == "give_contact"
    for key, value in expected.items():
        assert c.slots[key] == value


@pytest.mark.parametrize(
    ("text", "cargo", "origin", "kg"),
    [
        ("посчитайте мне доставку двадцати тонн из Шанхая", None, "Шанхай", 20000),
        ("Сколько будет стоить привезти 5 тонн одежды из Гуанчжоу?", "одежда", "Гуанчжоу", 5000),
        ("есть партия электроники, 800 кг, из Шэньчжэня, сколько выйдет?", "электроника", "Шэньчжэнь", 800),
        ("Рассчитайте доставку мебели из Фошаня, примерно двенадцать тонн", "мебель", "Фошань", 12000),
        ("Нам нужно привезти оборудование, полторы тонны, из Пекина", "оборудование", "Пекин", 1500),
        ("мне бы посчитать доставку сантехники, тонн пятнадцать, из Ханчжоу", "сантехника", "Ханчжоу", 15000),
        ("can you quote twenty tons of steel from Shanghai", "steel", "Shanghai", 20000),
    ],
)
def test_quote_slots(text, cargo, origin, kg):
    c = classify(text, "en" if text.isascii() else "ru")
    assert c.label == "request_quote"
    assert c.slots.get("origin") == origin
    assert c.slots.get("weight_kg") == kg
    if cargo:
        assert c.slots.get("cargo") == cargo


def test_callback_time_slot_with_busy():
    c = classify("перезвоните завтра в десять")
    assert c.label == "objection_busy"
    assert c.slots["callback_time"] == "завтра в десять"


def test_spoken_numbers_and_phone_normalisation():
    assert [n.value for n in spoken_numbers("сто двадцать три")] == [123]
    assert [n.value for n in spoken_numbers("восемь девятьсот шестнадцать")] == [8, 916]
    assert normalise_phone("8 (495) 765-43-21") == "+74957654321"
    assert normalise_phone("4420794609", plus=True) == "+4420794609"
    assert find_phone("800 кг обуви") is None


def test_labels_are_exactly_the_agreed_set():
    assert set(LABELS) == {
        "greeting", "who_is_calling", "agree", "question", "give_contact", "request_quote",
        "objection_not_interested", "objection_has_supplier", "objection_send_email", "objection_busy",
        "objection_too_expensive", "objection_not_decision_maker", "objection_no_need", "end_session",
        "wrong_number", "ask_human",
    }


@pytest.mark.parametrize("text, language, label", [
    # a refusal that says goodbye is answered as a refusal; a goodbye alone, or after «да», ends
    ("Нет. Всего хорошего", "ru", "objection_not_interested"),
    ("Нет-нет, до свидания", "ru", "objection_not_interested"),
    ("No. Goodbye", "en", "objection_not_interested"),
    ("Да, всего доброго", "ru", "end_session"),
    ("До свидания", "ru", "end_session"),
    ("Нет, я занят, до свидания", "ru", "objection_busy"),  # a stronger reason than the goodbye wins
    # a «да» that opens a shrug is not consent
    ("да кто его знает", "ru", "other"),
    ("да, сложно сказать", "ru", "other"),
    ("Yes, who knows", "en", "other"),
    ("Да, давайте", "ru", "agree"),
    # knowing the company is consent to talk; a «но» after it turns it into the objection that follows
    ("Да, знаю вашу компанию", "ru", "agree"),
    ("Yes, I know your company", "en", "agree"),
    ("Какая компания?", "ru", "who_is_calling"),
    ("Да, слышал о вас, но нам не надо", "ru", "objection_not_interested"),
    ("Sure, but we already have a forwarder", "en", "objection_has_supplier"),
])
def test_goodbyes_shrugs_and_buts_after_yes(text, language, label):
    assert classify(text, language).label == label
