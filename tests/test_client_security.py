"""The token stays with Kleer: no redirect is followed, nothing echoes it
back into errors or logs, and plain HTTP goes only to this machine."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from kleer_api import KleerClient, check_base_url, errors, redact, types

TOKEN = "secret-token-123"


class _Server:
    """A tiny HTTP server on a loopback address that records every request
    with its raw headers and answers ``reply(handler)``."""

    def __init__(self, host, reply):
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                server.requests.append((self.command, self.path, dict(self.headers.items())))
                status, headers, body = reply(self)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = do_POST = _any

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def other_host():
    """Another host (127.0.0.2) that would gladly take the token."""
    xml = b'<?xml version="1.0"?><created><id>1</id></created>'
    srv = _Server("127.0.0.2", lambda h: (200, {"Content-Type": "application/xml"}, xml))
    yield srv
    srv.close()


@pytest.fixture
def redirector(other_host):
    """ "Kleer" on 127.0.0.1 answering every request with a redirect there."""

    def reply(handler):
        status = 307 if handler.command != "GET" else 302
        return status, {"Location": other_host.url + handler.path}, b""

    srv = _Server("127.0.0.1", reply)
    yield srv
    srv.close()


def test_the_other_host_records_a_followed_redirect(redirector, other_host):
    # The set-up can fail: a client that follows redirects hands the token over.
    requests.get(redirector.url + "/v1/company/1/info", headers={"X-Token": TOKEN}, timeout=5)
    assert other_host.requests and other_host.requests[0][2].get("X-Token") == TOKEN


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_redirect_is_not_followed_and_token_stays(redirector, other_host, method):
    client = KleerClient(redirector.url + "/v1", 1, TOKEN, timeout=(2, 2))
    expected = errors.KleerConfigError if method == "GET" else errors.KleerUnknownOutcome
    with pytest.raises(expected, match="redirect") as exc:
        if method == "GET":
            client.company_info()
        else:
            client.create_client(types.Client(name="A"))
    client.close()
    assert len(redirector.requests) == 1  # asked once, then stopped
    assert redirector.requests[0][2]["X-Token"] == TOKEN
    assert other_host.requests == []
    assert TOKEN not in str(exc.value)


def test_echoed_token_is_redacted_in_errors_and_exchange(sb):
    sb.faults.add("status", method="GET", path="^/info$", status=400, message=f"bad {sb.token}!")
    client = KleerClient(sb.base_url, sb.company_id, sb.token)
    with pytest.raises(errors.KleerValidationError) as exc:
        client.company_info()
    client.close()
    assert sb.token not in str(exc.value) and "bad ***!" in str(exc.value)
    assert sb.token.encode() not in exc.value.response_body
    assert sb.token.encode() not in client.last_exchange.response_body


def test_token_a_header_cannot_carry_is_refused_unquoted():
    # requests would quote the bad header value, token included, in its error.
    with pytest.raises(errors.KleerConfigError) as exc:
        KleerClient("http://127.0.0.1:9/v1", 1, "secret\ntoken-123", timeout=(1, 1))
    assert "secret" not in str(exc.value)
    # Pasted with a trailing newline: trimmed, not refused.
    assert KleerClient("http://127.0.0.1:9/v1", 1, TOKEN + "\n")._token == TOKEN


def test_redact_covers_escaped_and_encoded_spellings():
    token = "a&b/c+d"
    text = "raw a&b/c+d xml a&amp;b/c+d url a%26b%2Fc%2Bd"
    assert redact(text, token) == "raw *** xml *** url ***"
    assert redact(text.encode(), token) == b"raw *** xml *** url ***"


@pytest.mark.parametrize(
    "url",
    [
        "http://api.kleer.se/v1",
        "http://10.0.0.5:8090/v1",
        "ftp://127.0.0.1/v1",
        "https://user:pw@api.kleer.se/v1",
        "api.kleer.se/v1",
        "",
    ],
)
def test_url_refused(url):
    with pytest.raises(errors.KleerConfigError):
        check_base_url(url)
    with pytest.raises(errors.KleerConfigError):
        KleerClient(url, 1, TOKEN)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.kleer.se/v1",
        "https://test-api.kleer.se/v1",
        "http://127.0.0.1:8090/v1",
        "http://127.0.0.2:8090/v1",
        "http://localhost:8090/v1",
        "http://[::1]:8090/v1",
    ],
)
def test_url_accepted(url):
    assert check_base_url(url) == url
