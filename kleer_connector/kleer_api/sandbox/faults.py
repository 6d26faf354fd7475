# Copyright 2026 kleer_connector developers
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Fault injection: make chosen requests slow, fail, or break the connection."""

import re
import threading
from dataclasses import asdict, dataclass, field

# kind -> defaults of its parameters
KINDS = {
    "latency": {"seconds": 1.0},  # sleep, then answer normally
    "status": {"status": 500},  # answer this status with an <error>, without processing
    "bare": {"status": 404},  # answer this status with an empty body (no such call)
    "ok": {},  # answer <ok> without processing (a call that does nothing)
    "drop": {},  # close the connection without answering, before processing
    "drop_after_store": {},  # process and store, then close without answering
    "timeout_after_store": {"seconds": 65.0},  # store, then sleep past a typical read timeout
    "malformed": {},  # 200 with truncated XML
    "html": {},  # 502 with an HTML error page
    "entity": {},  # 200 with a DOCTYPE entity-expansion bomb
    "huge": {"mib": 21.0},  # 200 with a body of this many MiB
}
PARAMS = ("seconds", "status", "retry_after", "mib", "message")


@dataclass
class Fault:
    """One injected fault. ``times`` is how many more requests it hits (None: until cleared)."""

    kind: str
    method: str = "*"
    path: str = ".*"
    times: object = 1
    seconds: object = None
    status: object = None
    retry_after: object = None
    mib: object = None
    message: object = None
    hits: int = 0
    _regex: object = field(default=None, repr=False, compare=False)

    def matches(self, method, rel_path):
        return (self.method == "*" or self.method == method) and self._regex.search(
            rel_path
        ) is not None

    def to_json(self):
        data = asdict(self)
        data.pop("_regex")
        return data


class FaultSet:
    """The active faults; the first one added that matches a request applies to it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._faults = []

    def add(self, kind, method="*", path=".*", times=1, **params):
        """Add a fault. ``path`` is a regex searched in the path after ``/v1/company/{cid}``
        (e.g. ``^/client/invoice$``); ``method`` an HTTP method or ``*``. Parameters:
        ``seconds`` (latency, timeout_after_store), ``status`` and ``retry_after`` (status),
        ``mib`` (huge), ``message`` (status). Returns the Fault (its ``hits`` counts uses)."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(KINDS)}")
        unknown = set(params) - set(PARAMS)
        if unknown:
            raise ValueError(f"unknown fault parameter(s): {', '.join(sorted(unknown))}")
        if times is not None and (
            not isinstance(times, int) or isinstance(times, bool) or times < 1
        ):
            raise ValueError("times must be a positive integer or None")
        values = {**KINDS[kind], **{k: v for k, v in params.items() if v is not None}}
        if kind in ("status", "bare"):
            values["status"] = int(values["status"])
            if not 400 <= values["status"] <= 599:
                raise ValueError("status must be an HTTP error status (400-599)")
            if values["status"] == 429 and values.get("retry_after") is None:
                values["retry_after"] = 1
        for key in ("seconds", "mib"):
            if key in values:
                values[key] = float(values[key])
                if values[key] < 0:
                    raise ValueError(f"{key} must be >= 0")
        fault = Fault(
            kind=kind, method=(method or "*").upper(), path=path or ".*", times=times, **values
        )
        fault._regex = re.compile(fault.path)
        with self._lock:
            self._faults.append(fault)
        return fault

    def add_json(self, data):
        """Add one fault (dict) or several (list of dicts) as sent to POST /_sandbox/faults."""
        items = data if isinstance(data, list) else [data]
        if not all(isinstance(item, dict) and "kind" in item for item in items):
            raise ValueError("expected a JSON object with a 'kind' (or a list of them)")
        return [self.add(**item) for item in items]

    def take(self, method, rel_path):
        """The fault that applies to this request (using one of its ``times``), or None."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, rel_path):
                    fault.hits += 1
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def clear(self):
        with self._lock:
            self._faults.clear()

    def list(self):
        with self._lock:
            return list(self._faults)

    def __iter__(self):
        return iter(self.list())

    def __len__(self):
        with self._lock:
            return len(self._faults)
