"""What bench_invoices.py and bench_payments.py share: the database options
and loading Odoo's registry on that database (in this process)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def add_db_args(parser):
    parser.add_argument("-d", "--database", required=True)
    parser.add_argument("--db_host", default="127.0.0.1")
    parser.add_argument("--db_port", default="5432")
    parser.add_argument("--db_user", default="odoo")
    parser.add_argument("--addons-path", default=None)


def open_registry(args):
    """Configure Odoo for ``args``' database (warnings only) and load its registry."""
    import odoo  # noqa: PLC0415 - Odoo only once the arguments are parsed

    addons = args.addons_path or f"{Path(odoo.__file__).parent / 'addons'},{REPO}"
    odoo.tools.config.parse_config(
        [
            "-d",
            args.database,
            "--db_host",
            args.db_host,
            "--db_port",
            str(args.db_port),
            "--db_user",
            args.db_user,
            "--addons-path",
            addons,
            "--log-level",
            "warn",
        ]
    )
    return odoo.modules.registry.Registry(args.database)
