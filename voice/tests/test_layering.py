"""The voice core stays framework-free: no Django and no project app is imported by it, even lazily.

Only ``voice.apps`` (Django's registration) and the management commands may import them; the load
test's ASGI app, which is a Django app, lives in ``config.media_bench``.
"""

from __future__ import annotations

import ast
from pathlib import Path

VOICE = Path(__file__).resolve().parents[1]
FORBIDDEN = {"django", "channels", "config", "calls", "training", "dialogs", "crm", "analytics"}
ALLOWED = {VOICE / "apps.py", VOICE / "management", VOICE / "tests"}


def _core_modules() -> list[Path]:
    return [p for p in VOICE.rglob("*.py")
            if not any(p == allowed or allowed in p.parents for allowed in ALLOWED)]


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_voice_core_imports_no_framework():
    modules = _core_modules()
    assert VOICE / "pipeline.py" in modules and VOICE / "stt" / "local.py" in modules
    assert VOICE / "bench" / "loadgen.py" in modules  # the benchmark tooling is held to it too
    offenders = {str(p.relative_to(VOICE)): sorted(_imported_roots(p) & FORBIDDEN) for p in modules}
    assert {name: roots for name, roots in offenders.items() if roots} == {}


def test_the_guard_sees_a_lazy_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from django.conf import settings\n    import calls.models\n")
    assert _imported_roots(module) >= {"django", "calls"}
