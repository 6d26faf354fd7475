import hashlib
from contextlib import contextmanager

from odoo import api
from odoo.exceptions import AccessError, MissingError

KLEER_USER = "kleer_connector.group_kleer_user"
KLEER_MANAGER = "kleer_connector.group_kleer_manager"

# System parameters (Settings > Technical > System Parameters), in days.
RETENTION_PARAM = "kleer_connector.retention_days"
RETENTION_DAYS = 30  # done jobs, info and resolved log entries
NUMBER_WINDOW_PARAM = "kleer_connector.invoice_number_days"
NUMBER_WINDOW_DAYS = 90  # how far back certified invoices wait for their number


# Context key: the language of the person who reads what a queue job writes
# (set by kleer.job on the records it runs, whose own ``lang`` is None).
READER_LANG = "kleer_reader_lang"


def record_reader(record):
    """The person who reads what Odoo writes about ``record`` (a refusal, a
    chatter note, a log entry, a retry time): its creator, unless that is
    the superuser (a cron, an import) or the record is gone. Else no user:
    the company's language and time zone apply. Never whoever runs the
    queue. Sudo."""
    record = record[:1].sudo()
    if record and "create_uid" in record._fields:
        try:
            creator = record.create_uid
        except MissingError:  # deleted meanwhile
            creator = None
        if creator and not creator._is_superuser():
            return creator
    return record.env["res.users"].sudo()


def user_lang(user, company):
    """``user``'s language (none: no user), else ``company``'s, if installed."""
    installed = {code for code, _name in company.env["res.lang"].get_installed()}
    langs = [user.lang, company.partner_id.lang]
    return next((lang for lang in langs if lang in installed), "en_US")


def reader_lang(record, company):
    """The language of ``record``'s reader (``record_reader``)."""
    return user_lang(record_reader(record), company)


def reader_env(records):
    """``records``' environment in the reader's language (see
    ``reader_lang``): the queue job's reader when a job runs them, else the
    reader of ``records`` themselves. Its ``_`` writes what a person reads."""
    lang = records.env.context.get(READER_LANG)
    if not lang:
        company = records[:1].company_id if "company_id" in records._fields else False
        lang = reader_lang(records, company or records.env.company)
    return records.with_context(lang=lang).env


def customer_env(move):
    """``move``'s environment in its customer's language, else its company's
    (as Odoo prints the invoice): for the texts the customer reads on the
    invoice Kleer sends (row descriptions, notes)."""
    lang = move.partner_id.lang or move.company_id.partner_id.lang
    return move.with_context(lang=lang).env


def days_param(env, key, default):
    """A positive number of days from a system parameter, else ``default``."""
    try:
        days = int(env["ir.config_parameter"].sudo().get_param(key) or 0)
    except ValueError:
        days = 0
    return days if days > 0 else default


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


def check_connector_fields(records, names, protected):
    """Refuse ``protected`` fields among ``names`` unless the connector (as
    superuser) writes them: what the queue acts on (a Kleer id, the doubt
    flag, whether an invoice is in Kleer) is never set by a person, over
    RPC least of all."""
    if records.env.su:
        return
    refused = sorted(set(names) & set(protected))
    if refused:
        raise AccessError(
            records.env._("Only the Kleer connector sets %(fields)s.", fields=", ".join(refused))
        )


def check_connector_create(records, vals_list, protected):
    """``check_connector_fields`` for a create (or a copy): the protected
    fields it gives a value, in its values or its context's defaults."""
    if records.env.su:
        return
    given = {name for name in protected if records.env.context.get(f"default_{name}")}
    given.update(name for vals in vals_list for name in protected if vals.get(name))
    check_connector_fields(records, given, protected)


def check_connector_write(records, vals, protected):
    """``check_connector_fields`` for a write, refusing only a change: Odoo's
    partner merge writes back every field of the contact it keeps."""
    if records.env.su:
        return
    changed = set()
    for name in set(vals) & set(protected):
        field = records._fields[name]
        for record in records:
            value = field.convert_to_record(field.convert_to_cache(vals[name], record), record)
            if value != record[name]:
                changed.add(name)
                break
    check_connector_fields(records, changed, protected)


SYNC_LOCK_TIMEOUT = 120  # seconds a job waits for a sync run of the same records


def sync_lock_name(company, sync):
    """The advisory lock a run of ``sync`` holds for ``company``."""
    return f"kleer.sync:{company.id}:{sync}"


@contextmanager
def wait_sync_lock(env, company, sync, timeout=SYNC_LOCK_TIMEOUT):
    """Hold ``sync``'s lock for ``company`` while the block runs, waiting
    up to ``timeout`` seconds for a run that holds it (then LockNotAvailable:
    the queue tries again). Same key and form as the run's own lock."""
    if env.registry.in_test_mode():
        # One connection for all cursors: a lock could only be re-entered.
        yield
        return
    with env.registry.cursor() as cr:
        cr.execute("SET LOCAL lock_timeout = %s", (int(timeout * 1000),))
        cr.execute(
            "SELECT pg_advisory_xact_lock(%s)", (advisory_key(sync_lock_name(company, sync)),)
        )
        yield


def advisory_key(text):
    """A signed 64-bit PostgreSQL advisory lock key for ``text``."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


@contextmanager
def try_advisory_lock(env, text):
    """Yield whether the advisory lock ``text`` was taken. It is held by the
    open transaction of a cursor of its own until the block ends (work inside
    may commit as it likes), and dies with the connection if the process
    does, so a crash never leaves it taken. Same idea as OCA connector's
    ``pg_try_advisory_xact_lock``."""
    with env.registry.cursor() as cr:
        cr.execute("SELECT pg_try_advisory_xact_lock(%s)", (advisory_key(text),))
        yield cr.fetchone()[0]
