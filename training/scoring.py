"""Scoring a practice conversation: a rubric of yes/no checks per stage, conversation metrics and advice.

Pure functions over a list of ``Line`` (no database, no I/O), so every number can be checked by hand:
``score_transcript(lines=[...], language="ru") -> ScoreResult``. The trainee is ``user``; the AI
customer is ``bot``. Keyword lists cover Russian and English because recognition output and
custom scenarios mix both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from django.utils import translation
from django.utils.translation import gettext_noop
from rapidfuzz import fuzz

from dialogs.classifier import classify

TRAINEE = "user"
CUSTOMER = "bot"

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
    """One yes/no check of the review. ``label``/``description`` are source text, translated at display.

    ``passed`` is ``None`` when the check did not arise (no objection, nothing to answer).
    ``quote`` is the line that proves the verdict (or shows the problem), when there is one.
    """

    key: str
    label: str
    passed: bool | None
    points: int = 1
    description: str = ""
    quote: str = ""
    rule: str = field(default="", repr=False, compare=False)
    candidates: list[str] = field(default_factory=list, repr=False, compare=False)

    @property
    def applicable(self) -> bool:
        return self.passed is not None


@dataclass
class StageResult:
    key: str
    title: str
    checks: list[Check] = field(default_factory=list)

    @property
    def applicable(self) -> bool:
        return any(c.applicable for c in self.checks)

    @property
    def weight(self) -> int:
        return sum(c.points for c in self.checks if c.applicable)

    @property
    def earned(self) -> int:
        return sum(c.points for c in self.checks if c.passed)

    @property
    def share(self) -> float:
        return self.earned / self.weight if self.weight else 0.0

    @property
    def points(self) -> float:
        return float(self.earned)


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
    pass_threshold: int = 70
    scorer: str = "offline"
    fallback_reason: str = ""
    scorecard: str = ""

    @property
    def passed(self) -> bool:
        return self.total >= self.pass_threshold

    def rubric_dict(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "scorer": self.scorer,
            "fallback_reason": self.fallback_reason,
            "scorecard": self.scorecard,
            "pass_threshold": self.pass_threshold,
            "passed": self.passed,
            "stages": [
                {
                    "key": s.key,
                    "title": s.title,
                    "weight": s.weight,
                    "applicable": s.applicable,
                    "share": round(s.share, 3),
                    "points": round(s.points, 1),
                    "checks": [
                        {"key": c.key, "label": c.label, "description": c.description, "points": c.points,
                         "passed": c.passed, "applicable": c.applicable, "quote": c.quote}
                        for c in s.checks
                    ],
                }
                for s in self.stages
            ],
        }

    def metrics_dict(self) -> dict[str, Any]:
        return asdict(self.metrics)


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


# --- the scorecard ------------------------------------------------------------------------------
#
# A scorecard is data (``training.models.Scorecard`` in the admin); scoring sees it as the frozen
# ``ScorecardSpec`` below. Labels, titles and descriptions are English source text: the review
# translates them when it is shown (``gettext``), so it reads in the viewer's language.


@dataclass(frozen=True)
class CheckSpec:
    key: str
    label: str
    rule: str  # a key of RULES, or "phrases": passes when the trainee said one of ``phrases``
    points: int = 5
    description: str = ""
    phrases: tuple[str, ...] = ()


@dataclass(frozen=True)
class StageSpec:
    key: str
    title: str
    checks: tuple[CheckSpec, ...]


@dataclass(frozen=True)
class ScorecardSpec:
    name: str
    stages: tuple[StageSpec, ...]
    pass_threshold: int = 70

    @property
    def checks(self) -> list[CheckSpec]:
        return [c for stage in self.stages for c in stage.checks]


def _c(key: str, label: str, description: str, points: int = 5) -> CheckSpec:
    return CheckSpec(key=key, label=label, rule=key, points=points, description=description)


DEFAULT_SCORECARD = ScorecardSpec(
    name=gettext_noop("Cold call (default)"),
    pass_threshold=70,
    stages=(
        StageSpec("greeting", gettext_noop("Greeting and introduction"), (
            _c("greets", gettext_noop("Greeted the customer"), gettext_noop("A greeting in the first two lines.")),
            _c("introduces", gettext_noop("Introduced self and company"),
               gettext_noop("Own name or the company in the first two lines.")),
            _c("states_purpose", gettext_noop("Stated the reason for the call"),
               gettext_noop("Said why they call, or what the company does for the customer together with a "
                            "question about the customer's business, in the first three lines.")),
        )),
        StageSpec("discovery", gettext_noop("Needs discovery"), (
            _c("asks_questions", gettext_noop("Asked at least two questions"),
               gettext_noop("Two or more questions during the call.")),
            _c("open_question", gettext_noop("Asked an open question"),
               gettext_noop("A question that cannot be answered yes or no (how, what, why…).")),
            _c("listens", gettext_noop("Let the customer talk (talk share 65% or less)"),
               gettext_noop("The trainee spoke for no more than 65% of the conversation.")),
        )),
        StageSpec("presentation", gettext_noop("Presentation tied to needs"), (
            _c("benefit", gettext_noop("Named a benefit for the customer"),
               gettext_noop("What the customer gains (saves, faster, reliable), not only features.")),
            _c("tied_to_needs", gettext_noop("Tied the offer to what the customer said"),
               gettext_noop("After the customer spoke about their needs, the trainee took up their words.")),
            _c("concrete", gettext_noop("Gave specifics (numbers, facts)"),
               gettext_noop("Numbers, dates or percentages.")),
        )),
        StageSpec("objections", gettext_noop("Objection handling"), (
            _c("answered_all", gettext_noop("Answered every objection"),
               gettext_noop("Every objection got a reply.")),
            _c("acknowledged", gettext_noop("Acknowledged the customer's view, did not argue"),
               gettext_noop("«I understand…» before the answer; never «you are wrong».")),
            _c("handled", gettext_noop("Handled objections (question, benefit, acknowledgement)"),
               gettext_noop("Each reply acknowledges, asks a question or names a benefit.")),
        )),
        StageSpec("closing", gettext_noop("Next step and closing"), (
            _c("next_step", gettext_noop("Proposed a next step"),
               gettext_noop("A meeting, a demo, a proposal or a call in the last three lines.")),
            _c("commitment", gettext_noop("Agreed on a concrete time"),
               gettext_noop("A day or an hour for the next step.")),
            _c("polite_close", gettext_noop("Closed politely"),
               gettext_noop("Thanks or goodbye in the last three lines.")),
        )),
    ),
)

# What a trainee says about the company and what it does for the customer («We ship freight…»).
VALUE_STATEMENT = _rx(
    r"мы (?:доставля\w*|вози\w*|привози\w*|перевози\w*|помога\w*|предлага\w*|занимаемся|организу\w*|"
    r"работаем|делаем|поставля\w*|продаём|продаем|экономим)",
    r"наша компания", r"мы — \w+",
    r"we (?:ship|deliver|help|provide|offer|bring|move|transport|handle|sell|specialize|specialise|organi[sz]e|"
    r"work with|import|supply|save|cut)", r"our company", r"our service",
)
# Customer lines that say nothing about their business: a pick-up, «who is it?», «okay».
_SMALL_TALK = {"greeting", "who_is_calling", "agree", "end_session", "wrong_number"}


@dataclass
class _Context:
    lines: list[Line]
    trainee: list[Line]
    customer: list[Line]
    metrics: Metrics
    pairs: list[tuple[Line, Line | None]]
    language: str


# A verdict: passed (None: did not arise), and the lines that prove it or show the problem, best first.
Verdict = tuple[bool | None, list[str]]


def _with(rx: re.Pattern[str], lines: Sequence[Line]) -> list[str]:
    return [ln.text for ln in lines if rx.search(ln.text)]


def _longest_first(lines: Sequence[Line]) -> list[str]:
    return [ln.text for ln in sorted(lines, key=lambda ln: -len(words(ln.text)))]


def _greets(ctx: _Context) -> Verdict:
    found = _with(GREETING, ctx.trainee[:2])
    return bool(found), found or [ln.text for ln in ctx.trainee[:1]]


def _introduces(ctx: _Context) -> Verdict:
    found = _with(INTRODUCTION, ctx.trainee[:2])
    return bool(found), found or [ln.text for ln in ctx.trainee[:2]]


def _states_purpose(ctx: _Context) -> Verdict:
    opening = ctx.trainee[:3]
    stated = _with(PURPOSE, opening)
    if stated:
        return True, stated
    # «We ship freight from China in 18 days. Could I ask how you move your cargo today?»: what the
    # company does for the customer, and a question about the customer's business, is the reason
    values = _with(VALUE_STATEMENT, opening)
    if values and any(questions_in(ln.text) for ln in opening):
        return True, values
    return False, [ln.text for ln in opening]


def _asks_questions(ctx: _Context) -> Verdict:
    asking = [ln.text for ln in ctx.trainee if questions_in(ln.text)]
    if ctx.metrics.questions_asked >= 2:
        return True, asking
    return False, _longest_first([ln for ln in ctx.trainee if not questions_in(ln.text)]) + asking


def _open_question(ctx: _Context) -> Verdict:
    open_ = [ln.text for ln in ctx.trainee if any(OPEN_QUESTION.search(q) for q in questions_in(ln.text))]
    if open_:
        return True, open_
    closed = [ln.text for ln in ctx.trainee if questions_in(ln.text)]
    return False, closed + [ln.text for ln in ctx.trainee if ln.text not in closed]


def _listens(ctx: _Context) -> Verdict:
    runs = _monologues(ctx.lines)
    longest = max(runs, key=lambda run: sum(len(words(ln.text)) for ln in run)) if runs else []
    return bool(ctx.trainee) and ctx.metrics.talk_ratio <= LISTEN_RATIO_MAX, _longest_first(longest)


def _benefit(ctx: _Context) -> Verdict:
    found = _with(BENEFIT, ctx.trainee)
    if found:
        return True, found
    pitches = _with(VALUE_STATEMENT, ctx.trainee)
    return False, pitches + [t for t in _longest_first(ctx.trainee) if t not in pitches]


def needs_lines(lines: Sequence[Line], language: str) -> list[Line]:
    """Customer lines about their business (cargo, volumes, what matters): not a pick-up, not «okay»."""
    found = []
    for line in lines:
        if line.speaker != CUSTOMER or is_objection(line):
            continue
        c = classify(line.text, language)
        if c.slots or (c.label not in _SMALL_TALK and len(_content_words(line.text)) >= 2) \
                or len(_content_words(line.text)) >= 3:
            found.append(line)
    return found


def _tied_to_needs(ctx: _Context) -> Verdict:
    """After the customer spoke about their needs, a trainee line takes up their words (or says so)."""
    needs = needs_lines(ctx.lines, ctx.language)
    heard: set[str] = set()
    for line in ctx.lines:
        if line in needs:
            heard |= _content_words(line.text)
        elif line.speaker == TRAINEE and heard and (
                NEED_REFERENCE.search(line.text) or _content_words(line.text) & heard):
            return True, [line.text]
    if needs:
        return False, [ln.text for ln in needs]
    # the customer never said what they need: the problem is the pitch made without asking
    return False, _with(VALUE_STATEMENT, ctx.trainee) + _longest_first(ctx.trainee)


def _concrete(ctx: _Context) -> Verdict:
    found = [ln.text for ln in ctx.trainee if FACT.search(ln.text.lower())]
    return (True, found) if found else (False, _longest_first(ctx.trainee))


def _answered_all(ctx: _Context) -> Verdict:
    if not ctx.pairs:
        return None, []
    missing = [o.text for o, r in ctx.pairs if r is None or not r.text.strip()]
    return not missing, missing or [r.text for _, r in ctx.pairs if r is not None]


def _acknowledged(ctx: _Context) -> Verdict:
    if not ctx.pairs:
        return None, []
    replies = [r for _, r in ctx.pairs if r is not None]
    arguing = [r.text for r in replies if ARGUING.search(r.text)]
    acknowledging = [r.text for r in replies if ACKNOWLEDGE.search(r.text)]
    if acknowledging and not arguing:
        return True, acknowledging
    return False, arguing + [r.text for r in replies if r.text not in acknowledging and r.text not in arguing]


def _handled(ctx: _Context) -> Verdict:
    if not ctx.pairs:
        return None, []
    failed = [r.text for _, r in ctx.pairs if r is not None and not is_handled(r)]
    if ctx.metrics.objections_handled == ctx.metrics.objections_met:
        return True, [r.text for _, r in ctx.pairs if r is not None]
    return False, failed


def _closing(rx: re.Pattern[str]) -> Callable[[_Context], Verdict]:
    def rule(ctx: _Context) -> Verdict:
        closing = ctx.trainee[-3:]
        found = _with(rx, closing)
        return (True, found) if found else (False, [ln.text for ln in reversed(closing)])

    return rule


RULES: dict[str, Callable[[_Context], Verdict]] = {
    "greets": _greets,
    "introduces": _introduces,
    "states_purpose": _states_purpose,
    "asks_questions": _asks_questions,
    "open_question": _open_question,
    "listens": _listens,
    "benefit": _benefit,
    "tied_to_needs": _tied_to_needs,
    "concrete": _concrete,
    "answered_all": _answered_all,
    "acknowledged": _acknowledged,
    "handled": _handled,
    "next_step": _closing(NEXT_STEP),
    "commitment": _closing(COMMITMENT),
    "polite_close": _closing(THANKS),
}
PHRASES_RULE = "phrases"


def phrases_verdict(*, trainee: Sequence[Line], phrases: Sequence[str]) -> Verdict:
    """A manager's own check: the trainee said one of the phrases (case and punctuation aside)."""
    wanted = [" ".join(words(p)) for p in phrases if words(p)]
    for line in trainee:
        said = f" {' '.join(words(line.text))} "
        if any(f" {w} " in said for w in wanted):
            return True, [line.text]
    return False, []


