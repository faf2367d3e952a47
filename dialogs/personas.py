"""AI customer personas: a seeded scripted engine, an LLM persona with fallback, and persona-vs-flow simulation.

Difficulty sets the customer's behaviour (``DIFFICULTY``): how often and how hard they object, how
much they reveal when asked, and after how many pitches they agree. Randomness comes from a
``random.Random`` seeded with ``(seed, turn)``, so the same seed always gives the same conversation
and a state can be resumed from its dict without carrying an RNG.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from dialogs.classifier import classify
from dialogs.flow import FlowEvent, FlowState, new_state, spoken_text, step
from dialogs.llm import LLMConfig, history_messages, stream_chat
from voice.responder import ConversationState, Directive, ResponderOutput

log = logging.getLogger(__name__)
Difficulty = Literal["easy", "medium", "hard"]


@dataclass(frozen=True)
class DifficultyProfile:
    objection_p: float  # chance per turn of raising an objection while any are left
    max_objections: int
    reveal_p: float  # chance of answering a qualifying question with real details
    agree_after: int  # pitches heard before asking for a quote
    contact_p: float  # chance of giving a contact when asked
    pool: tuple[str, ...]  # objection classes this customer draws from
    hang_up_when_done: bool  # after the last objection is answered, hang up instead of agreeing


DIFFICULTY: dict[str, DifficultyProfile] = {
    "easy": DifficultyProfile(0.15, 1, 0.9, 1, 0.95, ("objection_send_email", "objection_busy",
                                                      "objection_has_supplier"), False),
    "medium": DifficultyProfile(0.45, 3, 0.6, 2, 0.7, ("objection_has_supplier", "objection_too_expensive",
                                                       "objection_send_email", "objection_busy",
                                                       "objection_not_interested"), False),
    "hard": DifficultyProfile(0.8, 5, 0.3, 3, 0.4, ("objection_not_interested", "objection_has_supplier",
                                                    "objection_too_expensive", "objection_no_need",
                                                    "objection_not_decision_maker", "objection_send_email"), True),
}


@dataclass(frozen=True)
class Persona:
    """Who the AI customer is. ``objections`` puts the persona's favourite classes first."""

    name: str
    role: str
    company: str
    temperament: str = "neutral"  # friendly | neutral | sceptical | irritable
    difficulty: Difficulty = "medium"
    language: str = "ru"
    cargo: str = "мебель"
    origin: str = "Фошань"
    volume: str = "два контейнера в месяц"
    email: str = "zakupki@example.ru"
    phone: str = "+7 916 555 12 34"
    is_decision_maker: bool = True
    objections: tuple[str, ...] = ()
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["objections"] = list(self.objections)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Persona:
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in data.items() if k in names}
        if "objections" in kw:
            kw["objections"] = tuple(kw["objections"] or ())
        if kw.get("difficulty") not in DIFFICULTY:
            kw["difficulty"] = "medium"
        return cls(**kw)

    @property
    def profile(self) -> DifficultyProfile:
        return DIFFICULTY[self.difficulty]


DEFAULT_PERSONAS: dict[str, Persona] = {
    "olga_easy": Persona("Ольга Викторовна", "менеджер по закупкам", "ООО «Мебель-Опт»", "friendly", "easy",
                         cargo="мебель", origin="Фошань", email="olga@mebel-opt.ru", phone="+7 916 123 45 67"),
    "sergey_medium": Persona("Сергей Петрович", "директор по логистике", "ООО «СтройТорг»", "sceptical", "medium",
                             cargo="плитка", origin="Фошань", volume="десять тонн в месяц",
                             email="sp@stroytorg.ru", phone="+7 495 765 43 21",
                             objections=("objection_has_supplier", "objection_too_expensive")),
    "igor_hard": Persona("Игорь", "генеральный директор", "ООО «АвтоДеталь»", "irritable", "hard",
                         cargo="автозапчасти", origin="Гуанчжоу", volume="контейнер раз в квартал",
                         email="igor@avtodetal.ru", phone="+7 921 111 22 33",
                         objections=("objection_not_interested", "objection_too_expensive")),
    "anna_secretary": Persona("Анна", "секретарь", "ООО «ТехноИмпорт»", "neutral", "medium", is_decision_maker=False,
                              cargo="электроника", origin="Шэньчжэнь", email="director@technoimport.ru",
                              phone="+7 903 123 45 67"),
    "john_en": Persona("John Miller", "purchasing manager", "Acme Imports", "neutral", "medium", language="en",
                       cargo="furniture", origin="Foshan", volume="two containers a month",
                       email="john.miller@acme.com", phone="+44 20 7946 0958"),
    "emma_easy_en": Persona("Emma Clarke", "store owner", "Clarke Electronics", "friendly", "easy", language="en",
                            cargo="electronics", origin="Shenzhen", volume="one pallet a month",
                            email="emma@clarke-electronics.co.uk", phone="+44 161 496 0123"),
    "robert_hard_en": Persona("Robert Hayes", "procurement director", "Hayes Retail Group", "irritable", "hard",
                              language="en", cargo="kitchenware", origin="Ningbo", volume="a container a quarter",
                              email="procurement@hayesretail.co.uk", phone="+44 113 496 0456",
                              objections=("objection_too_expensive", "objection_has_supplier")),
}

