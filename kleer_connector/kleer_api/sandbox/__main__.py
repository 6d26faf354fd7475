# Copyright 2026 kleer_connector developers
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Run the sandbox: ``PYTHONPATH=kleer_connector python -m kleer_api.sandbox --seed``."""

# A command-line program: it talks to its user on stdout.
# pylint: disable=print-used

import argparse
import logging
import signal
import sys
import threading

from .server import SandboxServer


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m kleer_api.sandbox", description="Local fake Kleer API."
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=8090, help="port (default 8090; 0 = any free port)"
    )
    parser.add_argument(
        "--seed", action="store_true", help="start with demo companies, users, products, clients"
    )
    parser.add_argument(
        "--state-file", help="JSON file: loaded at start if it exists, rewritten after each change"
    )
    parser.add_argument(
        "--vat-unit",
        choices=("percent", "fraction"),
        default="percent",
        help="how VAT and discount percentages are written: 25 (percent, default) or 0.25",
    )
    parser.add_argument(
        "--no-check-responses",
        action="store_true",
        help="do not validate each answer against the XSD (faster long lists, for benchmarks)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(message)s",
        stream=sys.stderr,
    )
    try:
        server = SandboxServer(
            seed=args.seed,
            state_file=args.state_file,
            host=args.host,
            port=args.port,
            log_requests=True,
            vat_unit=args.vat_unit,
            check_responses=not args.no_check_responses,
        )
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        server.start()
    except OSError as exc:
        parser.error(f"cannot listen on {args.host}:{args.port}: {exc}")
    print(f"Kleer sandbox: {server.base_url}", flush=True)
    tokens = server.state.tokens()
    for token, (user_id, company_id) in sorted(tokens.items(), key=lambda item: item[1][1]):
        print(f"  company {company_id}: X-Token {token} (user {user_id})", flush=True)
    if not tokens:
        print("  no companies or tokens: start with --seed (or a seeded --state-file)", flush=True)
    if args.state_file:
        print(f"  state file: {args.state_file}", flush=True)
    print(f"  VAT and discount percentages written as a {args.vat_unit}", flush=True)
    print("Ctrl-C to stop.", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        stop.set()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
