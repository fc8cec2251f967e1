"""``bus new consumer``: what it writes, what it refuses, and the example data it needs."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, NaiveDatetime, field_validator
from typer.testing import CliRunner

from bus.tools.cli import app
from bus.tools.scaffold import (
    ExampleError,
    ScaffoldError,
    example_data,
    find_root,
    plan_consumer,
    resolve_event,
    snake_case,
)
from bus.tools.scaffold._source import literal
from bus.tools.scaffold.files import register, registered
from contracts import DocumentInspected, DocumentUploaded, Event, QuotaReserved, all_events

ROOT = Path(__file__).resolve().parents[2]
RUFF = Path(sys.executable).with_name("ruff")
SERVICES_TXT = "# NAME [REPLICAS]\njournal\ninspector 2  # two replicas"
"""A services file with comments and no final newline."""

REFERENCE = [e for e in all_events() if e.__module__.startswith("contracts.")]
"""The contracts package's events (other tests register more in this process)."""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository as the scaffold expects one: services/, tests/unit, tests/integration,
    infra/services.txt (and the pyproject.toml that marks its root)."""
    for folder in ("services/journal", "tests/unit", "tests/integration", "infra"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "services" / "journal" / "__init__.py").write_text("")
    (tmp_path / "tests" / "unit" / "test_cli.py").write_text("")
    (tmp_path / "infra" / "services.txt").write_text(SERVICES_TXT)
    (tmp_path / "pyproject.toml").write_text("")
    return tmp_path


def new(root: Path, *args: str) -> Any:
    result = CliRunner().invoke(app, ["new", "consumer", *args, "--root", str(root)])
    assert "Traceback" not in result.output, result.output
    return result


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its content."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_consumer_gets_its_package_its_tests_and_a_line_in_services_txt(repo: Path) -> None:
    result = new(repo, "indexer", "--on", "documents.uploaded.v1", "--on", "QuotaReserved")

    assert result.exit_code == 0, result.output
    package = repo / "services" / "indexer"
    assert sorted(p.name for p in package.iterdir()) == ["__init__.py", "logic.py", "service.py"]
    service = (package / "service.py").read_text()
    assert service.startswith('"""The indexer service.\n\nConsumes: DocumentUploaded')
    assert "Produces: nothing yet." in service
    assert 'name: str = "indexer",\n    settings: BusSettings | None = None,' in service
    assert "    @service.on(DocumentUploaded)\n    async def on_document_uploaded(" in service
    assert "    @service.on(QuotaReserved)\n    async def on_quota_reserved(" in service
    assert service.count("# TODO: your logic") == 2
    assert service.endswith("\n\nservice = create_service()\n")
    logic = (package / "logic.py").read_text()
    assert "def handle_document_uploaded(event: DocumentUploaded) -> Outcome:" in logic
    init = (package / "__init__.py").read_text()
    assert '"create_service",' in init
    assert '"handle_quota_reserved",' in init
    unit = (repo / "tests" / "unit" / "test_indexer.py").read_text()
    assert "from bus.testing import in_memory" in unit
    assert "def test_handle_quota_reserved_needs_no_bus() -> None:" in unit
    integration = (repo / "tests" / "integration" / "test_indexer.py").read_text()
    assert "pytestmark = pytest.mark.connected" in integration
    assert 'create_service(unique("indexer"), settings, outcomes=outcomes)' in integration

    assert (repo / "infra" / "services.txt").read_text() == SERVICES_TXT + "\nindexer\n"
    assert not list(repo.glob(".bus-new-*")), "the staging folder is gone"
    output = " ".join(result.output.split())
    assert "created consumer indexer (consumes documents.uploaded.v1, accounts.quota_reserved" in (
        output
    )
    assert "services/indexer/logic.py" in output
    assert "make up" in output
    assert ".venv/bin/bus run indexer" in output


def test_with_no_register_services_txt_is_left_alone(repo: Path) -> None:
    result = new(repo, "indexer", "--on", "documents/uploaded/v1", "--no-register")

    assert result.exit_code == 0, result.output
    assert (repo / "infra" / "services.txt").read_text() == SERVICES_TXT
    assert (repo / "services" / "indexer" / "service.py").is_file()
    assert "make up runs it" in result.output
    assert "infra/services.txt (+" not in result.output


