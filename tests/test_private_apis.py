"""Canaries for the private APIs docgen relies on, one test per dependency.

docgen reaches into WeasyPrint, docxtpl, pyHanko, pyhanko-certvalidator and requests where
their public APIs give no way to do what it needs; pyproject.toml bounds each of them above for
that reason. Each test here exercises exactly the internals docgen uses, and fails naming the
API and the docgen code that uses it when a release moves it: adapt that code, then widen the
bound.
"""

from __future__ import annotations

import asyncio
import gc
import http.server
import inspect
import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from docgen.config import bundled_templates
from scripts.demo_pki import DemoPki


@contextmanager
def private_api(name: str, used_by: str) -> Iterator[None]:
    """Turn any failure inside into one clear message naming the API and its user."""
    try:
        yield
    except (AssertionError, AttributeError, ImportError, KeyError, TypeError, ValueError) as e:
        pytest.fail(
            f"private API {name} (used by {used_by}) moved or changed: "
            f"{type(e).__name__}: {e}. Adapt {used_by}, then update the bound in pyproject.toml.",
            pytrace=False,
        )


def test_weasyprint_asks_the_document_for_its_user_agent_stylesheets() -> None:
    import weasyprint

    asked: list[bool] = []

    with private_api("weasyprint.HTML._ua_stylesheets", "docgen.render.html._LetterHTML"):
        assert "forms" in inspect.signature(weasyprint.HTML._ua_stylesheets).parameters

        class Probe(weasyprint.HTML):  # type: ignore[misc]
            def _ua_stylesheets(self, forms: bool = False) -> list[weasyprint.CSS]:
                asked.append(forms)
                stylesheets: list[weasyprint.CSS] = super()._ua_stylesheets(forms=forms)
                return stylesheets

        Probe(string="<p>canary</p>").render()
        assert asked, "WeasyPrint no longer asks the document for its UA stylesheets"


def test_weasyprint_font_configuration_uses_the_folder_it_is_given(tmp_path: Path) -> None:
    import weasyprint
    from weasyprint.text.fonts import FontConfiguration

    font = bundled_templates() / "assets" / "fonts" / "LiberationSans-Regular.ttf"
    folder = tmp_path / "fonts"
    with private_api(
        "weasyprint.text.fonts.FontConfiguration._folder", "docgen.render.html._font_configuration"
    ):
        fonts = FontConfiguration()
        assert fonts._folder is None, "a fresh FontConfiguration has no _folder attribute"
        folder.mkdir()
        fonts._folder = folder
        css = f"@font-face {{ font-family: Canary; src: url({font.as_uri()}) }}"
        weasyprint.CSS(string=css, font_config=fonts)
        assert any(folder.iterdir()), "the font was not written into the given _folder"
        del fonts
        gc.collect()
        assert not folder.exists(), "the given _folder is not removed with its configuration"


def test_weasyprint_url_fetcher_classes() -> None:
    with private_api(
        "weasyprint.urls.URLFetcher / URLFetcherResponse / FatalURLFetchingError",
        "docgen.render.html._AssetFetcher",
    ):
        from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

        from docgen.render.html import _AssetFetcher

        assert issubclass(_AssetFetcher, URLFetcher)
        assert issubclass(FatalURLFetchingError, BaseException)
        response = URLFetcherResponse(
            "file:///x.css", b"p {}", headers={"Content-Type": "text/css"}
        )
        assert response.url == "file:///x.css"


