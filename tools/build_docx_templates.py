"""Build the DOCX letter templates in ``templates/docx/`` with python-docx.

Run from the project root::

    .venv/bin/python tools/build_docx_templates.py [FOLDER]

The output is deterministic (fixed document properties, fixed ZIP timestamps), so rebuilding
without changes to this script leaves the files byte-for-byte the same.

The templates are docxtpl (Jinja2) templates and use only the names of ``docgen.context``
(``letter``, ``request``, ``service``, ``dg``, ``agency``, ``esign``) and the filters of
``docgen.formatting``. Every ``{{ ... }}`` tag is written in one run; ``{%tr %}`` and ``{%p %}``
tags sit in rows and paragraphs of their own.

Geometry the renderer relies on (A4, every page):

* margins: left 2.5 cm, right 2 cm, top 2 cm, bottom 2 cm; footer distance 0.8 cm;
* the top 1.6 cm stay free (header distance 1.6 cm): a draft's stamp (120 mm x 11 mm, 10 pt below
  the top edge) covers them, so not even the first page's letterhead may start higher;
* letterhead (first page): the emblem (``templates/assets/logo.svg``, as a picture) left of the
  centred name and address, a double rule under both;
* footer, every page: the letter number at the left, "Halaman X dari Y" at the right;
* signature: an empty paragraph exactly 3 cm high between the signatory's title and name,
  reserved for the visible electronic signature;
* e-signature notice, after the signature and the copies: a two-column borderless table whose
  left cell is an empty 2.4 cm x 2.4 cm square, reserved for the verification QR code, flush
  with the left margin. The signature, the copies and the notice sit in one table row that may
  not split, so a page break never parts them (as div.signing-block in the HTML letters).

Goods tables keep every value inside its cell: LibreOffice breaks a word too long for its column,
every quantity column takes a quantity of up to 13 characters (``1.000.000.000``) on one line,
and a longer quantity carries a zero-width space after each thousands separator, so it wraps
there and never inside a group of digits.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from docx import Document
from docx.blkcntnr import BlockItemContainer
from docx.document import Document as DocxDocument
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING, WD_TAB_ALIGNMENT
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.section import Section
from docx.shared import Cm, Pt, RGBColor
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph
from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "templates" / "docx"
LOGO = ROOT / "templates" / "assets" / "logo.svg"

FONT = "Liberation Serif"
BODY_PT = 12
TEXT_WIDTH_CM = 16.5  # 21 cm minus margins of 2.5 cm (left) and 2 cm (right)
FIXED_TIME = datetime(2026, 1, 1, 0, 0, 0)
ZIP_TIME = (2026, 1, 1, 0, 0, 0)
STYLES_WITH_EFFECTS = "http://schemas.microsoft.com/office/2007/relationships/stylesWithEffects"

Align = WD_ALIGN_PARAGRAPH
Container = BlockItemContainer | DocxDocument


# --------------------------------------------------------------------------- low-level helpers


def twips(cm: float) -> int:
    """Centimetres in twentieths of a point, as WordprocessingML measures most lengths."""
    return round(cm * 567)


def child(parent: BaseOxmlElement, tag: str, **attrs: str) -> BaseOxmlElement:
    """Append a new ``tag`` element to ``parent`` with ``w:`` attributes."""
    element = OxmlElement(tag)
    for name, value in attrs.items():
        element.set(qn(f"w:{name}"), value)
    parent.append(element)
    return element


# fmt: off
TBL_PR_ORDER = (
    "tblStyle", "tblpPr", "tblOverlap", "bidiVisual", "tblStyleRowBandSize",
    "tblStyleColBandSize", "tblW", "jc", "tblCellSpacing", "tblInd", "tblBorders", "shd",
    "tblLayout", "tblCellMar", "tblLook", "tblCaption", "tblDescription",
)
TC_PR_ORDER = (
    "cnfStyle", "tcW", "gridSpan", "hMerge", "vMerge", "tcBorders", "shd", "noWrap", "tcMar",
    "textDirection", "tcFitText", "vAlign", "hideMark",
)

P_PR_AFTER_BORDER = (
    "shd", "tabs", "suppressAutoHyphens", "kinsoku", "wordWrap", "overflowPunct", "topLinePunct",
    "autoSpaceDE", "autoSpaceDN", "bidi", "adjustRightInd", "snapToGrid", "spacing", "ind",
    "contextualSpacing", "mirrorIndents", "suppressOverlap", "jc", "textDirection",
    "textAlignment", "textboxTightWrap", "outlineLvl", "divId", "cnfStyle", "rPr", "sectPr",
    "pPrChange",
)
"""What follows ``w:pBdr`` in ``w:pPr``."""
# fmt: on


def reorder(parent: BaseOxmlElement, order: Sequence[str]) -> None:
    """Put the children of a property element in the order the schema prescribes."""
    rank = {qn(f"w:{name}"): index for index, name in enumerate(order)}
    children = sorted(parent, key=lambda element: rank.get(element.tag, len(rank)))
    for element in children:
        parent.append(element)


@dataclass(frozen=True)
class Fmt:
    """How a run of text looks."""

    bold: bool = False
    italic: bool = False
    underline: bool = False
    size: float | None = None


PLAIN = Fmt()
BOLD = Fmt(bold=True)


def run(paragraph: Paragraph, text: str, fmt: Fmt = PLAIN) -> None:
    """Add one run; a docxtpl tag must always be written whole by one call."""
    r = paragraph.add_run(text)
    if fmt.bold:
        r.bold = True
    if fmt.italic:
        r.italic = True
    if fmt.underline:
        r.underline = True
    if fmt.size is not None:
        r.font.size = Pt(fmt.size)


def par(
    container: Container,
    *parts: str | tuple[str, Fmt],
    align: WD_ALIGN_PARAGRAPH = Align.LEFT,
    size: float | None = None,
    before: float = 0,
    after: float = 0,
    left: float = 0,
    first: float = 0,
    keep: bool = False,
) -> Paragraph:
    """Add a paragraph made of ``parts`` (text, or text with its format).

    ``left`` and ``first`` are the left and first-line indents in cm (``first`` negative for a
    hanging indent, with a tab stop at ``left``); ``before``/``after`` are spacing in points.
    """
    p = container.add_paragraph()
    pf = p.paragraph_format
    pf.alignment = align
    pf.space_before = Pt(before)
    pf.space_after = Pt(after)
    if left:
        pf.left_indent = Cm(left)
    if first:
        pf.first_line_indent = Cm(first)
    if first < 0:
        pf.tab_stops.add_tab_stop(Cm(left))
    if keep:
        pf.keep_with_next = True
    for part in parts:
        text, fmt = (part, PLAIN) if isinstance(part, str) else part
        if size is not None and fmt.size is None:
            fmt = Fmt(fmt.bold, fmt.italic, fmt.underline, size)
        run(p, text, fmt)
    return p


def tag(container: Container, statement: str) -> None:
    """A paragraph that holds only a docxtpl paragraph tag, e.g. ``{%p if x %}``."""
    container.add_paragraph().add_run("{%p " + statement + " %}")


def spacer(container: Container, points: float) -> None:
    """An empty paragraph exactly ``points`` high, for vertical space after a table or list."""
    pf = par(container, "").paragraph_format
    pf.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    pf.line_spacing = Pt(points)


def drop_first_paragraph(container: BlockItemContainer) -> None:
    """Remove the empty paragraph python-docx puts in every new cell, header and footer."""
    first = container.paragraphs[0]
    assert not first.text
    element = first._p
    parent = element.getparent()
    assert parent is not None
    parent.remove(element)


# --------------------------------------------------------------------------- tables


def table(
    container: Container,
    rows: int,
    widths_cm: Sequence[float],
    *,
    borders: bool = False,
    pad_cm: float = 0.0,
    indent_cm: float = 0.0,
) -> Table:
    """A fixed-layout table with exact column widths; borderless unless ``borders``."""
    if isinstance(container, _Cell):  # a table nested in a cell takes the cell's width
        t = container.add_table(rows=rows, cols=len(widths_cm))
    else:
        target = container._body if isinstance(container, DocxDocument) else container
        t = target.add_table(rows=rows, cols=len(widths_cm), width=Cm(sum(widths_cm)))
    t.alignment = WD_TABLE_ALIGNMENT.LEFT
    tbl_pr = t._tbl.tblPr
    for name in ("w:tblW", "w:tblLayout", "w:tblLook", "w:tblStyle"):
        for old in tbl_pr.findall(qn(name)):
            tbl_pr.remove(old)
    child(tbl_pr, "w:tblW", w=str(twips(sum(widths_cm))), type="dxa")
    # Word and LibreOffice put the first cell's text, not its border, at the indent: shift a
    # padded table right by its padding so that its borders line up with the text margin.
    if indent_cm + pad_cm:
        child(tbl_pr, "w:tblInd", w=str(twips(indent_cm + pad_cm)), type="dxa")
    edges = ("top", "left", "bottom", "right", "insideH", "insideV")
    tbl_borders = child(tbl_pr, "w:tblBorders")
    for edge in edges:
        if borders:
            child(tbl_borders, f"w:{edge}", val="single", sz="4", space="0", color="000000")
        else:
            child(tbl_borders, f"w:{edge}", val="nil")
    child(tbl_pr, "w:tblLayout", type="fixed")
    margins = child(tbl_pr, "w:tblCellMar")
    for edge, value in (("top", 0.0), ("left", pad_cm), ("bottom", 0.0), ("right", pad_cm)):
        child(margins, f"w:{edge}", w=str(twips(value)), type="dxa")
    child(
        tbl_pr,
        "w:tblLook",
        val="0000",
        firstRow="0",
        lastRow="0",
        firstColumn="0",
        lastColumn="0",
        noHBand="1",
        noVBand="1",
    )
    reorder(tbl_pr, TBL_PR_ORDER)
    grid = t._tbl.tblGrid
    for col, width in zip(grid.findall(qn("w:gridCol")), widths_cm, strict=True):
        col.set(qn("w:w"), str(twips(width)))
    for row in t.rows:
        for cell, width in zip(row.cells, widths_cm, strict=True):
            tc_w = cell._tc.get_or_add_tcPr().get_or_add_tcW()
            tc_w.set(qn("w:w"), str(twips(width)))
            tc_w.set(qn("w:type"), "dxa")
    return t


def row_props(
    t: Table, index: int, *, header: bool = False, height_cm: float = 0.0, rule: str = "exact"
) -> None:
    """Rows never split across pages; a header row repeats; a height makes the row exact
    (or, with ``rule="atLeast"``, at least that high)."""
    tr_pr = t.rows[index]._tr.get_or_add_trPr()
    child(tr_pr, "w:cantSplit")
    if height_cm:
        child(tr_pr, "w:trHeight", val=str(twips(height_cm)), hRule=rule)
    if header:
        child(tr_pr, "w:tblHeader")


def shade(cell: _Cell, fill: str) -> None:
    """Fill a cell with a background colour."""
    tc_pr = cell._tc.get_or_add_tcPr()
    child(tc_pr, "w:shd", val="clear", color="auto", fill=fill)
    reorder(tc_pr, TC_PR_ORDER)


def tag_row(t: Table, index: int, statement: str) -> None:
    """Make row ``index`` hold only a docxtpl row tag, e.g. ``{%tr endfor %}``."""
    t.rows[index].cells[0].paragraphs[0].add_run("{%tr " + statement + " %}")


# --------------------------------------------------------------------------- page furniture


def setup(doc: DocxDocument, title: str) -> Section:
    """Page size, margins, default font and document properties."""
    section = doc.sections[0]
    section.page_width = Cm(21)
    section.page_height = Cm(29.7)
    section.left_margin = Cm(2.5)
    section.right_margin = Cm(2)
    section.top_margin = Cm(2)
    section.bottom_margin = Cm(2)
    section.header_distance = Cm(1.6)  # below a draft's stamp (the top 15 mm)
    section.footer_distance = Cm(0.8)
    section.different_first_page_header_footer = True

    normal = doc.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(BODY_PT)
    r_pr = normal.element.get_or_add_rPr()
    fonts = r_pr.find(qn("w:rFonts"))
    assert fonts is not None
    for attr in ("ascii", "hAnsi", "cs", "eastAsia"):
        fonts.set(qn(f"w:{attr}"), FONT)
    for lang in r_pr.findall(qn("w:lang")):
        r_pr.remove(lang)
    child(r_pr, "w:lang", val="id-ID", eastAsia="id-ID", bidi="ar-SA")
    pf = normal.paragraph_format
    pf.space_before = Pt(0)
    pf.space_after = Pt(0)
    pf.line_spacing_rule = WD_LINE_SPACING.SINGLE
    pf.widow_control = True

    # Drop parts that carry nothing for a letter: python-docx's thumbnail image (its own logo),
    # Word 2010's duplicate style sheet, and the theme, font table, web settings and custom XML
    # of python-docx's default template (every style names its fonts itself). LibreOffice
    # reads whatever is there for every letter it converts: without these, 15 ms less each.
    package_rels = doc.part.package.rels
    for key in [k for k, rel in package_rels.items() if rel.reltype == RT.THUMBNAIL]:
        package_rels.pop(key)
    unused = {STYLES_WITH_EFFECTS, RT.THEME, RT.FONT_TABLE, RT.WEB_SETTINGS, RT.CUSTOM_XML}
    doc_rels = doc.part.rels
    for key in [k for k, rel in doc_rels.items() if rel.reltype in unused]:
        doc_rels.pop(key)

    props = doc.core_properties
    props.title = title
    props.subject = "Templat surat docgen (docxtpl)"
    props.author = "docgen"
    props.last_modified_by = "docgen"
    props.comments = "Dibuat oleh tools/build_docx_templates.py; jangan disunting manual."
    props.revision = 1
    props.created = FIXED_TIME
    props.modified = FIXED_TIME
    return section


def logo_png() -> bytes:
    """The letterhead's emblem, ``templates/assets/logo.svg``, as a 300 dpi PNG 2.1 cm square.

    The HTML letters draw the SVG itself; Word and LibreOffice take a picture. Drawn by
    WeasyPrint and rasterised by poppler's ``pdftocairo`` with its transparency kept, then
    stored as grey with alpha: the same file from the same SVG.
    """
    import weasyprint
    from PIL import Image

    page = (
        "<style>@page { size: 21mm 21mm; margin: 0 } body { margin: 0 }"
        "img { display: block; width: 21mm; height: 21mm }</style>"
        f'<img src="{LOGO.as_uri()}">'
    )
    with tempfile.TemporaryDirectory() as folder:
        pdf = Path(folder) / "logo.pdf"
        weasyprint.HTML(string=page).write_pdf(pdf)
        subprocess.run(
            ["pdftocairo", "-png", "-transp", "-r", "300", "-singlefile", str(pdf),
             str(pdf.with_suffix(""))],
            check=True,
        )  # fmt: skip
        with Image.open(pdf.with_suffix(".png")) as image:
            out = io.BytesIO()
            image.convert("LA").save(out, format="PNG", optimize=True)
    return out.getvalue()


def letterhead(section: Section, logo: bytes) -> None:
    """Kop surat in the first page's header only: the emblem left of the centred name and
    address (a balancing empty column on the right), a thick-thin double rule under both."""
    header = section.first_page_header
    header.is_linked_to_previous = False
    side = 2.4
    t = table(header, 1, [side, TEXT_WIDTH_CM - 2 * side, side])
    emblem, text, _ = t.rows[0].cells
    for cell in t.rows[0].cells:
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
    picture = (
        emblem.paragraphs[0].add_run().add_picture(io.BytesIO(logo), width=Cm(2.1), height=Cm(2.1))
    )
    picture._inline.docPr.set("descr", "Lambang")
    par(text, ("{{ agency.ministry }}", Fmt(bold=True, size=13)), align=Align.CENTER)
    par(text, ("{{ dg.name }}", Fmt(bold=True, size=11.5)), align=Align.CENTER, before=1)
    par(text, "{{ dg.address }}", align=Align.CENTER, size=9.5, before=1)
    par(
        text,
        "{{ dg.phone }}",
        "; Laman ",
        "{{ dg.website }}",
        "{{ '; Pos-el ' ~ dg.email if dg.email else '' }}",
        align=Align.CENTER,
        size=9.5,
    )
    drop_first_paragraph(text)
    rule = par(header, "", size=2, after=2)
    p_pr = rule._p.get_or_add_pPr()
    p_bdr = OxmlElement("w:pBdr")
    child(p_bdr, "w:bottom", val="thickThinSmallGap", sz="24", space="1", color="000000")
    # pBdr must come before spacing/indentation/alignment in w:pPr.
    p_pr.insert_element_before(p_bdr, *(f"w:{name}" for name in P_PR_AFTER_BORDER))
    par(header, "", size=4)
    drop_first_paragraph(header)


def field(paragraph: Paragraph, instruction: str, placeholder: str, fmt: Fmt) -> None:
    """A Word field (``PAGE``, ``NUMPAGES``) as begin / instruction / separate / result / end."""
    for kind, text in (
        ("begin", None),
        ("instr", instruction),
        ("separate", None),
        ("result", placeholder),
        ("end", None),
    ):
        r = paragraph.add_run()
        if fmt.size is not None:
            r.font.size = Pt(fmt.size)
        if kind == "instr":
            instr = child(r._r, "w:instrText")
            instr.set(qn("xml:space"), "preserve")
            instr.text = f" {text} \\* MERGEFORMAT "
        elif kind == "result":
            r.text = text or ""
        else:
            child(r._r, "w:fldChar", fldCharType=kind)


def bookmark(paragraph: Paragraph, name: str, ident: int) -> None:
    """Mark a paragraph with a bookmark; LibreOffice exports it as a PDF named destination.

    docgen's signing step finds the reserved spaces by these names (the top-left corner of the
    signature space and of the QR square).
    """
    start = child(paragraph._p, "w:bookmarkStart", id=str(ident), name=name)
    paragraph._p.remove(start)
    paragraph._p.insert(0, start)
    child(paragraph._p, "w:bookmarkEnd", id=str(ident))


def footer(section: Section) -> None:
    """Every page: the letter number bottom left, "Halaman X dari Y" bottom right, in grey."""
    grey = Fmt(size=8)
    for ftr in (section.first_page_footer, section.footer):
        ftr.is_linked_to_previous = False
        line = par(ftr, ("Nomor ", grey), ("{{ letter.number }}", grey))
        line.paragraph_format.tab_stops.add_tab_stop(Cm(TEXT_WIDTH_CM), WD_TAB_ALIGNMENT.RIGHT)
        line.add_run().add_tab()
        run(line, "Halaman ", grey)
        field(line, "PAGE", "1", grey)
        run(line, " dari ", grey)
        field(line, "NUMPAGES", "1", grey)
        for r in line.runs:
            r.font.color.rgb = RGBColor(0x55, 0x55, 0x55)
        drop_first_paragraph(ftr)


def esign_notice(cell: _Cell) -> None:
    """The QR square on the left, the e-signature notice on the right, a grey rule above."""
    qr = 2.4
    t = table(cell, 1, [qr, TEXT_WIDTH_CM - qr])
    borders = t._tbl.tblPr.find(qn("w:tblBorders"))
    assert borders is not None
    top = borders.find(qn("w:top"))
    assert top is not None
    top.set(qn("w:val"), "single")
    top.set(qn("w:sz"), "4")
    top.set(qn("w:color"), "808080")
    # the QR square starts 1.2 mm below the rule (as in HTML); the row is at least as high as
    # the square, taller if the configured wording needs more lines
    gap_pt = 3.4
    row_props(t, 0, height_cm=qr + gap_pt * 2.54 / 72, rule="atLeast")
    square, notice = t.rows[0].cells
    square.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.TOP
    square.paragraphs[0].paragraph_format.space_before = Pt(gap_pt)
    bookmark(square.paragraphs[0], "docgenQrBox", 901)
    notice.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.TOP
    par(notice, ("{{ esign.footer }}", Fmt(size=7.5)), align=Align.JUSTIFY, left=0.3, before=3)
    par(
        notice,
        ("{{ esign.legal_basis }}", Fmt(italic=True, size=7.5)),
        align=Align.JUSTIFY,
        left=0.3,
        before=2,
    )
    # the address in words, for a reader who cannot scan (left-aligned: it does not break)
    tag(notice, "if letter.verification_url")
    par(
        notice,
        (
            "Keaslian dokumen dapat diverifikasi dengan memindai kode QR atau melalui "
            "{{ letter.verification_url }}",
            Fmt(size=7.5),
        ),
        left=0.3,
        before=2,
    )
    tag(notice, "endif")
    drop_first_paragraph(notice)


# --------------------------------------------------------------------------- letter parts


def date_and_particulars(doc: DocxDocument) -> None:
    """Place and date on the right; Nomor / Sifat / Lampiran / Hal on the left."""
    par(doc, "{{ letter.place }}, {{ letter.date | tanggal }}", align=Align.RIGHT, after=4)
    rows = [
        ("Nomor", "{{ letter.number }}"),
        ("Sifat", "{{ letter.nature }}"),
        ("Lampiran", "{{ letter.enclosure }}"),
        ("Hal", "{{ letter.subject }}"),
    ]
    t = table(doc, len(rows), [2.5, 0.5, TEXT_WIDTH_CM - 3.0])
    for index, (label, value) in enumerate(rows):
        label_cell, colon_cell, value_cell = t.rows[index].cells
        par(label_cell, label)
        par(colon_cell, ":")
        par(value_cell, value)
        for cell in (label_cell, colon_cell, value_cell):
            drop_first_paragraph(cell)
        row_props(t, index)


def addressee(doc: DocxDocument) -> None:
    """``Yth.`` and the addressee, organisation (if any) and ``di <place>``."""
    spacer(doc, 9)
    par(doc, "Yth.\t", "{{ request.addressee.title }}", left=1.0, first=-1.0)
    tag(doc, "if request.addressee.organisation")
    par(doc, "{{ request.addressee.organisation }}", left=1.0)
    tag(doc, "endif")
    par(doc, "di ", "{{ request.addressee.place }}", left=1.0, after=9)


def body(
    doc: DocxDocument, *parts: str | tuple[str, Fmt], after: float = 4, first: float = 1.25
) -> Paragraph:
    """A justified body paragraph, with a first-line indent unless it continues a sentence."""
    return par(doc, *parts, align=Align.JUSTIFY, first=first, after=after)


APPLICATION = (
    " Nomor ",
    "{{ request.application.number }}",
    " tanggal ",
    "{{ request.application.date | tanggal }}",
    " perihal ",
    "{{ request.application.subject }}",
)
"""The application letter's particulars, as the opening sentence cites them."""


