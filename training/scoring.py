"""Scoring a practice conversation: a rubric of yes/no checks per stage, conversation metrics and advice.

Pure functions over a list of ``Line`` (no database, no I/O), so every number can be checked by hand:
``score_transcript(lines=[...], language="ru") -> ScoreResult``. The trainee is ``user``; the AI
customer is ``bot``. Keyword lists cover Russian and English because recognition output and
custom scenarios mix both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

TRAINEE = "user"
CUSTOMER = "bot"

# Stage weights sum to 100; a stage that did not arise (no objection was raised) is left out and
# the others are scaled up, so nobody loses points for a customer who never objected.
STAGES: tuple[tuple[str, int], ...] = (
    ("greeting", 20),
    ("discovery", 20),
    ("presentation", 20),
    ("objections", 20),
    ("closing", 20),
)
STAGE_TITLES = {
    "ru": {
        "greeting": "Приветствие и представление",
        "discovery": "Выявление потребностей",
        "presentation": "Презентация под потребности",
        "objections": "Работа с возражениями",
        "closing": "Следующий шаг и завершение",
    },
    "en": {
        "greeting": "Greeting and introduction",
        "discovery": "Needs discovery",
        "presentation": "Presentation tied to needs",
        "objections": "Objection handling",
        "closing": "Next step and closing",
    },
}

WORDS_PER_SECOND = 2.5  # conversational pace, to estimate durations when a transcript has no timings
LISTEN_RATIO_MAX = 65.0  # the trainee should not do more than about two thirds of the talking


def _rx(*alternatives: str) -> re.Pattern[str]:
    # \b does not treat Cyrillic well in every position, so words are bounded by non-letters explicitly
    return re.compile(r"(?<![\wё])(?:" + "|".join(alternatives) + r")(?![\wё])", re.IGNORECASE)


GREETING = _rx(
    r"здравствуйте", r"здравствуй", r"добрый (?:день|вечер)", r"доброе утро", r"привет\w*", r"приветствую",
    r"hello", r"hi", r"hey", r"good (?:morning|afternoon|evening)",
)
INTRODUCTION = _rx(
    r"меня зовут", r"я из компании", r"это \w+ из", r"компани[яиюей]", r"my name is", r"this is \w+",
    r"i'?m \w+ from", r"i am \w+ from", r"calling from", r"from (?:the )?company", r"i represent", r"представля\w+",
)
PURPOSE = _rx(
    r"звоню", r"по поводу", r"хочу предложить", r"хотел[аи]? бы предложить", r"предлагаем", r"цель звонка",
    r"i'?m calling", r"calling (?:about|to|regarding)", r"reason for (?:my|the) call", r"would like to offer",
    r"want to offer", r"we offer", r"regarding",
)
OPEN_QUESTION = _rx(
    r"как\w*", r"что", r"чем", r"почему", r"зачем", r"когда", r"где", r"сколько", r"расскажите", r"опишите",
    r"what", r"how", r"why", r"when", r"where", r"which", r"tell me", r"describe",
)
QUESTION_START = _rx(
    r"как\w*", r"что", r"чем", r"почему", r"зачем", r"когда", r"где", r"сколько", r"кто", r"какой", r"ли",
    r"what", r"how", r"why", r"when", r"where", r"who", r"which", r"do", r"does", r"did", r"are", r"is",
    r"can", r"could", r"would", r"will", r"have", r"has", r"may", r"shall",
)
BENEFIT = _rx(
    r"выгод\w*", r"сэконом\w*", r"эконом\w*", r"позвол\w+", r"помож\w+", r"поможет", r"быстрее", r"дешевле",
    r"надёжн\w*", r"надежн\w*", r"гарант\w*", r"преимуществ\w*", r"решени\w*",
    r"save\w*", r"saving\w*", r"help\w*", r"benefit\w*", r"allow\w*", r"faster", r"cheaper", r"reliab\w+",
    r"guarantee\w*", r"advantage\w*", r"solution\w*", r"so you can", r"which means",
)
NEED_REFERENCE = _rx(
    r"вы сказали", r"вы упомянули", r"как вы говорили", r"раз вам важн\w+", r"для вас важн\w+", r"вам нужн\w+",
    r"you said", r"you mentioned", r"as you said", r"since you need", r"you need", r"for you", r"your need\w*",
)
FACT = re.compile(r"\d|процент|percent|%")
ACKNOWLEDGE = _rx(
    r"понимаю", r"понятно", r"согласен", r"согласна", r"справедлив\w*", r"резонн\w*", r"хороший вопрос",
    r"спасибо,? что", r"да,? (?:это|конечно)", r"i understand", r"i see", r"i hear you", r"fair", r"good question",
    r"that'?s (?:a )?(?:fair|valid|good)", r"makes sense", r"totally", r"of course", r"absolutely",
)
ARGUING = _rx(r"вы не правы", r"вы ошибаетесь", r"это не так", r"you'?re wrong", r"that'?s not true", r"no,? you")
NEXT_STEP = _rx(
    r"встреч\w*", r"демо\w*", r"презентаци\w*", r"созвонимся", r"созвон\w*", r"давайте", r"отправлю", r"пришлю",
    r"вышлю", r"договор\w*", r"коммерческое предложение", r"тестов\w*", r"пробн\w*",
    r"meeting", r"meet", r"demo", r"call back", r"follow[- ]up", r"let'?s", r"i'?ll send", r"i will send",
    r"proposal", r"schedule", r"trial", r"contract", r"next step\w*",
)
COMMITMENT = _rx(
    r"завтра", r"послезавтра", r"понедельник\w*", r"вторник\w*", r"сред[уаы]", r"четверг\w*", r"пятниц\w*",
    r"в \d{1,2}", r"когда вам удобно", r"удобно ли", r"во сколько", r"на этой неделе", r"на следующей неделе",
    r"tomorrow", r"monday", r"tuesday", r"wednesday", r"thursday", r"friday", r"at \d{1,2}", r"what time",
    r"when (?:is|would be) (?:it )?(?:convenient|good)", r"this week", r"next week", r"does that work",
)
THANKS = _rx(
    r"спасибо", r"благодарю", r"до свидания", r"всего доброго", r"хорошего дня",
    r"thank you", r"thanks", r"goodbye", r"bye", r"have a (?:good|great|nice) day",
)
OBJECTION = _rx(
    r"дорого", r"дороговато", r"слишком дорог\w*", r"нет времени", r"некогда", r"не интересно", r"неинтересно",
    r"не нужно", r"не надо", r"уже есть (?:поставщик|подрядчик)\w*", r"у нас уже есть", r"подумаю", r"подумаем",
    r"пришлите на почту", r"пришлите (?:предложение|кп)", r"не уверен\w*", r"сомнева\w*", r"занят\w*",
    r"too expensive", r"expensive", r"no time", r"not interested", r"don'?t need", r"already have",
    r"already work with", r"think about it", r"send me an email", r"send (?:it|me) (?:over|by email)",
    r"not sure", r"i doubt", r"busy", r"too much", r"costs? too",
)
FILLERS = {
    "ru": ("ну", "как бы", "короче", "э-э", "э-э-э", "ээ", "эээ", "э", "эм", "ммм", "типа", "в общем", "значит", "вот"),
    "en": ("um", "umm", "uh", "uhh", "er", "erm", "hmm", "you know", "i mean", "kind of", "sort of", "basically"),
}
_FILLER_RX = {
    lang: re.compile(
        r"(?<![\wё-])(?:" + "|".join(re.escape(f) for f in sorted(words, key=len, reverse=True)) + r")(?![\wё-])",
        re.IGNORECASE,
    )
    for lang, words in FILLERS.items()
}
_WORD = re.compile(r"[\wё]+(?:[-'][\wё]+)*", re.IGNORECASE)
_SENTENCE = re.compile(r"[^.!?…]+[.!?…]*")
# short, common words that say nothing about the customer's situation
STOPWORDS = frozenset(
    "это этот эта эти как что чтобы который которые когда если или для над под при про без все всё вас вам ваш ваша "
    "ваши наш наша наши нас нам они она оно его её ему ней них тоже также только очень можно нужно будет было были "
    "есть нет да уже еще ещё так там тут здесь сейчас потом меня мне мой моя мои свой своя "
    "the and that this with have from your you are was were what when where which will would could should about "
    "there their they them then than just also into only very much more some any been being does did have has "
    "hello thanks thank please okay".split()
)


@dataclass(frozen=True)
class Line:
    """One utterance. ``interrupted``: a customer line the trainee talked over. Times in ms, optional."""

    speaker: str
    text: str
    started_ms: int | None = None
    ended_ms: int | None = None
    interrupted: bool = False
    objection: str = ""


@dataclass
class Check:
    key: str
    label: str
    passed: bool


@dataclass
class StageResult:
    key: str
    title: str
    weight: int
    applicable: bool
    checks: list[Check] = field(default_factory=list)

    @property
    def share(self) -> float:
        return sum(c.passed for c in self.checks) / len(self.checks) if self.checks else 0.0

    @property
    def points(self) -> float:
        return self.share * self.weight


@dataclass
class Metrics:
    talk_ratio: float  # trainee's share of the talking, percent
    talk_basis: str  # "time" (from timings) or "words"
    longest_monologue_words: int
    longest_monologue_s: float
    questions_asked: int
    open_questions: int
    filler_words: int
    filler_rate: float  # per 100 trainee words
    fillers_found: dict[str, int]
    interruptions: int
    objections_met: int
    objections_handled: int
    trainee_words: int
    customer_words: int
    turns: int


@dataclass
class ScoreResult:
    total: int
    stages: list[StageResult]
    metrics: Metrics
    advice: list[str]
    language: str

    def rubric_dict(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "stages": [
                {
                    "key": s.key,
                    "title": s.title,
                    "weight": s.weight,
                    "applicable": s.applicable,
                    "share": round(s.share, 3),
                    "points": round(s.points, 1),
                    "checks": [asdict(c) for c in s.checks],
                }
                for s in self.stages
            ],
        }

    def metrics_dict(self) -> dict[str, Any]:
        return asdict(self.metrics)

    def advice_text(self) -> str:
        return "\n".join(self.advice)


# --- text helpers -------------------------------------------------------------------------------


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def is_question(sentence: str) -> bool:
    """A sentence ending in «?», or one opening with a question word (recognition drops «?» at times)."""
    s = sentence.strip()
    if s.endswith("?"):
        return True
    first = words(s)[:1]
    if not first:
        return False
    if first[0] == "ли" or " ли " in f" {s.lower()} ":
        return True
    # an unpunctuated "is/do/can ..." is a question only when the sentence has no final period
    return bool(QUESTION_START.fullmatch(first[0])) and not s.endswith((".", "!"))


def questions_in(text: str) -> list[str]:
    return [s for s in sentences(text) if is_question(s)]


def filler_counts(text: str, language: str) -> dict[str, int]:
    found: dict[str, int] = {}
    langs = {language, "ru", "en"}  # trainees switch languages; count both lists
    for lang in langs:
        rx = _FILLER_RX.get(lang)
        if rx is None:
            continue
        for m in rx.findall(text.lower()):
            found[m] = found.get(m, 0) + 1
    return found


def _content_words(text: str) -> set[str]:
    # a 5-letter prefix is a cheap stem: «доставка», «доставки», «доставку» meet; "shipping"/"shipment" too
    return {w[:5] for w in words(text) if len(w) >= 5 and w not in STOPWORDS}


def is_objection(line: Line) -> bool:
    return line.speaker == CUSTOMER and bool(line.objection or OBJECTION.search(line.text))


def _duration_s(line: Line) -> float:
    if line.started_ms is not None and line.ended_ms is not None and line.ended_ms >= line.started_ms:
        return (line.ended_ms - line.started_ms) / 1000
    return len(words(line.text)) / WORDS_PER_SECOND


def _timed(lines: Sequence[Line]) -> bool:
    return bool(lines) and all(
        ln.started_ms is not None and ln.ended_ms is not None and ln.ended_ms > ln.started_ms for ln in lines
    )


# --- metrics ------------------------------------------------------------------------------------


def _monologues(lines: Sequence[Line]) -> list[list[Line]]:
    """Runs of consecutive trainee lines: a monologue goes on until the customer speaks."""
    runs: list[list[Line]] = []
    current: list[Line] = []
    for line in lines:
        if line.speaker == TRAINEE:
            current.append(line)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def objection_pairs(lines: Sequence[Line]) -> list[tuple[Line, Line | None]]:
    """Each customer objection with the trainee's next line (``None`` when the trainee never answered)."""
    pairs: list[tuple[Line, Line | None]] = []
    for i, line in enumerate(lines):
        if not is_objection(line):
            continue
        reply = next((ln for ln in lines[i + 1:] if ln.speaker == TRAINEE), None)
        # a reply only counts when it comes before the customer's next line... or after it, if that
        # line was a continuation; take the first trainee line after the objection either way
        pairs.append((line, reply))
    return pairs


