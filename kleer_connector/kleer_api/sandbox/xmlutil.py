# Copyright 2026 kleer_connector developers
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""XML helpers of the sandbox: safe parsing, XSD validation, ordered edits, dict views."""

import functools
import pathlib
import threading

from lxml import etree

SCHEMA_PATH = pathlib.Path(__file__).resolve().parent.parent / "schema" / "kleer-api.xsd"
XS_NS = "http://www.w3.org/2001/XMLSchema"
MAX_BODY = 20 * 1024 * 1024  # bytes; larger request bodies are answered 413

_tls = threading.local()
# lxml documents that validators should not be shared between threads unguarded.
_schema_lock = threading.Lock()

# Containers whose children form a list (maxOccurs="unbounded" in the XSD):
# to_dict turns them into lists.
LIST_CONTAINERS = frozenset(
    {
        "accruals",
        "aggregated-invoices",
        "client-broker",
        "client-delivery-types",
        "client-invoices",
        "clients",
        "credit-invoices",
        "dimension-entries",
        "dimensions",
        "fields",
        "files",
        "invoice-deliveries",
        "products",
        "reinvoicings",
        "rows",
        "users",
    }
)


class XmlError(ValueError):
    """A body that is not acceptable XML (syntax, DOCTYPE, size)."""


def _parser():
    # One parser per thread: lxml parsers keep state while parsing.
    parser = getattr(_tls, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            huge_tree=False,
            load_dtd=False,
            remove_blank_text=True,
            remove_comments=True,
            remove_pis=True,
        )
        _tls.parser = parser
    return parser


def parse_xml(data):
    """Parse untrusted XML bytes; refuse DOCTYPEs (entity bombs, external entities)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not data or not data.strip():
        raise XmlError("request body is empty")
    if len(data) > MAX_BODY:
        raise XmlError("request body is too large")
    if b"<!DOCTYPE" in data:
        raise XmlError("DOCTYPE is not allowed")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise XmlError(f"malformed XML: {exc}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise XmlError("DOCTYPE is not allowed")
    return root


@functools.lru_cache(maxsize=1)
def _xsd_document():
    return etree.parse(str(SCHEMA_PATH), etree.XMLParser(resolve_entities=False, no_network=True))


@functools.lru_cache(maxsize=1)
def schema():
    """The Kleer XSD, loaded once per process."""
    return etree.XMLSchema(_xsd_document())


def schema_errors(element):
    """Validation messages for ``element`` against the XSD; empty when valid."""
    xsd = schema()
    with _schema_lock:
        if xsd.validate(element):
            return []
        return [f"line {e.line}: {e.message}" if e.line else e.message for e in xsd.error_log]


@functools.cache
def xsd_sequence(type_name):
    """Child element names, in order, of the XSD complexType ``type_name``."""
    names = _xsd_document().xpath(
        "/xs:schema/xs:complexType[@name=$n]/xs:sequence/xs:element/@name",
        namespaces={"xs": XS_NS},
        n=type_name,
    )
    if not names:
        raise KeyError(type_name)
    return tuple(str(n) for n in names)


def to_bytes(element):
    return etree.tostring(element, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def el(tag, text=None, *children):
    """Small builder: el("user", None, el("id", "1"))."""
    node = etree.Element(tag)
    if text is not None:
        node.text = str(text)
    for child in children:
        if child is not None:
            node.append(child)
    return node


def child(parent, tag):
    """The direct child named ``tag`` or None."""
    for node in parent:
        if node.tag == tag:
            return node
    return None


def child_text(parent, path, default=""):
    """Text of a direct-descendant path like ``client-ref/id``; ``default`` when absent."""
    node = parent
    for tag in path.split("/"):
        node = child(node, tag)
        if node is None:
            return default
    return node.text if node.text is not None else ""


def insert_ordered(parent, node, order):
    """Insert ``node`` before the first sibling that the XSD sequence ``order`` puts after it."""
    later = set(order[order.index(node.tag) + 1 :])
    for index, sibling in enumerate(parent):
        if sibling.tag in later:
            parent.insert(index, node)
            return node
    parent.append(node)
    return node


def set_child(parent, tag, text, order):
    """Set the text of child ``tag``, creating it at its XSD position if absent."""
    node = child(parent, tag)
    if node is None:
        node = insert_ordered(parent, etree.Element(tag), order)
    node.text = None if text is None else str(text)
    return node


def remove_child(parent, tag):
    node = child(parent, tag)
    if node is not None:
        parent.remove(node)
    return node


def to_dict(element):
    """Plain view of an element: leaves become strings, list containers lists, others dicts."""
    if element.tag in LIST_CONTAINERS:
        return [to_dict(node) for node in element]
    if len(element) == 0:
        return element.text or ""
    return {node.tag: to_dict(node) for node in element}
