"""Settings per environment: base (shared), local (dev default), production, test."""
