"""boto3 S3 clients for tests, shared per endpoint, identity and settings.

Making a boto3 client costs about 10 ms of CPU (its class, event hooks and endpoint
rules are built anew each time) and the suite asks for several thousand, so a client
asked for again is the one made before. A shared client must stay as it was made: a test
that registers event handlers or otherwise changes its client asks for ``fresh=True``.
Clients of a server are dropped when it stops (``forget``), so a server restarted on the
same port gets new connections.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import boto3
from botocore.config import Config

from tests.support.server import ADMIN

KEPT = 64                       # clients kept (least recently used dropped first)

_lock = threading.Lock()
_kept: OrderedDict[tuple, object] = OrderedDict()


def client(endpoint: str, identity: dict = ADMIN, verify=None, *, fresh: bool = False,
           **config):
    """A boto3 S3 client with default checksum behaviour, as users run it; ``config``:
    more ``botocore.config.Config`` settings (retries are off: a test sees every error)."""
    if fresh:
        return _make(endpoint, identity, verify, config)
    key = (endpoint, identity["access_key"], identity["secret"], repr(verify), repr(sorted(config.items())))
    with _lock:
        made = _kept.get(key)
        if made is not None:
            _kept.move_to_end(key)
            return made
    made = _make(endpoint, identity, verify, config)
    with _lock:
        _kept[key] = made
        while len(_kept) > KEPT:
            _kept.popitem(last=False)
    return made


def forget(endpoint: str) -> None:
    """Drop the shared clients of ``endpoint`` (its server stopped)."""
    with _lock:
        for key in [k for k in _kept if k[0] == endpoint]:
            del _kept[key]


def _make(endpoint: str, identity: dict, verify, config: dict):
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", verify=verify,
        aws_access_key_id=identity["access_key"], aws_secret_access_key=identity["secret"],
        config=Config(retries={"max_attempts": 1}, **config))
