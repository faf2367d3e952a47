"""The dialogue-map validator's messages in the reader's language.

``dialogs.scriptmap`` stays free of Django and writes English; this maps each of its message shapes
to a translatable one, keeping the names it quotes. An unknown shape comes back as written.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext_lazy as _

Q = r"«([^»]*)»"
MESSAGES: list[tuple[re.Pattern[str], object]] = [
    (re.compile(p), t) for p, t in [
        (r"^is required$", _("is required")),
        (r"^must be a list of phrases$", _("must be a list of phrases")),
        (r"^needs at least one phrase$", _("needs at least one phrase")),
        (r"^must be non-empty text$", _("must be non-empty text")),
        (r"^the dialogue map must be a JSON object$", _("the dialogue map must be a JSON object")),
        (r"^must be an object of stage name -> stage$", _("must be an object of stage name → stage")),
        (r"^needs at least one stage$", _("needs at least one stage")),
        (rf"^stage name {Q} must be lower_snake_case$", _("stage name «%(a)s» must be lower_snake_case")),
        (rf"^the canonical stage {Q} is missing$", _("the canonical stage «%(a)s» is missing")),
        (r"^must be a stage name$", _("must be a stage name")),
        (rf"^unknown stage {Q}$", _("unknown stage «%(a)s»")),
        (r"^must be «ru» or «en»$", _("must be «ru» or «en»")),
        (r"^must be one of «ru», «en», «uz», «tg»$", _("must be one of «ru», «en», «uz», «tg»")),
        (r"^must be a list of words or short phrases$", _("must be a list of words or short phrases")),
        (r"^must be a positive integer$", _("must be a positive integer")),
        (r"^must be an object$", _("must be an object")),
        (r"^must be an object of intent -> target$", _("must be an object of intent → target")),
        (r"^a stage must be an object$", _("a stage must be an object")),
        (r"^must be true or false$", _("must be true or false")),
        (r"^a non-final stage needs transitions or a default$", _("a non-final stage needs transitions or a default")),
        (r"^must be an object of objection label -> handling$", _("must be an object of objection label → handling")),
        (rf"^unknown objection class {Q}$", _("unknown objection class «%(a)s»")),
        (r"^an objection must be an object with responses$", _("an objection must be an object with responses")),
        (rf"^objection {Q} has no response$", _("objection «%(a)s» has no response")),
        (r"^no «next» and no «objection_handling» stage to go to$",
         _("no «next» and no «objection_handling» stage to go to")),
        (r"^must be an object of intent -> phrases$", _("must be an object of intent → phrases")),
        (rf"^unknown intent {Q}$", _("unknown intent «%(a)s»")),
        (r"^must be an object of phrase kind -> phrases$", _("must be an object of phrase kind → phrases")),
        (rf"^unknown phrase kind {Q}$", _("unknown phrase kind «%(a)s»")),
        (rf"^the {Q} phrases are required$", _("the «%(a)s» phrases are required")),
        (r"^must be a list of \{keywords, answer\}$", _("must be a list of {keywords, answer}")),
        (r"^needs «keywords» \(list\) and «answer» \(text\)$", _("needs «keywords» (list) and «answer» (text)")),
        (r"^must be a list of words$", _("must be a list of words")),
        (r"^must be an object of goal -> \{any_of: \[slots\]\}$", _("must be an object of goal → {any_of: [slots]}")),
        (rf"^unknown goal {Q} \(known: (.*)\)$", _("unknown goal «%(a)s» (known: %(b)s)")),
        (r"^must be a non-empty list of slot names$", _("must be a non-empty list of slot names")),
        (r"^must be an object: \{any_of: \[slots\]\}$", _("must be an object: {any_of: [slots]}")),
        # the call limits
        (r"^must be an object: max_call_s, max_silences, silence_s$",
         _("must be an object: max_call_s, max_silences, silence_s")),
        (rf"^unknown limit {Q}$", _("unknown limit «%(a)s»")),
        (r"^must be a positive number$", _("must be a positive number")),
        (rf"^unknown slot {Q}$", _("unknown slot «%(a)s»")),
        (rf"^intent {Q} has phrases but no stage has a transition for it$",
         _("intent «%(a)s» has phrases but no stage has a transition for it")),
        (rf"^unknown template variable {Q}$", _("unknown template variable «%(a)s»")),
        (rf"^stage {Q} cannot be reached$", _("stage «%(a)s» cannot be reached")),
        (r"^must be a stage name or @stay/@end$", _("must be a stage name or @stay/@end")),
        # the transfer block (transfer to a human)
        (r"^must be an object: to \(E\.164\) or queue, and phrases$",
         _("must be an object: to (E.164) or queue, and phrases")),
        (rf"^unknown key {Q} \(known: (.*)\)$", _("unknown key «%(a)s» (known: %(b)s)")),
        (r"^give either «to» or «queue», not both$", _("give either «to» or «queue», not both")),
        (r"^needs «to» \(a phone number\) or «queue» \(an operator queue\)$",
         _("needs «to» (a phone number) or «queue» (an operator queue)")),
        (r"^must be a phone number in E\.164 form, e\.g\. \+74951234567$",
         _("must be a phone number in E.164 form, e.g. +74951234567")),
        (r"^must be a queue name: letters, digits, «_», «-», «\.» \(up to 64\)$",
         _("must be a queue name: letters, digits, «_», «-», «.» (up to 64)")),
        (r"^«@transfer» needs a «transfer» block with «to» or «queue»$",
         _("«@transfer» needs a «transfer» block with «to» or «queue»")),
    ]
]


def problem_text(message: str) -> str:
    """``message`` of a ``MapProblem`` in the active language."""
    for pattern, template in MESSAGES:
        m = pattern.match(message)
        if m:
            values = dict(zip(("a", "b"), m.groups(), strict=False))
            return str(template) % values if values else str(template)
    return message
