"""Seed the Russian demo (idempotent): users per role, the freight script, a campaign, scenarios."""

import os

from django.core.management.base import BaseCommand

from analytics.demo import history_seed
from config.demo.data import DEMO_PASSWORD_DEFAULT, USERS
from config.demo.services import demo_seed


class Command(BaseCommand):
    help = "Create or refresh the demo data. Safe to run repeatedly."

    def add_arguments(self, parser):
        parser.add_argument("--calls", type=int, default=0,
                            help="Also generate this many analysed calls over 90 days in an A/B test of two script "
                                 "variants (once: skipped when the demo history already exists).")

    def handle(self, *args, **options):
        password = os.environ.get("DEMO_PASSWORD", DEMO_PASSWORD_DEFAULT)
        summary = demo_seed(password=password)
        self.stdout.write(self.style.SUCCESS(f"Demo ready: {summary}"))
        if options["calls"] > 0:
            history = history_seed(calls=options["calls"])
            self.stdout.write(f"Call history: {history or 'already there'}")
        logins = ", ".join(f"{u} ({r})" for u, _, _, r in USERS)
        self.stdout.write(f"Logins (password: {password}): {logins}")
