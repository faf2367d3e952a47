"""Counting calls into KPIs: one definition shared by the live figures and the daily rollup.

Definitions (a "call" is an attempt that has ended, i.e. has an outcome):
- connected: the carrier reports the call answered and completed (``outcome == completed``);
- talked: connected, and the analysis found a person talking (disposition not voicemail / no answer);
- interested: ``disposition == interested``; lead: ``crm_status == lead``;
- contact obtained / quote requested: the analysis' flags;
- transferred: the bot handed the call to a person (``Call.transferred_at``; issue 14's transfer);
- voicemail: the carrier's voicemail outcome, or a completed call the analysis found was a machine;
  no answer / busy: the carrier's outcomes;
- talk time: ``duration_s`` of talked calls (the median to the whole second; talks over an hour count as an
  hour in the median, not in the average);
- stages: where each talked call ended (the furthest script stage the analysis saw);
- objections: per class, talked calls raising it, calls where the bot handled it, and calls that
  went on to interest or a lead after it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db.models import Count, Q, Sum

COMPLETED, VOICEMAIL, NO_ANSWER, BUSY = "completed", "voicemail", "no_answer", "busy"
NOT_TALKED = frozenset({VOICEMAIL, NO_ANSWER})
CONNECTED = Q(outcome=COMPLETED)
TALKED = CONNECTED & ~Q(disposition__in=NOT_TALKED)
# the definitions above as database aggregates (over calls that have an outcome)
TALLY_SQL = {
    "calls": Count("id"),
    "connected": Count("id", filter=CONNECTED),
    "talked": Count("id", filter=TALKED),
    "interested": Count("id", filter=Q(disposition="interested")),
    "leads": Count("id", filter=Q(crm_status="lead")),
    "contact_obtained": Count("id", filter=Q(analysis__contact_obtained=True)),
    "quote_requested": Count("id", filter=Q(analysis__quote_requested=True)),
    "voicemail": Count("id", filter=Q(outcome=VOICEMAIL) | (CONNECTED & Q(disposition=VOICEMAIL))),
    "no_answer": Count("id", filter=Q(outcome=NO_ANSWER)),
    "busy": Count("id", filter=Q(outcome=BUSY)),
    "transferred": Count("id", filter=Q(transferred_at__isnull=False)),
    "talk_seconds": Sum("duration_s", filter=TALKED),
}
HISTOGRAM_MAX_S = 3600  # longer talks count in the last second of the histogram
COUNT_FIELDS = ("calls", "connected", "talked", "interested", "leads", "contact_obtained", "quote_requested",
                "voicemail", "no_answer", "busy", "transferred")


@dataclass
class Tally:
    calls: int = 0
    connected: int = 0
    talked: int = 0
    interested: int = 0
    leads: int = 0
    contact_obtained: int = 0
    quote_requested: int = 0
    voicemail: int = 0
    no_answer: int = 0
    busy: int = 0
    transferred: int = 0
    talk_seconds: float = 0.0
    talk_histogram: Counter = field(default_factory=Counter)
    stages: Counter = field(default_factory=Counter)
    objections: dict[str, list[int]] = field(default_factory=dict)
    other_turns: int = 0

    def add_objections(self, objections: Any, *, converted: bool) -> None:
        """One talked call's objection list: each class counts once per call."""
        seen: dict[str, bool] = {}
        for item in objections if isinstance(objections, list) else ():
            if isinstance(item, dict) and item.get("type"):
                seen[item["type"]] = seen.get(item["type"], False) or bool(item.get("handled"))
        for kind, handled in seen.items():
            row = self.objections.setdefault(kind, [0, 0, 0])
            row[0] += 1
            row[1] += handled
            row[2] += converted

    def add_counts(self, other: Tally | dict[str, Any]) -> None:
        """Only the counters (what a day of the trend needs)."""
        get = other.get if isinstance(other, dict) else lambda k, d=None: getattr(other, k)
        for name in COUNT_FIELDS:
            setattr(self, name, getattr(self, name) + (get(name) or 0))

    def add(self, other: Tally | dict[str, Any], *, histogram: bool = True) -> None:
        """Add another tally, or a rollup row's values (JSON keys arrive as strings)."""
        get = other.get if isinstance(other, dict) else lambda k, d=None: getattr(other, k)
        self.add_counts(other)
        self.talk_seconds += get("talk_seconds")
        self.other_turns += get("other_turns")
        if histogram:
            self.talk_histogram.update(get("talk_histogram"))
        self.stages.update(get("stages"))
        for kind, (raised, handled, converted) in get("objections").items():
            row = self.objections.setdefault(kind, [0, 0, 0])
            row[0] += raised
            row[1] += handled
            row[2] += converted

    @property
    def talk_timed(self) -> int:
        return sum(self.talk_histogram.values())

    @property
    def average_talk_s(self) -> float | None:
        return round(self.talk_seconds / self.talk_timed, 1) if self.talk_timed else None

    @property
    def median_talk_s(self) -> float | None:
        """The median of the talked calls' durations floored to whole seconds (as ``statistics.median``)."""
        n = self.talk_timed
        if not n:
            return None
        ranks = (n - 1) // 2, n // 2  # 0-based positions of the middle value(s)
        values, seen = [], 0
        for seconds in sorted(self.talk_histogram):
            count = self.talk_histogram[seconds]
            for rank in ranks:
                if seen <= rank < seen + count:
                    values.append(seconds)
            seen += count
        return (values[0] + values[1]) / 2

    def rate(self, name: str) -> float | None:
        """``name``'s share of all calls, in percent (one decimal)."""
        return round(100 * getattr(self, name) / self.calls, 1) if self.calls else None


def histogram_pack(histogram: Counter) -> bytes:
    """{seconds: calls} as a little-endian uint32 array indexed by seconds."""
    if not histogram:
        return b""
    array = np.zeros(min(max(histogram), HISTOGRAM_MAX_S) + 1, dtype="<u4")
    for seconds, n in histogram.items():
        array[min(seconds, HISTOGRAM_MAX_S)] += n
    return array.tobytes()


class HistogramSum:
    """Adds packed histograms (``histogram_pack``) without unpacking them into Python objects."""

    def __init__(self) -> None:
        self._np = np
        self.total = np.zeros(HISTOGRAM_MAX_S + 1, dtype=np.int64)

    def add(self, packed: bytes | memoryview) -> None:
        array = self._np.frombuffer(packed, dtype="<u4")
        self.total[: len(array)] += array

    def counter(self) -> Counter:
        return Counter({int(i): int(self.total[i]) for i in self._np.nonzero(self.total)[0]})
