"""The notifier: mails a document's owner about its outcome (ready, refused, failed)."""

from services.notifier.config import NotifierSettings
from services.notifier.mailer import (
    MESSAGE_ID_DOMAIN,
    Mailer,
    MailRejectedError,
    message_id,
    smtp_retry,
)
from services.notifier.owners import Owners, Records, RefusedEventError, verified
from services.notifier.service import create_service, service
from services.notifier.templates import KINDS, Kind, render

__all__ = [
    "KINDS",
    "MESSAGE_ID_DOMAIN",
    "Kind",
    "MailRejectedError",
    "Mailer",
    "NotifierSettings",
    "Owners",
    "Records",
    "RefusedEventError",
    "create_service",
    "message_id",
    "render",
    "service",
    "smtp_retry",
    "verified",
]