def opening(doc: DocxDocument) -> None:
    """The approval's opening sentence, worded as in the HTML letters.

    The letter goes to the Ministry of Trade, not to the company: it cites the company's
    application (``surat permohonan PT ...``), never ``surat Saudara``.
    """
    body(
        doc,
        "Menindaklanjuti surat permohonan ",
        "{{ request.applicant.name }}",
        *APPLICATION,
        ", dan berdasarkan hasil verifikasi terhadap permohonan tersebut sesuai dengan ",
        "{{ service.regulation }}",
        ", bersama ini diberikan ",
        "{{ service.kind.label }}",
        " kepada:",
        after=3,
    )


def company(doc: DocxDocument) -> None:
    """The applicant's particulars as an indented borderless table."""
    rows = [
        ("Nama Perusahaan", "{{ request.applicant.name }}"),
        ("NIB", "{{ request.applicant.nib }}"),
        ("NPWP", "{{ request.applicant.npwp | npwp }}"),
        ("Alamat", "{{ request.applicant.address }}"),
    ]
    t = table(doc, len(rows), [3.75, 0.5, TEXT_WIDTH_CM - 1.25 - 4.25], indent_cm=1.25)
    for index, (label, value) in enumerate(rows):
        label_cell, colon_cell, value_cell = t.rows[index].cells
        par(label_cell, label)
        par(colon_cell, ":")
        par(value_cell, (value, BOLD) if index == 0 else value)
        for cell in (label_cell, colon_cell, value_cell):
            drop_first_paragraph(cell)
        row_props(t, index)
    spacer(doc, 3)


