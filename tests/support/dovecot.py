"""The session-wide Dovecot fixture (the server itself is ``devtools.dovecot``, shared with the demo)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from devtools.dovecot import DovecotServer, dovecot_server

_shared: dict[str, object] = {"server": None, "stack": None, "users": 0}


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """One Dovecot for the whole session, shared by every module that imports this fixture.

    Modules import the fixture (``from tests.support.dovecot import dovecot``), which gives each
    module its own fixture definition; the reference count keeps it to a single server.
    """
    if _shared["server"] is None:
        stack = contextlib.ExitStack()
        _shared["server"] = stack.enter_context(dovecot_server())
        _shared["stack"] = stack
    _shared["users"] = int(_shared["users"]) + 1
    try:
        yield _shared["server"]  # type: ignore[misc]
    finally:
        _shared["users"] = int(_shared["users"]) - 1
        if _shared["users"] == 0:
            _shared["stack"].close()  # type: ignore[union-attr]
            _shared["server"] = None
