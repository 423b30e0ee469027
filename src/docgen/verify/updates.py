"""What may follow an issued letter's signature: validation data and document timestamps only.

After docgen signs a letter, the only updates it (or ``docgen timestamp``) ever appends are the
document security store (``/DSS``, with its ``/VRI`` entries and the certificates, OCSP
responses and CRLs they hold) and document timestamps (an invisible signature field with a
``/DocTimeStamp`` value). Writing those, pyHanko also rewrites a few objects that already
existed: the catalog (to point at the ``/DSS``), the form (``/Fields`` gains the timestamp
field), the page that holds the timestamp's widget (``/Annots`` gains it), and the metadata
(only its modification date and producer change).

:func:`check_updates` holds every update to exactly that. Each object an update writes is either
an existing object rewritten unchanged, one of those rewrites changed only where allowed
(compared with the *signed* revision, so changes cannot accumulate), or a new object that the
document security store or a new document timestamp uses, in the shape those have. Anything
else — a new page, content, annotation, font, form value, metadata edit, attachment, or an
object nothing uses — is a change after signing, and :class:`StructureError` says which.

Example::

    check_updates(reader, signed_index, updates, data)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from xml.etree import ElementTree

from asn1crypto import cms, crl, ocsp, x509
from asn1crypto import core as asn1core
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from docgen.verify.pdfsyntax import (
    MAX_DEPTH,
    Name,
    PdfValue,
    Ref,
    Stream,
    StructureError,
    decode_stream,
)
from docgen.verify.revisions import Update, check_gap

__all__ = ["CHANGED", "check_updates", "from_pyhanko"]

CHANGED = "the file was changed after signing"
"""How every change after signing begins its description."""
# keys a cross-reference stream's dictionary carries beside the trailer's own
_XREF_STREAM_KEYS = {"/Type", "/W", "/Index", "/Filter", "/DecodeParms", "/Length"}
_TRAILER_KEYS = {"/Size", "/Root", "/Info", "/ID", "/Prev"}
# What pyHanko updates in the metadata whenever it writes: the modification date, and the
# producer, to which it adds its own name and version. Each may change only that way: a free
# text there would reach a viewer's document properties from a letter still VALID.
# the name and label pyHanko gives a document timestamp's field: no free text for a viewer
_TIMESTAMP_FIELD = re.compile(
    rb"Timestamp-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
_TIMESTAMP_LABEL = b"Timestamp"
_VENDOR = re.compile(r"pyHanko \d[0-9A-Za-z.+-]{0,40}")
_PDF_DATE = re.compile(rb"D:\d{4}(?:\d{2}){0,5}(?:Z|[+-]\d{2}'?(?:\d{2}'?)?)?")
_XMP_DATE = re.compile(
    r"\d{4}(?:-\d{2}(?:-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})?)?)?)?"
)
_XMP_DATES = {
    "{http://ns.adobe.com/xap/1.0/}ModifyDate",
    "{http://ns.adobe.com/xap/1.0/}MetadataDate",
}
_XMP_VENDORS = {"{http://ns.adobe.com/pdf/1.3/}Producer", "{adobe:ns:meta/}xmptk"}
_VOLATILE_XMP = _XMP_DATES | _XMP_VENDORS
_RDF_DESCRIPTION = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}Description"
_MAX_XMP = 1024 * 1024

# The shapes of the objects validation data and document timestamps consist of: the keys each
# may have. A value's own shape is checked where the role is assigned (see _Roles).
_SHAPES = {
    "dss": {"/Type", "/Certs", "/OCSPs", "/CRLs", "/VRI"},
    "table": None,  # /VRI: any key (a certificate's hash), each an entry
    "vri": {"/Type", "/Cert", "/OCSP", "/CRL", "/TU", "/TS"},
    **{kind: {"/Length", "/Filter", "/DecodeParms"} for kind in ("cert", "ocsp", "crl", "token")},
    "field": {"/FT", "/T", "/Type", "/Subtype", "/F", "/Rect", "/P", "/TU", "/V"},
    "timestamp": {"/Type", "/Filter", "/SubFilter", "/Contents", "/ByteRange", "/M"},
}
_DESCRIPTIONS = {
    "dss": "the validation data store",
    "table": "the validation data table",
    "vri": "validation data",
    "cert": "a certificate",
    "ocsp": "an OCSP response",
    "crl": "a CRL",
    "token": "a timestamp token",
    "field": "a document timestamp field",
    "timestamp": "a document timestamp",
}


def changed(detail: str) -> StructureError:
    """The error for a change after signing, worded for the report."""
    return StructureError(f"{CHANGED}: {detail}")


def from_pyhanko(value: object, depth: int = 0) -> PdfValue:
    """A pyHanko object as this package's plain values, references left unresolved."""
    if depth > MAX_DEPTH:
        raise StructureError(f"objects nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, generic.IndirectObject):
        return Ref(value.idnum, value.generation)
    if isinstance(value, generic.StreamObject):
        items = {Name(key): from_pyhanko(item, depth + 1) for key, item in dict.items(value)}
        return Stream(items, value.encoded_data)
    if isinstance(value, generic.DictionaryObject):
        return {Name(key): from_pyhanko(item, depth + 1) for key, item in dict.items(value)}
    if isinstance(value, generic.ArrayObject):
        return [from_pyhanko(item, depth + 1) for item in list.__iter__(value)]
    if isinstance(value, generic.BooleanObject):
        return bool(value.value)
    if isinstance(value, generic.NullObject) or value is None:
        return None
    if isinstance(value, generic.NameObject):
        return Name(str(value))
    if isinstance(value, generic.TextStringObject):
        return bytes(value.original_bytes)
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, generic.FloatObject):
        return Decimal(value)
    if isinstance(value, int):
        return int(value)
    raise StructureError(f"an object of an unexpected kind ({type(value).__name__})")


