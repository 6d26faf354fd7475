"""Plain data objects exchanged with Kleer (no XML, no Odoo).

Money is int öre, rates and quantities are Decimal, dates are datetime.date.
A list left as ``None`` is omitted from the XML, which Kleer reads as
"leave unchanged" on updates.
"""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal


@dataclass
class Address:
    address1: str = ""
    address2: str = ""
    zip_code: str = ""
    # Kleer has no city element: integrations put the postal town here.
    state: str = ""
    country: str = ""


@dataclass
class Client:
    name: str
    foreign_id: str = ""
    id: int = 0
    contact: str = ""  # the client's contact person ("Er referens")
    address: Address = field(default_factory=Address)
    email: str = ""
    client_type: str | None = None  # "Organisation" | "Person"
    country_code: str = ""
    currency: str | None = None
    notes: str | None = None
    payment_days: int = 0
    orgno: str = ""
    phone: str = ""
    user_id: int = 0  # responsible Kleer user ("Vår referens")
    delivery_type: str | None = None
    vat_nr: str | None = None
    dimension_entry_ids: list | None = None
    active: bool | None = True


@dataclass
class Product:
    name: str
    foreign_id: str = ""
    id: int = 0
    type: str | None = None  # "Goods" | "Services" | "DigitalServices"
    unit: str = ""
    price: int = 0  # öre, VAT excluded
    dimension_entry_ids: list | None = None
    account_nr: int | None = None
    vat_percentage: Decimal | None = None  # 25 means 25 %


@dataclass
class User:
    id: int
    name: str
    email: str = ""
    active: bool = True
    foreign_id: str | None = None
    dimension_entry_id: int | None = None


@dataclass
class Dimension:
    id: int
    name: str
    foreign_id: str | None = None
    description: str = ""
    active: bool = True


@dataclass
class DimensionEntry:
    name: str
    id: int = 0
    foreign_id: str | None = None
    description: str = ""
    start_date: date | None = None
    end_date: date | None = None
    active: bool = True


@dataclass
class CompanyInfo:
    name: str
    orgno: str
    accounting_currency: str
    supplier_invoice_email: str = ""
    bankgiro: int | None = None


@dataclass
class DeliveryType:
    name: str
    default: bool = False


@dataclass
class ExchangeRate:
    from_currency: str
    to_currency: str
    rate: Decimal  # units of to_currency for one unit of from_currency


@dataclass
class File:
    filename: str
    data: bytes


@dataclass
class InvoiceRow:
    product_id: int
    quantity: Decimal
    price: int  # öre per unit, VAT excluded
    vat: Decimal  # percent: 25 means 25 %
    unit: str = ""
    description: str = ""
    discount_percentage: Decimal | None = None  # percent: 10 means 10 %
    discount_absolute: int | None = None  # öre
    period: tuple | None = None  # (start date, end date) accrual period
    dimension_entry_ids: list = field(default_factory=list)
    delivery_date: date | None = None
    id: int = 0


@dataclass
class Invoice:
    client_id: int
    invoice_date: date
    due_date: date
    currency: str
    rows: list = field(default_factory=list)
    foreign_id: str = ""
    delivery_date: date | None = None  # defaults to the invoice date
    currency_rate: Decimal | None = None  # accounting currency per unit
    debit_invoice_nr: int | None = None  # set on credit notes
    po_nr: str = ""
    your_reference: str = ""
    our_reference_id: int = 0
    invoice_address: Address = field(default_factory=Address)
    invoice_email: str = ""
    delivery_name: str = ""
    delivery_address: Address = field(default_factory=Address)
    delivery_email: str = ""
    period: tuple | None = None
    notes: str | None = None
    delivery_type: str | None = None
    vat_nr: str | None = None
    country_code: str | None = None
    files: list | None = None
    # Set by Kleer, read back only.
    id: int = 0
    invoice_nr: int = 0
    certified: bool = False
    sent: bool = False
    amount: int | None = None
    vat_amount: int | None = None
    remaining: int = 0  # öre, invoice currency; 0 while uncertified
    last_payment_date: date | None = None
    disabled: bool = False
    credit_invoice_ids: list = field(default_factory=list)


@dataclass
class InvoicePage:
    invoices: list
    offset: int
    limit: int
    size: int