def test_docxtpl_patch_xml_is_a_pure_function_of_its_text() -> None:
    from docxtpl import DocxTemplate

    from docgen.templatecheck import docx_source

    source = (
        "<w:p><w:r><w:t>{%p if x %}</w:t></w:r></w:p>"
        "<w:p><w:r><w:t>{{ name }}</w:t></w:r></w:p>"
        "<w:p><w:r><w:t>{%p endif %}</w:t></w:r></w:p>"
    )
    with private_api(
        "docxtpl.DocxTemplate.patch_xml called without an instance",
        "docgen.render.docx._patched_xml",
    ):
        patched = DocxTemplate.patch_xml(None, source)
        # a {%p %} tag takes the place of its whole paragraph; the paragraphs between stay
        assert patched.startswith("{% if x %}<w:p>") and patched.endswith("</w:p>{% endif %}")
        assert ">{{ name }}</w:t>" in patched
    with private_api(
        "docxtpl.DocxTemplate.render(jinja_env=, autoescape=)", "docgen.render.docx.DocxRenderer"
    ):
        assert {"jinja_env", "autoescape"} <= set(inspect.signature(DocxTemplate.render).parameters)
    with private_api(
        "docxtpl.DocxTemplate.xml_to_string and patch_xml", "docgen.templatecheck.docx_source"
    ):
        text = docx_source(bundled_templates() / "docx" / "penolakan.docx")
        assert "{{" in text


def test_pyhanko_cross_reference_cache() -> None:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.pdf_utils.writer import PdfFileWriter

    buffer = io.BytesIO()
    PdfFileWriter(stream_xrefs=False).write(buffer)
    update = IncrementalPdfFileWriter(buffer)
    added = update.add_object(generic.TextStringObject("canary"))
    update.write_in_place()
    data = buffer.getvalue()
    offset = data.index(b"%d 0 obj" % added.idnum)

    with private_api(
        "pyhanko PdfFileReader.xrefs (XRefCache, XRefSectionData)",
        "docgen.verify.revisions.agree_with_pyhanko and docgen.verify.updates",
    ):
        xrefs = PdfFileReader(io.BytesIO(data)).xrefs
        assert xrefs.total_revisions == 2
        assert data[xrefs.get_startxref_for_revision(1) :].startswith(b"xref")
        section = xrefs.get_xref_data(1)
        assert (added.idnum, 0) in section.explicit_refs_in_revision
        assert section.standard_xrefs[added.idnum] == (0, offset)
        assert not section.freed and not section.xrefs_in_objstm and section.hybrid is None
        assert xrefs.get_historical_ref(generic.Reference(added.idnum), 0) is None
        assert xrefs.get_historical_ref(generic.Reference(added.idnum), 1) == offset


def test_pyhanko_timestamper_sample_answer_cache() -> None:
    from pyhanko.sign.timestamps.api import TimeStamper

    where = "docgen.sign.services._TimeStamper.async_dummy_response"
    with private_api("pyhanko TimeStamper._dummy_response_cache and _register_dummy", where):
        stamper = TimeStamper()
        assert stamper._dummy_response_cache == {}
        assert list(inspect.signature(stamper._register_dummy).parameters) == [
            "md_algorithm", "dummy"
        ]  # fmt: skip
        assert "_dummy_response_cache" in inspect.getsource(TimeStamper.async_dummy_response)


def test_pyhanko_signer_keeps_what_its_constructor_was_given() -> None:
    """docgen.sign.backends.LetterSigner re-runs Signer.__init__ on a copy of a signer."""
    from pyhanko.sign.signers import Signer

    with private_api("pyhanko Signer.__init__ keywords", "docgen.sign.backends.LetterSigner"):
        parameters = set(inspect.signature(Signer.__init__).parameters) - {"self"}
        assert parameters == {
            "prefer_pss", "embed_roots", "signature_mechanism", "signing_cert",
            "cert_registry", "attribute_certs",
        }  # fmt: skip


def test_pyhanko_root_exempt_keys() -> None:
    with private_api(
        "pyhanko.sign.diff_analysis.constants.ROOT_EXEMPT_STRICT_COMPARISON",
        "docgen.sign.remote",
    ):
        from pyhanko.sign.diff_analysis.constants import ROOT_EXEMPT_STRICT_COMPARISON

        assert "/DSS" in ROOT_EXEMPT_STRICT_COMPARISON | {"/Perms"}


