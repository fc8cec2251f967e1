"""The console, driven in a real headless Chromium against the real stack: what the issue
asks it to prove, each page saved as a screenshot."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from pymongo import MongoClient
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.expected_conditions import staleness_of

from bus import BusSettings, publish
from bus._internal.mqtt import QOS1, connected_client
from bus.config import read_overrides
from bus.security import OPS, OPS_READONLY
from bus.tools.console.throttle import LoginLimits
from contracts import DocumentUploaded
from tests.browser.conftest import Console, Processes, Scene, Shots, click, text_of, wait
from tests.browser.console_service import create_service
from tests.helpers import uploaded

UPLOADED = "documents.uploaded.v1"
DELETED = "documents.content_deleted.v1"


def log_in(browser: WebDriver, console: Console, username: str = OPS) -> None:
    submit_login(browser, console, username, console.login_of(username))
    wait(browser, lambda b: b.find_element(By.ID, "who"), "the logged-in menu")


def submit_login(browser: WebDriver, console: Console, username: str, password: str) -> None:
    """Fill in the login form and send it; return once the answer's page is loaded."""
    browser.get(f"{console.url}/login")
    form = browser.find_element(By.TAG_NAME, "form")
    browser.find_element(By.ID, "username").send_keys(username)
    browser.find_element(By.ID, "password").send_keys(password)
    browser.find_element(By.ID, "login").click()
    wait(browser, staleness_of(form), "the login's answer")


def send_events(settings: BusSettings, count: int) -> None:
    # Not journaled: the console's thread holds this process's MongoDB client (one per URL,
    # bound to its event loop), and the journal plays no part here.
    direct = settings.model_copy(update={"journal_first": False})

    async def send() -> None:
        for n in range(count):
            await publish(uploaded(n), settings=direct, source="/tester/1")

    asyncio.run(send())


def send_journaled(settings: BusSettings, event: DocumentUploaded) -> None:
    """``bus publish`` in a process of its own, which writes the journal first (this one's
    MongoDB client belongs to the console's thread)."""
    env = dict(os.environ, BUS_MQTT_URL=settings.mqtt_url, BUS_NAMESPACE=settings.namespace,
               BUS_MONGO_URL=settings.mongo_url)  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "bus", "publish", event.contract.type, event.model_dump_json()],
        env=env, check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def send_poison(settings: BusSettings) -> None:
    async def send() -> None:
        async with connected_client(settings) as client:
            topic = settings.wire_topic("documents/uploaded/v1")
            await client.publish(topic, b"{this is no CloudEvent", qos=QOS1)

    asyncio.run(send())


def letters_in(settings: BusSettings) -> int:
    client: MongoClient[dict[str, object]] = MongoClient(settings.mongo_url)
    try:
        return client.get_default_database()["deadletters"].count_documents({})
    finally:
        client.close()


def state_of(browser: WebDriver, replica: str) -> str | None:
    rows = browser.find_elements(By.CSS_SELECTOR, f'#services tr[data-replica="{replica}"]')
    return rows[0].get_attribute("data-state") if rows else None


def post_from_page(browser: WebDriver, path: str, form: dict[str, str]) -> tuple[int, str]:
    """POST a form from the page's own origin with fetch (what a script injected in the
    page could do), returning the status and text."""
    script = """
        const [path, form, done] = arguments;
        fetch(path, {method: "POST", body: new URLSearchParams(form), redirect: "manual"})
          .then(async (r) => done([r.status, await r.text()]))
          .catch((e) => done([0, String(e)]));
    """
    status, text = browser.execute_async_script(script, path, form)
    return int(status), str(text)


