"""The integrations layer stays below every app: it imports no framework and no app, not even lazily."""

from __future__ import annotations

from pathlib import Path

from integrations.registry import PROVIDERS
from voice.tests.test_layering import _imported_roots

INTEGRATIONS = Path(__file__).resolve().parents[1]
FORBIDDEN = {"django", "channels", "config", "calls", "training", "dialogs", "crm", "analytics", "voice"}


def test_the_integrations_layer_imports_no_framework_and_no_app():
    modules = list(INTEGRATIONS.glob("*.py"))
    assert INTEGRATIONS / "registry.py" in modules and INTEGRATIONS / "twilio_rest.py" in modules
    offenders = {p.name: sorted(_imported_roots(p) & FORBIDDEN) for p in modules}
    assert {name: roots for name, roots in offenders.items() if roots} == {}


def test_one_registry_names_every_kind_of_provider():
    assert set(PROVIDERS) == {"stt", "tts", "telephony", "crm", "messaging"}
    for table in PROVIDERS.values():
        for target in table.values():
            module, _, cls = target.partition(":")
            assert module and cls, target
