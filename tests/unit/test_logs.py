"""Structured log lines carry the service and the event being handled."""

import json
import logging

from bus.context import handling
from bus.envelope import Envelope
from bus.logs import JsonFormatter, set_identity
from tests.helpers import uploaded


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("services.x", logging.INFO, __file__, 1, message, None, None)


def test_a_line_inside_a_handler_names_the_event_and_its_chain() -> None:
    set_identity(service="indexer", instance="2")
    cause = Envelope.wrap(uploaded(1), source="/test/1")
    effect = Envelope.wrap(uploaded(2), source="/test/1", cause=cause)
    with handling(effect):
        line = json.loads(JsonFormatter().format(_record("indexed")))
    assert line["message"] == "indexed"
    assert (line["service"], line["instance"], line["level"]) == ("indexer", "2", "INFO")
    assert line["event_id"] == effect.id
    assert line["correlation_id"] == cause.id
    assert line["causation_id"] == cause.id
    assert line["event_type"] == "documents.uploaded.v1"


def test_a_line_outside_handlers_has_no_event_fields() -> None:
    line = json.loads(JsonFormatter().format(_record("started")))
    assert "event_id" not in line
    assert line["logger"] == "services.x"
