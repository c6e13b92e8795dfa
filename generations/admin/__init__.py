"""The Django admin: the audit of generations, credits and usage (one module per topic)."""

from . import credits, generations

__all__ = ["credits", "generations"]
