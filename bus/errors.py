"""Why an incoming message could not be handed to a handler."""


class PoisonMessageError(ValueError):
    """The message can never be handled as it is: retrying will not help.

    Raised for bytes that are not JSON, JSON that is not a CloudEvent, an
    event type nobody declared, or data that fails its contract.
    """


class BusNotStartedError(RuntimeError):
    """The service has no broker connection yet: call ``start()`` first."""
