"""Queries one service answers for another (request/reply), one class per file."""

from contracts.queries.quota_left import QuotaLeft
from contracts.queries.quota_left_reply import QuotaLeftReply

__all__ = ["QuotaLeft", "QuotaLeftReply"]