def numbered(doc: DocxDocument, items: str, var: str, *, size: float | None = None) -> None:
    """A loop of hanging-indent paragraphs numbered ``1.``, ``2.`` ... with ``loop.index``."""
    tag(doc, f"for {var} in {items}")
    par(
        doc,
        "{{ loop.index }}",
        ".\t",
        "{{ " + var + " }}",
        align=Align.JUSTIFY,
        left=1.9,
        first=-0.65,
        after=1.5,
        size=size,
    )
    tag(doc, "endfor")


@dataclass(frozen=True)
class Column:
    """One column of the goods table."""

    header: str
    width_cm: float
    value: str
    align: WD_ALIGN_PARAGRAPH = Align.LEFT


def col(header: str, width_cm: float, value: str, align: str = "left") -> Column:
    """A goods-table column; ``align`` is ``left``, ``center`` or ``right``."""
    aligns = {"left": Align.LEFT, "center": Align.CENTER, "right": Align.RIGHT}
    return Column(header, width_cm, value, aligns[align])


NO = "{{ loop.index }}"
HS = "{{ item.tariff_code }}"
DESCRIPTION = "{{ item.description }}"
QUANTITY = (
    "{{ item.quantity | angka if (item.quantity | angka) | length <= 13 "
    "else (item.quantity | angka) | replace('.', '.\\u200b') }}"
)
"""The quantity; one longer than 13 characters may wrap after a thousands separator (a
zero-width space there), never inside a group of digits."""
UNIT = "{{ item.unit }}"
COUNTRY = "{{ item.country_of_origin or '-' }}"
PORT = "{{ item.destination_port or '-' }}"


