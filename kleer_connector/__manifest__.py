# Copyright 2026 kleer_connector developers
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
{
    "name": "Kleer Connector",
    "summary": "Post invoices and credit notes to Kleer (PE Accounting) and sync master data",
    "version": "18.0.1.0.0",
    "category": "Accounting/Accounting",
    "author": "kleer_connector developers",
    "maintainers": [],
    "license": "LGPL-3",
    "development_status": "Alpha",
    "application": False,
    "installable": True,
    "depends": ["account"],
    # All three ship with Odoo itself (python-stdnum for OCR check digits).
    "external_dependencies": {"python": ["requests", "lxml", "python-stdnum"]},
    "data": [
        "security/security.xml",
        "security/ir.model.access.csv",
        "security/kleer_payment_security.xml",
        "data/ir_cron.xml",
        "data/kleer_invoice_cron.xml",
        "data/kleer_payment_cron.xml",
        "views/res_config_settings_views.xml",
        "views/kleer_log_views.xml",
        "views/account_move_views.xml",
        "views/res_partner_views.xml",
        "views/product_views.xml",
        "views/kleer_user_views.xml",
        "views/res_partner_category_views.xml",
        "views/account_move_payment_views.xml",
        "views/account_journal_dashboard_views.xml",
    ],
    "assets": {
        "web.assets_tests": ["kleer_connector/static/tests/tours/**/*"],
    },
}
