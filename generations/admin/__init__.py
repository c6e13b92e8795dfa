"""The Django admin: the audit of generations, credits and usage, and the members (one
module per topic)."""

from . import credits, generations, members

__all__ = ["credits", "generations", "members"]
