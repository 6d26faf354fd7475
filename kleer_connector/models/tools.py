from contextlib import contextmanager

from odoo import api
from odoo.exceptions import AccessError

KLEER_USER = "kleer_connector.group_kleer_user"
KLEER_MANAGER = "kleer_connector.group_kleer_manager"


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


def check_user_action(records, group=KLEER_USER):
    """Buttons are public methods (callable over RPC with any ids) that act
    with elevated rights: the caller must hold ``group`` and be allowed to
    read each record (its company included). Returns the records, sudo."""
    env = records.env
    if not env.su:
        if not env.user.has_group(group):
            raise AccessError(
                env._(
                    'This needs the access "%(group)s".',
                    group=env.ref(group).sudo().full_name,
                )
            )
        if not records._abstract:
            records.check_access("read")
    return records.sudo()
