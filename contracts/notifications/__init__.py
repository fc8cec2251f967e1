"""Events of the notifications domain."""

from contracts.notifications.sent import NotificationSent

__all__ = ["NotificationSent"]