def goods_table(doc: DocxDocument, columns: Sequence[Column], size: float) -> None:
    """The goods table: a repeating header row and one row per item, never split."""
    widths = [c.width_cm for c in columns]
    assert abs(sum(widths) - TEXT_WIDTH_CM) < 0.01, sum(widths)
    t = table(doc, 4, widths, borders=True, pad_cm=0.1)
    for cell, column in zip(t.rows[0].cells, columns, strict=True):
        par(cell, (column.header, Fmt(bold=True, size=size)), align=Align.CENTER, before=1, after=1)
        drop_first_paragraph(cell)
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
        shade(cell, "E7E6E6")
    row_props(t, 0, header=True)
    # Rows: header, "{%tr for %}", the item, "{%tr endfor %}"; the tag rows vanish on rendering.
    tag_row(t, 1, "for item in request.items")
    tag_row(t, 3, "endfor")
    item_row = t.rows[2]
    for cell, column in zip(item_row.cells, columns, strict=True):
        par(cell, (column.value, Fmt(size=size)), align=column.align, before=1, after=1)
        drop_first_paragraph(cell)
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.TOP
    row_props(t, 2)
    spacer(doc, 7)


def conditions_and_validity(doc: DocxDocument, use: str) -> None:
    """Conditions of approval (when there are any), then what the letter is for and its validity.

    ``use`` says what the letter is for, as the service's HTML letters word it, e.g.
    ``merupakan persyaratan untuk memperoleh`` (pertimbangan teknis).
    """
    tag(doc, "if request.decision.conditions")
    body(
        doc,
        "{{ service.kind.label }}",
        " ini diberikan dengan ketentuan sebagai berikut:",
        after=2,
    )
    numbered(doc, "request.decision.conditions", "c")
    spacer(doc, 4)
    tag(doc, "endif")
    last = body(
        doc,
        "{{ service.kind.label }}",
        f" ini {use} Persetujuan Impor sesuai dengan ketentuan peraturan perundang-undangan",
        "{{ ', dan berlaku sampai dengan ' ~ (request.valid_until | tanggal) "
        "if request.valid_until else '' }}",
        ".",
    )
    last.paragraph_format.keep_with_next = True  # with the closing sentence and the signature


