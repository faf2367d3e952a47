"""Real-time speech core: audio, VAD, STT/TTS providers, the turn pipeline and wire protocols.

This package is framework-free: it imports nothing of the Django project.
"""