def is_handled(reply: Line | None) -> bool:
    """Handled = the trainee answered, without arguing, by acknowledging, asking, or giving a benefit."""
    if reply is None or not reply.text.strip():
        return False
    if ARGUING.search(reply.text):
        return False
    return bool(ACKNOWLEDGE.search(reply.text) or questions_in(reply.text) or BENEFIT.search(reply.text))


def compute_metrics(*, lines: Sequence[Line], language: str = "ru") -> Metrics:
    trainee = [ln for ln in lines if ln.speaker == TRAINEE]
    customer = [ln for ln in lines if ln.speaker == CUSTOMER]
    trainee_words = sum(len(words(ln.text)) for ln in trainee)
    customer_words = sum(len(words(ln.text)) for ln in customer)
    if _timed(lines):
        basis = "time"
        t_time = sum(_duration_s(ln) for ln in trainee)
        c_time = sum(_duration_s(ln) for ln in customer)
        ratio = 100 * t_time / (t_time + c_time) if t_time + c_time else 0.0
    else:
        basis = "words"
        ratio = 100 * trainee_words / (trainee_words + customer_words) if trainee_words + customer_words else 0.0
    runs = _monologues(lines)
    longest_words = max((sum(len(words(ln.text)) for ln in run) for run in runs), default=0)
    longest_s = max((sum(_duration_s(ln) for ln in run) for run in runs), default=0.0)
    text = " ".join(ln.text for ln in trainee)
    questions = questions_in(text)
    fillers: dict[str, int] = {}
    for ln in trainee:
        for k, v in filler_counts(ln.text, language).items():
            fillers[k] = fillers.get(k, 0) + v
    n_fillers = sum(fillers.values())
    pairs = objection_pairs(lines)
    return Metrics(
        talk_ratio=round(ratio, 1),
        talk_basis=basis,
        longest_monologue_words=longest_words,
        longest_monologue_s=round(longest_s, 1),
        questions_asked=len(questions),
        open_questions=sum(1 for q in questions if OPEN_QUESTION.search(q)),
        filler_words=n_fillers,
        filler_rate=round(100 * n_fillers / trainee_words, 1) if trainee_words else 0.0,
        fillers_found=dict(sorted(fillers.items())),
        interruptions=sum(1 for ln in customer if ln.interrupted),
        objections_met=len(pairs),
        objections_handled=sum(1 for _, reply in pairs if is_handled(reply)),
        trainee_words=trainee_words,
        customer_words=customer_words,
        turns=len(lines),
    )


