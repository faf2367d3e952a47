"""Trainer fixtures: a scenario per language and a session owned by ``trainee``."""

from __future__ import annotations

import pytest

from training import services
from training.models import Scenario


@pytest.fixture
def scenario_ru(db):
    return Scenario.objects.create(
        title="Грузы из Китая", language="ru", product_description="Доставка сборных грузов из Китая за 25 дней.",
        persona="sergey_medium", difficulty="medium",
    )


@pytest.fixture
def scenario_en(db):
    return Scenario.objects.create(
        title="Freight from China", language="en", product_description="Door-to-door freight from China in 25 days.",
        persona="john_en", difficulty="easy",
    )


@pytest.fixture
def session_of(db):
    def make(user, scenario):
        return services.session_create(trainee=user.trainee, scenario=scenario)

    return make