def evaluate(*, lines: Sequence[Line], metrics: Metrics, scorecard: ScorecardSpec,
             language: str) -> list[StageResult]:
    ctx = _Context(
        lines=list(lines), trainee=[ln for ln in lines if ln.speaker == TRAINEE],
        customer=[ln for ln in lines if ln.speaker == CUSTOMER], metrics=metrics,
        pairs=objection_pairs(lines), language=language,
    )
    stages = []
    for spec in scorecard.stages:
        stage = StageResult(key=spec.key, title=spec.title)
        for check in spec.checks:
            if check.rule == PHRASES_RULE:
                passed, quotes = phrases_verdict(trainee=ctx.trainee, phrases=check.phrases)
            else:
                passed, quotes = RULES[check.rule](ctx)
            stage.checks.append(Check(
                key=check.key, label=check.label, passed=None if passed is None else bool(passed),
                points=check.points, description=check.description, quote=_short(quotes[0]) if quotes else "",
                rule=check.rule, candidates=list(quotes),
            ))
        stages.append(stage)
    return stages


def total_of(stages: Sequence[StageResult], lines: Sequence[Line]) -> int:
    possible = sum(s.weight for s in stages)
    earned = sum(s.earned for s in stages)
    return round(100 * earned / possible) if possible and any(ln.speaker == TRAINEE for ln in lines) else 0


