"""Cuts a stream of text chunks (an LLM's tokens) into sentences that TTS can speak naturally.

Russian and English: ``.``, ``!``, ``?``, ``…`` (and runs like ``?!`` or ``...``) end a sentence
when followed by whitespace; a full stop also needs the next word to start like a sentence
(capital, digit, quote or dash), so ``т.е. мы`` or ``3.5`` never split. Known abbreviations never
end a sentence. Very short sentences («Да.») are joined to the next so TTS gets a natural phrase,
and run-ons are cut at a comma once they pass ``max_chars`` so the first audio is not held back.
"""

from __future__ import annotations

import re

ABBREVIATIONS = frozenset(
    {
        # Russian
        "т.е", "т.к", "т.д", "т.п", "т.н", "др", "пр", "см", "ср", "г", "гг", "ул", "д", "кв", "стр", "рис",
        "руб", "коп", "тыс", "млн", "млрд", "проф", "доц", "акад", "св", "напр", "пер", "пл", "обл",
        "р-н", "тел", "мин", "сек", "ч", "прим", "т", "е", "к", "п", "н", "э", "в",
        # English
        "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "inc", "ltd",
        "approx", "dept", "est", "fig", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
        "sept", "oct", "nov", "dec", "mt", "ave", "u.s", "a.m", "p.m",
    }
)

_TERMINATORS = ".!?…"
_CLOSERS = "\"'»”)]"
_SENTENCE_STARTERS = re.compile(r"[A-ZА-ЯЁ0-9\"«“'(\[—–-]")
_WORD_BEFORE = re.compile(r"([\w.\-]+)\.$")


class SentenceSplitter:
    """``push(chunk)`` returns the sentences completed so far; ``flush()`` returns the rest."""

    def __init__(self, *, min_chars: int = 12, max_chars: int = 220):
        self.min_chars = min_chars
        self.max_chars = max_chars
        self._buf = ""
        self._carry = ""  # a sentence too short to send alone

    def push(self, chunk: str) -> list[str]:
        self._buf += chunk
        out: list[str] = []
        while True:
            cut = self._find_boundary()
            if cut is None:
                break
            sentence, self._buf = self._buf[:cut].strip(), self._buf[cut:].lstrip()
            self._emit(sentence, out)
        if len(self._carry) + len(self._buf) > self.max_chars:
            cut = self._soft_boundary()
            if cut:
                sentence, self._buf = self._buf[:cut].strip(), self._buf[cut:].lstrip()
                self._emit(sentence, out, force=True)
        return out

    def flush(self) -> list[str]:
        rest = " ".join(p for p in (self._carry, self._buf.strip()) if p)
        self._carry = self._buf = ""
        return [rest] if rest else []

    def reset(self) -> None:
        self._carry = self._buf = ""

    def _emit(self, sentence: str, out: list[str], *, force: bool = False) -> None:
        if not sentence:
            return
        joined = f"{self._carry} {sentence}" if self._carry else sentence
        if len(joined) < self.min_chars and not force:
            self._carry = joined
            return
        self._carry = ""
        out.append(joined)

    def _find_boundary(self) -> int | None:
        """Index just past a sentence end in ``_buf``, or None while we cannot tell yet."""
        buf = self._buf
        i = 0
        n = len(buf)
        while i < n:
            ch = buf[i]
            if ch == "\n" and buf[:i].strip():
                return i + 1
            if ch not in _TERMINATORS:
                i += 1
                continue
            j = i
            while j < n and buf[j] in _TERMINATORS:
                j += 1
            while j < n and buf[j] in _CLOSERS:
                j += 1
            if j >= n:
                return None  # the next chunk may continue a number or an abbreviation
            if not buf[j].isspace():
                i = j
                continue
            if "." in buf[i:j] and not any(c in "!?…" for c in buf[i:j]) and buf[i:j].count(".") == 1:
                if self._is_abbreviation(buf[: i + 1]):
                    i = j
                    continue
                k = j
                while k < n and buf[k].isspace():
                    k += 1
                if k >= n:
                    return None  # wait for the next word to see if it starts a sentence
                if not _SENTENCE_STARTERS.match(buf[k]):
                    i = j
                    continue
            return j
        return None

    @staticmethod
    def _is_abbreviation(text_with_dot: str) -> bool:
        match = _WORD_BEFORE.search(text_with_dot)
        if not match:
            return False
        word = match.group(1).lower().lstrip("(\"«")
        return word in ABBREVIATIONS

    def _soft_boundary(self) -> int | None:
        """A place to cut a run-on sentence: after the last comma, semicolon, colon or dash."""
        limit = max(self.max_chars - len(self._carry), self.min_chars)
        window = self._buf[:limit]
        for mark in (";", ":", ",", " —", " -"):
            pos = window.rfind(mark)
            if pos > self.min_chars:
                return pos + len(mark.strip())
        pos = window.rfind(" ")
        return pos if pos > self.min_chars else None


def looks_finished(text: str) -> bool:
    """Heuristic for adaptive endpointing: the partial transcript reads like a complete turn."""
    stripped = text.strip().rstrip(_CLOSERS).strip()
    if not stripped:
        return False
    if stripped[-1] in "?!.…" and not stripped.endswith(("...", "…")):
        return True
    lowered = stripped.lower().rstrip(".,!?… ")
    return lowered.endswith(CLOSING_PHRASES)


CLOSING_PHRASES = (
    "спасибо", "до свидания", "всего доброго", "всего хорошего", "хорошо", "договорились", "понятно",
    "да", "нет", "ладно", "конечно", "завершить",
    "thank you", "thanks", "goodbye", "bye", "okay", "ok", "sure", "yes", "no", "that's all",
)


def collapse_repeats(text: str, *, keep: int = 3, max_n: int = 4) -> str:
    """Cut a recogniser's runaway loop («дикой, дикой, дикой, …» fifty times) down to ``keep`` repeats.

    Whisper, like every sequence model, can fall into repeating one word or phrase to the end of its
    window on unclear audio. Such a line reaches the classifier, the LLM and the transcript as noise.
    A group of up to ``max_n`` words said more than ``keep`` times in a row is kept ``keep`` times;
    words compare without case and punctuation, and the words kept are left as they were.
    """
    words = text.split()
    if len(words) <= keep:
        return text
    bare = [re.sub(r"[^\w]", "", w).lower() for w in words]
    kept: list[str] = []
    i = 0
    while i < len(words):
        step = 0
        for n in range(1, max_n + 1):
            unit = bare[i : i + n]
            if len(unit) < n or not all(unit):
                break
            repeats = 1
            while bare[i + repeats * n : i + (repeats + 1) * n] == unit:
                repeats += 1
            if repeats > keep:
                kept.extend(words[i : i + keep * n])
                step = repeats * n
                break
        if step:
            i += step
        else:
            kept.append(words[i])
            i += 1
    return " ".join(kept)