class _Answer(http.server.BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []  # noqa: RUF012 (one server per test)

    def do_GET(self) -> None:
        self.seen.append(dict(self.headers))
        self.send_response(200)
        self.send_header("Content-Length", "6")
        self.end_headers()
        self.wfile.write(b"canary")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_certvalidator_requests_fetcher_internals() -> None:
    from pyhanko_certvalidator.fetchers.requests_fetchers.cert_fetch_client import (
        RequestsCertificateFetcher,
    )
    from pyhanko_certvalidator.fetchers.requests_fetchers.crl_client import RequestsCRLFetcher
    from pyhanko_certvalidator.fetchers.requests_fetchers.ocsp_client import RequestsOCSPFetcher
    from pyhanko_certvalidator.fetchers.requests_fetchers.util import RequestsFetcherMixin

    from docgen.sign.services import _FetcherBackend

    where = "docgen.sign.services._BoundedFetches and _FetcherBackend"
    with private_api("RequestsFetcherMixin._get(url, *, acceptable_content_types)", where):
        parameters = inspect.signature(RequestsFetcherMixin._get).parameters
        assert list(parameters) == ["self", "url", "acceptable_content_types"]
        assert "self._get(" in inspect.getsource(RequestsCRLFetcher)
        assert "self._get(" in inspect.getsource(RequestsCertificateFetcher)
    with private_api(
        "RequestsFetcherMixin._post(url, data, *, content_type, acceptable_content_types)", where
    ):
        parameters = inspect.signature(RequestsFetcherMixin._post).parameters
        assert list(parameters) == [
            "self", "url", "data", "content_type", "acceptable_content_types"
        ]  # fmt: skip
        assert "self._post(" in inspect.getsource(RequestsOCSPFetcher)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with private_api(
            "RequestsFetcherBackend.limits / per_request_timeout, FetchBudget, fetcher user_agent",
            where,
        ):
            fetchers = _FetcherBackend(per_request_timeout=5).get_fetchers()
            crl_fetcher: Any = fetchers.crl_fetcher
            url = f"http://127.0.0.1:{server.server_port}/canary.crl"
            answer = asyncio.run(
                crl_fetcher._get(url, acceptable_content_types=("application/pkix-crl",))
            )
            assert answer.content == b"canary"
            assert _Answer.seen[-1]["User-Agent"] == crl_fetcher.user_agent
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_requests_response_content_is_read_from_its_private_field() -> None:
    import requests

    with private_api("requests.Response._content", "docgen.sign.services.bounded_request"):
        response = requests.Response()
        response._content = b"canary"
        assert response.content == b"canary"


def test_certvalidator_revocation_address_helpers(pki: DemoPki) -> None:
    from asn1crypto import pem, x509
    from pyhanko_certvalidator.authority import CertTrustAnchor
    from pyhanko_certvalidator.path import ValidationPath

    from docgen.verify.verifier import _revocation_urls

    def certificate(path: Path) -> x509.Certificate:
        return x509.Certificate.load(pem.unarmor(path.read_bytes())[2])

    where = "docgen.verify.verifier._revocation_urls (the addresses verification may ask)"
    with private_api(
        "pyhanko_certvalidator.util.get_ocsp_urls / get_relevant_crl_dps, "
        "fetchers.common_utils.enumerate_delivery_point_urls",
        where,
    ):
        root, intermediate = certificate(pki.root_cert), certificate(pki.intermediate_cert)
        signer = certificate(pki.certs["signer-ilmate"])
        path = ValidationPath(CertTrustAnchor(root), [intermediate], signer)
        urls = _revocation_urls(path)
        expected = {*signer.ocsp_urls, *intermediate.ocsp_urls}
        expected |= {point.url for point in signer.crl_distribution_points if point.url}
        expected |= {point.url for point in intermediate.crl_distribution_points if point.url}
        assert expected and expected <= urls, (expected, urls)
