from typing import Annotated

from pydantic import Field

from contracts.query import Reply


class QuotaLeftReply(Reply):
    """What is left of a user's quota, as accounts holds it at the moment it answers."""

    documents_left: Annotated[int, Field(ge=0)]
    bytes_left: Annotated[int, Field(ge=0)]
    max_documents: Annotated[int, Field(ge=0)]
    max_bytes: Annotated[int, Field(ge=0)]
