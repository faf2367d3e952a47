"""Outbound campaigns: contacts, planning, telephony, live calls and post-call analysis."""
