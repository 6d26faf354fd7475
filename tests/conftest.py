import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "kleer_connector"))


import pytest  # noqa: E402 - after the path set-up above

from kleer_api.sandbox import SandboxServer  # noqa: E402


@pytest.fixture(scope="module")
def server():
    """A sandbox per test module (a real HTTP server on 127.0.0.1)."""
    with SandboxServer(seed=True) as sb:
        yield sb


@pytest.fixture
def sb(server):
    """The module's sandbox, seeded afresh, faults and recorded requests cleared."""
    server.reset()
    return server
