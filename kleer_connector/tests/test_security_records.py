"""What the queue acts on, as the users who may edit the records: an
invoice's Kleer state and ids, a customer's Kleer client, a product's Kleer
product. A person who may edit the record may not set these (over RPC, or
through a create, a default or a computed field's inverse): each would keep
an invoice out of Kleer's books or put it on another Kleer record."""

from odoo.exceptions import AccessError
from odoo.tests import tagged

from .test_invoice_common import InvoiceCase


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
