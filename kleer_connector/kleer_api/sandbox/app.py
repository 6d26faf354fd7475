# Copyright 2026 kleer_connector developers
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""WSGI application of the sandbox: routing, auth, XML in/out, faults, request recording."""

import json
import logging
import re
import socket
import threading
import time
from dataclasses import dataclass, field

from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from .faults import FaultSet
from .store import DEFAULT_LIMIT, ApiError
from .xmlutil import MAX_BODY, XmlError, el, parse_xml, remove_child, schema_errors, to_bytes

_logger = logging.getLogger(__name__)

XML_CONTENT_TYPE = "application/xml; charset=utf-8"
SOCKET_KEY = "kleer_sandbox.socket"  # set by the sandbox's request handler (server.py)
DROPPED_KEY = "kleer_sandbox.dropped"
_COMPANY_PATH = re.compile(r"^/v1/company/(\d+)(/.*)?$")
_P = "/v1/company/<int:cid>"
_RULES = (
    ("/info", ("GET",), "company_info"),
    ("/user", ("GET",), "users"),
    ("/user/me", ("GET",), "user_me"),
    ("/user/<int:oid>", ("GET",), "user"),
    ("/client", ("GET", "PUT"), "clients"),
    ("/client/<int:oid>", ("GET", "POST"), "client"),
    ("/client/deliverytype", ("GET",), "delivery_types"),
    ("/client/invoice", ("GET", "PUT"), "invoices"),
    ("/client/invoice/<int:oid>", ("GET", "POST"), "invoice"),
    # The alternatives to the unconfirmed calls that the connector's settings
    # offer (certify call, write verbs, exchange-rate call) are served too, so
    # that each setting can be tried; tests check which call was made.
    ("/client/invoice/<int:oid>/certify", ("POST", "PUT"), "certify"),
    ("/client/invoice/<int:oid>/approve", ("POST",), "certify"),
    ("/product", ("GET", "PUT", "POST"), "products"),
    ("/product/<int:oid>", ("GET", "POST", "PUT"), "product"),
    ("/dimension", ("GET",), "dimensions"),
    ("/dimension/<int:did>/entry", ("GET", "PUT", "POST"), "entries"),
    ("/dimension/<int:did>/entry/<int:oid>", ("POST", "PUT"), "entry"),
    ("/exchange-rate", ("GET",), "exchange_rate"),
    ("/exchange-rate/<src>/<dst>", ("GET",), "exchange_rate"),
)
URL_MAP = Map(
    [
        Rule(_P + path, methods=list(methods), endpoint=endpoint)
        for path, methods, endpoint in _RULES
    ],
    strict_slashes=True,  # "/client/" is a 404, as the paths are fixed by the client adapter
    merge_slashes=False,
    redirect_defaults=False,
)

_MALFORMED = b'<?xml version="1.0" encoding="UTF-8"?>\n<clients>\n  <client>\n    <id>1</id>\n    <name>Trunc'  # noqa: E501
_HTML = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"  # noqa: E501
)
_ENTITY_BOMB = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE error [\n <!ENTITY a0 "boom">\n'
    + b"".join(
        b' <!ENTITY a%d "%s">\n' % (i, b"".join(b"&a%d;" % (i - 1) for _ in range(10)))
        for i in range(1, 10)
    )
    + b"]>\n<error><message>&a9;</message></error>\n"
)


@dataclass
class RecordedRequest:
    """One request the sandbox received (control routes excluded).

    ``status`` is what was answered (None while in flight or when the connection was dropped);
    ``fault`` the kind of the injected fault, if any. The X-Token value is never kept."""

    method: str
    path: str
    query: dict
    headers: Headers
    body: bytes = b""
    status: object = None
    fault: object = None
    company_id: object = None
    rel_path: object = None  # the path after /v1/company/{cid}
    time: float = field(default_factory=time.time)

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def xml(self):
        """The body parsed (safely) as XML, or None when there is no body."""
        return parse_xml(self.body) if self.body.strip() else None

    def to_json(self):
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": dict(self.headers.items()),
            "body": self.text,
            "status": self.status,
            "fault": self.fault,
            "company_id": self.company_id,
            "rel_path": self.rel_path,
            "time": self.time,
        }


class _TooLarge(Exception):
    pass


def xml_response(element, status=200, headers=None):
    return Response(
        to_bytes(element), status=status, headers=headers, content_type=XML_CONTENT_TYPE
    )


def error_response(status, message, headers=None):
    return xml_response(el("error", None, el("message", message)), status, headers)


def _json(data, status=200):
    return Response(
        json.dumps(data, ensure_ascii=False, indent=1),
        status=status,
        content_type="application/json",
    )


def _created(id):
    return el("created", None, el("id", id))


def _saved(id):
    return el("saved", None, el("id", id))


def _wrap(tag, children, **attrs):
    node = el(tag)
    for key, value in attrs.items():
        node.set(key, str(value))
    node.extend(children)
    return node


class SandboxApp:
    """The WSGI callable. ``stopping`` (threading.Event) cuts injected sleeps short at shutdown."""

    def __init__(
        self, store, faults=None, requests=None, stopping=None, on_reset=None, check_responses=True
    ):
        self.store = store
        self.faults = faults if faults is not None else FaultSet()
        self.requests = requests if requests is not None else []
        self.stopping = stopping or threading.Event()
        self.on_reset = on_reset
        self.check_responses = check_responses  # validate every XML answer against the XSD
        # A Kleer that ignores the invoice list's offset (always page 1, offset 0 echoed):
        # the paging the connector uses is a guess [?], so tests can try the other case.
        self.ignore_paging = False

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            response = self._handle(request)
        except Exception as exc:  # a sandbox bug: answer 500 but keep serving
            _logger.exception("sandbox error on %s %s", request.method, request.path)
            response = error_response(500, f"sandbox internal error: {exc!r}")
        return response(environ, start_response)

    # ------------------------------------------------------------ pipeline
    def _handle(self, request):
        path = request.path
        if path == "/_sandbox" or path.startswith("/_sandbox/"):
            return self._control(request)
        match = _COMPANY_PATH.match(path)
        headers = Headers()
        for key, value in request.headers.items():
            headers.add(key, "<redacted>" if key.lower() == "x-token" else value)
        record = RecordedRequest(
            method=request.method,
            path=path,
            query=request.args.to_dict(),
            headers=headers,
            company_id=int(match.group(1)) if match else None,
            rel_path=(match.group(2) or "") if match else None,
        )
        self.requests.append(record)
        try:
            record.body = self._read_body(request)
        except _TooLarge:
            record.status = 413
            return error_response(413, f"request body exceeds {MAX_BODY} bytes")

        fault = (
            self.faults.take(request.method, record.rel_path)
            if record.rel_path is not None
            else None
        )
        if fault is not None:
            record.fault = fault.kind
            _logger.debug("fault %s on %s %s", fault.kind, request.method, path)
            if fault.kind == "latency":
                self.stopping.wait(fault.seconds)
            elif fault.kind == "drop":
                return self._drop(request.environ)
            elif fault.kind not in ("drop_after_store", "timeout_after_store"):
                response = self._fault_response(fault)
                record.status = response.status_code
                return response

        response = self._dispatch(request, record.body)
        if fault is not None and fault.kind == "drop_after_store":
            return self._drop(request.environ)
        record.status = response.status_code
        if fault is not None and fault.kind == "timeout_after_store":
            self.stopping.wait(fault.seconds)
        return response

    @staticmethod
    def _read_body(request):
        stream = request.stream
        length = request.content_length
        if length is not None and length > MAX_BODY:
            while stream.read(1 << 20):  # drain, so the client can read our 413
                pass
            raise _TooLarge()
        data = stream.read(MAX_BODY + 1)
        if len(data) > MAX_BODY:
            while stream.read(1 << 20):
                pass
            raise _TooLarge()
        return data

    @staticmethod
    def _drop(environ):
        # Shut the socket down under the server's feet: the client sees the connection close
        # without a response; the server's own write then fails with EPIPE, which it ignores.
        sock = environ.get(SOCKET_KEY) or environ.get("werkzeug.socket")
        if sock is None:
            return error_response(500, "sandbox cannot drop a connection under this server")
        environ[DROPPED_KEY] = True
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError as exc:  # the client went first: nothing to drop
            _logger.debug("drop: %s", exc)
        return Response(b"", status=200)

    @staticmethod
    def _fault_response(fault):
        if fault.kind == "status":
            headers = (
                {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
            )
            return error_response(
                fault.status, fault.message or f"Sandbox fault: HTTP {fault.status}", headers
            )
        if fault.kind == "ok":
            return xml_response(el("ok", None, el("id", 0)))
        if fault.kind == "bare":
            return Response(b"", status=fault.status, content_type="text/plain")
        if fault.kind == "malformed":
            return Response(_MALFORMED, status=200, content_type=XML_CONTENT_TYPE)
        if fault.kind == "html":
            return Response(_HTML, status=502, content_type="text/html; charset=utf-8")
        if fault.kind == "entity":
            return Response(_ENTITY_BOMB, status=200, content_type=XML_CONTENT_TYPE)
        if fault.kind == "huge":
            head = b'<?xml version="1.0" encoding="UTF-8"?>\n<clients>\n'
            tail = b"</clients>\n"
            total = max(int(fault.mib * 1024 * 1024), len(head) + len(tail))

            def chunks():
                yield head
                left = total - len(head) - len(tail)
                block = b" " * (1 << 16)
                while left > 0:
                    yield block[: min(left, len(block))]
                    left -= len(block)
                yield tail

            return Response(
                chunks(),
                status=200,
                headers={"Content-Length": str(total)},
                content_type=XML_CONTENT_TYPE,
                direct_passthrough=True,
            )
        raise ValueError(fault.kind)

    def _dispatch(self, request, body):
        adapter = URL_MAP.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except MethodNotAllowed as exc:
            allowed = ", ".join(exc.valid_methods or ())
            return error_response(
                405, f"method {request.method} not allowed here", {"Allow": allowed}
            )
        except HTTPException:
            return error_response(404, f"no such resource: {request.path}")
        method = "get" if request.method == "HEAD" else request.method.lower()
        try:
            uid = self.store.authenticate(request.headers.get("X-Token"), args["cid"])
            doc = None
            if method in ("put", "post"):
                if body.strip():
                    doc = self._parse_body(body)
                elif endpoint != "certify":
                    raise ApiError(400, "xml: request body is empty")
            handler = getattr(self, f"_{endpoint}_{method}")
            answer = handler(request=request, uid=uid, doc=doc, **args)
        except ApiError as exc:
            return error_response(exc.status, exc.message, exc.headers)
        if self.check_responses:
            errors = schema_errors(answer)
            if errors:
                _logger.error("sandbox answer does not validate: %s", errors)
                return error_response(500, "sandbox produced invalid XML: " + "; ".join(errors[:3]))
        return xml_response(answer)

    @staticmethod
    def _parse_body(body):
        try:
            doc = parse_xml(body)
        except XmlError as exc:
            raise ApiError(400, f"xml: {exc}") from None
        errors = schema_errors(doc)
        if errors:
            raise ApiError(400, "schema: " + "; ".join(errors[:5]))
        return doc

    def _one(self, kind, cid, oid):
        found = self.store.element(kind, cid, oid)
        if found is None:
            raise ApiError(404, f"{kind} {oid} not found")
        return found

    # ------------------------------------------------------------ handlers
    def _company_info_get(self, cid, **_):
        return self.store.company_info(cid)

    def _users_get(self, cid, **_):
        return _wrap("users", self.store.elements("user", cid))

    def _user_me_get(self, cid, uid, **_):
        return self._one("user", cid, uid)

    def _user_get(self, cid, oid, **_):
        return self._one("user", cid, oid)

    def _clients_get(self, cid, **_):
        return _wrap("clients", self.store.elements("client", cid))

    def _clients_put(self, cid, doc, **_):
        return _created(self.store.create_client(cid, doc))

    def _client_get(self, cid, oid, **_):
        return self._one("client", cid, oid)

    def _client_post(self, cid, oid, doc, **_):
        return _saved(self.store.update_client(cid, oid, doc))

    def _delivery_types_get(self, cid, **_):
        return _wrap(
            "client-delivery-types",
            [
                el(
                    "client-delivery-type",
                    None,
                    el("name", name),
                    el("default", "true" if default else "false"),
                )
                for name, default in self.store.delivery_types(cid)
            ],
        )

    def _products_get(self, cid, **_):
        return _wrap("products", self.store.elements("product", cid))

    def _products_put(self, cid, doc, **_):
        return _created(self.store.create_product(cid, doc))

    def _product_get(self, cid, oid, **_):
        return self._one("product", cid, oid)

    def _product_post(self, cid, oid, doc, **_):
        return _saved(self.store.update_product(cid, oid, doc))

    def _dimensions_get(self, cid, **_):
        return _wrap("dimensions", self.store.elements("dimension", cid))

    def _entries_get(self, cid, did, **_):
        self._one("dimension", cid, did)
        return _wrap("dimension-entries", self.store.elements("dimension-entry", cid, did))

    def _entries_put(self, cid, did, doc, **_):
        return _created(self.store.create_dimension_entry(cid, did, doc))

    def _entry_post(self, cid, did, oid, doc, **_):
        return _saved(self.store.update_dimension_entry(cid, did, oid, doc))

    def _invoices_get(self, cid, request, **_):
        args = request.args
        offset = 0 if self.ignore_paging else _int_arg(args, "offset", 0)
        page, size = self.store.query_invoices(
            cid,
            filter=args.get("filter") or "all",
            query=args.get("query"),
            date_lower=args.get("invoiceDateLower"),
            date_upper=args.get("invoiceDateUpper"),
            offset=offset,
            limit=_int_arg(args, "limit", DEFAULT_LIMIT),
            ignore_files=(args.get("ignoreFiles") or "").lower() == "true",
        )
        return _wrap("client-invoices", page, offset=offset, limit=len(page), size=size)

    def _invoices_put(self, cid, doc, **_):
        return _created(self.store.create_invoice(cid, doc))

    def _invoice_get(self, cid, oid, request, **_):
        invoice = self._one("client-invoice", cid, oid)
        if (request.args.get("ignoreFiles") or "").lower() == "true":
            remove_child(invoice, "files")
        return invoice

    def _invoice_post(self, cid, oid, doc, **_):
        return _saved(self.store.update_invoice(cid, oid, doc))

    def _certify_post(self, cid, oid, **_):
        self.store.certify_invoice(cid, oid)
        return el("ok", None, el("id", oid))

    # The settings' alternatives: reverse write verbs (POST creates, PUT
    # updates) and PUT …/certify reach the same handlers.
    _products_post = _products_put
    _product_put = _product_post
    _entries_post = _entries_put
    _entry_put = _entry_post
    _certify_put = _certify_post

    def _exchange_rate_get(self, cid, request, src=None, dst=None, **_):
        args = request.args
        src = src or args.get("from-currency") or args.get("fromCurrency")
        dst = dst or args.get("to-currency") or args.get("toCurrency")
        if not src or not dst:
            raise ApiError(400, "from-currency and to-currency are required")
        rate = self.store.exchange_rate(cid, src, dst, request.args.get("date"))
        return el(
            "exchange-rate",
            None,
            el("from-currency", src.upper()),
            el("to-currency", dst.upper()),
            el("rate", rate),
        )

    # ------------------------------------------------------- control routes
    def _control(self, request):
        route = request.path[len("/_sandbox") :].rstrip("/")
        method = request.method
        if route == "/faults":
            if method == "GET":
                return _json({"faults": [f.to_json() for f in self.faults]})
            if method == "POST":
                try:
                    added = self.faults.add_json(json.loads(request.get_data() or b"null"))
                except (ValueError, TypeError) as exc:
                    return _json({"error": str(exc)}, 400)
                return _json({"faults": [f.to_json() for f in added]}, 201)
            if method == "DELETE":
                self.faults.clear()
                return _json({"faults": []})
        elif route == "/requests":
            if method == "GET":
                return _json({"requests": [r.to_json() for r in list(self.requests)]})
            if method == "DELETE":
                self.requests.clear()
                return _json({"requests": []})
        elif route == "/payments":
            if method == "POST":
                return self._record_payment(request)
        elif route == "/reset":
            if method == "POST":
                if self.on_reset is not None:
                    self.on_reset()
                else:
                    self.store.reset()
                    self.faults.clear()
                    self.requests.clear()
                    self.ignore_paging = False
                return _json({"reset": True})
        else:
            return _json({"error": f"no such control route: {request.path}"}, 404)
        return _json({"error": f"method {method} not allowed here"}, 405)

    def _record_payment(self, request):
        """A payment registered in Kleer (see Store.record_payment), as JSON:
        {"invoice_id": 5001, "amount": 12500, "date": "2026-03-20",
        "company_id": 1}; amount, date and company optional."""
        try:
            data = json.loads(request.get_data() or b"null")
            if not isinstance(data, dict) or "invoice_id" not in data:
                raise ValueError("expected a JSON object with an 'invoice_id'")
            cid = data.get("company_id") or self.store.company_ids()[0]
            remaining = self.store.record_payment(
                cid, int(data["invoice_id"]), data.get("amount"), data.get("date")
            )
        except ApiError as exc:
            return _json({"error": exc.message}, exc.status)
        except (ValueError, TypeError) as exc:
            return _json({"error": str(exc)}, 400)
        return _json({"invoice_id": int(data["invoice_id"]), "remaining": remaining}, 201)


def _int_arg(args, name, default):
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, f"{name}: expected an integer, got {raw!r}") from None
