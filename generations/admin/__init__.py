"""The Django admin: the audit of generations, credits and usage, and the members (one
module per topic)."""

from generations.admin import apikeys, credits, generations, library, members

__all__ = ["apikeys", "credits", "generations", "library", "members"]
