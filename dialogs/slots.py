"""Slot extraction from one utterance: spoken numbers, email, phone (E.164), name, cargo, origin, weight, callback.

Pure functions over text; the Russian lemmatiser is passed in (``Lemmatiser``) so this module loads no
dictionaries itself. Used by ``dialogs.classifier``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

Lemmatiser = Callable[[str], tuple[str, set[str]]]  # word -> (lemma, grammemes)

# --- numbers spoken as words -------------------------------------------------------------

RU_UNITS = {
    "ноль": 0, "нуль": 0, "один": 1, "одна": 1, "раз": 1, "два": 2, "две": 2, "три": 3, "четыре": 4, "пять": 5,
    "шесть": 6, "семь": 7, "восемь": 8, "девять": 9,
}
RU_TEENS = {
    "десять": 10, "одиннадцать": 11, "двенадцать": 12, "тринадцать": 13, "четырнадцать": 14, "пятнадцать": 15,
    "шестнадцать": 16, "семнадцать": 17, "восемнадцать": 18, "девятнадцать": 19,
}
RU_TENS = {
    "двадцать": 20, "тридцать": 30, "сорок": 40, "пятьдесят": 50, "шестьдесят": 60, "семьдесят": 70,
    "восемьдесят": 80, "девяносто": 90,
}
RU_HUNDREDS = {
    "сто": 100, "двести": 200, "триста": 300, "четыреста": 400, "пятьсот": 500, "шестьсот": 600,
    "семьсот": 700, "восемьсот": 800, "девятьсот": 900,
}
EN_UNITS = {
    "zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9,
}
EN_TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
EN_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}
FRACTIONS = {"полтора": 1.5, "полторы": 1.5, "half": 0.5}

_WORD_RE = re.compile(r"[a-zа-яё]+|\d+(?:[.,]\d+)?|[^\sa-zа-яё\d]", re.IGNORECASE)


@dataclass
class NumberToken:
    value: float
    start: int  # char span in the original text
    end: int
    digits: str  # how a phone number would write it ("916", "07" is impossible from words)


def _num_value(lemma: str) -> tuple[int, int] | None:
    """(value, magnitude class) for a number word lemma: 0 units, 1 teens, 2 tens, 3 hundreds, 4 thousands."""
    for table, cls in ((RU_UNITS, 0), (EN_UNITS, 0), (RU_TEENS, 1), (EN_TEENS, 1), (RU_TENS, 2), (EN_TENS, 2),
                       (RU_HUNDREDS, 3)):
        if lemma in table:
            return table[lemma], cls
    if lemma == "hundred":
        return 100, 3
    if lemma in ("тысяча", "thousand"):
        return 1000, 4
    return None


def spoken_numbers(text: str, lemma_of: Callable[[str], str] = str.lower) -> list[NumberToken]:
    """Numbers written as words or digits, in order, with spans.

    Word groups combine while magnitudes descend («сто двадцать три» = 123) and split when they do
    not («восемь девятьсот шестнадцать» = 8, 916), which is how people dictate phone numbers.
    """
    out: list[NumberToken] = []
    cur: NumberToken | None = None
    last_cls = 99
    for m in _WORD_RE.finditer(text):
        word = m.group(0)
        if word[0].isdigit():
            if cur:
                out.append(cur)
                cur = None
            out.append(NumberToken(float(word.replace(",", ".")), m.start(), m.end(), word))
            last_cls = 99
            continue
        lemma = lemma_of(word.lower())
        if lemma in FRACTIONS or word.lower() in FRACTIONS:
            if cur:
                out.append(cur)
                cur = None
            out.append(NumberToken(FRACTIONS.get(lemma, FRACTIONS.get(word.lower(), 1.5)), m.start(), m.end(), ""))
            continue
        nv = _num_value(lemma) or _num_value(word.lower())
        if nv is None:
            if word in ("-",) or word.lower() in ("and",):
                continue
            if cur:
                out.append(cur)
                cur = None
            last_cls = 99
            continue
        value, cls = nv
        if cls == 4 and cur:  # «двадцать тысяч»
            cur.value *= 1000
            cur.end = m.end()
            cur.digits = str(int(cur.value))
            last_cls = 4
            continue
        if cls == 3 and value == 100 and cur and lemma == "hundred":  # "five hundred"
            cur.value *= 100
            cur.end = m.end()
            cur.digits = str(int(cur.value))
            last_cls = 3
            continue
        # Combine only while magnitudes descend: hundreds take tens/teens/units, tens take units.
        combine = cur is not None and (
            (last_cls == 4 and cls <= 3) or (last_cls == 3 and cls <= 2) or (last_cls == 2 and cls == 0)
        )
        if cur is not None and combine:
            cur.value += value
            cur.end = m.end()
            cur.digits = str(int(cur.value))
            last_cls = cls
            continue
        if cur:
            out.append(cur)
        cur = NumberToken(float(value), m.start(), m.end(), str(value))
        last_cls = cls
    if cur:
        out.append(cur)
    return out


# --- email and phone ------------------------------------------------------------------

_EMAIL_RE = re.compile(r"[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}", re.IGNORECASE)
_SPOKEN_EMAIL_RE = re.compile(
    r"\b([a-z0-9][a-z0-9._-]*)\s+(?:собака|собачка|at)\s+([a-z0-9-]+)\s+(?:точка|dot)\s+([a-z]{2,})\b", re.IGNORECASE
)


def find_email(text: str) -> str | None:
    m = _EMAIL_RE.search(text)
    if m:
        return m.group(0).lower().rstrip(".")
    m = _SPOKEN_EMAIL_RE.search(text)
    if m:
        return f"{m.group(1)}@{m.group(2)}.{m.group(3)}".lower()
    return None


def normalise_phone(digits: str, *, plus: bool = False, default_country: str = "7") -> str | None:
    """E.164 where the digits allow it; Russian numbers (8/7 + 10 digits, or 10 digits from 9) get +7."""
    d = re.sub(r"\D", "", digits)
    if plus and 8 <= len(d) <= 15:
        return "+" + d
    if len(d) == 11 and d[0] in "78":
        return "+7" + d[1:]
    if len(d) == 10 and d[0] in "9" and default_country == "7":
        return "+7" + d
    if len(d) == 10 and default_country != "7":
        return f"+{default_country}{d}"
    if 11 <= len(d) <= 15:
        return "+" + d
    if 5 <= len(d) <= 10:
        return d  # a short or local number: keep what was said
    return None


_PHONE_RE = re.compile(r"(\+?)\s*(\d[\d\s()\-]{5,}\d)")


def find_phone(text: str, lemma_of: Callable[[str], str] = str.lower) -> str | None:
    """A phone number from digits («8 (916) 123-45-67») or dictated words («восемь девятьсот …»)."""
    email = _EMAIL_RE.search(text)
    scan = text[: email.start()] + " " + text[email.end():] if email else text
    for m in _PHONE_RE.finditer(scan):
        digits = re.sub(r"\D", "", m.group(2))
        if len(digits) >= 7:
            return normalise_phone(digits, plus=bool(m.group(1)))
    # Dictated numbers: a run of number tokens (words or digits) with nothing else in between.
    nums = spoken_numbers(scan, lemma_of)
    run: list[NumberToken] = []
    best = ""
    for tok in nums:
        if run and re.search(r"[a-zа-яё]", scan[run[-1].end:tok.start], re.IGNORECASE):
            run = []
        if tok.value != int(tok.value):
            run = []
            continue
        run.append(tok)
        digits = "".join(str(int(t.value)) for t in run)
        if len(digits) > len(best):
            best = digits
    plus = "+" in scan or "плюс" in scan.lower() or "plus" in scan.lower()
    if len(best) >= 7:
        return normalise_phone(best, plus=plus and len(best) >= 11)
    return None


# --- weight, origin, cargo --------------------------------------------------------------

_TON = {"тонна", "тонн", "т", "тн", "ton", "tons", "tonne", "tonnes", "t"}
_KG = {"килограмм", "килограмма", "кг", "кило", "kg", "kilo", "kilos", "kilogram", "kilograms"}
_HALF_TON = {"полтонны", "полтонна"}

CITIES = {
    "шанха": "Шанхай", "гуанчжоу": "Гуанчжоу", "гуанжоу": "Гуанчжоу", "нинбо": "Нинбо", "шэньчжэн": "Шэньчжэнь",
    "шеньчжен": "Шэньчжэнь", "шенжен": "Шэньчжэнь", "иу": "Иу", "фошан": "Фошань", "циндао": "Циндао",
    "пекин": "Пекин", "тяньцзин": "Тяньцзинь", "ханчжоу": "Ханчжоу", "урумчи": "Урумчи", "сямын": "Сямынь",
    "далян": "Далянь", "чунцин": "Чунцин", "чэнду": "Чэнду", "ченду": "Чэнду", "ухан": "Ухань",
    "харбин": "Харбин", "гонконг": "Гонконг", "суйфэньхэ": "Суйфэньхэ", "маньчжури": "Маньчжурия",
    "китай": "Китай", "китая": "Китай",
    "shanghai": "Shanghai", "guangzhou": "Guangzhou", "ningbo": "Ningbo", "shenzhen": "Shenzhen", "yiwu": "Yiwu",
    "foshan": "Foshan", "qingdao": "Qingdao", "beijing": "Beijing", "tianjin": "Tianjin", "hangzhou": "Hangzhou",
    "urumqi": "Urumqi", "xiamen": "Xiamen", "dalian": "Dalian", "chongqing": "Chongqing", "chengdu": "Chengdu",
    "wuhan": "Wuhan", "harbin": "Harbin", "hong": "Hong Kong", "china": "China",
}
CARGO_LEMMAS = {
    "одежда", "обувь", "мебель", "электроника", "станок", "оборудование", "запчасть", "автозапчасть", "текстиль",
    "плитка", "игрушка", "сантехника", "металлопрокат", "косметика", "продукция", "ткань", "посуда", "техника",
    "инструмент", "светильник", "упаковка", "сырьё", "сырье", "товар", "химия", "шина", "кабель", "стройматериал",
    "бытовой", "электротовар", "аксессуар", "сумка", "часы", "телефон", "компьютер", "гаджет", "спецтехника",
    "shoes", "shoe", "furniture", "electronics", "steel", "machinery", "machine", "textile", "textiles", "toy",
    "toys", "tiles", "tile", "clothes", "clothing", "parts", "equipment", "cosmetics", "cable", "garments",
}
_CARGO_STOP = {"груз", "доставка", "контейнер", "фура", "паллета", "партия", "тонна", "килограмм", "кг", "вес",
               "cargo", "container", "shipment", "pallet", "pallets", "price", "quote", "cost", "ton", "tons"}


def _ru_tokens(text: str) -> list[tuple[str, int, int]]:
    return [(m.group(0), m.start(), m.end()) for m in re.finditer(r"[a-zа-яё]+|\d+(?:[.,]\d+)?", text, re.I)]


def find_weight(text: str, lemma_of: Callable[[str], str] = str.lower) -> tuple[str, float] | None:
    """(«20 т», 20000.0 kg) from «двадцать тонн», «20 t», «800 кг», «полторы тонны», «тонн пятнадцать»."""
    low = text.lower().replace("ё", "е")
    toks = _ru_tokens(low)
    nums = spoken_numbers(low, lemma_of)
    for word, _s, _e in toks:
        if word in _HALF_TON:
            return "0.5 т", 500.0
    for i, (word, s, e) in enumerate(toks):
        lemma = lemma_of(word)
        unit = "t" if (lemma in _TON or word in _TON) else "kg" if (lemma in _KG or word in _KG) else None
        if unit is None:
            continue
        if word in ("t", "т") and i > 0 and not toks[i - 1][0][0].isdigit():
            continue  # a lone letter is a unit only right after digits
        before = [n for n in nums if n.end <= s and not re.search(r"[a-zа-яё]", low[n.end:s].replace("около", "")
                                                                   .replace("примерно", "").replace("about", ""))]
        after = [n for n in nums if n.start >= e and n.start - e <= 2]
        num = before[-1] if before else (after[0] if after else None)
        if num is None:
            if word.startswith("тонн") or word.startswith("ton"):
                num = NumberToken(1.0, s, e, "1")  # «тонну кабеля»
            else:
                continue
        value = num.value
        kg = value * 1000 if unit == "t" else value
        shown = f"{value:g} {'т' if unit == 't' and re.search('[а-я]', low) else unit}"
        if unit == "kg" and re.search("[а-я]", low):
            shown = f"{value:g} кг"
        return shown, kg
    return None


def find_container(text: str) -> str | None:
    m = re.search(r"(20|40|45|двадцат\w*|сорок\w*)[\s-]*(?:фут\w*|ft|foot|feet|'|hc)", text.lower())
    if not m:
        return None
    size = m.group(1)
    size = "20" if size.startswith("двадцат") else "40" if size.startswith("сорок") else size
    return f"{size}ft"


def find_origin(text: str) -> str | None:
    low = text.lower().replace("ё", "е")
    toks = _ru_tokens(low)
    # Prefer a city right after «из»/«from»; any known city anywhere otherwise.
    for i, (word, _s, _e) in enumerate(toks):
        if word in ("из", "from", "с") and i + 1 < len(toks):
            pair = toks[i + 1][0] + " " + toks[i + 2][0] if i + 2 < len(toks) else ""
            city = _city(toks[i + 1][0]) or (_city(pair) if pair else None)
            if city:
                return city
    for word, _s, _e in toks:
        city = _city(word)
        if city and city not in ("Китай", "China"):
            return city
    for word, _s, _e in toks:
        city = _city(word)
        if city:
            return city
    return None


def _city(word: str) -> str | None:
    for stem, name in CITIES.items():
        if word.startswith(stem) and (len(word) - len(stem) <= 3 or stem == "китай"):
            if stem == "иу" and word != "иу":
                continue
            if stem == "hong" and "kong" not in word and word != "hong":
                continue
            return name
    return None


# Russian cargo words of six letters or more, by stem (all but the last letter), in the set's order
_CARGO_STEMS = tuple((cargo[:-1], cargo) for cargo in CARGO_LEMMAS if len(cargo) >= 6 and re.match("[а-я]", cargo))


def find_cargo(text: str, lemma_of: Lemmatiser) -> str | None:
    low = text.lower().replace("ё", "е")
    toks = _ru_tokens(low)
    lemmas = [lemma_of(w) for w, _s, _e in toks]
    for (word, _s, _e), (lemma, _tags) in zip(toks, lemmas, strict=True):
        if lemma in CARGO_LEMMAS or word in CARGO_LEMMAS:
            if lemma == "продукция":  # «кабельная продукция»: keep the adjective that says what it is
                idx = [t[0] for t in toks].index(word)
                if idx > 0 and "ADJF" in lemmas[idx - 1][1]:
                    return f"{toks[idx - 1][0]} {word}"
            if not re.match("[а-я]", word):
                return word  # English: the word as said («shoes»)
            return lemma if lemma in CARGO_LEMMAS else word
    for word, _s, _e in toks:
        # The lemmatiser sometimes picks another noun («сантехники» -> «сантехник»): match the stem too.
        for stem, cargo in _CARGO_STEMS:
            if word.startswith(stem):
                return cargo
    # «5 тонн одежды», «паллет игрушек»: the genitive noun after a unit or a quantity word.
    for i in range(len(toks) - 1):
        lemma = lemmas[i][0]
        if lemma in _TON or lemma in _KG or lemma in ("паллета", "паллет", "коробка", "партия", "контейнер"):
            nxt, tags = lemmas[i + 1]
            if "NOUN" in tags and nxt not in _CARGO_STOP and _city(toks[i + 1][0]) is None and "Geox" not in tags:
                return nxt
    return None


# --- names and callback times -----------------------------------------------------------

_RU_NAME_CUES = ("зовут", "я", "спросите", "звоните", "это", "контакт", "обращайтесь", "позвоните", "позовите")
_EN_NAME_RE = re.compile(
    r"\b(?i:i'm|i am|my name is|this is|ask for|speak to|call|name's)\s+([A-Z][a-z]+)(?:\s+([A-Z][a-z]+))?"
)
_EN_NOT_NAMES = {"I", "The", "Our", "My", "Mr", "Ms", "Please", "Sorry", "Just", "Not", "Busy", "Calling", "From"}


def find_name(text: str, lemma_of: Lemmatiser) -> str | None:
    m = _EN_NAME_RE.search(text)
    if m and m.group(1) not in _EN_NOT_NAMES:
        second = m.group(2) if m.group(2) and m.group(2) not in _EN_NOT_NAMES else None
        return f"{m.group(1)} {second}" if second else m.group(1)
    toks = _ru_tokens(text)
    parts: list[str] = []
    for word, _s, _e in toks:
        if not re.match(r"[а-яё]", word, re.I):
            if parts:
                break
            continue
        lemma, tags = lemma_of(word.lower())
        if ("Name" in tags or "Patr" in tags or ("Surn" in tags and parts)) and word[0].isupper():
            # A nominative form is kept as said: pymorphy's lemma of «Викторовна» is masculine.
            parts.append((word if "nomn" in tags else lemma).capitalize())
            if len(parts) == 3:
                break
        elif parts:
            break
    return " ".join(parts) or None


_RU_DAYS = r"понедельник\w*|вторник\w*|сред[ауе]|четверг\w*|пятниц[ауе]|суббот[ауе]|воскресень\w*"
_RU_TIME = re.compile(
    r"(?:(?:сегодня|завтра|послезавтра)(?:\s+(?:утром|вечером|днем|днём|после обеда))?"
    r"(?:\s+(?:в|к|часа в|около)\s+[\w:]+(?:\s+(?:утра|вечера|часов|часа))?)?"
    r"|через\s+(?:\w+\s+)?(?:минут\w*|час\w*|полчаса|недел\w*|день|дня|дней|месяц\w*)"
    r"|через\s+полчаса|(?:на\s+)?следующей\s+неделе|после\s+обеда|вечером|утром|попозже|позже|потом"
    r"|часа?\s+в\s+\w+|в\s+\d{1,2}(?::\d{2})?(?:\s+час\w*)?|(?:в|во)\s+(?:" + _RU_DAYS + r")"
    r"|в\s+другой\s+раз)",
    re.IGNORECASE,
)
_EN_TIME = re.compile(
    r"(?:tomorrow(?:\s+(?:morning|afternoon|evening))?(?:\s+at\s+\w+(?:\s*[ap]m)?)?|later(?:\s+today)?"
    r"|in\s+(?:an?|one|two|\d+)\s+(?:hour|hours|minutes?|weeks?|days?)|next\s+(?:week|month|monday|tuesday|"
    r"wednesday|thursday|friday)|this\s+(?:afternoon|evening)|on\s+(?:monday|tuesday|wednesday|thursday|friday)"
    r"|at\s+\d{1,2}(?::\d{2})?\s*(?:[ap]m)?|after\s+lunch|tonight)",
    re.IGNORECASE,
)


def find_callback_time(text: str) -> str | None:
    m = _RU_TIME.search(text) or _EN_TIME.search(text)
    return m.group(0).strip().lower() if m else None
