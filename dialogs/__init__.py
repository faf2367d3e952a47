"""What to say and what was said: scripts, classifier, flow engine, responders, personas, analysis."""