# Customer lines. Hard phrasing is listed after «|» alternatives by difficulty index.
PHRASES: dict[str, dict[str, dict[str, list[str]]]] = {
    "ru": {
        "pick_up": {"easy": ["Алло, да, слушаю вас.", "Да, здравствуйте!"],
                    "medium": ["Алло.", "Да, слушаю.", "Алло, кто это?"],
                    "hard": ["Да. Кто это?", "Слушаю. Быстро, пожалуйста.", "Алло, откуда у вас мой номер?"]},
        "objection_not_interested": {"easy": ["Пока, наверное, не интересно."],
                                     "medium": ["Нет, нас это не интересует.", "Спасибо, но нет."],
                                     "hard": ["Мне это неинтересно, не звоните больше.", "Нет. Не интересует."]},
        "objection_has_supplier": {"easy": ["У нас вообще-то есть перевозчик."],
                                   "medium": ["У нас уже есть перевозчик, нас всё устраивает.",
                                              "Мы давно работаем с другой компанией."],
                                   "hard": ["У нас свой экспедитор, годами проверенный, менять не будем.",
                                            "Перевозчик есть, и он нас полностью устраивает."]},
        "objection_send_email": {"easy": ["А можете на почту прислать?"],
                                 "medium": ["Отправьте коммерческое предложение на почту, посмотрим.",
                                            "Пришлите всё письменно."],
                                 "hard": ["Скиньте на почту, там разберутся.", "Напишите на общую почту."]},
        "objection_busy": {"easy": ["Ой, я сейчас немного занята, можно позже?"],
                           "medium": ["Я сейчас занят, перезвоните позже.", "Неудобно говорить, я на совещании."],
                           "hard": ["Некогда мне, я за рулём.", "Не могу сейчас говорить."]},
        "objection_too_expensive": {"easy": ["Наверное, дороговато будет?"],
                                    "medium": ["У вас дороже, чем у нашего перевозчика.", "Дорого, если честно."],
                                    "hard": ["Дорого. У конкурентов ставки ниже.", "За такие деньги — нет."]},
        "objection_not_decision_maker": {"easy": ["Это не совсем ко мне, я не решаю такие вопросы."],
                                         "medium": ["Я не решаю такие вопросы, это к директору."],
                                         "hard": ["Это не ко мне. Директора нет."]},
        "objection_no_need": {"easy": ["Сейчас, честно говоря, нет потребности."],
                              "medium": ["Нам это сейчас не актуально."],
                              "hard": ["Нам это не нужно, мы не возим из Китая.", "Потребности нет."]},
        "reveal": ["Возим {cargo} из {origin}, примерно {volume}.", "Да, у нас {cargo}, из {origin}, где-то {volume}."],
        "vague": ["Ну, возим кое-что.", "Бывает по-разному.", "А вам зачем?"],
        "neutral": ["Угу.", "Так, и что?", "Ну допустим.", "А сроки у вас какие?"],
        "agree": ["Да, давайте.", "Хорошо, можно.", "Ладно, интересно."],
        "quote": ["Ну посчитайте тогда {cargo} из {origin}, {volume}.", "Сделайте расчёт: {cargo} из {origin}."],
        "contact": ["Пишите на почту {email}, меня зовут {first_name}.", "Запишите: {phone}, {first_name}."],
        "dm_contact": ["Запишите номер директора: {phone}.", "Пишите директору на {email}."],
        "deflect": ["Давайте сначала вы расскажете подробнее.", "Контакты пока не дам."],
        "callback_time": ["Перезвоните завтра после обеда.", "Давайте завтра в десять.", "Наберите в понедельник."],
        "bye": ["Всего доброго, до свидания.", "До свидания."],
        "hang_up": ["Всё, мне некогда, до свидания.", "Не звоните больше. До свидания."],
    },
    "en": {
        "pick_up": {"easy": ["Hello, speaking."], "medium": ["Hello?", "Yes, hello."],
                    "hard": ["Who is this?", "Yes? Make it quick."]},
        "objection_not_interested": {"easy": ["I'm not sure we're interested."],
                                     "medium": ["No thanks, we're not interested."],
                                     "hard": ["Not interested. Please stop calling."]},
        "objection_has_supplier": {"easy": ["We already have a carrier, actually."],
                                   "medium": ["We already have a carrier and we're happy with them."],
                                   "hard": ["We work with another forwarder and we won't switch."]},
        "objection_send_email": {"easy": ["Could you send me an email?"], "medium": ["Just email me the details."],
                                 "hard": ["Send it in writing."]},
        "objection_busy": {"easy": ["I'm a bit busy, can you call back later?"], "medium": ["I'm in a meeting."],
                           "hard": ["I'm driving. Not a good time."]},
        "objection_too_expensive": {"easy": ["That sounds expensive."], "medium": ["Our carrier is cheaper."],
                                    "hard": ["Too expensive. We can't afford that."]},
        "objection_not_decision_maker": {"easy": ["I don't make those decisions."],
                                         "medium": ["You need to speak to my manager."],
                                         "hard": ["That's not my department."]},
        "objection_no_need": {"easy": ["There's no need at the moment."], "medium": ["We don't need that."],
                              "hard": ["We don't import from China."]},
        "reveal": ["We ship {cargo} from {origin}, about {volume}."],
        "vague": ["We ship a few things.", "It depends."],
        "neutral": ["Okay.", "Go on.", "How long does shipping take?"],
        "agree": ["Sure, go ahead.", "Okay, sounds good."],
        "quote": ["Then please quote {cargo} from {origin}, {volume}."],
        "contact": ["My email is {email}, I'm {first_name}.", "Call me on {phone}, I'm {first_name}."],
        "dm_contact": ["Write to my manager at {email}."],
        "deflect": ["Tell me more first."],
        "callback_time": ["Call me tomorrow at 10.", "Call me next week."],
        "bye": ["Goodbye.", "Bye."],
        "hang_up": ["I have to go. Goodbye."],
    },
}