def closing(doc: DocxDocument) -> None:
    """The closing sentence, kept with the signature."""
    p = body(
        doc,
        "Demikian disampaikan, atas perhatian dan kerja sama Saudara diucapkan terima kasih.",
        after=6,
    )
    p.paragraph_format.keep_with_next = True


def signing_block(doc: DocxDocument) -> None:
    """The signature, the copies and the e-signature notice with the QR square, in one table row
    that never splits: a page break never parts them."""
    outer = table(doc, 1, [TEXT_WIDTH_CM])
    row_props(outer, 0)
    cell = outer.rows[0].cells[0]
    signature(cell)
    copies(cell)
    spacer(cell, 6)
    esign_notice(cell)
    drop_first_paragraph(cell)
    # python-docx ends a cell with an empty paragraph after its last table: keep it 1 pt high
    last = cell.paragraphs[-1]
    assert not last.text
    last.paragraph_format.line_spacing = Pt(1)
    last.paragraph_format.line_spacing_rule = WD_LINE_SPACING.EXACTLY


def signature(container: _Cell) -> None:
    """Signature block on the right half, with an empty 3 cm space for the e-signature."""
    t = table(container, 1, [8.0, TEXT_WIDTH_CM - 8.0])
    cell = t.rows[0].cells[1]
    tag(cell, "if request.signatory.delegation")
    par(cell, "{{ request.signatory.delegation }}", keep=True)
    tag(cell, "endif")
    par(
        cell,
        "{{ (request.signatory.acting ~ ' ' if request.signatory.acting else '') "
        "~ request.signatory.title }}",
        ",",
        keep=True,
    )
    space = par(cell, "", keep=True)
    space.paragraph_format.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    space.paragraph_format.line_spacing = Cm(3)
    bookmark(space, "docgenSignatureBox", 902)
    par(cell, ("{{ request.signatory.name }}", Fmt(bold=True, underline=True)), keep=True)
    par(cell, "NIP ", "{{ request.signatory.nip | nip }}")
    drop_first_paragraph(cell)
    drop_first_paragraph(t.rows[0].cells[0])
    par(t.rows[0].cells[0], "")


