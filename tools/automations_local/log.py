"""The local stack's own log: one short, readable line per step it takes.

It is not a child of the ``automations`` logger (that one is Powertools' structured JSON logger of the
handlers), so the two never mix their formats.
"""

from __future__ import annotations

import logging
import sys

LOG = logging.getLogger("automations_local")


def configure(verbose: bool = False) -> None:
    """Short lines on stderr (``12:00:01 POST /v1/events -> 202 ...``); the handlers' own logs only when verbose."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    LOG.handlers[:] = [handler]
    LOG.setLevel(logging.DEBUG if verbose else logging.INFO)
    LOG.propagate = False
    for noisy in ("werkzeug", "botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING if verbose else logging.ERROR)
