"""The manager's trainer pages: leaderboard, a trainee's progress chart and the CSV export."""

from __future__ import annotations

import csv
import io

from django.urls import reverse

from training import services
from training.models import Scenario
from training.services import TurnRecord


def _scored(user, scenario, text):
    session = services.session_create(trainee=user.trainee, scenario=scenario)
    services.session_transcript_import(session_id=session.pk, turns=[TurnRecord(speaker="user", text=text)])
    return services.session_score(session_id=session.pk)


def test_leaderboard_progress_and_csv(client, manager, trainee, other_trainee):
    scenario = Scenario.objects.create(title="Грузы", language="ru", product_description="Доставка из Китая")
    low = _scored(trainee, scenario, "Алло")
    high = _scored(trainee, scenario, "Здравствуйте, меня зовут Анна, компания Карго. Звоню по поводу доставки.")
    client.force_login(manager)
    board = client.get(reverse("analytics:training")).content.decode()
    assert reverse("analytics:trainee_progress", args=[trainee.trainee.pk]) in board
    assert f"<td>{max(low.total, high.total)}</td>" in board and "<td>2</td>" in board
    progress = client.get(reverse("analytics:trainee_progress", args=[trainee.trainee.pk])).content.decode()
    assert 'id="progress-chart"' in progress and "<polyline" in progress
    response = client.get(reverse("analytics:training_csv"))
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][:3] == ["session", "trainee", "username"] and len(rows) == 3
    header = rows[0]
    assert {r[header.index("score")] for r in rows[1:]} == {str(low.total), str(high.total)}
    assert rows[1][header.index("username")] == "tr1"
    only = client.get(reverse("analytics:training_csv") + f"?trainee={other_trainee.trainee.pk}")
    assert len(list(csv.reader(io.StringIO(b"".join(only.streaming_content).decode("utf-8-sig"))))) == 1


def test_trainee_cannot_open_manager_pages(client, trainee):
    client.force_login(trainee)
    for url in (reverse("analytics:training"), reverse("analytics:training_csv"),
                reverse("analytics:trainee_progress", args=[trainee.trainee.pk])):
        assert client.get(url).status_code == 403
