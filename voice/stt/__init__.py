"""Speech-to-text providers: ``base`` fixes the contract, one module per vendor, ``local`` and ``fake``."""
