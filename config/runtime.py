"""Start-up of the long-running ASGI server process (daphne): warm the call path, then freeze the heap.

A full (generation 2) garbage collection walks every tracked object and stops the event loop while
it does, so every live call's audio stalls with it. A Django process holds a few hundred thousand
such objects after start-up (modules, URL patterns, model metadata, the Russian morphology tables)
that live as long as the process. ``gc.freeze()`` moves them out of the collector's sight; full
passes then walk only what calls allocated. Measured with ``media_load`` (100 streams): the full
passes fell from ~100 ms to ~20-50 ms and ``lag_p99_ms`` with them (see the README's figures).
The call path is imported and the classifiers built first, so their objects are frozen too rather
than being allocated on the first call and walked on every pass after it.
"""

from __future__ import annotations

import gc
import logging

from django.conf import settings

from dialogs.classifier import get_classifier

log = logging.getLogger(__name__)


def warm_call_path() -> None:
    """Import what a call or a training session runs and build the shared classifiers (pymorphy3 tables)."""
    # the warm-up is the import itself: only the ASGI server process pays for it
    import calls.consumers  # noqa: F401, PLC0415
    import training.consumers  # noqa: F401, PLC0415
    from calls.telephony import PROVIDERS, media_protocol  # noqa: PLC0415  the warm-up is the import (ASGI only)

    for language in ("ru", "en"):
        get_classifier(language)
    # the carriers' modules (and their SDKs): the first call of each carrier would otherwise import them on the
    # event loop, while a hundred other calls are starting
    for name in PROVIDERS:
        try:
            media_protocol(name)
        except ImportError:  # an optional SDK that is not installed: its calls will say so
            log.warning("carrier %s cannot be imported", name, exc_info=True)


def freeze_startup_heap() -> int:
    """Warm up, collect once, then freeze; returns how many objects were frozen (0 when switched off)."""
    if not getattr(settings, "ASGI_GC_FREEZE", False):
        return 0
    warm_call_path()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("asgi start-up heap frozen: %s objects", frozen)
    return frozen