def test_an_event_given_twice_gets_one_handler(repo: Path) -> None:
    result = new(repo, "indexer", "--on", "DocumentUploaded", "--on", "documents.uploaded.v1")

    assert result.exit_code == 0, result.output
    service = (repo / "services" / "indexer" / "service.py").read_text()
    assert service.count("@service.on(") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["indexer", "--on", "DocumentUpload"], "unknown event 'DocumentUpload': did you mean"),
        (["indexer", "--on", "documents.uploaded.v7"], "documents.uploaded.v1"),
        (["indexer", "--on", "DocumentUploaded", "--on", "nope"], "unknown event 'nope'"),
        (["Indexer", "--on", "DocumentUploaded"], "bad service name 'Indexer'"),
        (["my-indexer", "--on", "DocumentUploaded"], "bad service name 'my-indexer'"),
        (["class", "--on", "DocumentUploaded"], "bad service name 'class'"),
        (["x" * 41, "--on", "DocumentUploaded"], "at most 40 characters"),
        (["journal", "--on", "DocumentUploaded"], "services/journal already exists"),
        (["cli", "--on", "DocumentUploaded"], "tests/unit/test_cli.py already exists"),
        (["indexer"], "Missing option '--on'"),
    ],
)
def test_a_bad_request_exits_2_and_writes_nothing(
    repo: Path, args: list[str], message: str
) -> None:
    before = tree(repo)

    result = new(repo, *args)

    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert tree(repo) == before


def test_the_suggestions_for_an_unknown_event_fit_on_one_line(repo: Path) -> None:
    result = new(repo, "indexer", "--on", "DocumentUpload")

    [line] = result.output.strip().splitlines()
    assert line.startswith("error: unknown event 'DocumentUpload': did you mean DocumentUploaded")


def test_a_folder_that_is_no_chorus_repository_is_refused(tmp_path: Path) -> None:
    result = new(tmp_path, "indexer", "--on", "DocumentUploaded")

    assert result.exit_code == 2
    assert "is not a Chorus repository: no services, tests/unit, tests/integration" in (
        " ".join(result.output.split())
    )
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "services").mkdir()
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    (tmp_path / "tests" / "integration").mkdir()
    assert "infra/services.txt (or use --no-register)" in new(tmp_path, "x", "--on", "X").output
    assert new(tmp_path, "indexer", "--on", "DocumentUploaded", "--no-register").exit_code == 0