def test_a_wrong_password_a_missing_csrf_token_a_cross_site_form_and_the_readonly_role_are_refused(
    browser: WebDriver,
    console: Callable[..., Console],
    stack: BusSettings,
    unique: Callable[[str], str],
    shots: Shots,
    tmp_path: Path,
) -> None:
    name = unique("consoled")
    running = console([create_service(name)])
    browser.set_script_timeout(60)

    submit_login(browser, running, OPS, "not the password")
    error = wait(browser, lambda b: b.find_element(By.ID, "login-error"), "the refusal")
    assert "wrong user name or password" in error.text
    shots("wrong-password")
    browser.get(f"{running.url}/config")
    assert browser.current_url.endswith("/login")  # no session was opened

    log_in(browser, running)
    shots("logged-in")
    form = {"key": "greeting", "value": "forged"}
    status, text = post_from_page(browser, f"/config/{name}/set", form)
    assert (status, "CSRF" in text) == (403, True)
    status, text = post_from_page(browser, f"/config/{name}/set", {**form, "csrf_token": "x"})
    assert (status, "CSRF" in text) == (403, True)

    # A page elsewhere (here a file) whose form posts to the console: refused.
    attack = tmp_path / "attack.html"
    attack.write_text(
        f'<form id="f" method="post" action="{running.url}/config/{name}/set">'
        '<input name="key" value="greeting"><input name="value" value="forged">'
        '<input name="csrf_token" value="guessed"></form>'
        '<script>document.getElementById("f").submit()</script>'
    )
    browser.get(attack.as_uri())
    wait(browser, lambda b: b.current_url.startswith(running.url), "the cross-site post")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "log in first" in body or "refused" in body, body
    shots("cross-site-form-refused")

    # ops-readonly sees the pages without their buttons, and its own token acts on nothing.
    browser.delete_all_cookies()
    log_in(browser, running, OPS_READONLY)
    browser.get(f"{running.url}/config")
    wait(browser, lambda b: b.find_element(By.CSS_SELECTOR, f'[data-service="{name}"]'), name)
    assert browser.find_elements(By.CSS_SELECTOR, "button.set") == []
    shots("readonly-config")
    token = browser.find_element(By.CSS_SELECTOR, 'meta[name="csrf-token"]').get_attribute(
        "content"
    )
    assert token
    status, text = post_from_page(browser, f"/config/{name}/set", {**form, "csrf_token": token})
    assert (status, "read-only" in text) == (403, True)
    assert asyncio.run(read_overrides(stack, name)) == {}


def test_after_too_many_failed_logins_the_login_page_refuses_even_the_right_password(
    browser: WebDriver, console: Callable[..., Console], shots: Shots
) -> None:
    running = console()
    for n in range(LoginLimits().per_user):
        submit_login(browser, running, OPS, f"guess {n}")
        assert "wrong user name or password" in text_of(browser, "#login-error", "a refusal")
    shots("last-wrong-password")

    submit_login(browser, running, OPS, running.login_of(OPS))
    error = text_of(browser, "#login-error", "the throttling message")
    assert error.startswith("too many failed logins; try again in"), error
    assert "the right password too" in text_of(browser, "#login-throttled", "the why")
    assert not browser.find_elements(By.ID, "who")  # no session
    shots("throttled")
    browser.get(f"{running.url}/services")
    assert browser.current_url.endswith("/login")


def test_the_services_page_shows_a_replica_that_starts_and_marks_it_dead_when_killed(
    browser: WebDriver,
    console: Callable[..., Console],
    processes: Processes,
    unique: Callable[[str], str],
    shots: Shots,
) -> None:
    name = unique("consoled")
    running = console()
    log_in(browser, running)
    browser.get(f"{running.url}/services")
    wait(browser, lambda b: b.find_element(By.ID, "no-services"), "an empty list")
    shots("no-services")

    process = processes.start(name, "k1")
    replica = f"{name}/k1"
    wait(browser, lambda b: state_of(b, replica) == "live", f"{replica} live")  # no reload
    row = text_of(browser, f'tr[data-replica="{replica}"]', "the replica's row")
    assert "0.0.1-console-test" in row
    assert UPLOADED in row
    shots("replica-live")

    process.kill()
    wait(browser, lambda b: state_of(b, replica) == "dead", f"{replica} marked dead")
    assert "DEAD" in text_of(browser, f'tr[data-replica="{replica}"]', "the dead row")
    shots("replica-dead")


def test_a_poison_event_appears_under_dead_letters_and_is_discarded_from_the_page(
    scene: Scene,
) -> None:
    browser, console, processes, stack, unique, shots = scene
    name = unique("consoled")
    processes.start(name)
    running = console()
    log_in(browser, running)
    browser.get(f"{running.url}/deadletters")
    wait(browser, lambda b: b.find_element(By.ID, "no-letters"), "no dead letters")

    send_poison(stack)
    group = f'#deadletters tr[data-service="{name}"]'
    wait(browser, lambda b: b.find_element(By.CSS_SELECTOR, group), "the poison's group")
    shots("poison-listed")
    click(browser, "tr[data-letter] a", "the letter")
    reason = wait(browser, lambda b: b.find_element(By.ID, "letter-reason"), "the letter page")
    assert reason.text
    assert "{this is no CloudEvent" in browser.find_element(By.ID, "letter-payload").text
    assert browser.find_element(By.ID, "letter-service").text == name
    assert "EnvelopeError" in browser.find_element(By.ID, "letter-traceback").text
    shots("letter")

    browser.find_element(By.ID, "discard").click()
    confirm = wait(browser, lambda b: b.find_element(By.ID, "confirm"), "the confirmation")
    assert letters_in(stack) == 1  # nothing happens before the confirmation
    shots("confirm-discard")
    confirm.click()
    done = wait(browser, lambda b: b.find_element(By.ID, "done"), "the result")
    assert "discarded 1" in done.text
    wait(browser, lambda b: b.find_element(By.ID, "no-letters"), "an empty list")
    assert letters_in(stack) == 0
    shots("discarded")