_CONTACT_ASK = re.compile(r"почт|email|e-mail|телефон|номер|контакт|куда (?:удобно |вам )?(?:отправить|прислать)|"
                          r"как к вам обращаться|продиктуйте|phone|number|where should i send|contact", re.I)
_TIME_ASK = re.compile(r"когда (?:вам )?(?:будет )?удобн|удобное время|перезвоню|call back|when would|what time", re.I)
_BYE = re.compile(r"до свидания|всего доброго|хорошего дня|goodbye|have a (?:great|nice|good) day", re.I)


@dataclass
class PersonaState:
    """The customer's side of the conversation; JSON-serialisable."""

    turn: int = 0
    objections_raised: list[str] = field(default_factory=list)
    pitches_heard: int = 0
    revealed: bool = False
    agreed: bool = False
    contact_given: bool = False
    quote_asked: bool = False
    awaiting_time: bool = False
    ended: bool = False
    last_intent: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> PersonaState:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in names})


@dataclass
class PersonaReply:
    text: str
    intent: str  # the customer's own intent (one of the classifier's labels)
    state: PersonaState


class ScriptedPersona:
    """The offline AI customer: reads the salesperson's words with the classifier and answers by difficulty."""

    def __init__(self, persona: Persona, seed: int = 0):
        self.persona = persona
        self.seed = seed
        self.lang = "en" if persona.language == "en" else "ru"

    def _rng(self, state: PersonaState) -> random.Random:
        return random.Random(f"{self.seed}:{state.turn}:{self.persona.name}")

    def _fmt(self, template: str) -> str:
        p = self.persona
        return template.format(cargo=p.cargo, origin=p.origin, volume=p.volume, email=p.email, phone=p.phone,
                               first_name=p.name.split()[0], name=p.name, company=p.company)

    def _line(self, rng: random.Random, key: str) -> str:
        bank = PHRASES[self.lang][key]
        if isinstance(bank, dict):
            bank = bank.get(self.persona.difficulty) or next(iter(bank.values()))
        return self._fmt(rng.choice(bank))

    def _pick_objection(self, rng: random.Random, state: PersonaState) -> str:
        prof = self.persona.profile
        pool = list(dict.fromkeys([*self.persona.objections, *prof.pool]))
        if self.persona.is_decision_maker and "objection_not_decision_maker" in pool:
            pool.remove("objection_not_decision_maker")
        if not self.persona.is_decision_maker and "objection_not_decision_maker" not in state.objections_raised:
            return "objection_not_decision_maker"
        last = state.objections_raised[-1] if state.objections_raised else None
        choices = [o for o in pool if o != last] or pool
        weights = [3 if o in self.persona.objections else 1 for o in choices]
        return rng.choices(choices, weights=weights)[0]

    def reply(self, salesperson_text: str, state: PersonaState | None = None) -> PersonaReply:
        st = PersonaState.from_dict((state or PersonaState()).to_dict())
        rng = self._rng(st)
        prof = self.persona.profile
        st.turn += 1

        def out(text: str, intent: str) -> PersonaReply:
            st.last_intent = intent
            return PersonaReply(text, intent, st)

        if st.ended:
            return out("", "end_session")
        said = salesperson_text.strip()
        if not said:  # the phone rings: the customer picks up
            return out(self._line(rng, "pick_up"), "greeting")
        heard = classify(said, self.lang)
        if heard.label == "end_session" or _BYE.search(said):
            st.ended = True
            return out(self._line(rng, "bye"), "end_session")
        if st.awaiting_time and _TIME_ASK.search(said):
            st.awaiting_time = False
            st.ended = True
            return out(self._line(rng, "callback_time"), "objection_busy")
        asks_contact = bool(_CONTACT_ASK.search(said))
        asks_question = heard.label == "question" or "?" in said
        objections_left = len(st.objections_raised) < prof.max_objections
        # An objection comes with the difficulty's probability, and always once the pitch gets pushy
        # for a customer who has not objected yet on hard.
        if objections_left and not st.contact_given and rng.random() < prof.objection_p:
            label = self._pick_objection(rng, st)
            st.objections_raised.append(label)
            st.awaiting_time = label == "objection_busy"
            return out(self._line(rng, label), label)
        if not objections_left and prof.hang_up_when_done and not st.agreed:
            st.ended = True
            return out(self._line(rng, "hang_up"), "end_session")
        if asks_contact:
            if rng.random() < prof.contact_p:
                st.contact_given = True
                key = "contact" if self.persona.is_decision_maker else "dm_contact"
                return out(self._line(rng, key), "give_contact")
            return out(self._line(rng, "deflect"), "other")
        if asks_question and not st.revealed and st.pitches_heard < 1:
            st.pitches_heard += 1
            if rng.random() < prof.reveal_p:
                st.revealed = True
                return out(self._line(rng, "reveal"), "agree")
            return out(self._line(rng, "vague"), "other")
        st.pitches_heard += 1
        if st.pitches_heard >= prof.agree_after:
            st.agreed = True
            if not st.quote_asked and rng.random() < 0.5 + prof.reveal_p / 2:
                st.quote_asked = True
                return out(self._line(rng, "quote"), "request_quote")
            return out(self._line(rng, "agree"), "agree")
        return out(self._line(rng, "neutral"), "other")