def copies(cell: _Cell) -> None:
    """``Tembusan:`` and the numbered copies, when there are any."""
    tag(cell, "if request.copies")
    spacer(cell, 6)
    par(cell, "Tembusan:", size=10, after=1)
    tag(cell, "for c in request.copies")
    par(cell, "{{ loop.index }}", ".\t", "{{ c }}", size=10, left=0.6, first=-0.6)
    tag(cell, "endfor")
    tag(cell, "endif")


# --------------------------------------------------------------------------- the letters


QUANTITY_SUMMARY = (
    "{{ (request.items[0].quantity | kuantitas) ~ ' ' ~ request.items[0].unit "
    "if request.items | length == 1 "
    "else (request.items | length | string) ~ ' (' ~ (request.items | length | terbilang) "
    "~ ') pos tarif' }}"
)
"""One item: its quantity and unit; several: ``12 (dua belas) pos tarif`` (as in HTML)."""


def approval(letter: Letter, logo: bytes) -> DocxDocument:
    """A rekomendasi / pertimbangan teknis granting the goods in ``letter.columns``.

    Worded sentence for sentence like the HTML approvals (e.g. ilmate-pertek-baja.html.j2).
    """
    doc = Document()
    section = setup(doc, letter.title)
    letterhead(section, logo)
    footer(section)
    date_and_particulars(doc)
    addressee(doc)
    opening(doc)
    company(doc)
    body(
        doc,
        f"untuk mengimpor {letter.goods} sebanyak ",
        QUANTITY_SUMMARY,
        " dengan rincian sebagai berikut:",
        first=0,
        after=2,
    )
    goods_table(doc, letter.columns, letter.table_pt)
    conditions_and_validity(doc, letter.use)
    closing(doc)
    signing_block(doc)
    return doc


