from typing import Annotated, ClassVar

from pydantic import Field

from contracts.queries.quota_left_reply import QuotaLeftReply
from contracts.query import Query


class QuotaLeft(Query[QuotaLeftReply]):
    """How much of a user's quota is left right now? Answered by accounts."""

    query_name: ClassVar[str] = "accounts.quota_left"
    query_version: ClassVar[int] = 1

    user_id: Annotated[str, Field(min_length=1, max_length=200, examples=["1"])]