@dataclass
class Dialogue:
    """A simulated conversation: the turns, both sides' final states and the customer's objections."""

    turns: list[dict[str, Any]]
    flow: FlowState
    customer: PersonaState
    seed: int

    @property
    def objections(self) -> list[str]:
        return list(self.customer.objections_raised)

    @property
    def outcome(self) -> str:
        return self.flow.end_reason or ("customer_ended" if self.customer.ended else "max_turns")

    def transcript(self) -> list[tuple[str, str]]:
        return [(t["speaker"], t["text"]) for t in self.turns]

    def to_dict(self) -> dict[str, Any]:
        return {"turns": self.turns, "flow": self.flow.to_dict(), "customer": self.customer.to_dict(),
                "seed": self.seed, "objections": self.objections, "outcome": self.outcome}


def simulate_dialogue(script_map: Mapping[str, Any], persona: Persona, seed: int = 0, max_turns: int = 20,
                      variables: Mapping[str, Any] | None = None) -> Dialogue:
    """Run the scripted salesperson (flow) against the scripted customer until one hangs up."""
    language = persona.language
    customer = ScriptedPersona(persona, seed)
    cs = PersonaState()
    first = customer.reply("", cs)  # the customer answers the phone
    cs = first.state
    turns: list[dict[str, Any]] = [{"speaker": "customer", "text": first.text, "intent": first.intent}]
    fs = new_state(script_map, variables or {"contact": {"name": persona.name.split()[0]}}, language)
    fs, actions = step(script_map, fs, FlowEvent.start())
    for _ in range(max_turns):
        bot = spoken_text(actions)
        turns.append({"speaker": "bot", "text": bot, "stage": fs.stage, "actions": [a.kind for a in actions]})
        if fs.ended:
            break
        r = customer.reply(bot, cs)
        cs = r.state
        if not r.text:
            break
        c = classify(r.text, language, script_map)
        turns.append({"speaker": "customer", "text": r.text, "intent": r.intent, "heard_as": c.label})
        fs, actions = step(script_map, fs, FlowEvent.from_classification(c))
        if cs.ended and not fs.ended:
            turns.append({"speaker": "bot", "text": spoken_text(actions), "stage": fs.stage,
                          "actions": [a.kind for a in actions]})
            break
    return Dialogue(turns, fs, cs, seed)


