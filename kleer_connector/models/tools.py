from contextlib import contextmanager

from odoo import api


@contextmanager
def own_cursor(env, **env_kwargs):
    """A new cursor (committed on success, rolled back on error) and an
    environment on it. The transaction is set up from ``env``'s registry so
    that no ``Registry(dbname)`` look-up takes Odoo's global registry lock
    (held by the loading thread while modules load and their tests run)."""
    env_kwargs.setdefault("su", True)
    with env.registry.cursor() as cr:
        if getattr(cr, "transaction", None) is None:
            cr.transaction = api.Transaction(env.registry)
        yield env(cr=cr, **env_kwargs)