# --- rubric -------------------------------------------------------------------------------------

CHECK_LABELS = {
    "ru": {
        "greets": "Поздоровался",
        "introduces": "Представился и назвал компанию",
        "states_purpose": "Назвал цель звонка",
        "asks_questions": "Задал не меньше двух вопросов",
        "open_question": "Задал открытый вопрос",
        "listens": "Дал клиенту говорить (доля речи не больше 65%)",
        "benefit": "Назвал выгоду для клиента",
        "tied_to_needs": "Связал предложение с тем, что сказал клиент",
        "concrete": "Привёл конкретику (цифры, факты)",
        "answered_all": "Ответил на каждое возражение",
        "acknowledged": "Признал позицию клиента, не спорил",
        "handled": "Отработал возражения (вопрос, выгода, признание)",
        "next_step": "Предложил следующий шаг",
        "commitment": "Договорился о конкретном времени",
        "polite_close": "Вежливо завершил разговор",
    },
    "en": {
        "greets": "Greeted the customer",
        "introduces": "Introduced self and company",
        "states_purpose": "Stated the reason for the call",
        "asks_questions": "Asked at least two questions",
        "open_question": "Asked an open question",
        "listens": "Let the customer talk (talk share 65% or less)",
        "benefit": "Named a benefit for the customer",
        "tied_to_needs": "Tied the offer to what the customer said",
        "concrete": "Gave specifics (numbers, facts)",
        "answered_all": "Answered every objection",
        "acknowledged": "Acknowledged the customer's view, did not argue",
        "handled": "Handled objections (question, benefit, acknowledgement)",
        "next_step": "Proposed a next step",
        "commitment": "Agreed on a concrete time",
        "polite_close": "Closed politely",
    },
}