REJECTION_COLUMNS = [
    col("No", 0.8, NO, "center"),
    col("Pos Tarif/HS", 2.3, HS, "center"),
    col("Uraian Barang", 9.2, DESCRIPTION),
    col("Jumlah", 2.4, QUANTITY, "right"),
    col("Satuan", 1.8, UNIT, "center"),
]
"""The rejection's short table: the columns every service has."""


def rejection(logo: bytes) -> DocxDocument:
    """The shared rejection letter, worded sentence for sentence like penolakan.html.j2."""
    doc = Document()
    section = setup(doc, "Penolakan permohonan")
    letterhead(section, logo)
    footer(section)
    date_and_particulars(doc)
    addressee(doc)
    body(
        doc,
        "Menindaklanjuti surat permohonan ",
        "{{ request.applicant.name }}",
        " (NIB ",
        "{{ request.applicant.nib }}",
        ", NPWP ",
        "{{ request.applicant.npwp | npwp }}",
        ")",
        *APPLICATION,
        ", bersama ini disampaikan bahwa berdasarkan hasil verifikasi dan evaluasi terhadap "
        "permohonan tersebut, permohonan ",
        "{{ service.title }}",
        " sebagaimana diatur dalam ",
        "{{ service.regulation }}",
        "{{ ' atas barang sebagaimana tercantum dalam tabel berikut' if request.items else '' }}",
        " ",
        ("tidak dapat dipertimbangkan", BOLD),
        "{{ '.' if request.items else ' dengan alasan sebagai berikut:' }}",
        after=3,
    )
    tag(doc, "if request.items")
    goods_table(doc, REJECTION_COLUMNS, 10)
    body(
        doc,
        "Permohonan tersebut tidak dapat dipertimbangkan dengan alasan sebagai berikut:",
        after=2,
    )
    tag(doc, "endif")
    numbered(doc, "request.decision.reasons", "r")
    spacer(doc, 4)
    last = body(
        doc,
        "Sehubungan dengan hal tersebut, permohonan ",
        "{{ request.applicant.name }}",
        " dinyatakan ditolak. Perusahaan dapat mengajukan permohonan baru setelah memenuhi "
        "persyaratan sesuai dengan ketentuan peraturan perundang-undangan.",
    )
    last.paragraph_format.keep_with_next = True  # with the closing sentence and the signature
    closing(doc)
    signing_block(doc)
    return doc


@dataclass(frozen=True)
class Letter:
    """An approval template: its title, the goods in words, what it is for, its table."""

    title: str
    goods: str
    """What is imported, as ``untuk mengimpor ...`` names it."""
    use: str
    """What the letter is for, before ``Persetujuan Impor``."""
    columns: list[Column]
    table_pt: float


PERTEK_USE = "merupakan persyaratan untuk memperoleh"
REKOM_USE = "digunakan sebagai dasar penerbitan"

