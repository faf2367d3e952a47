"""The Russian demo: a freight forwarder's cold-call campaign, trainees and practice scenarios."""