def _tied_to_needs(lines: Sequence[Line]) -> bool:
    """A trainee line that takes up the customer's own words (or says so) after the customer spoke."""
    heard: set[str] = set()
    for line in lines:
        if line.speaker == CUSTOMER:
            heard |= _content_words(line.text)
        elif heard and (NEED_REFERENCE.search(line.text) or (_content_words(line.text) & heard)):
            return True
    return False


def _stage_checks(lines: Sequence[Line], metrics: Metrics) -> dict[str, dict[str, bool] | None]:
    trainee = [ln for ln in lines if ln.speaker == TRAINEE]
    opening = " ".join(ln.text for ln in trainee[:2])
    all_text = " ".join(ln.text for ln in trainee)
    closing = " ".join(ln.text for ln in trainee[-3:])
    pairs = objection_pairs(lines)
    replies = [reply for _, reply in pairs]
    objections: dict[str, bool] | None = None
    if pairs:
        objections = {
            "answered_all": all(r is not None and r.text.strip() for r in replies),
            "acknowledged": any(r is not None and ACKNOWLEDGE.search(r.text) for r in replies)
            and not any(r is not None and ARGUING.search(r.text) for r in replies),
            "handled": metrics.objections_handled == metrics.objections_met,
        }
    return {
        "greeting": {
            "greets": bool(GREETING.search(opening)),
            "introduces": bool(INTRODUCTION.search(opening)),
            "states_purpose": bool(PURPOSE.search(" ".join(ln.text for ln in trainee[:3]))),
        },
        "discovery": {
            "asks_questions": metrics.questions_asked >= 2,
            "open_question": metrics.open_questions >= 1,
            "listens": bool(trainee) and metrics.talk_ratio <= LISTEN_RATIO_MAX,
        },
        "presentation": {
            "benefit": bool(BENEFIT.search(all_text)),
            "tied_to_needs": _tied_to_needs(lines),
            "concrete": bool(FACT.search(all_text.lower())),
        },
        "objections": objections,
        "closing": {
            "next_step": bool(NEXT_STEP.search(closing)),
            "commitment": bool(COMMITMENT.search(closing)),
            "polite_close": bool(THANKS.search(closing)),
        },
    }


