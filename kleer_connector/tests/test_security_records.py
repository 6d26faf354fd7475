"""What the queue acts on, as the users who may edit the records: an
invoice's Kleer state and ids, a customer's Kleer client, a product's Kleer
product. A person who may edit the record may not set these (over RPC, or
through a create, a default or a computed field's inverse): each would keep
an invoice out of Kleer's books or put it on another Kleer record."""

from odoo import Command, fields
from odoo.exceptions import AccessError
from odoo.tests import tagged

from ..kleer_api.sandbox.seed import _address, client_element
from ..models.res_partner import partner_foreign_id
from .common import KleerCase
from .test_invoice_common import SEEDED_CLIENT, SEEDED_PRODUCT, InvoiceCase


@tagged("post_install", "-at_install")
class TestInvoiceFieldsAsUser(InvoiceCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.billing = cls.company_user("kleer_billing_fields")

    def test_billing_user_cannot_keep_an_invoice_out_of_kleer(self):
        """Confirming queues an invoice unless its Kleer state says it is in
        Kleer already: a billing user who could set that state (or a Kleer id)
        would confirm an invoice that never reaches Kleer's books."""
        move = self.consulting_invoice(post=False).with_user(self.billing)
        for vals in ({"kleer_state": "certified"}, {"kleer_state": "draft"}):
            with self.subTest(vals=vals), self.assertRaises(AccessError):
                move.write(vals)
        Move = self.env["account.move"].with_user(self.billing)
        header = {"move_type": "out_invoice", "partner_id": self.customer.id}
        for vals, context in [
            ({"kleer_state": "certified"}, {}),
            ({"kleer_invoice_id": 4711}, {}),
            ({"kleer_certified": True}, {}),
            ({}, {"default_kleer_state": "certified"}),
            ({}, {"default_kleer_invoice_id": 4711}),
        ]:
            with self.subTest(vals=vals, context=context), self.assertRaises(AccessError):
                Move.with_context(**context).create(dict(header, **vals))
        with self.assertRaises(AccessError):
            move.copy({"kleer_state": "certified"})
        # Their own invoice, confirmed as it is: queued and sent.
        move.action_post()
        self.assertEqual(move.kleer_state, "queued")
        self.process_queue()
        self.assertEqual(move.kleer_state, "draft")
        self.assertEqual(
            self.stored(move)["foreign-id"], move._kleer_foreign_id(), "the invoice is in Kleer"
        )

    def test_only_the_invoices_own_attachments_go_to_kleer(self):
        """ "Also send to Kleer" offers the invoice's attachments; over RPC a
        billing user could link any attachment of the database, and the
        queue (superuser) would send what they may not even read."""
        secret = self.env["ir.attachment"].create(
            {
                "name": "lonelista.csv",
                "raw": b"namn;lon\nBertil;60000\n",
            }
        )
        with self.assertRaises(AccessError):
            secret.with_user(self.billing).read(["raw"])
        move = self.consulting_invoice(post=False).with_user(self.billing)
        own = (
            self.env["ir.attachment"]
            .with_user(self.billing)
            .create(
                {
                    "name": "tidrapport.csv",
                    "raw": b"datum;timmar\n",
                    "res_model": "account.move",
                    "res_id": move.id,
                }
            )
        )
        move.write({"kleer_attachment_ids": [Command.set((own | secret).ids)]})
        move.action_post()
        self.process_queue()
        self.assertEqual(move.kleer_state, "draft")
        names = [f["filename"] for f in self.stored(move)["files"]]
        self.assertIn("tidrapport.csv", names)
        self.assertNotIn("lonelista.csv", names)

    def test_the_kleer_activity_is_the_connectors(self):
        """The to-do the connector keeps on an invoice is updated and marked
        done by the queue, as superuser: a billing user who could point it at
        any activity would have Kleer's messages overwrite, then complete,
        someone else's to-do on a record they may not see."""
        other = self.create_company("Annat Bolag AB")
        lead = self.env["res.partner"].create({"name": "Hemlig kund", "company_id": other.id})
        todo = lead.activity_schedule(
            "mail.mail_activity_data_todo",
            summary="Ring om avtalet",
            note="Förhandla priset",
            user_id=self.env.ref("base.user_admin").id,
        )
        move = self.consulting_invoice(post=False).with_user(self.billing)
        with self.assertRaises(AccessError):
            move.write({"kleer_activity_id": todo.id})
        # Refused by Kleer, then sent: the connector's own to-do comes and goes.
        self.refuse_invoices()
        move.action_post()
        self.process_queue()
        self.assertEqual(move.kleer_state, "failed")
        self.assertNotEqual(move.kleer_activity_id, todo)
        self.reprocess_and_run(move)
        self.assertEqual(move.kleer_state, "draft")
        self.assertTrue(todo.exists())
        self.assertEqual((todo.active, str(todo.note)), (True, "<p>Förhandla priset</p>"))

    def reprocess_and_run(self, move):
        self.job_of(move).action_reprocess()
        self.process_queue()

    def test_reset_to_draft_by_the_billing_user_still_works(self):
        """The connector's own bookkeeping of a reset (the state back to "not
        sent") is not the user's write."""
        move = self.consulting_invoice().with_user(self.billing)
        self.assertEqual(move.kleer_state, "queued")
        move.button_draft()
        self.assertEqual((move.state, move.kleer_state), ("draft", "not_sent"))
        self.assertEqual(self.job_of(move).state, "ignored")
        move.action_post()
        self.assertEqual(move.kleer_state, "queued")


@tagged("post_install", "-at_install")
class TestMasterDataIdsAsUser(InvoiceCase):
    """Who may edit customers (Contact Creation) or products (Product
    Creation), Kleer users or not, may not point them at a Kleer record."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.contacts = cls.company_user(
            "kleer_contacts", "base.group_user,base.group_partner_manager"
        )
        cls.billing_contacts = cls.company_user(
            "kleer_billing_contacts",
            "base.group_user,base.group_partner_manager,account.group_account_invoice",
        )
        cls.products = cls.company_user(
            "kleer_products", "base.group_user,product.group_product_manager"
        )
        cls.newcomer = cls.env["res.partner"].create(
            {"name": "Ny Kund AB", "is_company": True, "country_id": cls.env.ref("base.se").id}
        )

    def test_a_customer_cannot_be_pointed_at_another_kleer_client(self):
        """With another customer's Kleer id, this customer's invoices would be
        booked on that client in Kleer, and the client's name and address
        overwritten with this customer's; without the doubt flag, a client
        whose creation's answer was lost would be created twice."""
        self.newcomer.kleer_check_remote = fields.Datetime.now()  # (the connector's)
        for user in (self.contacts, self.billing_contacts):
            newcomer = self.newcomer.with_user(user)
            Partner = self.env["res.partner"].with_user(user)
            for vals in (
                {"kleer_client_id": SEEDED_CLIENT},
                {"kleer_check_remote": False, "name": "Ny Kund AB"},
                {"kleer_sync_hash": "x:y"},
            ):
                with self.subTest(user=user.login, vals=vals), self.assertRaises(AccessError):
                    newcomer.write(vals)
            for vals, context in [
                ({"kleer_client_id": SEEDED_CLIENT}, {}),
                ({}, {"default_kleer_client_id": SEEDED_CLIENT}),
            ]:
                with self.subTest(user=user.login, vals=vals), self.assertRaises(AccessError):
                    Partner.with_context(**context).create(dict(vals, name="Kopia AB"))
            # Their own edits go through.
            newcomer.write({"phone": "+46 8 123 45 67"})
        self.assertFalse(self.newcomer.kleer_client_id)
        # Its first invoice creates its own client in Kleer.
        move = self.consulting_invoice(partner=self.newcomer)
        self.process_queue()
        self.assertEqual(move.kleer_state, "draft")
        self.assertNotEqual(self.newcomer.kleer_client_id, SEEDED_CLIENT)
        self.assertEqual(self.stored(move)["client-ref"]["id"], str(self.newcomer.kleer_client_id))
        seeded = self.sandbox.state.client(self.sandbox.company_id, SEEDED_CLIENT)
        self.assertEqual(seeded["name"], "Kund AB")  # the other client untouched

    def test_contacts_linked_to_kleer_can_still_be_merged(self):
        """Odoo's merge writes every field of the contact it keeps back to
        it: its own Kleer id, unchanged, is no change."""
        duplicate = self.env["res.partner"].create(
            {"name": "Kund AB (dubblett)", "email": self.customer.email}
        )
        # (Odoo's merge reads fields only Access Rights and Invoicing may read.)
        erp = self.company_user(
            "kleer_merge",
            "base.group_user,base.group_erp_manager,base.group_partner_manager,"
            "account.group_account_invoice",
        )
        wizard = self.env["base.partner.merge.automatic.wizard"].with_user(erp)
        wizard._merge((self.customer | duplicate).ids, self.customer)
        self.assertFalse(duplicate.exists())
        self.assertEqual(self.customer.kleer_client_id, SEEDED_CLIENT)

    def test_a_product_cannot_be_pointed_at_another_kleer_product(self):
        self.book.kleer_check_remote = fields.Datetime.now()  # (the connector's)
        book = self.book.with_user(self.products)
        for record, vals in [
            (book, {"kleer_product_id": SEEDED_PRODUCT}),
            (book, {"kleer_check_remote": False}),
            # Through the template's field (computed, with an inverse).
            (book.product_tmpl_id, {"kleer_product_id": SEEDED_PRODUCT}),
        ]:
            with self.subTest(model=record._name, vals=vals), self.assertRaises(AccessError):
                record.write(vals)
        Template = self.env["product.template"].with_user(self.products)
        # A new template's inverse runs before its variant exists: a no-op.
        created = Template.create({"name": "Kopia", "kleer_product_id": SEEDED_PRODUCT})
        self.assertFalse(created.product_variant_id.kleer_product_id)
        with self.assertRaises(AccessError):
            self.env["product.product"].with_user(self.products).create(
                {"name": "Kopia 2", "kleer_product_id": SEEDED_PRODUCT}
            )
        book.write({"list_price": 250})
        self.assertFalse(self.book.kleer_product_id)


@tagged("post_install", "-at_install")
class TestPullTakesNoUsersContact(KleerCase):
    def test_a_kleer_client_cannot_take_over_a_users_contact(self):
        """The customers pull adopts the partner a Kleer client names by its
        foreign-id (or VAT) and writes Kleer's name and e-mail on it. Anyone
        who edits clients in Kleer could name the partner of an Odoo user
        (the address Odoo sends that user's password reset to) or the
        company's own: those stay Odoo's, the client comes in as a partner of
        its own."""
        admin = self.env.ref("base.user_admin").partner_id
        own = self.company.partner_id
        before = {partner: (partner.name, partner.email) for partner in admin | own}
        for partner in admin | own:
            client = client_element(
                "Angripare AB",
                "",
                "angripare@example.com",
                _address("Väg 1", "123 45", "Umeå"),
                1,
                "Organisation",
            )
            client.find("foreign-id").text = partner_foreign_id(partner.id)
            self.sandbox.state.create_client(self.sandbox.company_id, client)
        self.company.kleer_customer_sync = "from_kleer"
        self.assertTrue(self.env["kleer.sync"]._run_sync("customers", self.company))
        self.env.invalidate_all()
        for partner, (name, email) in before.items():
            self.assertEqual((partner.name, partner.email), (name, email))
            self.assertFalse(partner.kleer_client_id)
        Partner = self.env["res.partner"]
        self.assertEqual(Partner.search_count([("email", "=", "angripare@example.com")]), 2)
