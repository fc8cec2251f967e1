"""A tiny SMTP server that keeps every mail in a Maildir: the local stack's mail server.

Run: ``python -m services.notifier.mailsink --host 127.0.0.1 --port 1025 --maildir .stack/mail``
(until SIGINT or SIGTERM). Read the mail with any Maildir reader, or ``mutt -f .stack/mail``.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from types import FrameType

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m services.notifier.mailsink",
        description="An SMTP server that stores each mail it receives in a Maildir.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=1025, help="port to listen on")
    parser.add_argument(
        "--maildir", type=Path, default=Path(".stack/mail"), help="where to keep mail"
    )
    args = parser.parse_args(argv)

    maildir: Path = args.maildir.resolve()
    # Mailbox creates a Maildir's folders only when the Maildir itself is missing.
    for folder in ("tmp", "new", "cur"):
        (maildir / folder).mkdir(parents=True, exist_ok=True)
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    # Python runs signal handlers in the main thread, which waits below.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    controller = Controller(Mailbox(maildir), hostname=args.host, port=args.port)
    controller.start()
    try:
        print(
            f"mail sink listening on smtp://{args.host}:{args.port}, keeping mail in {maildir}",
            flush=True,
        )
        stopping.wait()
    finally:
        controller.stop()
    print("mail sink stopped", flush=True)


if __name__ == "__main__":
    main()
