# Copyright 2026 kleer_connector developers
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
{
    "name": "Kleer Connector",
    "summary": "Post invoices and credit notes to Kleer (PE Accounting) and sync master data",
    "version": "18.0.1.0.0",
    "category": "Accounting/Accounting",
    "website": "https://github.com/kleer-connector/kleer_connector",
    "author": "kleer_connector developers",
    "maintainers": [],
    "license": "LGPL-3",
    "development_status": "Alpha",
    "application": False,
    "installable": True,
    "depends": ["account"],
    "external_dependencies": {"python": ["requests", "lxml"]},
    "data": [],
}
