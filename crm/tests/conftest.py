"""CRM fixtures: the calls fixtures (script, campaign, contacts), a local Bitrix24 portal, settings that name it."""

from __future__ import annotations

import pytest

from calls.tests.conftest import contact_list, make_campaign, make_contact, script  # noqa: F401
from crm.tests.bitrix24_server import Bitrix24Server


@pytest.fixture
def portal():
    with Bitrix24Server() as server:
        yield server


@pytest.fixture
def bitrix_settings(settings, portal):
    settings.CRM = {**settings.CRM, "PROVIDER": "bitrix24", "BITRIX24_WEBHOOK_URL": portal.webhook_url,
                    "BITRIX24": {"ENTITY": "lead", "RESPONSIBLE_ID": 7, "RATE_PER_S": 2.0, "BURST": 50,
                                 "TIMEOUT_S": 2.0}}
    return settings
