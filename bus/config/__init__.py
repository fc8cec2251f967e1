"""Central configuration with hot reload: each service's settings, overridden on the bus.

A service declares its typed settings and which of them may change while it runs::

    config = NotifierSettings()  # defaults, then NOTIFIER_* from the environment
    service = Service("notifier", config=config, live={"sender", "smtp_host"})

Its settings in force are that object's values overridden by the retained JSON object on
``chorus/config/<service>`` (in the deployment's namespace), which ``bus config set``
writes after validating it against the same model. Each replica reads the message before
it starts (so a replica started later gets the same config) and follows it while it
runs: live fields are set in place on ``service.config``, the :data:`RETRY_KEYS` that
every service understands replace ``service.retry``, other fields wait for a restart
(a WARNING), and a message that does not validate changes nothing (an ERROR).
"""

from bus.config.model import (
    RETRY_KEYS,
    ConfigError,
    LiveConfig,
    parse_assignments,
    show,
)
from bus.config.store import Edit, read_overrides, update_config, write_overrides
from bus.config.topics import config_topic
from bus.config.watch import ConfigWatcher

__all__ = [
    "RETRY_KEYS",
    "ConfigError",
    "ConfigWatcher",
    "Edit",
    "LiveConfig",
    "config_topic",
    "parse_assignments",
    "read_overrides",
    "show",
    "update_config",
    "write_overrides",
]