def test_a_failure_while_writing_leaves_nothing_behind(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = tree(repo)

    def broken(src: Any, dst: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)  # the services.txt step, after the moves
    plan = plan_consumer(repo, "indexer", ["DocumentUploaded"])
    with pytest.raises(OSError, match="disk full"):
        plan.write()

    assert tree(repo) == before
    assert not list(repo.glob(".bus-new-*"))


def test_services_txt_gets_a_name_once_and_keeps_everything_else() -> None:
    once = register(SERVICES_TXT, "indexer")
    assert once == SERVICES_TXT + "\nindexer\n"
    assert register(once, "indexer") == once
    assert registered("inspector 2  # two replicas\n", "inspector")
    assert not registered("# indexer\n", "indexer")
    assert register("", "indexer") == "indexer\n"


def test_events_are_found_by_type_class_name_or_topic() -> None:
    for name in ("documents.inspected.v1", "DocumentInspected", "documents/inspected/v1"):
        assert resolve_event(name) is DocumentInspected
    with pytest.raises(ScaffoldError, match="did you mean QuotaReserved"):
        resolve_event("QuotaReserve")
    with pytest.raises(ScaffoldError, match="'bus contracts' lists them"):
        resolve_event("zzz")


def test_the_root_is_the_nearest_folder_with_a_pyproject(repo: Path) -> None:
    deep = repo / "services" / "journal"
    assert find_root(deep) == repo.resolve()
    assert find_root(ROOT / "bus" / "scaffold") == ROOT


@pytest.mark.parametrize(
    ("name", "snake"),
    [
        ("DocumentUploaded", "document_uploaded"),
        ("HTTPCallMade", "http_call_made"),
        ("DocumentUploadedV2", "document_uploaded_v2"),
        ("QuotaReserved", "quota_reserved"),
    ],
)
def test_snake_case(name: str, snake: str) -> None:
    assert snake_case(name) == snake


@pytest.mark.parametrize("event", all_events(), ids=lambda e: e.contract.type)
def test_the_example_data_is_valid_for_every_registered_contract(event: type[Event]) -> None:
    data = example_data(event)
    assert isinstance(event.model_validate(data), event)
    assert json.loads(json.dumps(data)) == data, "JSON values only"
    assert example_data(event) == data, "the same on every call"


def test_the_example_data_fills_optional_fields_and_fits_the_constraints() -> None:
    data = example_data(DocumentInspected)
    assert data["language"] is not None
    assert data["word_count"] is not None
    assert len(data["sha256"]) == 64
    assert len(example_data(QuotaReserved)["content_type"]) >= 3
    uploaded = DocumentUploaded.model_validate(example_data(DocumentUploaded))
    assert uploaded.owner_email is not None


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: Annotated[int, Field(gt=5, lt=10)]


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool


class Node(BaseModel):
    name: str
    children: list[Node] = []
    parent: Node | None = None


class Times(BaseModel):
    model_config = ConfigDict(extra="forbid")

    when: dt.datetime
    naive: NaiveDatetime
    aware: AwareDatetime
    day: dt.date
    wait: dt.timedelta


class Odd(BaseModel):
    """Field kinds the current contracts do not use yet; new ones may."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    times: Times
    maybe_times: Times | None = None
    color: Color
    letter: Literal["a", "b"]
    tags: Annotated[set[str], Field(min_length=3)]
    pair: tuple[int, str]
    counts: Annotated[dict[str, int], Field(min_length=1)]
    loose: dict[str, Any]
    price: decimal.Decimal
    ratio: Annotated[float, Field(gt=0, lt=1)]
    big: Annotated[int, Field(ge=1000, multiple_of=7)]
    negative: Annotated[int, Field(lt=-5)]
    blob: bytes
    pet: Annotated[Cat | Dog, Field(discriminator="kind")]
    tree: Node
    code: Annotated[str, Field(pattern=r"^[A-Z]{3}-\d{4}$")]
    long: Annotated[str, Field(min_length=150)]
    random_long: Annotated[str, Field(examples=["abcdefghij" * 12])]
    chosen: Annotated[str, Field(examples=["hello"])]
    items: Annotated[list[Annotated[int, Field(gt=0)]], Field(min_length=2, max_length=2)]
    aliased: int = Field(alias="aliasedField")


def test_the_example_data_handles_nested_models_times_unions_and_constraints() -> None:
    data = example_data(Odd)
    odd = Odd.model_validate(data)

    assert odd.times.aware.tzinfo is not None
    assert odd.times.naive.tzinfo is None
    assert odd.maybe_times is not None
    assert len(odd.tags) == 3
    assert 0 < odd.ratio < 1
    assert odd.big % 7 == 0
    assert odd.chosen == "hello", "a field's own example comes first"
    assert data["aliasedField"] == 1


def test_a_model_nothing_satisfies_gets_a_clear_error() -> None:
    class Picky(BaseModel):
        word: str

        @field_validator("word")
        @classmethod
        def never(cls, value: str) -> str:
            raise ValueError("never good enough")

    with pytest.raises(ExampleError, match=r"word: Value error, never good enough.*examples="):
        example_data(Picky)


def test_the_generated_code_passes_ruff_for_every_contract_and_a_long_name(repo: Path) -> None:
    name = "a_rather_long_service_name_of_forty_char"
    assert len(name) == 40
    plan = plan_consumer(repo, name, [e.contract.type for e in REFERENCE], register=False)
    plan.write()
    odd = repo / "odd_example.py"
    odd.write_text(f"ODD = {literal(example_data(Odd), 0)}\n")
    paths = [str(repo / p) for p in plan.files] + [str(odd)]

    # The repository's settings; its root and this one are where first-party modules live.
    config = ["--config", str(ROOT / "pyproject.toml"), "--config", f"src = ['{ROOT}', '{repo}']"]
    for command in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        result = subprocess.run(
            [str(RUFF), *command, *config, *paths],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
