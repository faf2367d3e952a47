"""Registers ``voice`` with Django only so its management commands (benchmarks, cache warm-up) are found."""

from django.apps import AppConfig


class VoiceConfig(AppConfig):
    name = "voice"
    verbose_name = "Voice"
