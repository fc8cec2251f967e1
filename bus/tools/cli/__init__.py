"""The ``bus`` command line."""

import typer

from bus.tools.cli.config import app as config_app
from bus.tools.cli.console import console_command
from bus.tools.cli.contracts import contracts_command
from bus.tools.cli.credentials import app as credentials_app
from bus.tools.cli.dlq import app as dlq_app
from bus.tools.cli.docs import docs_command
from bus.tools.cli.graph import graph_command
from bus.tools.cli.journal import journal_command
from bus.tools.cli.new import app as new_app
from bus.tools.cli.publish import publish_command
from bus.tools.cli.request import request_command
from bus.tools.cli.run import run_command, worker_command
from bus.tools.cli.services import services_command
from bus.tools.cli.tail import tail_command
from bus.tools.cli.trace import trace_command

app = typer.Typer(
    name="bus",
    help="Publish, watch and run event-choreographed services on the Chorus MQTT bus.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("publish")(publish_command)
app.command("tail")(tail_command)
app.command("request")(request_command)
app.command("contracts")(contracts_command)
app.command("journal")(journal_command)
app.command("run")(run_command)
app.command("worker")(worker_command)
app.command("services")(services_command)
app.command("graph")(graph_command)
app.command("trace")(trace_command)
app.command("docs")(docs_command)
app.command("console")(console_command)
app.add_typer(dlq_app, name="dlq")
app.add_typer(new_app, name="new")
app.add_typer(config_app, name="config")
app.add_typer(credentials_app, name="credentials")


def main() -> None:
    """Entry point of the ``bus`` console script."""
    app()


__all__ = ["app", "main"]
