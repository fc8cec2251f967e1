"""Who may do what on the broker: credentials on disk, rules derived from the services'
declarations, and their application to Mosquitto's dynamic security plugin."""

from bus.security.credentials import (
    DYNSEC_ADMIN,
    OPS,
    OPS_READONLY,
    Credential,
    CredentialStore,
)
from bus.security.rules import OPS_RULES, Acl, Rules, outside_rules, service_rules

__all__ = [
    "DYNSEC_ADMIN",
    "OPS",
    "OPS_READONLY",
    "OPS_RULES",
    "Acl",
    "Credential",
    "CredentialStore",
    "Rules",
    "outside_rules",
    "service_rules",
]
