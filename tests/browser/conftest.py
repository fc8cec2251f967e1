"""The console in a real headless Chromium, against the real stack.

Each test gets its own namespace and MongoDB database (``stack``), starts the service
processes it needs (``processes``), and a console served from this process on a free
loopback port (``console``). Screenshots of each page go to ``tests/browser/screenshots/
<test>/`` (``shots``): the folder is printed at the end of the run.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import pytest
import uvicorn
from fastapi import FastAPI
from pymongo import MongoClient
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from bus import BusSettings, Service
from bus._internal.broker import make_broker
from bus.security import OPS, CredentialStore
from bus.tools.console import Users, create_app

SCREENSHOTS = Path(__file__).parent / "screenshots"
WAIT = 60.0
"""Seconds any wait for the page may take: generous, for a loaded two-core machine."""

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def stack() -> Iterator[BusSettings]:
    """Stack settings in a namespace and MongoDB database of the test's own."""
    base = BusSettings()
    database = f"chorus_test_{uuid.uuid4().hex[:12]}"
    parts = urlsplit(base.mongo_url)
    settings = base.model_copy(
        update={
            "mongo_url": urlunsplit(parts._replace(path=f"/{database}")),
            "session_expiry": 300,
            "dedup_ttl": 600,
            "namespace": f"t{uuid.uuid4().hex[:10]}",
        }
    )
    yield settings
    client: MongoClient[Any] = MongoClient(base.mongo_url)
    try:
        client.drop_database(database)
    finally:
        client.close()


@dataclass
class ServiceProcess:
    """``bus run tests.browser.console_service:service`` in a subprocess."""

    name: str
    instance: str
    env: dict[str, str]
    folder: Path
    ops: bool = False
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.folder / f"{self.name}-{self.instance}.log"

    def start(self) -> None:
        ready = self.folder / f"{self.name}-{self.instance}.ready"
        ready.unlink(missing_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bus", "run", "tests.browser.console_service:service",
                 "--instance", self.instance, "--ready-file", str(ready), "--log-format", "json",
                 *(["--ops-port", "0"] if self.ops else [])],
                env=self.env, stdout=log, stderr=log,
            )  # fmt: skip
        deadline = time.monotonic() + WAIT
        while not ready.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} not ready:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)  # polling a file the child writes: no other signal to wait on

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def logged(self, text: str) -> bool:
        return text in self.log.read_text(errors="replace")


@dataclass
class Processes:
    """Service processes a test starts; stopped and their sessions forgotten afterwards."""

    settings: BusSettings
    folder: Path
    started: list[ServiceProcess] = field(default_factory=list)

    def start(
        self, name: str, instance: str = "1", *, ops: bool = False, **env: str
    ) -> ServiceProcess:
        """Start a replica; ``ops``: serving /metrics on a free port (its presence says
        which), as ``make up`` runs them."""
        environment = dict(
            os.environ, BUS_MQTT_URL=self.settings.mqtt_url, BUS_NAMESPACE=self.settings.namespace,
            BUS_MONGO_URL=self.settings.mongo_url, BUS_SESSION_EXPIRY="300",
            CHORUS_TEST_SERVICE_NAME=name, **env,
        )  # fmt: skip
        process = ServiceProcess(name, instance, environment, self.folder, ops)
        self.started.append(process)
        process.start()
        return process


@pytest.fixture
def processes(stack: BusSettings, tmp_path: Path) -> Iterator[Processes]:
    found = Processes(stack, tmp_path)
    yield found
    for process in found.started:
        process.stop()

    async def forget() -> None:
        for process in found.started:
            # A clean start with no expiry makes the broker forget the persistent session.
            client_id = stack.client_id(process.name, process.instance)
            broker = make_broker(stack, client_id=client_id, reconnect=False)
            await broker.connect()
            await broker.stop()

    asyncio.run(forget())


@dataclass
class Console:
    """A console served from this process, and the logins it accepts."""

    url: str
    users: Users
    server: uvicorn.Server
    thread: threading.Thread
    app: FastAPI

    def login_of(self, username: str) -> str:
        return next(u.password for u in self.users.logins if u.username == username)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


SESSION_LIFETIME = 600.0
"""Seconds a test's console session lasts: longer than any test, and its Redis key goes
away on its own soon after (like the failed-login windows, 5 min)."""


