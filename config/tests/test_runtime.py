"""The ASGI process start-up: the call path is warmed and the heap frozen, or left alone when switched off."""

from __future__ import annotations

import gc
import sys

import pytest

from config.runtime import freeze_startup_heap
from dialogs.classifier import _cache


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test runner's own heap goes back to the collector


def test_freeze_moves_the_warmed_heap_out_of_the_collectors_sight(settings, unfrozen):
    settings.ASGI_GC_FREEZE = True
    frozen = freeze_startup_heap()
    assert frozen > 10_000
    # frozen objects leave the permanent generation only by dying (another thread may drop a few meanwhile)
    assert 0 <= frozen - gc.get_freeze_count() < 100
    # what every call runs was imported and built before the freeze
    assert "calls.consumers" in sys.modules and "training.consumers" in sys.modules
    assert {"ru", "en"} <= {language for language, _ in _cache}
    assert not any(obj is freeze_startup_heap for obj in gc.get_objects())  # frozen objects are not walked


def test_switched_off_it_freezes_nothing(settings, unfrozen):
    settings.ASGI_GC_FREEZE = False
    assert freeze_startup_heap() == 0
    assert gc.get_freeze_count() == 0
