"""The AI sales trainer: trainees, scenarios, voice sessions in the browser, scored reviews."""
