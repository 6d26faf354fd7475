# Copyright 2026 kleer_connector developers
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The sandbox as a real HTTP server on 127.0.0.1 (werkzeug's threaded server, in a thread)."""

import ipaddress
import logging
import threading

from werkzeug.serving import WSGIRequestHandler, make_server

from . import seed as _seed
from .app import DROPPED_KEY, SOCKET_KEY, SandboxApp
from .faults import FaultSet
from .store import Store

_logger = logging.getLogger(__name__)


class _QuietHandler(WSGIRequestHandler):
    """Hands the raw socket to the app (for drop faults) and logs to our logger, not stderr."""

    def make_environ(self):
        environ = super().make_environ()
        environ[SOCKET_KEY] = self.connection
        return environ

    def log_request(self, code="-", size="-"):
        # Debug in-process (tests, Odoo logs stay clean); the CLI raises it to info.
        level = getattr(self.server, "kleer_request_log_level", logging.DEBUG)
        if (getattr(self, "environ", None) or {}).get(DROPPED_KEY):
            _logger.log(level, '"%s" dropped (fault)', self.requestline)
        else:
            _logger.log(level, '"%s" %s %s', self.requestline, code, size)

    def log(self, type, message, *args):
        _logger.debug("werkzeug %s: " + message.rstrip(), type, *args)

    def connection_dropped(self, error, environ=None):
        _logger.debug("connection dropped: %r", error)


def _is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SandboxServer:
    """A local fake Kleer. ``with SandboxServer(seed=True) as sb:`` serves on a free port.

    - ``sb.base_url`` (``http://127.0.0.1:PORT/v1``), ``sb.company_url``, ``sb.url("/client")``
    - ``sb.token`` / ``sb.company_id``: the seeded token and company (``sandbox-token``, 1)
    - ``sb.state``: the Store (read objects: ``sb.state.invoices(cid)``, ``.client(cid, id)``...)
    - ``sb.requests``: list of RecordedRequest; ``sb.faults``: FaultSet (``sb.faults.add(...)``)
    - ``sb.reset()``: seed state again, clear faults and recorded requests
    """

    def __init__(
        self,
        seed=True,
        state_file=None,
        host="127.0.0.1",
        port=0,
        check_responses=True,
        log_requests=False,
        vat_unit="percent",
    ):
        if not _is_loopback(host):
            raise ValueError(f"the sandbox binds to loopback addresses only, not {host!r}")
        self.host = "127.0.0.1" if host == "localhost" else host
        self.port = port
        self.log_requests = log_requests  # log each request at info instead of debug
        self.token = _seed.TOKEN
        self.company_id = _seed.COMPANY_ID
        self.other_token = _seed.OTHER_TOKEN
        self.other_company_id = _seed.OTHER_COMPANY_ID
        self.state = Store(
            state_file=state_file, seeder=_seed.populate if seed else None, vat_unit=vat_unit
        )
        self.faults = FaultSet()
        self.requests = []
        self._stopping = threading.Event()
        self.app = SandboxApp(
            self.state,
            self.faults,
            self.requests,
            stopping=self._stopping,
            on_reset=self.reset,
            check_responses=check_responses,
        )
        self._server = None
        self._thread = None

    # ------------------------------------------------------------ lifecycle
    def start(self):
        """Bind and serve in a daemon thread; returns self."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = make_server(
            self.host, self.port, self.app, threaded=True, request_handler=_QuietHandler
        )
        # Server-level errors (e.g. a client that vanished) go to the debug log, not stderr.
        server.log = lambda type, message, *args: _logger.debug(
            "werkzeug %s: " + message, type, *args
        )
        server.handle_error = lambda request, address: _logger.debug(
            "error serving %s", address, exc_info=True
        )
        server.kleer_request_log_level = logging.INFO if self.log_requests else logging.DEBUG
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"kleer-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        _logger.debug("sandbox listening on %s", self.base_url)
        return self

    def stop(self):
        """Stop serving and wake requests sleeping in injected faults."""
        self._stopping.set()
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        thread.join(5)

    @property
    def running(self):
        return self._server is not None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def reset(self):
        self.state.reset()
        self.faults.clear()
        self.requests.clear()
        self.app.ignore_paging = False

    # ----------------------------------------------------------------- urls
    @property
    def root_url(self):
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self):
        return f"{self.root_url}/v1"

    @property
    def company_url(self):
        return f"{self.base_url}/company/{self.company_id}"

    def url(self, rel_path, company_id=None):
        """``url("/client")`` -> ``http://127.0.0.1:PORT/v1/company/1/client``."""
        cid = self.company_id if company_id is None else company_id
        return f"{self.base_url}/company/{cid}{rel_path}"
