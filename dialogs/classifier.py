"""Offline, Russian-first intent and objection classifier: lemmas, phrase lexicons, fuzzy matching, slots.

How it decides: the utterance is tokenised and lemmatised (pymorphy3 for Russian, a small suffix
stripper for English); «не»/"not" is fused with the next word («не интересует» -> ``не_интересовать``)
so a negated word never counts as its positive. Misspelt words unknown to the dictionary are mapped
to the nearest lexicon lemma with rapidfuzz. Each label has cue phrases (built in, plus the script's
``intents`` lists); a phrase matches when all its lemmas occur, longer phrases weigh more. A few
structural features (an email or phone, a weight or city with a price word, a time expression, a
question mark) add evidence. The best score becomes the label; below ``threshold`` it is ``other``.

Everything loads lazily on first use and is cached per language and script phrase set.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from rapidfuzz import fuzz, process

from dialogs import slots as slotlib
from dialogs.scriptmap import INTENT_LABELS

# The labels are the script map's intents: one list for the maps, the validator, the editor and this classifier.
LABELS = INTENT_LABELS
OTHER = "other"
ALL_LABELS = (*LABELS, OTHER)
DEFAULT_THRESHOLD = 0.45

# Cue phrases. A plain string weighs by its length in lemmas (1: 0.8, 2: 0.9, 3+: 0.95); a
# (phrase, weight) pair fixes the weight. Phrases are lemmatised by the same pipeline as input.
Cue = str | tuple[str, float]

RU_CUES: dict[str, list[Cue]] = {
    "greeting": [
        ("алло", 0.55), ("алё", 0.55), ("ало", 0.55), ("здравствуйте", 0.55), ("здравствуй", 0.55),
        ("здрасьте", 0.55), ("добрый день", 0.55), ("доброе утро", 0.55), ("добрый вечер", 0.55),
        ("доброго дня", 0.55), ("день добрый", 0.55), ("привет", 0.55), ("приветствую", 0.55), ("салют", 0.5),
        ("слушаю", 0.5), ("говорите", 0.5), ("да слушаю", 0.6), ("на связи", 0.5), ("добрый", 0.5),
        ("на проводе", 0.55),
    ],
    "who_is_calling": [
        "кто это", "кто звонит", "кто вы", "кто говорит", "какая компания", "что за компания", "что за контора",
        "что за фирма", "что за организация", "откуда вы", "откуда звоните", "по какому вопросу", "по какому поводу",
        "представьтесь", "как вас зовут", "из какой организации", "какой организации", "откуда номер",
        "где взяли номер", "как называется компания", "название", "с кем я разговариваю", "с кем говорю",
        "реклама", "кто такие", "вы откуда", "кто беспокоит", "чем занимаетесь", "что вы за компания",
        ("компания", 0.5),
    ],
    "agree": [
        ("да", 0.5), ("ага", 0.5), ("угу", 0.5), ("ну да", 0.6), ("ок", 0.7), ("окей", 0.7), ("хорошо", 0.7),
        ("ладно", 0.6), ("давайте", 0.75), ("да давайте", 0.9), ("конечно", 0.7), ("можно", 0.7),
        ("удобно", 0.75), ("интересно", 0.8), ("интересует", 0.75), ("согласен", 0.85), ("допустим", 0.7),
        ("рассказывайте", 0.8), ("продолжайте", 0.8), ("валяйте", 0.8), ("годится", 0.8), ("подходит", 0.8),
        ("звучит", 0.7), ("неплохо", 0.7), ("отлично", 0.75), ("в принципе да", 0.9),
        ("почему бы и нет", 0.95), ("возим", 0.6), ("бывает", 0.55), ("поставки", 0.55), ("обсудить", 0.7),
        ("попробуем", 0.75), ("есть минута", 0.8), ("слушаю вас", 0.6), ("верно", 0.7),
        ("точно", 0.6), ("разумеется", 0.75), ("без проблем", 0.8), ("интересное предложение", 0.9),
        # knowing the company is an open door, not a «who is calling?»
        ("знаю вашу компанию", 0.8), ("знаю вас", 0.75), ("слышал о вас", 0.75), ("слышал про вас", 0.75),
        ("слышал о вашей компании", 0.8), ("слышал про вашу компанию", 0.8),
    ],
    "question": [
        ("сколько", 0.6), ("какой срок", 0.85), ("срок", 0.75), ("как долго", 0.85), ("растаможка", 0.75),
        ("таможня", 0.7), ("страховка", 0.75), ("склад", 0.7), ("сборный груз", 0.8), ("что входит", 0.85),
        ("оплата", 0.75), ("документы", 0.7), ("договор", 0.7), ("отследить", 0.8), ("авиа", 0.75),
        ("жд", 0.75), ("морем", 0.7), ("граница", 0.7), ("чем лучше", 0.85), ("как работаете", 0.85),
        ("какие условия", 0.85), ("гарантия", 0.75), ("сертификат", 0.75), ("доставляете", 0.75),
        ("сколько лет", 0.85), ("на рынке", 0.75), ("как происходит", 0.8), ("а если", 0.6), ("почему", 0.6),
        ("зачем", 0.6),
        ("скока", 0.6), ("скоко", 0.6), ("чё по", 0.6), ("берёте", 0.6), ("занимаетесь", 0.55),
        ("сколько времени", 0.85), ("по времени", 0.8), ("возите", 0.6), ("можете", 0.5),
    ],
    "give_contact": [
        ("запишите", 0.7), ("записывайте", 0.75), ("записывай", 0.75), ("мой номер", 0.8), ("мой телефон", 0.8),
        ("моя почта", 0.8), ("продиктую", 0.8), ("диктую", 0.8), ("меня зовут", 0.55), ("номер телефона", 0.6),
        ("мобильный", 0.6), ("вотсап", 0.45),
    ],
    "request_quote": [
        ("посчитайте", 0.9), ("посчитать", 0.85), ("рассчитайте", 0.9), ("расчёт", 0.9), ("просчитайте", 0.9),
        ("ставка на", 0.85), ("прикиньте", 0.85), ("прикинуть цену", 0.9), ("сколько будет стоить", 0.75),
        ("сколько стоит доставить", 0.75), ("нужно привезти", 0.85), ("надо привезти", 0.85),
        ("хотим привезти", 0.85), ("хочу привезти", 0.85), ("есть партия", 0.8), ("интересует стоимость", 0.85),
        ("стоимость доставки", 0.7), ("цена на", 0.7), ("дайте ставку", 0.9), ("сколько выйдет", 0.8),
        ("по деньгам", 0.75), ("коммерческое предложение на", 0.8), ("нужна ставка", 0.9),
        ("сколько будет перевозка", 0.8), ("сделайте расчёт", 0.95), ("котировка", 0.85), ("калькуляция", 0.85),
    ],
    "objection_not_interested": [
        ("не интересно", 0.95), ("не интересует", 0.95), ("неинтересно", 0.95), ("нет интереса", 0.95),
        ("никакого интереса", 0.95), ("не надо", 0.8), ("ничего не надо", 0.95), ("ничего не нужно", 0.95),
        ("нет спасибо", 0.85), ("спасибо но нет", 0.9), ("не звоните", 0.9), ("отстаньте", 0.9),
        ("не рассматриваем", 0.85), ("не хочу", 0.75), ("не надо предлагать", 0.95), ("категорически", 0.8),
        ("нет", 0.5), ("сколько можно звонить", 0.95), ("не стоит", 0.7), ("не беспокойте", 0.9),
        ("нам не подходит", 0.8), ("не подходит", 0.75), ("не хотим", 0.8), ("отказываемся", 0.85),
        ("надоели", 0.85), ("не предлагайте", 0.9), ("не заинтересованы", 0.95), ("нафиг", 0.7),
    ],
    "objection_has_supplier": [
        ("перевозчик", 0.75), ("есть перевозчик", 0.95), ("работаем с", 0.75), ("работаем с другой", 0.9),
        ("с другой компанией", 0.85), ("свой логист", 0.9), ("подрядчик", 0.85), ("экспедитор", 0.8),
        ("поставщик логистики", 0.9), ("возим через", 0.85), ("контракт", 0.75), ("сотрудничаем", 0.85),
        ("партнёры", 0.75), ("свой отдел логистики", 0.95), ("транспортная компания", 0.85),
        ("есть с кем", 0.9), ("поставщик сам", 0.9), ("поставщик доставляет", 0.9), ("всё устраивает", 0.85),
        ("нас устраивает", 0.85), ("схвачено", 0.8), ("уже есть", 0.7), ("карго агент", 0.85),
        ("постоянный", 0.6), ("проверенный", 0.6), ("свой транспорт", 0.9), ("своя логистика", 0.9),
        ("сами возим", 0.9), ("логистика налажена", 0.9), ("есть кому возить", 0.95),
    ],
    "objection_send_email": [
        ("на почту", 0.9), ("почта", 0.75), ("по почте", 0.9), ("email", 0.8), ("мейл", 0.8), ("имейл", 0.8),
        ("электронка", 0.8), ("письмо", 0.8), ("письменно", 0.85), ("напишите", 0.75), ("пришлите", 0.8),
        ("скиньте", 0.8), ("киньте", 0.75), ("вышлите", 0.8), ("присылайте", 0.8), ("отправьте", 0.75),
        ("кп", 0.8), ("коммерческое предложение", 0.85), ("презентация", 0.8), ("прайс", 0.8),
        ("материалы", 0.7), ("вотсап", 0.75), ("ватсап", 0.75), ("телеграм", 0.75), ("телеграмм", 0.75),
        ("сайт", 0.6), ("информацию", 0.55), ("пришлите информацию", 0.9), ("отправьте предложение", 0.9),
    ],
    "objection_busy": [
        ("занят", 0.85), ("неудобно", 0.8), ("не могу говорить", 0.95), ("не могу разговаривать", 0.95),
        ("перезвоните", 0.85), ("позже", 0.75), ("потом", 0.6), ("за рулём", 0.9), ("совещание", 0.9),
        ("встреча", 0.85), ("завтра", 0.7), ("после обеда", 0.8), ("некогда", 0.85), ("в другой раз", 0.85),
        ("отпуск", 0.85), ("наберите", 0.8), ("позвоните", 0.75), ("созвонимся", 0.8), ("нет времени", 0.9),
        ("минуты нет", 0.85), ("не время", 0.8), ("вечером", 0.6), ("через час", 0.8),
        ("не до вас", 0.9), ("не сейчас", 0.85), ("бегу", 0.7), ("в дороге", 0.8), ("на объекте", 0.75),
        ("давайте завтра", 0.9), ("давайте позже", 0.9), ("давайте потом", 0.9),
    ],
    "objection_too_expensive": [
        ("дорого", 0.9), ("дороговато", 0.9), ("дешевле", 0.85), ("подешевле", 0.85), ("дороже", 0.85),
        ("высокая цена", 0.9), ("конские", 0.85), ("выше рынка", 0.9), ("ставки ниже", 0.85),
        ("конкуренты", 0.7), ("не потянем", 0.9), ("бюджет", 0.8), ("не по карману", 0.95), ("кусается", 0.85),
        ("за такие деньги", 0.9), ("цена высокая", 0.9), ("цены высокие", 0.9), ("накладно", 0.85),
        ("нет денег", 0.85), ("не окупится", 0.85), ("дорогие", 0.85), ("дорогое удовольствие", 0.95),
        ("цены выше", 0.9), ("цена выше", 0.9), ("дороже чем", 0.95),
    ],
    "objection_not_decision_maker": [
        ("не решаю", 0.9), ("не мне решать", 0.95), ("не ко мне", 0.9), ("не занимаюсь", 0.85),
        ("директор", 0.75), ("руководитель", 0.75), ("руководство", 0.75), ("начальник", 0.75),
        ("собственник", 0.75), ("владелец", 0.75), ("секретарь", 0.85), ("другой отдел", 0.85),
        ("не отвечаю", 0.85), ("нет на месте", 0.85), ("к логисту", 0.9), ("бухгалтер", 0.75),
        ("не уполномочен", 0.9), ("лпр", 0.85), ("не лпр", 0.95), ("не директор", 0.9),
        ("не руководитель", 0.9), ("компетенции", 0.85), ("решает", 0.7), ("решение принимает", 0.9),
        ("решения принимает", 0.9), ("обратитесь к", 0.8), ("поговорить с", 0.7), ("занимается", 0.6),
        ("снабжение", 0.7), ("не в курсе", 0.7), ("не по моей части", 0.9), ("менеджер", 0.5),
        ("отдел закупок", 0.85), ("соединю", 0.8), ("переключу", 0.8),
    ],
    "objection_no_need": [
        ("не нужно", 0.8), ("не возим", 0.9), ("нет грузов", 0.9), ("нет потребности", 0.95),
        ("потребности", 0.8), ("не актуально", 0.9), ("неактуально", 0.9), ("не работаем с китаем", 0.95),
        ("закупаемся в россии", 0.9), ("только в россии", 0.85), ("не планируем", 0.85),
        ("не ввозим", 0.9), ("ничего не ввозим", 0.95), ("нечего возить", 0.95), ("импортом не занимаемся", 0.95),
        ("закупок не будет", 0.95), ("только с европой", 0.85), ("не нуждаемся", 0.9), ("нет задачи", 0.85),
        ("заморожены", 0.8), ("не требуется", 0.85), ("нет импорта", 0.9), ("импорт", 0.6), ("нечего", 0.7),
        ("не импортируем", 0.9), ("не закупаем", 0.9), ("не покупаем", 0.85), ("местные поставщики", 0.85),
        ("нет необходимости", 0.95), ("не пользуемся", 0.8), ("закупок нет", 0.9), ("поставок нет", 0.9),
    ],
    "end_session": [
        ("завершить", 0.95), ("завершаем", 0.95), ("закончить", 0.9), ("заканчиваем", 0.9), ("закончим", 0.9),
        ("до свидания", 0.8), ("всего доброго", 0.8), ("всего хорошего", 0.8), ("пока", 0.6),
        ("кладу трубку", 0.9), ("на этом всё", 0.9), ("хватит", 0.8), ("стоп", 0.8), ("конец разговора", 0.95),
        ("до связи", 0.8), ("прощайте", 0.85), ("хорошего дня", 0.75), ("я пошёл", 0.7), ("отбой", 0.8),
        ("всё спасибо", 0.7), ("досвидания", 0.8),
    ],
    "wrong_number": [
        ("ошиблись", 0.9), ("ошиблись номером", 0.95), ("ошибка", 0.7), ("не туда попали", 0.95),
        ("не туда", 0.85), ("частный номер", 0.95), ("личный номер", 0.95), ("личный телефон", 0.95),
        ("таких здесь нет", 0.9), ("здесь таких нет", 0.9), ("тут таких нет", 0.9),
        ("такой организации нет", 0.9), ("такой компании нет", 0.9), ("такого нет", 0.75),
        ("никакой компании", 0.9), ("нет никакого", 0.85),
        ("неправильный номер", 0.95), ("не по адресу", 0.9), ("номер сменился", 0.95), ("закрылась", 0.75),
        ("не имею отношения", 0.9), ("не тот номер", 0.95), ("квартира", 0.85), ("такой не работает", 0.85),
        ("здесь нет", 0.6), ("тут нет", 0.6), ("детский сад", 0.85), ("не работает здесь", 0.9),
        ("не знаю такую", 0.85), ("не знаю такой", 0.85), ("не тот телефон", 0.95),
    ],
    "ask_human": [
        ("живой человек", 1.0), ("с живым", 1.0), ("поговорить с человеком", 1.0), ("с человеком", 0.9),
        ("соедините с менеджером", 1.0), ("соедините меня", 1.0), ("переключите на", 0.95),
        ("хочу поговорить с менеджером", 1.0), ("дайте менеджера", 1.0), ("позовите менеджера", 0.95),
        ("с оператором", 0.95), ("на оператора", 0.95), ("не хочу с роботом", 1.0), ("с роботом", 0.95),
        ("не с роботом", 1.0), ("с сотрудником", 0.95), ("с консультантом", 0.95), ("настоящий менеджер", 1.0),
    ],
}

EN_CUES: dict[str, list[Cue]] = {
    "greeting": [("hello", 0.55), ("hi", 0.55), ("hey", 0.5), ("good morning", 0.55), ("good afternoon", 0.55),
                 ("good evening", 0.55), ("speaking", 0.5)],
    "who_is_calling": ["who is this", "who are you", "who is calling", "what company", "which company",
                       "what is this about", "where are you calling from", "your name"],
    "agree": [("yes", 0.5), ("yeah", 0.5), ("sure", 0.7), ("okay", 0.7), ("ok", 0.7), ("fine", 0.65),
              ("go ahead", 0.85), ("tell me more", 0.85), ("sounds good", 0.85), ("alright", 0.7),
              ("i have a minute", 0.8), ("interested", 0.75), ("of course", 0.75), ("why not", 0.75),
              ("i know your company", 0.8), ("heard of you", 0.75), ("heard about you", 0.75)],
    "question": [("how long", 0.85), ("how much", 0.6), ("customs", 0.75), ("insurance", 0.75), ("rail", 0.6),
                 ("warehouse", 0.7), ("include", 0.6), ("do you", 0.5),
                 ("cost", 0.55), ("payment", 0.7), ("contract", 0.7), ("track", 0.7)],
    "give_contact": [("my email", 0.8), ("my number", 0.8), ("my phone", 0.8), ("call me on", 0.8),
                     ("write to", 0.6), ("reach me", 0.75), ("write down", 0.7)],
    "request_quote": [("quote", 0.85), ("price for", 0.8), ("calculate", 0.85), ("how much to ship", 0.8),
                      ("estimate", 0.8), ("rate for", 0.8), ("need to ship", 0.85), ("cost to ship", 0.85)],
    "objection_not_interested": [("not interested", 0.95), ("no thanks", 0.85), ("no thank you", 0.85),
                                 ("not want anything", 0.9), ("stop calling", 0.9), ("no", 0.5),
                                 ("not call again", 0.9), ("leave me alone", 0.9)],
    "objection_has_supplier": [("carrier", 0.8), ("forwarder", 0.8), ("work with another", 0.9),
                               ("our own logistics", 0.9), ("supplier deliver", 0.9), ("current provider", 0.9),
                               ("already have", 0.75), ("happy with", 0.75), ("provider", 0.6)],
    "objection_send_email": [("email", 0.8), ("e-mail", 0.8), ("in writing", 0.85), ("brochure", 0.8),
                             ("send me", 0.7), ("send it", 0.7), ("send your", 0.7), ("mail", 0.7)],
    "objection_busy": [("busy", 0.85), ("call back", 0.85), ("later", 0.75), ("driving", 0.85), ("meeting", 0.85),
                       ("not a good time", 0.95), ("bad time", 0.9), ("tomorrow", 0.7), ("no time", 0.85)],
    "objection_too_expensive": [("expensive", 0.9), ("pricey", 0.9), ("cheaper", 0.85), ("afford", 0.85),
                                ("too high", 0.85), ("budget", 0.8), ("cost too much", 0.9), ("not afford", 0.9)],
    "objection_not_decision_maker": [("not make decision", 0.9), ("manager", 0.7), ("receptionist", 0.85),
                                     ("not my department", 0.95), ("director", 0.75), ("decide", 0.7),
                                     ("boss", 0.75), ("not responsible", 0.85), ("speak to", 0.6)],
    "objection_no_need": [("not import", 0.9), ("not need", 0.85), ("no cargo", 0.9), ("no need", 0.9),
                          ("only buy locally", 0.95), ("locally", 0.7), ("nothing to ship", 0.95)],
    "end_session": [("goodbye", 0.8), ("bye", 0.75), ("end the session", 0.95), ("finish", 0.9), ("end call", 0.9),
                    ("stop", 0.7), ("hang up", 0.85)],
    "wrong_number": [("wrong number", 0.95), ("no company here", 0.95), ("private number", 0.95),
                     ("nobody by that name", 0.95), ("no one by that name", 0.95), ("wrong person", 0.9)],
    "ask_human": [("real person", 1.0), ("human", 0.95), ("live agent", 1.0), ("transfer me", 1.0),
                  ("put me through", 1.0), ("connect me", 1.0), ("operator", 0.9), ("robot", 0.9),
                  ("talk to a person", 1.0), ("speak to a person", 1.0), ("sales rep", 0.9)],
}

# Uzbek (Latin, as Whisper writes it) and Tajik (Cyrillic). Both languages glue suffixes to stems
# («qiziqtirmaydi», «намехоҳам»), so a cue word matches any word that starts with it (see
# ``_STEMMED``); negated stems are their own, heavier cues («qiziq emas», «кerak emas», «нест»).
UZ_CUES: dict[str, list[Cue]] = {
    "greeting": [
        ("allo", 0.55), ("alo", 0.55), ("assalomu alaykum", 0.6), ("assalom", 0.55), ("salom", 0.55),
        ("va alaykum", 0.6), ("xayrli kun", 0.85), ("xayrli tong", 0.85), ("xayrli kech", 0.85),
        ("eshitaman", 0.5), ("gapiring", 0.5), ("labbay", 0.55),
    ],
    "who_is_calling": [
        "kim bu", "kimsiz", "siz kim", "kim qo'ng'iroq", "qaysi kompaniya", "qaysi tashkilot", "qayerdan",
        "nima masala", "nima sabab", "qanday masala", "raqamimni qayerdan", "o'zingizni tanishtiring",
        "ismingiz nima", "qaysi firma", "kimdan",
    ],
    "agree": [
        ("ha", 0.5), ("xo'p", 0.7), ("mayli", 0.7), ("yaxshi", 0.65), ("albatta", 0.75), ("qiziq", 0.75),
        ("davom eting", 0.85), ("gapiravering", 0.8), ("roziman", 0.85), ("bo'pti", 0.7), ("ok", 0.7),
        ("bir daqiqa bor", 0.8), ("vaqtim bor", 0.8), ("aytavering", 0.8), ("eshitaman", 0.55), ("ha gapiring", 0.75),
        ("olib kelamiz", 0.6), ("tashiymiz", 0.6), ("to'g'ri", 0.6), ("qulay", 0.7),
    ],
    "question": [
        ("qancha vaqt", 0.85), ("necha kun", 0.85), ("muddat", 0.75), ("bojxona", 0.75), ("sug'urta", 0.75),
        ("ombor", 0.7), ("to'lov", 0.75), ("hujjat", 0.7), ("shartnoma", 0.7), ("kafolat", 0.75),
        ("temir yo'l", 0.7), ("avia", 0.7), ("qanday ishlaysiz", 0.85), ("nima kiradi", 0.85),
        ("qaysi shahar", 0.75), ("qancha", 0.6), ("nega", 0.6), ("qanday", 0.55),
    ],
    "give_contact": [
        ("yozib oling", 0.75), ("yozing", 0.6), ("raqamim", 0.8), ("telefonim", 0.8), ("pochtam", 0.8),
        ("ismim", 0.55), ("aytaman", 0.55),
    ],
    "request_quote": [
        ("hisoblab", 0.9), ("hisob-kitob", 0.85), ("hisob", 0.8), ("narxini ayting", 0.9), ("stavka", 0.85),
        ("qancha turadi", 0.9), ("qancha bo'ladi", 0.75), ("olib kelish kerak", 0.85), ("partiya", 0.75),
        ("narxi qancha", 0.8), ("kalkulyatsiya", 0.85),
    ],
    "objection_not_interested": [
        ("qiziq emas", 0.95), ("qiziqtirmaydi", 0.95), ("kerak emas", 0.8), ("kerakmas", 0.8),
        ("hech narsa kerak emas", 0.95), ("yo'q rahmat", 0.85), ("qo'ng'iroq qilmang", 0.9),
        ("bezovta qilmang", 0.9), ("xohlamayman", 0.8), ("yo'q", 0.5), ("to'g'ri kelmaydi", 0.75),
    ],
    "objection_has_supplier": [
        ("tashuvchi", 0.8), ("tashuvchimiz bor", 0.95), ("boshqa kompaniya bilan", 0.9), ("ishlaymiz", 0.6),
        ("logist", 0.75), ("ekspeditor", 0.8), ("hamkor", 0.8), ("yetkazib beruvchi", 0.75),
        ("o'zimizning", 0.7), ("qoniqtiradi", 0.8), ("allaqachon bor", 0.8), ("doimiy", 0.6),
    ],
    "objection_send_email": [
        ("pochta", 0.85), ("elektron pochta", 0.9), ("email", 0.8), ("telegram", 0.75), ("xat", 0.75),
        ("yuboring", 0.75), ("tashlang", 0.7), ("tijorat taklifi", 0.85), ("taklif", 0.6), ("narxlar ro'yxati", 0.85),
        ("prays", 0.8), ("yozib yuboring", 0.85),
    ],
    "objection_busy": [
        ("bandman", 0.9), ("band", 0.8), ("keyinroq", 0.8), ("keyin", 0.65), ("ertaga", 0.7), ("majlis", 0.85),
        ("rulda", 0.9), ("gaplasha olmayman", 0.95), ("vaqtim yo'q", 0.9), ("qayta qo'ng'iroq", 0.85),
        ("hozir emas", 0.85), ("yo'ldaman", 0.85),
    ],
    "objection_too_expensive": [
        ("qimmat", 0.9), ("arzonroq", 0.85), ("arzon", 0.75), ("narx baland", 0.9), ("baland", 0.6),
        ("qurbimiz yetmaydi", 0.95), ("budjet", 0.8), ("pulimiz yo'q", 0.85), ("narxingiz", 0.6),
    ],
    "objection_not_decision_maker": [
        ("hal qilmayman", 0.95), ("men hal", 0.7), ("direktor", 0.75), ("rahbar", 0.75), ("boshliq", 0.75),
        ("egasi", 0.7), ("bo'lim", 0.7), ("murojaat qiling", 0.8), ("shug'ullanmayman", 0.85),
        ("men emas", 0.8), ("menga tegishli emas", 0.9), ("qaror", 0.75),
    ],
    "objection_no_need": [
        ("olib kelmaymiz", 0.9), ("ehtiyoj yo'q", 0.95), ("ehtiyoj", 0.8), ("yuk yo'q", 0.9),
        ("import qilmaymiz", 0.9), ("import bilan shug'ullanmaymiz", 0.95), ("mahalliy", 0.85),
        ("kerak bo'lmaydi", 0.85), ("narsamiz yo'q", 0.85), ("xitoy bilan ishlamaymiz", 0.95),
    ],
    "end_session": [
        ("xayr", 0.8), ("ko'rishguncha", 0.85), ("salomat bo'ling", 0.8), ("tugatamiz", 0.9), ("tugatish", 0.9),
        ("yakunlaymiz", 0.9), ("yakunlash", 0.9), ("bo'ldi", 0.6), ("hammasi", 0.55),
    ],
    "wrong_number": [
        ("adashdingiz", 0.95), ("adashtirdingiz", 0.95), ("noto'g'ri raqam", 0.95), ("shaxsiy raqam", 0.95),
        ("bunday kompaniya yo'q", 0.9), ("bunday odam", 0.8), ("bu yerda ishlamaydi", 0.85),
        ("boshqa raqam", 0.8),
    ],
    "ask_human": [
        ("menejer bilan", 1.0), ("operator bilan", 1.0), ("operatorga", 1.0), ("menejerga", 1.0),
        ("tirik odam", 1.0), ("odam bilan", 0.95), ("robot bilan", 1.0), ("ulang", 0.9), ("ulab bering", 1.0),
        ("xodim bilan", 1.0),
    ],
}

TG_CUES: dict[str, list[Cue]] = {
    "greeting": [
        ("алло", 0.55), ("ало", 0.55), ("ассалому алейкум", 0.6), ("ассалом", 0.55), ("салом", 0.55),
        ("ваалейкум", 0.6), ("рӯз ба хайр", 0.85), ("субҳ ба хайр", 0.85), ("шом ба хайр", 0.85),
        ("гӯш мекунам", 0.5), ("гӯед", 0.5), ("лаббай", 0.55),
    ],
    "who_is_calling": [
        "кист", "кистед", "кӣ занг", "кадом ширкат", "кадом ташкилот", "аз куҷо", "кадом масъала",
        "чӣ масъала", "рақамро аз куҷо", "худро муаррифӣ", "номатон чист",
    ],
    "agree": [
        ("ҳа", 0.5), ("хуб", 0.65), ("майлаш", 0.7), ("майли", 0.7), ("албатта", 0.75), ("шавқовар", 0.8),
        ("давом диҳед", 0.85), ("розӣ", 0.85), ("мешавад", 0.55), ("як дақиқа дорам", 0.8), ("вақт дорам", 0.8),
        ("гӯед", 0.55), ("меорем", 0.6), ("дуруст", 0.6), ("бале", 0.6), ("ок", 0.7),
    ],
    "question": [
        ("чанд вақт", 0.85), ("чанд рӯз", 0.85), ("мӯҳлат", 0.75), ("гумрук", 0.75), ("суғурта", 0.75),
        ("анбор", 0.7), ("пардохт", 0.75), ("ҳуҷҷат", 0.7), ("шартнома", 0.7), ("кафолат", 0.75),
        ("роҳи оҳан", 0.7), ("чӣ тавр", 0.6), ("чӣ дохил", 0.85), ("кадом шаҳр", 0.75), ("чанд", 0.55),
        ("чаро", 0.6),
    ],
    "give_contact": [
        ("нависед", 0.6), ("рақамам", 0.8), ("телефонам", 0.8), ("почтаи ман", 0.8), ("номам", 0.55),
        ("мегӯям", 0.55),
    ],
    "request_quote": [
        ("ҳисоб", 0.85), ("ҳисоб кунед", 0.9), ("ҳисоб карда", 0.9), ("нархашро", 0.75), ("ставка", 0.85),
        ("чанд пул", 0.8), ("овардан лозим", 0.85), ("партия", 0.75), ("нархи", 0.6), ("калкулятсия", 0.85),
    ],
    "objection_not_interested": [
        ("шавқ надорам", 0.95), ("шавқ надорем", 0.95), ("лозим нест", 0.8), ("даркор нест", 0.8),
        ("ҳеҷ чиз лозим нест", 0.95), ("не ташаккур", 0.85), ("занг назанед", 0.9), ("халал нарасонед", 0.9),
        ("намехоҳам", 0.8), ("не", 0.5), ("нахайр", 0.6),
    ],
    "objection_has_supplier": [
        ("интиқолдиҳанда", 0.8), ("ширкати дигар", 0.85), ("кор мекунем", 0.6), ("логист", 0.75),
        ("экспедитор", 0.8), ("шарик", 0.8), ("таъминкунанда", 0.75), ("худамон", 0.7), ("қонеъ", 0.8),
        ("аллакай дорем", 0.8), ("доимӣ", 0.6),
    ],
    "objection_send_email": [
        ("почта", 0.85), ("почтаи электронӣ", 0.9), ("имейл", 0.8), ("телеграм", 0.75), ("мактуб", 0.8),
        ("фиристед", 0.75), ("партоед", 0.7), ("пешниҳоди тиҷоратӣ", 0.85), ("пешниҳод", 0.6),
        ("рӯйхати нарх", 0.85), ("прайс", 0.8),
    ],
    "objection_busy": [
        ("бандам", 0.9), ("банд", 0.8), ("дертар", 0.8), ("баъдтар", 0.8), ("пагоҳ", 0.7), ("маҷлис", 0.85),
        ("мошин ронда", 0.9), ("гап зада наметавонам", 0.95), ("вақт надорам", 0.9), ("баъд занг", 0.85),
        ("ҳоло не", 0.85), ("дар роҳ", 0.8),
    ],
    "objection_too_expensive": [
        ("қимат", 0.9), ("арзонтар", 0.85), ("арзон", 0.75), ("нарх баланд", 0.9), ("баланд", 0.6),
        ("қудратамон намерасад", 0.95), ("буҷа", 0.8), ("пул надорем", 0.85), ("нархатон", 0.6),
    ],
    "objection_not_decision_maker": [
        ("ҳал намекунам", 0.95), ("директор", 0.75), ("роҳбар", 0.75), ("сардор", 0.75), ("соҳиб", 0.7),
        ("шӯъба", 0.7), ("муроҷиат кунед", 0.8), ("машғул нестам", 0.85), ("ман не", 0.7),
        ("ба ман дахл надорад", 0.9), ("қарор", 0.75),
    ],
    "objection_no_need": [
        ("намеорем", 0.9), ("эҳтиёҷ нест", 0.95), ("эҳтиёҷ", 0.8), ("бор надорем", 0.9), ("воридот", 0.75),
        ("маҳаллӣ", 0.85), ("лозим намешавад", 0.85), ("чизе надорем", 0.85), ("бо чин кор намекунем", 0.95),
    ],
    "end_session": [
        ("хайр", 0.8), ("то дидан", 0.85), ("саломат бошед", 0.8), ("тамом", 0.9), ("анҷом", 0.9),
        ("бас", 0.7), ("ҳамааш", 0.55),
    ],
    "wrong_number": [
        ("хато кардед", 0.95), ("иштибоҳ", 0.95), ("рақами нодуруст", 0.95), ("нодуруст", 0.8),
        ("рақами шахсӣ", 0.95), ("чунин ширкат нест", 0.9), ("чунин одам", 0.8), ("кор намекунад", 0.6),
        ("рақами дигар", 0.8),
    ],
    "ask_human": [
        ("бо менеҷер", 1.0), ("бо оператор", 1.0), ("ба оператор", 1.0), ("ба менеҷер", 1.0),
        ("одами зинда", 1.0), ("бо одам", 0.95), ("бо робот", 1.0), ("пайваст кунед", 1.0), ("бо корманд", 1.0),
    ],
}

_QUESTION_WORDS_RU = {"как", "какой", "сколько", "где", "когда", "почему", "зачем", "ли", "что", "чем", "скока",
                      "скоко", "куда", "откуда", "кто"}
_QUESTION_WORDS_EN = {"how", "what", "when", "where", "why", "which", "do", "does", "is", "are", "can", "who"}
_DOMAIN_RU = {"срок", "растаможка", "таможня", "страховка", "склад", "контейнер", "груз", "доставка", "оплата",
              "документ", "договор", "граница", "жд", "авиа", "море", "машина", "фура", "стоить", "стоимость", "поезд",
              "день", "объем", "минимальный", "вес", "довезти", "доставить",
              "цена", "доставлять", "возить", "везти", "сертификат", "отследить", "россия"}
_DOMAIN_EN = {"ship", "shipping", "customs", "insurance", "container", "cargo", "rail", "sea", "air", "price",
              "cost", "delivery", "warehouse", "transit", "contract", "payment"}
_PRICE_RU = {"сколько", "стоить", "стоимость", "цена", "посчитать", "расчет", "расчёт", "ставка", "прикинуть",
             "рассчитать", "просчитать", "выйти", "предложение", "деньга", "обойтись", "просчет"}
_PRICE_EN = {"quote", "price", "cost", "much", "calculate", "rate", "estimate"}
_QUESTION_WORDS = {
    "uz": {"qancha", "qachon", "qayerda", "qayerdan", "qayerga", "nima", "nega", "qanday", "qaysi", "kim", "necha"},
    "tg": {"чанд", "кай", "чӣ", "чаро", "кӣ", "куҷо", "кадом", "чи", "оё"},
}
_DOMAIN = {
    "uz": {"yuk", "yetkazib", "bojxona", "sug'urta", "ombor", "konteyner", "to'lov", "hujjat", "shartnoma", "narx",
           "temir", "avia", "dengiz", "mashina", "fura", "muddat", "kun"},
    "tg": {"бор", "расонидан", "гумрук", "суғурта", "анбор", "контейнер", "пардохт", "ҳуҷҷат", "шартнома", "нарх",
           "роҳи", "авиа", "баҳр", "мошин", "фура", "мӯҳлат", "рӯз"},
}
_PRICE = {"uz": {"qancha", "narx", "narxi", "hisob", "stavka", "turadi"},
          "tg": {"чанд", "нарх", "ҳисоб", "ставка", "пул"}}
_CONTRAST = {"но", "однако", "but", "however", "lekin", "ammo", "biroq", "аммо", "лекин", "вале"}
# languages with their own cue tables; uz and tg words match cue stems by prefix (agglutinative)
LANGUAGES = ("ru", "en", "uz", "tg")
_STEMMED = frozenset({"uz", "tg"})
_CUES: dict[str, dict[str, list[Cue]]] = {"ru": RU_CUES, "en": EN_CUES, "uz": UZ_CUES, "tg": TG_CUES}
_NO_WORDS = {"нет", "no", "yo'q", "не", "нахайр"}
_UZ_APOSTROPHES = str.maketrans({"ʻ": "'", "’": "'", "‘": "'", "`": "'", "ʼ": "'", "´": "'"})
_STEM_TOKEN_RE = {
    "uz": re.compile(r"[a-zа-яёўқғҳ]+(?:'[a-zа-яёўқғҳ]+)*|\d+|[.,!?;:]", re.IGNORECASE),
    "tg": re.compile(r"[a-zа-яёғӣқӯҳҷ]+|\d+|[.,!?;:]", re.IGNORECASE),
}
MIN_STEM = 3  # a cue word of at least this many letters also matches longer words that start with it
HEDGES = ("кто его знает", "бог его знает", "не знаю", "сложно сказать", "трудно сказать", "как сказать",
          "who knows", "i do not know", "hard to say", "not sure")
_INTENSIFIERS = {"очень", "совсем", "особо", "слишком", "так", "сильно", "really", "very", "so"}
_NEG_RU = {"не", "ни"}
_NEG_EN = {"not", "never", "n't"}
_EN_CONTRACTIONS = [
    (r"\bcan't\b", "can not"), (r"\bwon't\b", "will not"), (r"n't\b", " not"), (r"'m\b", " am"),
    (r"'re\b", " are"), (r"'s\b", " is"), (r"'ll\b", " will"), (r"'ve\b", " have"), (r"'d\b", " would"),
]
_EN_IRREGULAR = {"is": "be", "are": "be", "am": "be", "was": "be", "were": "be", "been": "be", "has": "have",
                 "had": "have", "does": "do", "did": "do", "done": "do", "made": "make", "makes": "make",
                 "bought": "buy", "sent": "send", "us": "us", "yes": "yes", "this": "this", "his": "his",
                 "ships": "ship", "shipping": "ship", "shipped": "ship", "needs": "need", "thanks": "thank",
                 "goods": "goods", "clothes": "clothes", "busy": "busy", "series": "series", "less": "less"}


@dataclass
class Classification:
    """One utterance's label with its confidence, extracted slots and every label's raw score."""

    label: str
    confidence: float
    slots: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    text: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def is_objection(self) -> bool:
        return self.label.startswith("objection_")


@functools.cache
def _morph() -> Any:
    import pymorphy3  # noqa: PLC0415  a 70 ms, ~15 MB load: only when Russian text is first seen

    return pymorphy3.MorphAnalyzer()


@functools.lru_cache(maxsize=50_000)
def _ru_parse(word: str) -> tuple[str, frozenset[str], bool]:
    morph = _morph()
    p = morph.parse(word)[0]
    tags = frozenset(str(p.tag).replace(" ", ",").split(","))
    return p.normal_form.replace("ё", "е"), tags, morph.word_is_known(word)


@functools.lru_cache(maxsize=20_000)
def _en_lemma(word: str) -> str:
    if word in _EN_IRREGULAR:
        return _EN_IRREGULAR[word]
    if len(word) > 5 and word.endswith("ing"):
        stem = word[:-3]
        return stem[:-1] if len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] not in "ls" else stem
    if len(word) > 4 and word.endswith("ied"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith("ed"):
        stem = word[:-2]
        return stem[:-1] if stem[-1] == stem[-2] and stem[-1] not in "ls" else stem
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _is_cyr(word: str) -> bool:
    return bool(re.match(r"[а-яё]", word))


def ru_lemma_tags(word: str) -> tuple[str, set[str]]:
    """(lemma, grammemes) for the slot extractors."""
    if _is_cyr(word.lower()):
        lemma, tags, _ = _ru_parse(word.lower())
        return lemma, set(tags)
    return _en_lemma(word.lower()), set()


def _lemma_only(word: str) -> str:
    w = word.lower()
    return _ru_parse(w)[0] if _is_cyr(w) else _en_lemma(w)


_TOKEN_RE = re.compile(r"[a-zа-яё]+(?:'[a-z]+)?|\d+|[.,!?;:]", re.IGNORECASE)


class IntentClassifier:
    """Classify utterances for one language, optionally extended by a script's ``intents`` phrases."""

    def __init__(
        self,
        language: str = "ru",
        extra_phrases: Mapping[str, Iterable[str]] | None = None,
        *,
        threshold: float = DEFAULT_THRESHOLD,
    ):
        self.language = language if language in LANGUAGES else "ru"
        self.threshold = threshold
        self.stemmed = self.language in _STEMMED
        cues = _CUES[self.language]
        # English utterances on a Russian call (and the reverse) still deserve a fair guess; Uzbek and
        # Tajik words would only be mangled by the Russian lemmatiser, so they keep to their own table.
        other = {} if self.stemmed else RU_CUES if self.language == "en" else EN_CUES
        self._patterns: list[tuple[str, frozenset[str], float]] = []
        self._seen: dict[tuple[str, frozenset[str]], int] = {}
        self._vocab: set[str] = set()
        self._surface: dict[str, str] = {}  # cue word form -> its lemma, for typo matching
        for table in (cues, other):
            for label, items in table.items():
                for cue in items:
                    phrase, weight = (cue, None) if isinstance(cue, str) else cue
                    self._add(label, phrase, weight)
        self._script_phrases: list[tuple[str, str]] = []
        for label, phrases in (extra_phrases or {}).items():
            if label not in LABELS:
                continue
            for phrase in phrases:
                if isinstance(phrase, str) and phrase.strip():
                    self._add(label, phrase, 0.9)
                    self._script_phrases.append((label, self._normalise(phrase)))
        # shrugs: a weak «да» in front of one is not consent (lemmatised like the input)
        self._hedges = [frozenset(self._lemmas(p, fuzzy=False)) for p in HEDGES]
        self._vocab_list = sorted(self._vocab)
        self._surface_list = sorted(self._surface)

    # -- building --------------------------------------------------------------------------

    def _add(self, label: str, phrase: str, weight: float | None) -> None:
        toks = self._lemmas(phrase, fuzzy=False)
        if not toks:
            return
        key = frozenset(toks)
        if weight is None:
            weight = 0.8 if len(key) == 1 else 0.9 if len(key) == 2 else 0.95
        # Two cue spellings of one lemma set («таких нет»/«такой нет») must not count as two hits.
        idx = self._seen.get((label, key))
        if idx is not None:
            if weight > self._patterns[idx][2]:
                self._patterns[idx] = (label, key, weight)
        else:
            self._seen[(label, key)] = len(self._patterns)
            self._patterns.append((label, key, weight))
        for t in key:
            self._vocab.add(t.split("_", 1)[1] if "_" in t else t)
        for word in self._tokens(phrase):
            if word.isalpha() and len(word) >= 4:
                self._surface[word] = self._lemma(word, False)

    def _normalise(self, text: str) -> str:
        text = text.lower().replace("ё", "е")
        if self.stemmed:
            return text.translate(_UZ_APOSTROPHES)
        for pat, rep in _EN_CONTRACTIONS:
            text = re.sub(pat, rep, text)
        return text

    def _tokens(self, text: str) -> list[str]:
        pattern = _STEM_TOKEN_RE[self.language] if self.stemmed else _TOKEN_RE
        return pattern.findall(self._normalise(text))

    def _lemmas(self, text: str, *, fuzzy: bool = True) -> list[str]:
        """Lemmas with negation fused to the next content word; punctuation only separates."""
        raw = self._tokens(text)
        if self.stemmed:  # negation is a suffix or a word of its own here: the cue tables spell it out
            return ["<num>" if tok.isdigit() else tok for tok in raw if tok not in ".,!?;:"]
        out: list[str] = []
        neg: str | None = None
        for i, tok in enumerate(raw):
            if tok in ".,!?;:":
                if neg:  # «не, спасибо»: a bare «не» is a «нет»
                    out.append("нет" if neg == "не" else "no")
                    neg = None
                continue
            if tok.isdigit():
                out.append("<num>")
                continue
            if tok in _NEG_RU or tok in _NEG_EN:
                neg = "не" if tok in _NEG_RU else "not"
                continue
            lemma = self._lemma(tok, fuzzy)
            if neg and lemma in _INTENSIFIERS and i + 1 < len(raw):
                continue
            if neg:
                out.append(f"{neg}_{lemma}")
                neg = None
            else:
                out.append(lemma)
        if neg:
            out.append("нет" if neg == "не" else "no")
        return out

    def _lemma(self, tok: str, fuzzy: bool) -> str:
        if _is_cyr(tok):
            lemma, _tags, known = _ru_parse(tok)
            if fuzzy and lemma not in self._vocab and tok not in self._vocab and not known and len(tok) >= 4:
                return self._fuzzy(tok, lemma)
            return lemma if lemma in self._vocab or tok not in self._vocab else tok
        lemma = _en_lemma(tok)
        if fuzzy and lemma not in self._vocab and len(tok) >= 5:
            return self._fuzzy(tok, lemma, cutoff=88)
        return lemma

    def _fuzzy(self, tok: str, lemma: str, cutoff: float = 80) -> str:
        """The nearest lexicon lemma for a word the dictionary does not know (a typo or STT slip)."""
        best = process.extractOne(tok, self._surface_list, scorer=fuzz.ratio, score_cutoff=cutoff)
        if best is not None:
            return self._surface[best[0]]
        best = process.extractOne(tok, self._vocab_list, scorer=fuzz.ratio, score_cutoff=cutoff)
        if best is None:
            best = process.extractOne(lemma, self._vocab_list, scorer=fuzz.ratio, score_cutoff=cutoff)
        return best[0] if best else lemma

    # -- classifying -----------------------------------------------------------------------

    def classify(self, text: str) -> Classification:
        text = text if isinstance(text, str) else str(text or "")
        text = text.strip()[:2000]
        if not text:
            return Classification(OTHER, 0.0, {}, {}, text)
        lemmas = self._lemmas(text)
        present = set(lemmas)
        if self.stemmed:
            present |= {tok[:n] for tok in lemmas for n in range(MIN_STEM, len(tok))}
        scores = self._cue_scores(present)
        self._read_yes_and_no(scores, present, lemmas)
        self._script_phrase_scores(text, scores)
        found = self._structural(text, present, scores, lemmas)
        label, confidence = self._decide(scores)
        return Classification(label, confidence, self._slots_for(label, found), {k: round(v, 3) for k, v in
                                                                                 scores.items() if v > 0}, text)

    def _cue_scores(self, present: set[str]) -> dict[str, float]:
        """Each label's strongest cue phrase found, plus a little for each corroborating one."""
        scores = dict.fromkeys(LABELS, 0.0)
        hits = dict.fromkeys(LABELS, 0)
        for label, key, weight in self._patterns:
            if key <= present:
                hits[label] += 1
                if weight > scores[label]:
                    scores[label] = weight
        for label in LABELS:
            if hits[label] > 1:  # corroborating cues add a little, never enough to flip a strong winner alone
                scores[label] += min(0.15, 0.05 * (hits[label] - 1))
        return scores

    def _read_yes_and_no(self, scores: dict[str, float], present: set[str], lemmas: list[str]) -> None:
        """A «да» or «нет» means what the rest of the line says."""
        if 0 < scores["agree"] <= 0.5 and any(v > 0 for k, v in scores.items() if k != "agree"):
            scores["agree"] = 0.0  # a bare «да» before something else is a filler, not consent
        if scores["agree"] > 0 and present & _CONTRAST and any(
            v > 0 for k, v in scores.items() if k.startswith("objection_")
        ):
            scores["agree"] = 0.0  # «да, слышал о вас, но нам не надо»: what follows «но» is what they mean
        if 0 < scores["agree"] <= 0.6 and any(hedge <= present for hedge in self._hedges):
            scores["agree"] = 0.0  # «да кто его знает»: the «да» opens a shrug, not consent
        if lemmas[:1] and lemmas[0] in _NO_WORDS and all(
            scores["end_session"] > v for k, v in scores.items() if k != "end_session"
        ):
            # «Нет. Всего хорошего»: a refusal that says goodbye is a refusal, answered as one
            scores["objection_not_interested"] = scores["end_session"] + 0.05

    def _script_phrase_scores(self, text: str, scores: dict[str, float]) -> None:
        """The script's own example phrases, matched whole (word order aside)."""
        norm = self._normalise(text)
        for label, phrase in self._script_phrases:
            ratio = fuzz.token_set_ratio(norm, phrase) / 100.0
            if ratio >= 0.88 and ratio > scores[label]:
                scores[label] = ratio

    def _decide(self, scores: dict[str, float]) -> tuple[str, float]:
        """The winning label and its confidence (its score, discounted when the runner-up is close)."""
        label = max(scores, key=lambda k: scores[k])
        top = scores[label]
        second = max((v for k, v in scores.items() if k != label), default=0.0)
        confidence = 0.0 if top <= 0 else min(1.0, top) * (0.75 + 0.25 * min(1.0, (top - second) / top))
        confidence = round(confidence, 3)
        return (OTHER if confidence < self.threshold else label), confidence

    def _structural(self, text: str, present: set[str], scores: dict[str, float],
                    lemmas: list[str] | None = None) -> dict[str, Any]:
        """Evidence that is not a cue phrase: contacts, cargo details, time expressions, a question mark."""
        found: dict[str, Any] = {}
        self._contacts(text, scores, found)
        self._shipment(text, present, scores, found)
        when = slotlib.find_callback_time(text)
        if when:
            found["callback_time"] = when
            if scores["objection_busy"] > 0 or not any(v >= 0.7 for v in scores.values()):
                scores["objection_busy"] += 0.25
        self._questions(text, present, scores, lemmas)
        name = slotlib.find_name(text, ru_lemma_tags)
        if name:
            found["name"] = name
        return found

    @staticmethod
    def _contacts(text: str, scores: dict[str, float], found: dict[str, Any]) -> None:
        email = slotlib.find_email(text)
        phone = slotlib.find_phone(text, _lemma_only)
        if email:
            found["email"] = email
        if phone:
            found["phone"] = phone
        if email or phone:
            scores["give_contact"] += 1.1

    def _shipment(self, text: str, present: set[str], scores: dict[str, float], found: dict[str, Any]) -> None:
        """Cargo details: with a price word (or alone, when there are several) they make a quote request."""
        weight = slotlib.find_weight(text, _lemma_only)
        origin = slotlib.find_origin(text)
        cargo = slotlib.find_cargo(text, ru_lemma_tags)
        container = slotlib.find_container(text)
        if weight:
            found["weight"], found["weight_kg"] = weight
        if origin:
            found["origin"] = origin
        if cargo:
            found["cargo"] = cargo
        if container:
            found["container"] = container
        price_words = _PRICE.get(self.language) or (_PRICE_EN if self.language == "en" else _PRICE_RU)
        has_price = bool(present & (price_words | _PRICE_RU | _PRICE_EN))
        specifics = sum(bool(x) for x in (weight, cargo, container)) + bool(origin and origin not in ("Китай", "China"))
        if specifics and (has_price or scores["request_quote"] > 0):
            # Asking the price of a concrete shipment is a quote request, not a general question.
            base = max(scores["request_quote"], scores["question"], 0.6)
            scores["request_quote"] = base + 0.1 + 0.1 * specifics
        elif specifics >= 2:
            scores["request_quote"] += 0.6

    def _questions(self, text: str, present: set[str], scores: dict[str, float], lemmas: list[str] | None) -> None:
        """«Кто это?», a question about the service, or a yes/no question with content."""
        qwords = _QUESTION_WORDS.get(self.language) or (_QUESTION_WORDS_EN if self.language == "en"
                                                         else _QUESTION_WORDS_RU)
        domain = _DOMAIN.get(self.language) or (_DOMAIN_EN if self.language == "en" else _DOMAIN_RU)
        fillers = {"а", "ну", "и", "<num>", "простить", "извинить", "так", "вот", "это", "sorry", "so", "well"}
        words = set(lemmas) if lemmas is not None else present  # uz/tg: not the stems added for matching
        content = [t for t in words if t not in fillers and t not in qwords]
        asks_who = {"кто", "who", "kim", "кӣ", "кист"} & present
        if "?" in text and (asks_who or ({"откуда"} & present and {"звонок", "звонить"} & present)):
            scores["who_is_calling"] = max(scores["who_is_calling"], 0.75)
        if "?" in text and content:
            if present & domain:
                scores["question"] = max(scores["question"], 0.75) + 0.1
            elif present & qwords:
                scores["question"] = max(scores["question"], 0.6)
            elif len(content) >= 2:
                scores["question"] = max(scores["question"], 0.55)  # a yes/no question: «довезёте до Казани?»
        elif present & domain and present & qwords and len(content) >= 2:
            scores["question"] = max(scores["question"], 0.75)

    @staticmethod
    def _slots_for(label: str, found: dict[str, Any]) -> dict[str, Any]:
        keep: tuple[str, ...] = ()
        if label == "give_contact" or "email" in found or "phone" in found:
            keep += ("email", "phone", "name")
        if label == "request_quote":
            keep += ("cargo", "origin", "weight", "weight_kg", "container")
        if label == "objection_busy":
            keep += ("callback_time",)
        if label == "objection_not_decision_maker":
            keep += ("name",)
        return {k: found[k] for k in keep if k in found}


