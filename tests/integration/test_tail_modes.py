"""``bus tail`` reads events in both CloudEvents content modes."""

import asyncio
import json
from collections.abc import Callable

import pytest

from bus import BusSettings
from tests.helpers import uploaded
from tests.integration.test_cli_stack import environment, spawn


@pytest.mark.parametrize("mode", ["--binary", "--structured"])
async def test_tail_shows_an_event_in_either_mode(
    settings: BusSettings, unique: Callable[[str], str], mode: str
) -> None:
    env = environment(settings, BUS_JOURNAL_FIRST="false")
    tail = await spawn("tail", "--json", "--count", "1", "documents.uploaded.v1", env=env)
    assert tail.stderr is not None
    assert tail.stdout is not None
    assert b"watching" in await asyncio.wait_for(tail.stderr.readline(), 30)

    args = ["publish", "documents.uploaded.v1", uploaded(7).model_dump_json(), "--json"]
    if mode == "--binary":
        args.append(mode)
    published = await spawn(*args, "--id", unique("evt"), env=env)
    out, err = await asyncio.wait_for(published.communicate(), 30)
    assert published.returncode == 0, err.decode()
    sent = json.loads(out)

    tailed = json.loads(await asyncio.wait_for(tail.stdout.readline(), 30))
    assert await asyncio.wait_for(tail.wait(), 30) == 0
    assert tailed["id"] == sent["id"]
    assert tailed["data"]["filename"] == "file-7.txt"
