"""Why a submission is refused before anything is spent: credits, limits, the team's cap
and storage (quota.StorageFull). str() of each is a message for the member."""


class CreditError(Exception):
    """A submission refused for credits or limits."""


class LimitReached(CreditError):
    pass


class TeamCapReached(LimitReached):
    pass