class _Signed:
    """The signed revision as pyHanko reads it (that revision is the signature's to vouch for)."""

    def __init__(self, reader: PdfFileReader, index: int):
        self._reader = reader
        self._index = index
        self._history = reader.get_historical_resolver(index)
        self._cache: dict[int, PdfValue] = {}
        trailer = from_pyhanko(self._history.trailer_view)
        assert isinstance(trailer, dict)
        self.trailer = trailer
        root = trailer.get(Name("/Root"))
        if not isinstance(root, Ref):
            raise StructureError("the signed revision has no catalog")
        self.root = root
        catalog = self.value(root.number)
        if not isinstance(catalog, dict):
            raise StructureError("the signed revision's catalog is not a dictionary")
        self.catalog = catalog

    def has(self, number: int) -> bool:
        """Whether the signed revision has object ``number`` (letters use generation 0 only)."""
        location = self._reader.xrefs.get_historical_ref(generic.Reference(number), self._index)
        return location is not None

    def value(self, number: int) -> PdfValue:
        """Object ``number`` as the signed revision has it."""
        if number not in self._cache:
            found = self._history.get_object(generic.Reference(number))
            self._cache[number] = from_pyhanko(found)
        return self._cache[number]


def check_updates(
    reader: PdfFileReader, signed_index: int, updates: list[Update], data: bytes
) -> None:
    """Raise :class:`StructureError` unless every update holds only what may follow."""
    if not updates:
        return
    signed = _Signed(reader, signed_index)
    state: dict[int, PdfValue] = {}  # objects as the updates so far left them
    introduced: dict[int, Update] = {}  # objects new since the signature, and where from
    roles = _Roles(signed, state, introduced, data)
    for update in updates:
        _check_trailer(update, signed.trailer)
        for number, written in sorted(update.objects.items()):
            if number == update.xref_stream:
                continue
            if written.generation != 0:
                raise changed(f"object {number} was written with generation {written.generation}")
            if number in introduced or not signed.has(number):
                introduced.setdefault(number, update)
            elif written.value != signed.value(number):
                _check_rewrite(signed, number, written.value)
            state[number] = written.value
        roles.check()