def serve_console(
    settings: BusSettings, users: Users, targets: list[Service] | None = None, **options: Any
) -> Console:
    """A console for ``settings`` on a free loopback port, served from a thread of this
    process (``options``: :func:`~bus.tools.console.create_app`'s; sessions last
    :data:`SESSION_LIFETIME` unless one says otherwise)."""
    options.setdefault("session_lifetime", SESSION_LIFETIME)
    app = create_app(settings, users, targets=targets or [], **options)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                            timeout_graceful_shutdown=2)  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the console did not start")
        time.sleep(0.05)  # uvicorn sets ``started`` from its own thread
    port = server.servers[0].sockets[0].getsockname()[1]
    return Console(f"http://127.0.0.1:{port}", users, server, thread, app)


@pytest.fixture
def console(stack: BusSettings, tmp_path: Path) -> Iterator[Callable[..., Console]]:
    """Start the console for the test's namespace, with these service declarations (and
    :func:`~bus.tools.console.create_app`'s options)."""
    started: list[Console] = []

    def start(targets: list[Service] | None = None, **options: Any) -> Console:
        folder = tmp_path / "credentials"
        folder.mkdir(mode=0o700, exist_ok=True)
        shutil.copy(stack.credentials_dir / f"{OPS}.json", folder / f"{OPS}.json")
        running = serve_console(stack, Users.from_store(CredentialStore(folder)), targets,
                                **options)  # fmt: skip
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture(scope="session")
def driver() -> Iterator[WebDriver]:
    """One headless Chromium for the run (each test logs in afresh: cookies cleared)."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).exists()]
    if missing:
        pytest.fail(f"no {', '.join(missing)}: apt-get install chromium chromium-driver "
                    "('infra/stack.sh up', which 'make test' runs, installs them)")  # fmt: skip
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--disable-dev-shm-usage", "--window-size=1500,1100",
                     "--disable-gpu"):  # fmt: skip
        options.add_argument(argument)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # Chromium's sandbox refuses to run as root
    browser = webdriver.Chrome(options=options, service=DriverService(CHROMEDRIVER))
    browser.set_page_load_timeout(WAIT)
    yield browser
    browser.quit()


@pytest.fixture
def browser(driver: WebDriver) -> Iterator[WebDriver]:
    driver.delete_all_cookies()
    yield driver
    driver.get("about:blank")  # closes the page's event streams before its console stops


@dataclass
class Shots:
    """Screenshots of one test, numbered in the order taken."""

    driver: WebDriver
    folder: Path
    taken: int = 0

    def __call__(self, label: str) -> Path:
        self.taken += 1
        path = self.folder / f"{self.taken:02d}-{label}.png"
        self.driver.save_screenshot(str(path))
        return path


_folders: list[Path] = []


@pytest.fixture
def shots(browser: WebDriver, request: pytest.FixtureRequest) -> Shots:
    folder = SCREENSHOTS / re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    _folders.append(folder)
    return Shots(browser, folder)


class Scene(NamedTuple):
    """What a test of a page needs, in one fixture (unpack it: ``browser, console, ... =
    scene``)."""

    browser: WebDriver
    console: Callable[..., Console]
    processes: Processes
    stack: BusSettings
    unique: Callable[[str], str]
    shots: Shots


@pytest.fixture
def scene(
    browser: WebDriver,
    console: Callable[..., Console],
    processes: Processes,
    stack: BusSettings,
    unique: Callable[[str], str],
    shots: Shots,
) -> Scene:
    return Scene(browser, console, processes, stack, unique, shots)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _folders:
        terminalreporter.section("console screenshots")
        for folder in _folders:
            terminalreporter.write_line(f"{folder} ({len(list(folder.glob('*.png')))} png)")


def wait(browser: WebDriver, condition: Callable[[WebDriver], Any], what: str) -> Any:
    """Wait up to :data:`WAIT` seconds for ``condition`` (elements replaced by a live update
    meanwhile are looked up again)."""
    waiter = WebDriverWait(browser, WAIT, poll_frequency=0.2,
                           ignored_exceptions=(NoSuchElementException,
                                               StaleElementReferenceException))  # fmt: skip
    return waiter.until(condition, message=f"waited {WAIT:.0f}s for {what}")


def click(browser: WebDriver, css: str, what: str) -> None:
    """Click the element ``css`` selects, looked up again if a live update replaced it."""

    def clicked(b: WebDriver) -> bool:
        b.find_element(By.CSS_SELECTOR, css).click()
        return True

    wait(browser, clicked, what)


def text_of(browser: WebDriver, css: str, what: str) -> str:
    """The text of the element ``css`` selects, once there (looked up again if replaced)."""
    return str(wait(browser, lambda b: b.find_element(By.CSS_SELECTOR, css).text or None, what))