def score_transcript(*, lines: Sequence[Line], language: str = "ru") -> ScoreResult:
    language = language if language in STAGE_TITLES else "en"
    lines = [ln for ln in lines if ln.text.strip()]
    metrics = compute_metrics(lines=lines, language=language)
    checks = _stage_checks(lines, metrics)
    labels = CHECK_LABELS[language]
    stages: list[StageResult] = []
    for key, weight in STAGES:
        found = checks[key]
        stage = StageResult(key=key, title=STAGE_TITLES[language][key], weight=weight, applicable=found is not None)
        if found is not None:
            stage.checks = [Check(key=k, label=labels[k], passed=bool(v)) for k, v in found.items()]
        stages.append(stage)
    applicable = [s for s in stages if s.applicable]
    possible = sum(s.weight for s in applicable)
    earned = sum(s.points for s in applicable)
    total = round(100 * earned / possible) if possible and any(ln.speaker == TRAINEE for ln in lines) else 0
    result = ScoreResult(total=total, stages=stages, metrics=metrics, advice=[], language=language)
    result.advice = rule_advice(lines=lines, result=result)
    return result


# --- advice -------------------------------------------------------------------------------------

ADVICE = {
    "ru": {
        "empty": "Разговора почти не было: поздоровайтесь, представьтесь и задайте клиенту вопрос о его задачах.",
        "greets": "Начните с приветствия. Вы начали так: «{quote}».",
        "introduces": "Представьтесь и назовите компанию в первой же фразе. Сейчас: «{quote}».",
        "states_purpose": "Сразу скажите, зачем звоните, одной фразой. Вы сказали: «{quote}».",
        "asks_questions": "Задайте больше вопросов о задачах клиента до презентации — сейчас вопросов: {n}.",
        "open_question": "Спрашивайте открыто («Как вы сейчас…?», «Что для вас важно…?»). Ваш вопрос: «{quote}».",
        "listens": "Вы говорили {ratio}% времени — дайте клиенту высказаться. Самый длинный монолог: «{quote}».",
        "benefit": "Назовите выгоду для клиента, а не свойства продукта. Вместо «{quote}» — что клиент получит.",
        "tied_to_needs": "Свяжите предложение со словами клиента («Вы сказали, что…»). Клиент говорил: «{quote}».",
        "concrete": "Добавьте конкретики: сроки, цифры, примеры. Сейчас: «{quote}».",
        "answered_all": "На возражение «{quote}» ответа не было — отвечайте на каждое.",
        "acknowledged": "Сначала признайте позицию клиента («Понимаю вас…»), потом отвечайте. Вы ответили: «{quote}».",
        "handled": "Отработайте возражение «{objection}» вопросом или выгодой. Ваш ответ: «{quote}».",
        "next_step": "Закончите конкретным следующим шагом: встреча, демо, КП. Ваши последние слова: «{quote}».",
        "commitment": "Договоритесь о времени («Завтра в 11 удобно?»). Сейчас: «{quote}».",
        "polite_close": "Поблагодарите клиента и попрощайтесь. Ваши последние слова: «{quote}».",
        "fillers": "Слова-паразиты ({rate} на 100 слов: {list}). Например: «{quote}».",
        "good": "Хорошая работа: все пункты чек-листа выполнены. Сильная фраза: «{quote}».",
    },
    "en": {
        "empty": "There was hardly any conversation: greet, introduce yourself and ask the customer about their needs.",
        "greets": "Open with a greeting. You started with: “{quote}”.",
        "introduces": "Say your name and company in the first line. You said: “{quote}”.",
        "states_purpose": "State why you are calling in one sentence. You said: “{quote}”.",
        "asks_questions": "Ask more about the customer's needs before presenting: you asked {n} question(s).",
        "open_question": "Ask open questions (“How do you…?”, “What matters most…?”). Your question: “{quote}”.",
        "listens": "You talked {ratio}% of the time: let the customer speak. Your longest monologue: “{quote}”.",
        "benefit": "Name what the customer gains, not product features. Instead of “{quote}”, say what it gives them.",
        "tied_to_needs": "Tie the offer to the customer's words (“You said that…”). The customer said: “{quote}”.",
        "concrete": "Add specifics: dates, numbers, examples. You said: “{quote}”.",
        "answered_all": "The objection “{quote}” got no answer: answer every one.",
        "acknowledged": "Acknowledge the customer's view first (“I understand…”), then answer. You said: “{quote}”.",
        "handled": "Handle the objection “{objection}” with a question or a benefit. Your reply: “{quote}”.",
        "next_step": "End with a concrete next step: a meeting, a demo, a proposal. Your last words: “{quote}”.",
        "commitment": "Agree on a time (“Would tomorrow at 11 work?”). You said: “{quote}”.",
        "polite_close": "Thank the customer and say goodbye. Your last words: “{quote}”.",
        "fillers": "Filler words ({rate} per 100 words: {list}). For example: “{quote}”.",
        "good": "Good work: every checklist item was met. A strong line: “{quote}”.",
    },
}