class PersonaResponder:
    """The AI customer as a ``Responder``: the trainee (or the calling bot) speaks, the persona answers.

    With ``llm`` (a ``dialogs.llm.LLMConfig``) the answer comes from OpenAI, streamed; any failure
    falls back to the scripted persona within the same turn. The trainee saying «Завершить» ends it.
    """

    STATE_KEY = "persona"

    def __init__(self, persona: Persona, seed: int = 0, llm: Any | None = None, product: str = ""):
        self.persona = persona
        self.engine = ScriptedPersona(persona, seed)
        self.llm = llm
        self.product = product

    async def respond(self, text: str, state: ConversationState) -> AsyncIterator[ResponderOutput]:
        ps = PersonaState.from_dict(state.data.get(self.STATE_KEY))
        if text.strip() and classify(text, self.engine.lang).label == "end_session" and re.search(
            r"заверш|закончить|end the session|finish", text, re.I
        ):
            ps = replace(ps, ended=True)
            state.data[self.STATE_KEY] = ps.to_dict()
            state.ended = True
            yield Directive("meta", {"intent": "end_session", "speaker": "trainee"})
            yield Directive("end", {"reason": "trainee_ended"})
            return
        reply = self.engine.reply(text, ps)
        spoken = ""
        if self.llm is not None and text.strip():
            try:
                async for chunk in persona_stream(self.llm, self.persona, state.history, text, self.product):
                    spoken += chunk
                    yield chunk
            except Exception as exc:  # what was already spoken stays said; only an empty answer falls back
                log.warning("LLM persona failed, the scripted persona answers: %s", exc)
        if not spoken:
            spoken = reply.text
            if spoken:
                yield spoken
        state.data[self.STATE_KEY] = reply.state.to_dict()
        yield Directive("meta", {"intent": reply.intent, "objections": list(reply.state.objections_raised),
                                 "difficulty": self.persona.difficulty})
        if reply.state.ended:
            state.ended = True
            yield Directive("end", {"reason": "customer_ended"})


def persona_system_prompt(persona: Any, product: str = "") -> str:
    p = persona
    prof = p.profile
    if p.language == "en":
        return (f"You are {p.name}, {p.role} at {p.company}, answering a sales call. Temperament: {p.temperament}. "
                f"Difficulty: {p.difficulty} — object about {int(prof.objection_p * 100)}% of turns (up to "
                f"{prof.max_objections} objections), reveal details only sometimes, agree only after "
                f"{prof.agree_after} convincing answers. You import {p.cargo} from {p.origin}, {p.volume}. "
                f"The caller sells: {product or 'freight from China'}. Answer in one short spoken sentence.")
    return (f"Ты — {p.name}, {p.role} в компании {p.company}; тебе звонит продавец. Темперамент: {p.temperament}. "
            f"Сложность: {p.difficulty} — возражай примерно в {int(prof.objection_p * 100)}% реплик (не больше "
            f"{prof.max_objections} возражений), раскрывай детали неохотно, соглашайся только после "
            f"{prof.agree_after} убедительных ответов. Вы возите {p.cargo} из {p.origin}, {p.volume}. "
            f"Тебе предлагают: {product or 'доставку грузов из Китая'}. Отвечай одной короткой разговорной фразой.")


async def persona_stream(config: LLMConfig, persona: Any, history: Sequence[tuple[str, str]], text: str,
                         product: str = "") -> AsyncIterator[str]:
    """The AI customer's answer from the model (the salesperson is the "user" here)."""
    messages = [{"role": "system", "content": persona_system_prompt(persona, product)}]
    # In the trainer the pipeline's "bot" is the customer, so the roles map straight across.
    messages += history_messages(history)
    if not messages[-1:] or messages[-1].get("content") != text:
        messages.append({"role": "user", "content": text})
    async for item in stream_chat(config, messages):
        if isinstance(item, str):
            yield item
