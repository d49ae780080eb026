"""
A local SpatiaFi Auth API for demos, tests (ours and our users') and fault experiments.

It serves the documented routes with upstream's shapes and status codes, verifies
``client_secret_jwt`` assertions strictly with code of its own, and adds a control API under
``/_emulator/`` (faults, counters, clients, users, clock, reset) that is **not part of the
real service**. Stdlib only: importing it never imports requests or authlib.

::

    from spatiafi_ops.emulator import running

    with running() as emulator:          # 127.0.0.1, a free port, a background thread
        print(emulator.url, emulator.token_url)
        creds = emulator.create_client()  # spatiafi_ops.AppCredentials, auth_url set

The token route accepts only ``client_secret_jwt`` unless started with
``lenient_client_auth=True``. Guide: docs/emulator.md.
"""

from __future__ import annotations

import logging

from ._config import DEFAULT_EMAIL, DEFAULT_PASSWORD, DEFAULT_USER, EmulatorConfig, User
from ._faults import Fault
from ._handle import EmulatorControlError, EmulatorHandle
from ._runner import Emulator, running, serve

__all__ = [
    "DEFAULT_EMAIL",
    "DEFAULT_PASSWORD",
    "DEFAULT_USER",
    "Emulator",
    "EmulatorConfig",
    "EmulatorControlError",
    "EmulatorHandle",
    "Fault",
    "User",
    "running",
    "serve",
]

for _name in (
    "Emulator",
    "EmulatorConfig",
    "EmulatorControlError",
    "EmulatorHandle",
    "Fault",
    "User",
):
    globals()[_name].__module__ = __name__
del _name

# A library prints nothing unless the application configured logging (docs/logging.md);
# without a handler, stdlib's lastResort would print warnings and errors to stderr.
logging.getLogger(__name__).addHandler(logging.NullHandler())
