"""The Django admin: the audit of generations, credits and usage (one module per topic)."""

from . import apikeys, credits, generations

__all__ = ["apikeys", "credits", "generations"]
