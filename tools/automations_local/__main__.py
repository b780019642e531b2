"""``python -m automations_local`` (``make dev``): the whole product on http://127.0.0.1:3000, no AWS account.

Options: ``--port 3000``, ``--moto-port N`` (default: a free port), ``--api-key KEY`` (default
``local-dev-key``), ``--sender ADDRESS``, ``--no-examples``, ``--root PATH``, ``--verbose``.
Ctrl-C or SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from automations_local.log import LOG, configure
from automations_local.stack import DEFAULT_API_KEY, DEFAULT_SENDER, LocalStack, Options, StackError


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m automations_local",
        description="Run the automations product locally, under a moto server (no AWS account, no Docker).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="HTTP port of the API (default 3000; 0: any)")
    parser.add_argument("--moto-port", type=int, default=0, help="port of the moto server (default: a free one)")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help=f"the API key of /v1 (default {DEFAULT_API_KEY})")
    parser.add_argument("--sender", default=None, help=f"the verified sender address (default: {DEFAULT_SENDER})")
    parser.add_argument("--no-examples", action="store_true", help="do not load the example automations")
    parser.add_argument("--root", type=Path, default=None, help="the repository (default: found from here)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between two passes of the pump")
    parser.add_argument("--verbose", action="store_true", help="also show the handlers' own (JSON) logs")
    args = parser.parse_args(argv)
    return Options(
        host=args.host,
        port=args.port,
        moto_port=args.moto_port,
        api_key=args.api_key,
        root=args.root,
        sender=args.sender,
        examples=not args.no_examples,
        interval=args.interval,
        verbose=args.verbose,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    configure(options.verbose)
    stop = threading.Event()

    def on_signal(number: int, frame: FrameType | None) -> None:
        LOG.info("%s received", signal.Signals(number).name)
        stop.set()

    stack: LocalStack | None = None
    try:
        stack = LocalStack(options)
        stack.start()  # Ctrl-C while starting is a KeyboardInterrupt: what started is stopped below
    except (StackError, KeyboardInterrupt) as exc:
        if isinstance(exc, StackError):
            LOG.error("%s", exc)
        if stack is not None:
            stack.stop()
        return 2 if isinstance(exc, StackError) else 130
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