BTB_COLUMNS = [
    col("No", 0.8, NO, "center"),
    col("Pos Tarif/HS", 1.9, HS, "center"),
    col("Uraian Barang", 3.2, DESCRIPTION),
    col("Spesifikasi", 2.9, "{{ item.specification or '-' }}"),
    col("Jumlah", 2.2, QUANTITY, "right"),
    col("Satuan", 1.6, UNIT, "center"),
    col("Negara Asal", 1.8, COUNTRY, "center"),
    col("Pelabuhan Tujuan", 2.1, PORT, "center"),
]
"""The goods of the non-new capital goods services (Permenperin 14/2016): machines, equipment."""

TEMPLATES: dict[str, Letter] = {
    "agro-rekom-gula.docx": Letter(
        "Rekomendasi Impor Gula Kristal Mentah",
        "gula kristal mentah sebagai bahan baku industri",
        REKOM_USE,
        [
            col("No", 0.8, NO, "center"),
            col("Pos Tarif/HS", 2.0, HS, "center"),
            col("Uraian Barang", 4.3, DESCRIPTION),
            col("Jumlah", 2.4, QUANTITY, "right"),
            col("Satuan", 1.6, UNIT, "center"),
            col("Negara Asal", 2.3, COUNTRY, "center"),
            col("Pelabuhan Tujuan", 3.1, PORT, "center"),
        ],
        10,
    ),
    "ikft-pertek-ban.docx": Letter(
        "Pertimbangan Teknis Impor Ban",
        "ban",
        PERTEK_USE,
        [
            col("No", 0.7, NO, "center"),
            col("Pos Tarif/HS", 1.9, HS, "center"),
            col("Uraian Barang", 3.0, DESCRIPTION),
            col("Tipe", 1.8, "{{ item.type or '-' }}", "center"),
            col("Merek", 1.8, "{{ item.brand or '-' }}", "center"),
            col("Ukuran", 1.85, "{{ item.size or '-' }}", "center"),
            col("Negara Asal", 1.6, COUNTRY, "center"),
            col("Pelabuhan Tujuan", 1.75, PORT, "center"),
            col("Jumlah (buah)", 2.1, QUANTITY, "right"),
        ],
        9,
    ),
    "ilmate-pertek-btb.docx": Letter(
        "Pertimbangan Teknis Impor Barang Modal Tidak Baru",
        "barang modal tidak baru",
        PERTEK_USE,
        BTB_COLUMNS,
        9.5,
    ),
    "ilmate-pertek-mesin-btb.docx": Letter(
        "Pertimbangan Teknis Impor Mesin Tidak Baru",
        "mesin tidak baru",
        PERTEK_USE,
        BTB_COLUMNS,
        9.5,
    ),
    "ilmate-pertek-alat-btb.docx": Letter(
        "Pertimbangan Teknis Impor Peralatan Tidak Baru",
        "peralatan tidak baru",
        PERTEK_USE,
        BTB_COLUMNS,
        9.5,
    ),
}


STYLE_REFERENCE = re.compile(
    rb'<w:(?:pStyle|rStyle|tblStyle|numStyleLink|styleLink) w:val="([^"]+)"'
)


def pruned_styles(styles_xml: bytes, parts: Sequence[bytes]) -> bytes:
    """The style sheet with only the styles the parts use (and those they are based on).

    python-docx's default template defines some 160 styles (350 kB of XML) that a letter never
    uses, and LibreOffice reads them all for every letter it converts: pruning them makes each
    conversion about 60 ms faster. The default styles and the latent-style list stay.
    """
    used = {name.decode() for part in parts for name in STYLE_REFERENCE.findall(part)}
    root = etree.fromstring(styles_xml)
    styles = {style.get(qn("w:styleId")): style for style in root.findall(qn("w:style"))}
    keep = used | {name for name, style in styles.items() if style.get(qn("w:default")) == "1"}
    pending = list(keep)
    while pending:
        style = styles.get(pending.pop())
        for link in ("w:basedOn", "w:link", "w:next"):
            element = style.find(qn(link)) if style is not None else None
            name = element.get(qn("w:val")) if element is not None else None
            if name in styles and name not in keep:
                keep.add(name)
                pending.append(name)
    for name, style in styles.items():
        if name not in keep:
            root.remove(style)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True))


def save(doc: DocxDocument, path: Path) -> None:
    """Save with pruned styles and fixed ZIP entry times and order (same input, same bytes)."""
    buffer = io.BytesIO()
    doc.save(buffer)
    out = io.BytesIO()
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(out, "w") as dst:
        parts = [
            src.read(name)
            for name in src.namelist()
            if name.startswith("word/") and name.endswith(".xml") and name != "word/styles.xml"
        ]
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "word/styles.xml":
                data = pruned_styles(data, parts)
            entry = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, data, compresslevel=9)
    path.write_bytes(out.getvalue())


def main(out: Path = OUT) -> None:
    """Write the four templates into ``out`` (by default the project's templates/docx)."""
    out.mkdir(parents=True, exist_ok=True)
    logo = logo_png()
    for name, letter in TEMPLATES.items():
        save(approval(letter, logo), out / name)
        print(f"wrote {out / name}")
    save(rejection(logo), out / "penolakan.docx")
    print(f"wrote {out / 'penolakan.docx'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