_cache: dict[tuple[str, str], IntentClassifier] = {}
_lock = threading.Lock()


def get_classifier(language: str = "ru", script_map: Mapping[str, Any] | None = None) -> IntentClassifier:
    """A shared classifier for the language and the script's own ``intents`` phrases, built once."""
    extra = script_map.get("intents") if isinstance(script_map, Mapping) else None
    extra = extra if isinstance(extra, Mapping) else {}
    digest = hashlib.sha256(json.dumps(extra, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()
    key = (language if language in LANGUAGES else "ru", digest)
    with _lock:
        clf = _cache.get(key)
        if clf is None:
            clf = _cache[key] = IntentClassifier(key[0], extra)
        return clf


def classify(text: str, language: str = "ru", script_map: Mapping[str, Any] | None = None) -> Classification:
    """Classify one utterance with the shared classifier for ``language`` (and the script's phrases)."""
    return get_classifier(language, script_map).classify(text)


_UZ_MARKERS = re.compile(r"\b(?:[a-z]*[og]['ʻ’‘`][a-z]*|ha|yo'q|va|bu|men|siz|biz|emas|bor|kerak|rahmat|"
                         r"uchun|bilan|hozir|qiling|yaxshi|mayli|xayr|assalomu|salom|allo)\b", re.I)
# Uzbek word shapes: q and x are everyday letters, and words end in its suffixes
_UZ_SHAPES = re.compile(r"\b\w*(?:q|x)\w*\b|\b\w+(?:lar|larni|ning|dan|ga|miz|siz|man|ni|mi|di|moq)\b",
                        re.I)
_EN_MARKERS = re.compile(r"\b(?:the|is|are|you|we|i|it|not|no|to|a|an|of|and|my|your|me|what|who|this|that|do|"
                         r"can|call|please|thanks|thank|yes|hello|ship|send|email|busy)\b", re.I)
_TG_LETTERS = re.compile(r"[ғӣқӯҳҷ]", re.I)
_TG_MARKERS = re.compile(r"(?<![а-яё])(?:ман|шумо|ин|нест|ҳаст|мекунам|мекунем|ташаккур|хайр|салом|ҳа|бале|"
                         r"чӣ|чанд|аст|дорам|дорем|надорем|надорам|куҷо|кист)(?![а-яё])", re.I)


def detect_language(text: str) -> str:
    """The language of one utterance by its letters and small words: ru, en, uz (Latin) or tg (Cyrillic)."""
    cyr = len(re.findall(r"[а-яёғӣқӯҳҷ]", text, re.I))
    lat = len(re.findall(r"[a-z]", re.sub(r"\S+@\S+", "", text), re.I))
    if lat > cyr:
        words = re.sub(r"\S+@\S+", " ", text)
        english = len(_EN_MARKERS.findall(words))
        uzbek = len(_UZ_MARKERS.findall(words)) + len(_UZ_SHAPES.findall(words))
        return "uz" if uzbek > english else "en"
    if _TG_LETTERS.search(text) or len({m.lower() for m in _TG_MARKERS.findall(text)}) >= 2:
        return "tg"
    return "ru"