def _check_trailer(update: Update, signed: dict[Name, PdfValue]) -> None:
    trailer = update.trailer
    allowed = _TRAILER_KEYS | (_XREF_STREAM_KEYS if update.xref_stream is not None else set())
    for key, value in trailer.items():
        if key in ("/Root", "/Info") and value != signed.get(key):
            raise changed(f"an update's trailer names another {key[1:]}")
        if key not in allowed and value != signed.get(key):
            raise changed(f"an update's trailer adds or changes {key}")
    for needed in ("/Root", "/Info"):
        if (Name(needed) in signed) != (Name(needed) in trailer):
            raise changed(f"an update's trailer drops or adds {needed[1:]}")
    identifier, original = trailer.get(Name("/ID")), signed.get(Name("/ID"))
    if isinstance(original, list) and (
        not isinstance(identifier, list) or len(identifier) != 2 or identifier[0] != original[0]
    ):
        raise changed("an update changes the document's permanent identifier")


def _check_rewrite(signed: _Signed, number: int, new: PdfValue) -> None:
    """An object of the signed revision, rewritten: only the changes validation data makes."""
    old = signed.value(number)
    catalog = signed.catalog
    if number == signed.root.number:
        _same_except(old, new, "the catalog", {"/DSS": _is_ref, "/AcroForm": _form_or_ref})
    elif _refers(catalog.get(Name("/AcroForm")), number):
        _form(old, new)
    elif _refers(catalog.get(Name("/Metadata")), number):
        _metadata(old, new)
    elif _refers(signed.trailer.get(Name("/Info")), number):
        _same_except(
            old, new, "the document information", {"/ModDate": _pdf_date, "/Producer": _producer}
        )
    elif isinstance(old, dict) and old.get(Name("/Type")) == "/Page":
        _same_except(old, new, f"page object {number}", {"/Annots": _appended})
    else:
        raise changed(f"object {number} ({_kind(old)}) was rewritten with different content")


def _refers(value: PdfValue, number: int) -> bool:
    return isinstance(value, Ref) and value.number == number


def _kind(value: PdfValue) -> str:
    """A few words on what an object is, for a report: ``a /Page dictionary``."""
    dictionary = value.dictionary if isinstance(value, Stream) else value
    noun = "stream" if isinstance(value, Stream) else "dictionary"
    if not isinstance(dictionary, dict):
        return f"a {type(value).__name__}"
    kind = dictionary.get(Name("/Type")) or dictionary.get(Name("/Subtype"))
    return f"a {kind} {noun}" if isinstance(kind, Name) else f"a {noun}"


_Rule = Callable[[PdfValue, PdfValue, str], None]


def _same_except(old: PdfValue, new: PdfValue, what: str, rules: dict[str, _Rule]) -> None:
    """``new`` equals ``old`` but for the keys ``rules`` allow, each as its rule allows."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        raise changed(f"{what} was replaced by another kind of object")
    for key in old.keys() | new.keys():
        rule = rules.get(key)
        if rule is not None:
            rule(old.get(key), new.get(key), f"{what}'s {key}")
        elif old.get(key) != new.get(key):
            raise changed(f"{what}'s {key} was changed")


def _any(old: PdfValue, new: PdfValue, what: str) -> None:
    """Any value: a modification date and producer change whenever pyHanko writes."""


def _pdf_date(old: PdfValue, new: PdfValue, what: str) -> None:
    """A modification date: any date, nothing else."""
    if new != old and not (isinstance(new, bytes) and _PDF_DATE.fullmatch(new)):
        raise changed(f"{what} is not a date")


def _producer(old: PdfValue, new: PdfValue, what: str) -> None:
    """The producer as it was, or with pyHanko's name and version added as pyHanko adds them."""
    if new == old:
        return
    after, before = _text(new), _text(old)
    added = after if old is None else None
    if after is not None and before is not None and after.startswith(f"{before}; "):
        added = after[len(before) + 2 :]
    if added is not None and _VENDOR.fullmatch(added):
        return
    raise changed(f"{what} was changed to something else than pyHanko's own name")


def _text(value: PdfValue) -> str | None:
    """A PDF text string's text (UTF-16 with its mark, else PDFDocEncoding read as Latin-1)."""
    if not isinstance(value, bytes):
        return None
    if value.startswith(b"\xfe\xff"):
        try:
            return value[2:].decode("utf-16-be")
        except UnicodeDecodeError:
            return None
    return value.decode("latin-1")


def _is_ref(old: PdfValue, new: PdfValue, what: str) -> None:
    if old != new and not isinstance(new, Ref):
        raise changed(f"{what} is not a reference")