def score_transcript(*, lines: Sequence[Line], language: str = "ru", scorecard: ScorecardSpec | None = None,
                     end_phrase: str = "") -> ScoreResult:
    """Score a conversation on a scorecard (the default one unless given).

    ``end_phrase``: the words that ended the session are cut from the trainee's line, and what was
    said before them («Okay, thank you, finish session») stays in.
    """
    scorecard = scorecard or DEFAULT_SCORECARD
    language = language if language in ADVICE else "en"
    lines = [ln for ln in lines if ln.text.strip()]
    if end_phrase:
        lines = [ln if ln.speaker != TRAINEE else replace(ln, text=end_phrase_strip(text=ln.text, phrase=end_phrase))
                 for ln in lines]
        lines = [ln for ln in lines if ln.text.strip()]
    metrics = compute_metrics(lines=lines, language=language)
    stages = evaluate(lines=lines, metrics=metrics, scorecard=scorecard, language=language)
    result = ScoreResult(total=total_of(stages, lines), stages=stages, metrics=metrics, advice=[],
                         language=language, pass_threshold=scorecard.pass_threshold, scorecard=scorecard.name)
    result.advice = rule_advice(lines=lines, result=result)
    return result


# --- advice -------------------------------------------------------------------------------------

# Each tip: what to do, then (when a line shows it and has not been quoted yet) the quote.
ADVICE: dict[str, dict[str, tuple[str, str]]] = {
    "ru": {
        "greets": ("Начните с приветствия.", " Вы начали так: «{quote}»."),
        "introduces": ("Представьтесь и назовите компанию в первой же фразе.", " Сейчас: «{quote}»."),
        "states_purpose": ("Сразу скажите, зачем звоните, одной фразой.", " Вы сказали: «{quote}»."),
        "asks_questions": ("Задайте больше вопросов о задачах клиента до презентации — сейчас вопросов: {n}.",
                           " Здесь можно было спросить: «{quote}»."),
        "open_question": ("Спрашивайте открыто («Как вы сейчас…?», «Что для вас важно…?»).",
                          " Ваш вопрос: «{quote}»."),
        "listens": ("Вы говорили {ratio}% времени — дайте клиенту высказаться.", " Самый длинный монолог: «{quote}»."),
        "benefit": ("Назовите выгоду для клиента, а не свойства продукта.", " Вместо «{quote}» — что клиент получит."),
        "tied_to_needs": ("Свяжите предложение со словами клиента («Вы сказали, что…»).",
                          " Клиент говорил: «{quote}»."),
        "concrete": ("Добавьте конкретики: сроки, цифры, примеры.", " Сейчас: «{quote}»."),
        "answered_all": ("Отвечайте на каждое возражение.", " Без ответа осталось: «{quote}»."),
        "acknowledged": ("Сначала признайте позицию клиента («Понимаю вас…»), потом отвечайте.",
                         " Вы ответили: «{quote}»."),
        "handled": ("Отработайте возражение «{objection}» вопросом или выгодой.", " Ваш ответ: «{quote}»."),
        "next_step": ("Закончите конкретным следующим шагом: встреча, демо, КП.", " Ваши слова: «{quote}»."),
        "commitment": ("Договоритесь о времени («Завтра в 11 удобно?»).", " Сейчас: «{quote}»."),
        "polite_close": ("Поблагодарите клиента и попрощайтесь.", " Ваши последние слова: «{quote}»."),
        "phrases": ("Не выполнено: «{label}». {description}", " Например: «{quote}»."),
        "fillers": ("Слова-паразиты ({rate} на 100 слов: {list}).", " Например: «{quote}»."),
        "good": ("Хорошая работа: все пункты чек-листа выполнены.", " Сильная фраза: «{quote}»."),
        "empty": ("Разговора почти не было: поздоровайтесь, представьтесь и задайте клиенту вопрос о его задачах.",
                  ""),
    },
    "en": {
        "greets": ("Open with a greeting.", " You started with: “{quote}”."),
        "introduces": ("Say your name and company in the first line.", " You said: “{quote}”."),
        "states_purpose": ("State why you are calling in one sentence.", " You said: “{quote}”."),
        "asks_questions": ("Ask more about the customer's needs before presenting: you asked {n} question(s).",
                           " A question fits here: “{quote}”."),
        "open_question": ("Ask open questions (“How do you…?”, “What matters most…?”).",
                          " Your question: “{quote}”."),
        "listens": ("You talked {ratio}% of the time: let the customer speak.", " Your longest monologue: “{quote}”."),
        "benefit": ("Name what the customer gains, not product features.",
                    " Instead of “{quote}”, say what it gives them."),
        "tied_to_needs": ("Tie the offer to the customer's words (“You said that…”).",
                          " The customer said: “{quote}”."),
        "concrete": ("Add specifics: dates, numbers, examples.", " You said: “{quote}”."),
        "answered_all": ("Answer every objection.", " This one got no answer: “{quote}”."),
        "acknowledged": ("Acknowledge the customer's view first (“I understand…”), then answer.",
                         " You said: “{quote}”."),
        "handled": ("Handle the objection “{objection}” with a question or a benefit.", " Your reply: “{quote}”."),
        "next_step": ("End with a concrete next step: a meeting, a demo, a proposal.", " Your words: “{quote}”."),
        "commitment": ("Agree on a time (“Would tomorrow at 11 work?”).", " You said: “{quote}”."),
        "polite_close": ("Thank the customer and say goodbye.", " Your last words: “{quote}”."),
        "phrases": ("Not done: “{label}”. {description}", " For example: “{quote}”."),
        "fillers": ("Filler words ({rate} per 100 words: {list}).", " For example: “{quote}”."),
        "good": ("Good work: every checklist item was met.", " A strong line: “{quote}”."),
        "empty": ("There was hardly any conversation: greet, introduce yourself and ask the customer about their "
                  "needs.", ""),
    },
}