def _short(text: str, limit: int = 140) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def rule_advice(*, lines: Sequence[Line], result: ScoreResult) -> list[str]:
    """Advice for each failed check, quoting the trainee's own line that shows the problem."""
    phrases = ADVICE[result.language]
    trainee = [ln for ln in lines if ln.speaker == TRAINEE]
    customer = [ln for ln in lines if ln.speaker == CUSTOMER]
    if not trainee:
        return [phrases["empty"]]
    first, last = trainee[0].text, trainee[-1].text
    questions = questions_in(" ".join(ln.text for ln in trainee))
    runs = _monologues(lines)
    longest = max(runs, key=lambda run: sum(len(words(ln.text)) for ln in run)) if runs else [trainee[0]]
    pairs = objection_pairs(lines)
    failed_objection = next(((o, r) for o, r in pairs if not is_handled(r)), (pairs[0] if pairs else (None, None)))
    quotes: dict[str, Callable[[], dict[str, Any]]] = {
        "greets": lambda: {"quote": first},
        "introduces": lambda: {"quote": first},
        "states_purpose": lambda: {"quote": first},
        "asks_questions": lambda: {"n": result.metrics.questions_asked},
        "open_question": lambda: {"quote": questions[0] if questions else first},
        "listens": lambda: {"ratio": round(result.metrics.talk_ratio), "quote": " ".join(ln.text for ln in longest)},
        "benefit": lambda: {"quote": " ".join(ln.text for ln in longest)},
        "tied_to_needs": lambda: {"quote": customer[0].text if customer else first},
        "concrete": lambda: {"quote": " ".join(ln.text for ln in longest)},
        "answered_all": lambda: {"quote": failed_objection[0].text if failed_objection[0] else ""},
        "acknowledged": lambda: {"quote": failed_objection[1].text if failed_objection[1] else last},
        "handled": lambda: {
            "objection": failed_objection[0].text if failed_objection[0] else "",
            "quote": failed_objection[1].text if failed_objection[1] else "—",
        },
        "next_step": lambda: {"quote": last},
        "commitment": lambda: {"quote": last},
        "polite_close": lambda: {"quote": last},
    }
    advice: list[str] = []
    for stage in result.stages:
        for check in stage.checks:
            if check.passed:
                continue
            values = {k: _short(v) if isinstance(v, str) else v for k, v in quotes[check.key]().items()}
            advice.append(phrases[check.key].format(**values))
    m = result.metrics
    if m.filler_words and m.filler_rate >= 2.0:
        worst = max(trainee, key=lambda ln: sum(filler_counts(ln.text, result.language).values()))
        top = ", ".join(f"«{k}» ×{v}" if result.language == "ru" else f"“{k}” ×{v}" for k, v in m.fillers_found.items())
        advice.append(phrases["fillers"].format(rate=m.filler_rate, list=top, quote=_short(worst.text)))
    if not advice:
        best = max(trainee, key=lambda ln: len(words(ln.text)))
        advice.append(phrases["good"].format(quote=_short(best.text)))
    return advice


# Small words people put inside the end phrase («finish the session», «завершить эту сессию»).
END_PHRASE_SKIP = frozenset({"the", "a", "an", "this", "that", "our", "my", "please",
                             "эту", "эта", "это", "нашу", "наш", "мою", "пожалуйста"})


def end_phrase_matches(*, text: str, phrase: str, threshold: float = 80.0) -> bool:
    """Did the trainee say the end phrase? Fuzzy, because recognition adds punctuation and slips letters.

    The phrase may sit inside a longer utterance («Ну всё, завершить»), so each window of the
    phrase's word count is compared as well as the whole text; small words inside it («finish the
    session») are skipped on both sides.
    """
    from rapidfuzz import fuzz

    target = " ".join(w for w in words(phrase) if w not in END_PHRASE_SKIP)
    said = [w for w in words(text) if w not in END_PHRASE_SKIP]
    if not target or not said:
        return False
    n = len(target.split())
    windows = [" ".join(said[i:i + n]) for i in range(max(1, len(said) - n + 1))]
    return any(fuzz.ratio(w, target) >= threshold for w in windows)