def _appended(old: PdfValue, new: PdfValue, what: str) -> None:
    """An array that only gained references at its end (each checked by its role)."""
    before = [] if old is None else old
    if (
        not isinstance(before, list)
        or not isinstance(new, list)
        or new[: len(before)] != before
        or not all(isinstance(item, Ref) for item in new[len(before) :])
    ):
        raise changed(f"{what} was changed, not only appended to")


def _form(old: PdfValue, new: PdfValue) -> None:
    _same_except(old, new, "the form", {"/Fields": _appended, "/SigFlags": _sig_flags})


def _form_or_ref(old: PdfValue, new: PdfValue, what: str) -> None:
    if isinstance(old, dict):  # a form written inside the catalog itself
        _form(old, new)
    elif old != new:
        raise changed(f"{what} was changed")


def _sig_flags(old: PdfValue, new: PdfValue, what: str) -> None:
    if new not in (old, 3):
        raise changed(f"{what} was changed")


def _metadata(old: PdfValue, new: PdfValue) -> None:
    if not isinstance(old, Stream) or not isinstance(new, Stream):
        raise changed("the metadata was replaced by another kind of object")
    _same_except(old.dictionary, new.dictionary, "the metadata", {"/Length": _any})
    before, was = _xmp_facts(decode_stream(old))
    after, now = _xmp_facts(decode_stream(new))
    if before != after:
        raise changed("the document's metadata (XMP) was changed")
    for key, value in now - was:
        _volatile_xmp(key, value)


def _xmp_facts(xml: bytes) -> tuple[object, set[tuple[str, str]]]:
    """The XMP packet's content without the values pyHanko updates on every write, and those.

    Those values (dates, the producer) are left out of the content only where pyHanko writes
    them: as attributes, or as elements directly in an ``rdf:Description``, holding a value
    and followed by no text. A new value must be of its kind (see :func:`_volatile_xmp`). A
    packet must be plain UTF-8 with no document type: another encoding (UTF-16, say) would
    hide a DTD from the check for one.
    """
    try:
        text = xml.decode("utf-8")
    except UnicodeDecodeError:
        text = "\x00"
    if len(xml) > _MAX_XMP or "\x00" in text or "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise changed("the metadata (XMP) is not a plain XMP packet")
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        raise changed("the metadata (XMP) does not parse") from None

    volatile: set[tuple[str, str]] = set()

    def facts(element: ElementTree.Element, depth: int) -> object:
        if depth > MAX_DEPTH:
            raise changed("the metadata (XMP) is nested too deeply")
        volatile.update((k, v.strip()) for k, v in element.attrib.items() if k in _VOLATILE_XMP)
        children = []
        for child in element:
            if child.tag in _VOLATILE_XMP and element.tag == _RDF_DESCRIPTION:
                if len(child) or child.attrib or (child.tail or "").strip():
                    raise changed("the metadata (XMP) has a date or producer holding more")
                volatile.add((child.tag, (child.text or "").strip()))
            else:
                children.append(facts(child, depth + 1))
        return (
            element.tag,
            sorted(
                (key, value) for key, value in element.attrib.items() if key not in _VOLATILE_XMP
            ),
            (element.text or "").strip(),
            (element.tail or "").strip(),
            children,
        )

    content = facts(root, 0)
    return content, volatile


def _volatile_xmp(key: str, value: str) -> None:
    """A new date must be a date, a new producer or toolkit pyHanko's name and version."""
    pattern = _XMP_DATE if key in _XMP_DATES else _VENDOR
    if not pattern.fullmatch(value):
        raise changed(f"the metadata (XMP) has {value[:40]!r} where pyHanko writes")


