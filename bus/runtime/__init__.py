"""A replica's runtime: what runs a :class:`bus.Service`'s declarations in one process."""

from bus.runtime.pipeline import Decoded, Delivery, Outcome, Pipeline, Via
from bus.runtime.replica import Replica

__all__ = ["Decoded", "Delivery", "Outcome", "Pipeline", "Replica", "Via"]
