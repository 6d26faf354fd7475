"""Typed errors of the Kleer client.

Callers decide from the class (or its ``kind``) whether to retry:

- ``retryable`` errors may be sent again as they are (nothing reached Kleer, or
  the call is a read);
- ``KleerUnknownOutcome`` means a write may or may not have been stored: look
  the object up in Kleer before sending it again;
- every other error is permanent and waits for a person.
"""


class KleerError(Exception):
    """Base class. ``kind`` is a stable, machine-readable name."""

    kind = "error"
    retryable = False

    def __init__(
        self,
        message,
        *,
        status=None,
        method=None,
        url=None,
        request_body=None,
        response_body=None,
        retry_after=None,
        detail=None,
    ):
        super().__init__(message)
        self.message = message
        # The cause alone (Kleer's own words, the network's reason), without
        # the sentence around it: for texts that give their own reason.
        self.detail = detail
        self.status = status
        self.method = method
        self.url = url
        self.request_body = request_body
        self.response_body = response_body
        self.retry_after = retry_after

    def __str__(self):
        return self.message


class KleerConfigError(KleerError):
    """The connector is not configured well enough to call Kleer."""

    kind = "config"


class KleerAuthError(KleerError):
    """401: the token is missing, wrong or revoked."""

    kind = "auth"


class KleerPermissionError(KleerError):
    """403: the token's user lacks the right, or the company id is not theirs."""

    kind = "permission"


class KleerNotFound(KleerError):
    """404: the object (or the company) does not exist in Kleer."""

    kind = "not_found"


class KleerValidationError(KleerError):
    """Kleer (or our own XSD check, before sending) refused the content."""

    kind = "validation"


class KleerTLSError(KleerError):
    """The TLS handshake failed: a certificate problem is not fixed by waiting."""

    kind = "tls"


class KleerRateLimited(KleerError):
    """429: try again after ``retry_after`` seconds (None when Kleer gave none)."""

    kind = "rate_limited"
    retryable = True


class KleerTransientError(KleerError):
    """5xx, or a network failure before the request reached Kleer."""

    kind = "transient"
    retryable = True


class KleerUnknownOutcome(KleerError):
    """A write was sent but no usable answer came back (timeout, dropped
    connection, unreadable answer): Kleer may have stored it."""

    kind = "unknown_outcome"


class KleerBadResponse(KleerError):
    """A read got an answer that is not safe, well-formed Kleer XML."""

    kind = "bad_response"
    retryable = True


class KleerUnsupported(KleerError):
    """Kleer does not offer a call or parameter the way the connector uses it
    (a bare 404/405, an ignored paging offset): not fixed by retrying."""

    kind = "unsupported"


class KleerAmountMismatch(KleerError):
    """Kleer computes other amounts than the ones booked: not certified."""

    kind = "amount_mismatch"