class _Roles:
    """Every object added since the signature must serve validation data or a timestamp."""

    def __init__(
        self,
        signed: _Signed,
        state: dict[int, PdfValue],
        introduced: dict[int, Update],
        data: bytes,
    ):
        self._signed = signed
        self._state = state
        self._introduced = introduced
        self._file = data
        # an object keeps the role it was first given: pyHanko replaces validation data
        # entries when it refreshes them, leaving the old ones in the file, unused
        self._roles: dict[int, str] = {}
        self._reached: set[int] = set()

    def _value(self, number: int) -> PdfValue:
        return self._state[number] if number in self._state else self._signed.value(number)

    def check(self) -> None:
        """Assign each added object its role from the catalog down; refuse what is left over.

        Called after each update, on the state it leaves: objects given a role earlier but no
        longer used must still have that role's shape.
        """
        self._reached = set()
        catalog = self._value(self._signed.root.number)
        assert isinstance(catalog, dict)
        store = catalog.get(Name("/DSS"))
        if store is not None:
            self._assign(store, "dss")
        fields = list(self._added_fields(catalog))
        widgets = list(self._added_widgets())
        if sorted(fields, key=repr) != sorted(widgets, key=repr):
            raise changed("an annotation or form field other than a document timestamp was added")
        for field in fields:
            self._assign(field, "field")
        for number, role in list(self._roles.items()):
            if number not in self._reached:
                self._reached.add(number)
                self._shape(self._value(number), role, f"object {number}", number)
        unused = sorted(set(self._introduced) - set(self._roles))
        if unused:
            value = self._value(unused[0])
            raise changed(
                f"object {unused[0]} ({_kind(value)}) was added, and it is neither validation "
                "data nor a document timestamp"
            )

    def _added_fields(self, catalog: dict[Name, PdfValue]) -> Iterator[PdfValue]:
        form = catalog.get(Name("/AcroForm"))
        signed_form = self._signed.catalog.get(Name("/AcroForm"))
        if isinstance(form, Ref):
            number = form.number
            form, signed_form = self._value(number), self._signed.value(number)
        fields = form.get(Name("/Fields"), []) if isinstance(form, dict) else []
        before = signed_form.get(Name("/Fields"), []) if isinstance(signed_form, dict) else []
        assert isinstance(fields, list) and isinstance(before, list)
        yield from fields[len(before) :]

    def _added_widgets(self) -> Iterator[PdfValue]:
        for number, value in self._state.items():
            if number in self._introduced or not isinstance(value, dict):
                continue
            old = self._signed.value(number)
            before = old.get(Name("/Annots"), []) if isinstance(old, dict) else []
            after = value.get(Name("/Annots"), [])
            assert isinstance(before, list) and isinstance(after, list)
            yield from after[len(before) :]

    def _assign(self, value: PdfValue, role: str) -> None:
        """Give the object ``value`` refers to ``role`` (or check a direct value's shape)."""
        if not isinstance(value, Ref):
            if role in ("dss", "table", "vri"):
                self._shape(value, role, "a direct value", None)
                return
            raise changed(f"{_DESCRIPTIONS[role]} is not a reference to an added object")
        number = value.number
        if number not in self._introduced or value.generation != 0:
            raise changed(
                f"{_DESCRIPTIONS[role]} refers to object {number}, which was not added with it"
            )
        known = self._roles.setdefault(number, role)
        if known != role:
            raise changed(f"object {number} is used both as {_DESCRIPTIONS[known]} and otherwise")
        if number not in self._reached:
            self._reached.add(number)
            self._shape(self._value(number), role, f"object {number}", number)

    def _shape(self, value: PdfValue, role: str, what: str, number: int | None) -> None:
        dictionary = value.dictionary if isinstance(value, Stream) else value
        if (role in _DER) != isinstance(value, Stream) or not isinstance(dictionary, dict):
            raise changed(f"{what} is not in the shape of {_DESCRIPTIONS[role]}")
        # what the object is comes first (a text field is no timestamp field), then its keys
        if role == "timestamp":
            assert number is not None
            self._timestamp(dictionary, what, self._introduced[number])
        elif isinstance(value, Stream):
            _der(value, role, what)
        else:
            getattr(self, f"_{role}")(dictionary, what)
        allowed = _SHAPES[role]
        extra = sorted(set(dictionary) - allowed) if allowed is not None else []
        if extra:
            raise changed(f"{what}, {_DESCRIPTIONS[role]}, carries {extra[0]}")

    def _validation_data(
        self, dictionary: dict[Name, PdfValue], keys: tuple[str, str, str], what: str
    ) -> None:
        """The arrays of certificates, OCSP responses and CRLs, named ``keys`` in that order."""
        for key, role in zip(keys, ("cert", "ocsp", "crl"), strict=True):
            if key not in dictionary:
                continue
            value = dictionary[Name(key)]
            if not isinstance(value, list):
                raise changed(f"{what}'s {key} is not an array")
            for item in value:
                self._assign(item, role)

    def _dss(self, dss: dict[Name, PdfValue], what: str) -> None:
        _expect_name(dss, "/Type", "/DSS", what, optional=True)
        self._validation_data(dss, ("/Certs", "/OCSPs", "/CRLs"), what)
        if Name("/VRI") in dss:
            self._assign(dss[Name("/VRI")], "table")

    def _table(self, table: dict[Name, PdfValue], what: str) -> None:
        for entry in table.values():
            self._assign(entry, "vri")

    def _vri(self, vri: dict[Name, PdfValue], what: str) -> None:
        _expect_name(vri, "/Type", "/VRI", what, optional=True)
        self._validation_data(vri, ("/Cert", "/OCSP", "/CRL"), what)
        if Name("/TS") in vri:
            self._assign(vri[Name("/TS")], "token")
        if Name("/TU") in vri and not isinstance(vri[Name("/TU")], bytes):
            raise changed(f"{what}'s /TU is not a date")

    def _field(self, field: dict[Name, PdfValue], what: str) -> None:
        _expect_name(field, "/FT", "/Sig", what)
        _expect_name(field, "/Type", "/Annot", what, optional=True)
        _expect_name(field, "/Subtype", "/Widget", what)
        name, label = field.get(Name("/T")), field.get(Name("/TU"), _TIMESTAMP_LABEL)
        if not isinstance(name, bytes) or not _TIMESTAMP_FIELD.fullmatch(name):
            raise changed(f"{what}, a document timestamp field, has a name pyHanko does not give")
        if label != _TIMESTAMP_LABEL:
            raise changed(f"{what}, a document timestamp field, has a label pyHanko does not give")
        rect = field.get(Name("/Rect"))
        if not isinstance(rect, list) or len(rect) != 4 or any(side != 0 for side in rect):
            raise changed(f"{what}, a document timestamp field, is visible on the page")
        page = field.get(Name("/P"))
        if page is not None and (not isinstance(page, Ref) or page.number not in self._state):
            raise changed(f"{what}, a document timestamp field, names a page it is not on")
        self._assign(field.get(Name("/V")), "timestamp")

    def _timestamp(self, stamp: dict[Name, PdfValue], what: str, update: Update) -> None:
        _expect_name(stamp, "/Type", "/DocTimeStamp", what)
        _expect_name(stamp, "/SubFilter", "/ETSI.RFC3161", what)
        _pdf_date(None, stamp.get(Name("/M")), f"{what}'s /M")
        byte_range = stamp.get(Name("/ByteRange"))
        if (
            not isinstance(byte_range, list)
            or len(byte_range) != 4
            or not all(type(value) is int for value in byte_range)
        ):
            raise changed(f"{what}, a document timestamp, has a malformed /ByteRange")
        start, first, second, length = (int(value) for value in byte_range)  # type: ignore[arg-type]
        if start != 0 or second + length != update.end or not 0 < first < second:
            raise changed(f"{what}, a document timestamp, does not cover its revision exactly")
        check_gap(self._file, first, second)


# what each kind of validation data stream holds: exactly one DER value of this type (its first
# field read, so that random bytes do not pass for one), and nothing after it
_DER: dict[str, tuple[type[asn1core.Asn1Value], str]] = {
    "cert": (x509.Certificate, "tbs_certificate"),
    "ocsp": (ocsp.OCSPResponse, "response_status"),
    "crl": (crl.CertificateList, "tbs_cert_list"),
    "token": (cms.ContentInfo, "content_type"),
}


def _der(stream: Stream, role: str, what: str) -> None:
    """A validation data stream must hold one DER value of its kind, and nothing else."""
    kind, first_field = _DER[role]
    data = decode_stream(stream)
    try:
        value = kind.load(data, strict=True)
        value[first_field]
    except (ValueError, TypeError, KeyError) as error:
        raise changed(
            f"{what} should hold {_DESCRIPTIONS[role]} and nothing else, but does not ({error})"
        ) from None


def _expect_name(
    dictionary: dict[Name, PdfValue], key: str, name: str, what: str, *, optional: bool = False
) -> None:
    value = dictionary.get(Name(key))
    if value != name and not (optional and value is None):
        raise changed(f"{what} has {key} {value!r}, not {name}")