def test_a_config_field_edited_on_the_page_reaches_the_service_and_a_replay_then_succeeds(
    scene: Scene,
) -> None:
    browser, console, processes, stack, unique, shots = scene
    name = unique("consoled")
    process = processes.start(name, CONSOLE_TEST_REFUSE="true")
    running = console([create_service(name)])
    send_events(stack, 1)  # refused: a dead letter
    log_in(browser, running)

    browser.get(f"{running.url}/config")
    section = f'[data-service="{name}"]'
    row = f'{section} tr[data-key="refuse"]'
    wait(browser, lambda b: b.find_element(By.CSS_SELECTOR, row), "the refuse setting")
    assert "live" in browser.find_element(By.CSS_SELECTOR, row).text
    # An invalid value is refused with bus config's reason, and nothing is published.
    batch = f'{section} tr[data-key="batch_size"]'
    assert "needs a restart" in browser.find_element(By.CSS_SELECTOR, batch).text
    browser.find_element(By.CSS_SELECTOR, f"{batch} input.value").send_keys("0")
    browser.find_element(By.CSS_SELECTOR, f"{batch} button.set").click()
    error = wait(browser, lambda b: b.find_element(By.ID, "error"), "the refusal")
    assert "batch_size" in error.text
    assert "nothing was published" in error.text
    shots("config-refused")
    assert asyncio.run(read_overrides(stack, name)) == {}

    browser.find_element(By.CSS_SELECTOR, f"{row} input.value").send_keys("false")
    browser.find_element(By.CSS_SELECTOR, f"{row} button.set").click()
    done = wait(browser, lambda b: b.find_element(By.ID, "done"), "the result")
    assert "refuse=false" in done.text
    assert "live" in done.text
    shots("config-set")
    assert asyncio.run(read_overrides(stack, name)) == {"refuse": False}
    wait(browser, lambda b: process.logged("applied refuse=false"), "the service applying it")

    browser.get(f"{running.url}/deadletters")
    group = f'#deadletters tr[data-service="{name}"]'
    wait(browser, lambda b: b.find_element(By.CSS_SELECTOR, group), "the refused event's letter")
    assert "refusing" in text_of(browser, group, "the group")
    shots("failed-letter")
    click(browser, f"{group} form[action$='/replay'] button", "Replay group")
    wait(browser, lambda b: b.find_element(By.ID, "confirm"), "the confirmation").click()
    wait(browser, lambda b: b.find_element(By.ID, "done"), "the result")
    wait(browser, lambda b: b.find_element(By.ID, "no-letters"), "the letter handled and gone")
    assert process.logged("hello, handled")
    shots("replayed")


def test_the_flow_graph_shows_an_edge_count_grow_as_events_pass(scene: Scene) -> None:
    browser, console, processes, stack, unique, shots = scene
    name = unique("consoled")
    processes.start(name)
    running = console()
    log_in(browser, running)
    browser.get(f"{running.url}/flow")
    label = f'#flow svg text.count[data-edge="consumes:{name}:{UPLOADED}"]'

    def total(b: WebDriver) -> int:
        return int(b.find_element(By.CSS_SELECTOR, label).get_attribute("data-total") or -1)

    wait(browser, lambda b: total(b) == 0, "the edge, with no events yet")
    shots("flow-before")
    send_events(stack, 3)
    wait(browser, lambda b: total(b) == 3, "the edge's count to reach 3")  # no reload
    assert text_of(browser, label, "the label").startswith("3 ·")
    shots("flow-after")
    produced = f'#flow svg text.count[data-edge="produces:{name}:{DELETED}"]'
    wait(browser, lambda b: b.find_element(By.CSS_SELECTOR, produced).get_attribute(
        "data-total") == "3", "the service's own events counted")  # fmt: skip
    click(browser, f'#flow svg a[href="/types/{UPLOADED}"] rect', "the event type's box")
    schema = wait(browser, lambda b: b.find_element(By.ID, "schema"), "the event's schema")
    assert "document_id" in json.loads(schema.text)["properties"]
    wait(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, "#events tr[data-event]")) == 3,
         "its recent events")  # fmt: skip
    shots("event-type")

    browser.get(f"{running.url}/numbers")
    published = f'#numbers tr[data-service="{name}"] td.produced'
    wait(browser, lambda b: b.find_element(By.CSS_SELECTOR, published).text == "3", "its numbers")
    assert browser.find_elements(By.CSS_SELECTOR, f'#numbers tr[data-service="{name}"] svg.spark')
    shots("numbers")


