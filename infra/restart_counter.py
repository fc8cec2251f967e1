"""supervisord event listener: counts the automatic restarts of each service replica
(and of the console).

infra/services.sh runs it as ``[eventlistener:restarts]`` (``events=PROCESS_STATE``) of the
supervisord it starts, with one argument, the run/ folder of that state dir. supervisord has
no restart counter of its own, but every state change it makes is an event that names the
process and the state it leaves, so this needs no guessing from pids or log lines:

* STARTING from BACKOFF or EXITED is supervisord restarting a replica that died on its own
  (BACKOFF: it died before ``startsecs``; EXITED: it died later; ``autorestart=true``):
  the count goes up by one;
* STARTING from STOPPED or FATAL is a start asked for (by ``services.sh up``, which adds the
  program, or by ``supervisorctl start``): the count starts again at 0.

The count is written to ``RUN_DIR/svc-NAME-i.restarts`` (atomically: a temporary file then a
rename), which ``services.sh status`` reads; the file outlives this listener, so a listener
that supervisord restarts goes on counting from there (events meanwhile wait in
supervisord's buffer). Standard library only: it runs with the interpreter of the venv that
holds supervisord, and never imports the project.

The protocol (supervisord's "event listener" documentation): write ``READY\\n``; read one
header line of ``key:value`` tokens, whose ``len`` is the payload's length in bytes; read the
payload; answer ``RESULT 2\\nOK``; repeat. stdout belongs to the protocol, messages go to
stderr.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

AUTOMATIC = frozenset({"BACKOFF", "EXITED"})
"""The states from which supervisord restarts a process by itself."""


def tokens(line: str) -> dict[str, str]:
    """``{"key": "value"}`` from ``"key:value key:value"``."""
    return dict(token.split(":", 1) for token in line.split() if ":" in token)


def counter(run_dir: Path, process: str) -> Path:
    return run_dir / f"{process}.restarts"


def read_count(path: Path) -> int:
    try:
        return int(path.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def write_count(path: Path, count: int) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(f"{count}\n")
    os.replace(temporary, path)


def handle(run_dir: Path, event: str, payload: str) -> None:
    if event != "PROCESS_STATE_STARTING":
        return
    fields = tokens(payload.partition("\n")[0])
    process = fields.get("processname", "")
    if not (process.startswith("svc-") or process == "console") or "/" in process:
        return
    path = counter(run_dir, process)
    if fields.get("from_state") in AUTOMATIC:
        write_count(path, read_count(path) + 1)
    else:
        write_count(path, 0)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} RUN_DIR", file=sys.stderr)
        return 2
    run_dir = Path(argv[1])
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        stdout.write(b"READY\n")
        stdout.flush()
        line = stdin.readline()
        if not line:  # supervisord went away
            return 0
        headers = tokens(line.decode())
        payload = stdin.read(int(headers.get("len", "0"))).decode()
        try:
            handle(run_dir, headers.get("eventname", ""), payload)
        except Exception as exc:  # never leave supervisord waiting for an answer
            print(f"restart_counter: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        stdout.write(b"RESULT 2\nOK")
        stdout.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