def _short(text: str, limit: int = 140) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _norm(text: str) -> str:
    return " ".join(words(text))


class _Quotes:
    """Hands out each line once per review, so no two tips quote the same words."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def take(self, candidates: Sequence[str]) -> str:
        for text in candidates:
            key = _norm(text)
            if key and key not in self.used:
                self.used.add(key)
                return _short(text)
        return ""

    def mark(self, text: str) -> None:
        if _norm(text):
            self.used.add(_norm(text))


def tip(*, phrases: tuple[str, str], quote: str, **values: Any) -> str:
    lead, quoted = phrases
    text = lead.format(**values).strip()
    if not quote:
        return text
    quoted = quoted.format(quote=quote)
    if quote.endswith((".", "!", "?", "…")) and quoted.endswith((".", "»." , "”.")) and quoted.endswith("."):
        quoted = quoted[:-1]  # «…in the market.» rather than «…in the market.».
    return text + quoted


def rule_advice(*, lines: Sequence[Line], result: ScoreResult) -> list[str]:
    """A tip for each failed check, quoting the trainee's (or customer's) line that shows the problem."""
    phrases = ADVICE[result.language]
    trainee = [ln for ln in lines if ln.speaker == TRAINEE]
    if not trainee:
        return [tip(phrases=phrases["empty"], quote="")]
    quotes = _Quotes()
    pairs = objection_pairs(lines)
    failed = [c for stage in result.stages for c in stage.checks if c.passed is False]
    objection = next((o.text for o, r in pairs if not is_handled(r)), "")
    if any(c.rule == "handled" for c in failed):
        quotes.mark(objection)  # the «handled» tip names it
    # the check with the fewest lines to show picks first, so a tip with one telling line keeps it
    chosen: dict[int, str] = {}
    for i, check in sorted(enumerate(failed), key=lambda ic: len(ic[1].candidates or [ic[1].quote])):
        chosen[i] = quotes.take(check.candidates or ([check.quote] if check.quote else []))
    advice: list[str] = []
    for i, check in enumerate(failed):
        rule = check.rule if check.rule in RULES else PHRASES_RULE
        values: dict[str, Any] = {}
        if rule == "asks_questions":
            values["n"] = result.metrics.questions_asked
        elif rule == "listens":
            values["ratio"] = round(result.metrics.talk_ratio)
        elif rule == "handled":
            values["objection"] = _short(objection)
        elif rule == PHRASES_RULE:
            with translation.override(result.language):
                values.update(label=translation.gettext(check.label),
                              description=translation.gettext(check.description) if check.description else "")
        advice.append(tip(phrases=phrases[rule], quote=chosen[i], **values))
    m = result.metrics
    if m.filler_words and m.filler_rate >= 2.0:
        by_fillers = sorted(trainee, key=lambda ln: -sum(filler_counts(ln.text, result.language).values()))
        top = ", ".join(f"«{k}» ×{v}" if result.language == "ru" else f"“{k}” ×{v}" for k, v in m.fillers_found.items())
        advice.append(tip(phrases=phrases["fillers"], quote=quotes.take([ln.text for ln in by_fillers]),
                          rate=m.filler_rate, list=top))
    if not advice:
        advice.append(tip(phrases=phrases["good"], quote=quotes.take(_longest_first(trainee))))
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
    target = " ".join(w for w in words(phrase) if w not in END_PHRASE_SKIP)
    said = [w for w in words(text) if w not in END_PHRASE_SKIP]
    if not target or not said:
        return False
    n = len(target.split())
    windows = [" ".join(said[i:i + n]) for i in range(max(1, len(said) - n + 1))]
    return any(fuzz.ratio(w, target) >= threshold for w in windows)


def end_phrase_strip(*, text: str, phrase: str, threshold: float = 80.0) -> str:
    """``text`` without the end phrase: «Okay, thank you, finish session.» -> «Okay, thank you».

    The same fuzzy window as ``end_phrase_matches``; what is said before (and after) the phrase stays.
    Text without the phrase comes back unchanged.
    """
    target = " ".join(w for w in words(phrase) if w not in END_PHRASE_SKIP)
    spans = [m for m in _WORD.finditer(text) if m.group().lower() not in END_PHRASE_SKIP]
    if not target or not spans:
        return text
    n = len(target.split())
    best, best_at = 0.0, -1
    for i in range(max(1, len(spans) - n + 1)):
        score = fuzz.ratio(" ".join(m.group().lower() for m in spans[i:i + n]), target)
        if score > best:
            best, best_at = score, i
    if best < threshold:
        return text
    start, end = spans[best_at].start(), spans[min(best_at + n, len(spans)) - 1].end()
    before = text[:start].rstrip(" ,;:—-")
    after = text[end:].lstrip(" .,!;:—-")
    return " ".join(part for part in (before, after) if part).strip()