def test_the_event_tail_filters_and_opens_an_event_s_causal_chain(scene: Scene) -> None:
    browser, console, processes, stack, unique, shots = scene
    name = unique("consoled")
    processes.start(name)
    running = console()
    log_in(browser, running)
    browser.get(f"{running.url}/events")
    wait(browser, lambda b: b.find_element(By.ID, "no-events"), "an empty tail")
    first, second = uploaded(1), uploaded(2)
    send_journaled(stack, first)
    send_journaled(stack, second)
    rows = "#events tr[data-event]"
    wait(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, rows)) == 4, "4 events, live")
    shots("tail")

    browser.get(f"{running.url}/events?service={name}")
    only = f"#events tr[data-type='{DELETED}']"
    wait(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, only)) == 2, "the service's")
    assert len(browser.find_elements(By.CSS_SELECTOR, rows)) == 2
    shots("tail-by-service")

    click(browser, f"{only} a.chain", "an event's chain")
    steps = wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "tr[data-step]") or None,
                 "the chain")  # fmt: skip
    shape = [(s.get_attribute("data-depth"), s.text) for s in steps]
    assert [depth for depth, _ in shape] == ["0", "1"]
    assert UPLOADED in shape[0][1]
    assert DELETED in shape[1][1]
    assert "/cli/" in shape[0][1]  # what `bus publish` sends
    assert f"/{name}/1" in shape[1][1]
    shots("chain")

    browser.get(f"{running.url}/events")
    field = wait(browser, lambda b: b.find_element(By.NAME, "document_id"), "the document search")
    field.send_keys(str(second.document_id))
    browser.find_element(By.CSS_SELECTOR, "#document-search button").click()
    timeline = wait(browser, lambda b: b.find_element(By.ID, "timeline"), "the document view")
    assert UPLOADED in timeline.text
    assert DELETED in timeline.text
    assert str(first.document_id) not in browser.page_source
    shots("document")


def test_the_numbers_page_shows_a_service_s_handler_p50_and_p99_from_its_metrics(
    scene: Scene,
) -> None:
    browser, console, processes, stack, unique, shots = scene
    measured, unmeasured = unique("measured"), unique("unmeasured")
    processes.start(measured, ops=True)
    processes.start(unmeasured)  # serves no /metrics
    running = console()
    log_in(browser, running)
    browser.get(f"{running.url}/numbers")
    row = f'#numbers tr[data-service="{measured}"]'

    def cell(name: str) -> str:
        return text_of(browser, f"{row} td.{name}", f"{measured}'s {name}")

    # The first reading is a starting line; the next one gives the first rate.
    wait(browser, lambda b: cell("rate") == "0.00/s", f"{measured}'s first numbers")
    assert (cell("p50"), cell("p99"), cell("retries"), cell("queue")) == ("-", "-", "0", "-")
    missing = text_of(browser, f'#numbers tr[data-service="{unmeasured}"] td.no-metrics',
                      f"{unmeasured} without metrics")  # fmt: skip
    assert missing.startswith("no metrics"), missing
    shots("numbers-before")

    send_events(stack, 5)
    wait(browser, lambda b: cell("p50").endswith("ms"), "a handler p50, live")  # no reload
    p50, p99 = cell("p50"), cell("p99")
    assert p99.endswith(("ms", " s")), p99
    assert float(p50.split()[0]) <= float(p99.split()[0]) * (1000 if p99.endswith(" s") else 1)
    assert float(cell("rate").removesuffix("/s")) > 0
    assert len(browser.find_elements(By.CSS_SELECTOR, f"{row} td.charts svg.spark")) == 3
    assert browser.find_elements(By.CSS_SELECTOR, f"{row} td.charts .p99")  # a line or a dot
    shots("numbers-after")
