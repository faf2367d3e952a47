"""The built-in CRM (leads) and the CRM/messaging providers behind an outbox."""
