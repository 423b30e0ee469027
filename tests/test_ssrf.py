"""No server-side request forgery through verification.

Anyone may upload a letter to a public verification site, and a certificate in it may name any
address as its issuer's (AIA caIssuers), OCSP responder or CRL distribution point, this host's
own loopback services included. Verification may only ask the revocation services named by
certificates that chain to the trust roots. Each crafted letter here names a loopback port
where a plain listener records every connection: verifying it must reach no verdict of valid,
and no connection. The positive controls show the listener does notice a request made the way
pyHanko makes them when nothing guards it, and that genuine letters still verify online.
"""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from docgen.config import KeySettings, Settings
from docgen.render import Renderer
from docgen.reports import Verdict
from docgen.sign import PadesSigner, SignerBackend, open_backend
from docgen.sign.backends import LocalKeySigner
from docgen.sign.services import fetching_context
from docgen.verify import Verifier
from docgen.verify.binding import Signers
from scripts.demo_pki import DemoPki
from tests.helpers import EXAMPLES, load_request

STEM = "ilmate-pertek-baja-approved"
FETCH_TIMEOUT = 2.0
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")  # RFC 9336


@dataclass
class Listener:
    """A loopback port that accepts, records and closes every connection made to it."""

    port: int
    connections: list[tuple[str, int]]

    def url(self, path: str) -> str:
        """An address on this port."""
        return f"http://127.0.0.1:{self.port}/{path}"


@pytest.fixture
def listener(monkeypatch: pytest.MonkeyPatch) -> Iterator[Listener]:
    """The "other loopback port": plain TCP, no HTTP, so any connection at all is recorded."""
    # a proxy from the environment would take the connections the listener must see
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.1)
    found = Listener(server.getsockname()[1], [])
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, peer = server.accept()
            except TimeoutError:
                continue
            found.connections.append(peer)
            connection.close()  # the client fails at once instead of waiting for its timeout

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


# --- crafted certificates -----------------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SSRF Test"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _pointing_at(listener: Listener, who: str) -> list[x509.ExtensionType]:
    """caIssuers, OCSP and CRL addresses, all on the listener's port."""
    uri = x509.UniformResourceIdentifier
    return [
        x509.AuthorityInformationAccess(
            [
                x509.AccessDescription(
                    AuthorityInformationAccessOID.CA_ISSUERS, uri(listener.url(f"{who}/issuer.crt"))
                ),
                x509.AccessDescription(
                    AuthorityInformationAccessOID.OCSP, uri(listener.url(f"{who}/ocsp"))
                ),
            ]
        ),
        x509.CRLDistributionPoints(
            [x509.DistributionPoint([uri(listener.url(f"{who}/latest.crl"))], None, None, None)]
        ),
    ]


def _certificate(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    extensions: list[x509.ExtensionType],
    *,
    ca: bool,
) -> x509.Certificate:
    now = datetime.now(UTC)
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=not ca,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING]),
            critical=False,
        )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def _backend(
    key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate, chain: list[x509.Certificate]
) -> SignerBackend:
    signer = LocalKeySigner(key, _asn1(certificate), [_asn1(known) for known in chain])
    return SignerBackend(signer=signer, subject="SSRF test signer", kind="pem")


def _untrusted_ca_signer(listener: Listener, *, embed_ca: bool) -> SignerBackend:
    """(a) A signer under a CA of its own making, not in the trust roots.

    Without the CA in the letter, the path builder would fetch it from the caIssuers address.
    """
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("SSRF Test Self-made CA")
    ca = _certificate(ca_name, ca_key, ca_name, ca_key, _pointing_at(listener, "ca"), ca=True)
    signer = _certificate(
        _name("SSRF Test Signer"), key, ca_name, ca_key, _pointing_at(listener, "signer"), ca=False
    )
    return _backend(key, signer, [ca] if embed_ca else [])


def _self_signed_signer(listener: Listener) -> SignerBackend:
    """(b) A self-signed signer."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("SSRF Test Self-signed Signer")
    signer = _certificate(name, key, name, key, _pointing_at(listener, "self"), ca=False)
    return _backend(key, signer, [])


def _forged_issuer_signer(listener: Listener, pki: DemoPki) -> SignerBackend:
    """(c) A signer naming the demo intermediate CA as its issuer, signed by another key.

    The genuine intermediate certificate (public) travels in the letter, so the path builder
    meets a trusted chain whose last link fails, and looks further.
    """
    intermediate = x509.load_pem_x509_certificate(pki.intermediate_cert.read_bytes())
    forger, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    signer = _certificate(
        _name("SSRF Test Forged Signer"),
        key,
        intermediate.subject,
        forger,
        _pointing_at(listener, "forged"),
        ca=False,
    )
    return _backend(key, signer, [intermediate])


# --- letters ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def final_pdf(renderer: Renderer) -> bytes:
    """A letter rendered as final (numbered, unsigned), for the signers here."""
    return renderer.render_final(
        load_request(EXAMPLES / f"{STEM}.json"),
        number="998/TEST/SSRF/2026",
        letter_date=date(2026, 12, 1),
        verification_url="https://verifikasi.example.test/ssrf",
    ).pdf


@pytest.fixture(scope="module")
def sign(final_pdf: bytes) -> Callable[[SignerBackend], bytes]:
    """Sign the letter at B-B: it carries no revocation data, so verification fetches it."""
    pades = PadesSigner(Settings.load(signing={"level": "B-B"}))
    signatory = load_request(EXAMPLES / f"{STEM}.json").signatory

    def signed(backend: SignerBackend) -> bytes:
        return pades.sign(final_pdf, backend, signatory, "https://verifikasi.example.test").pdf

    return signed


def _online_verifier(pki: DemoPki) -> Verifier:
    """A verifier trusting the demo root, fetching revocation data online, no register."""
    signers = Signers.from_settings(Settings.load())
    return Verifier([pki.root_cert], None, fetch_timeout=FETCH_TIMEOUT, signers=signers)


CRAFTED = [
    "self-made CA, not in the letter",
    "self-made CA, in the letter",
    "self-signed",
    "forged",
]


def _crafted(kind: str, listener: Listener, pki: DemoPki) -> SignerBackend:
    if kind == "self-signed":
        return _self_signed_signer(listener)
    if kind == "forged":
        return _forged_issuer_signer(listener, pki)
    return _untrusted_ca_signer(listener, embed_ca=kind == CRAFTED[1])


@pytest.mark.parametrize("kind", CRAFTED)
def test_verifying_a_crafted_certificate_asks_none_of_its_addresses(
    kind: str,
    listener: Listener,
    pki: DemoPki,
    sign: Callable[[SignerBackend], bytes],
) -> None:
    pdf = sign(_crafted(kind, listener, pki))
    report = _online_verifier(pki).verify(pdf)
    assert report.verdict is not Verdict.VALID, report.reasons
    trust = next(check for check in report.checks if check.name == "trust")
    assert not trust.passed and "not trusted" in trust.detail
    assert report.revocation == "not established, because the signer is not trusted"
    assert listener.connections == []


def _trusted(pdf: bytes, context: ValidationContext) -> bool:
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    signature = reader.embedded_regular_signatures[0]
    status = validate_pdf_signature(signature, signer_validation_context=context, skip_diff=True)
    return bool(status.trusted)


def _demo_roots(pki: DemoPki) -> list[asn1_x509.Certificate]:
    return [_asn1(x509.load_pem_x509_certificate(pki.root_cert.read_bytes()))]


@pytest.mark.parametrize("kind", CRAFTED)
def test_without_the_guard_the_listener_is_reached(
    kind: str, listener: Listener, pki: DemoPki, sign: Callable[[SignerBackend], bytes]
) -> None:
    """The positive control: each case above could fail.

    The same letter, validated by pyHanko with a fetching context whose requests go anywhere
    (as signing's do), makes the path builder ask a crafted caIssuers address.
    """
    unguarded = fetching_context(FETCH_TIMEOUT, trust_roots=_demo_roots(pki))
    assert not _trusted(sign(_crafted(kind, listener, pki)), unguarded)
    assert listener.connections, "an unguarded validation asks the certificate's addresses"


def test_a_fetching_context_with_an_allow_list_fetches_no_issuer_certificate(
    listener: Listener, pki: DemoPki, sign: Callable[[SignerBackend], bytes]
) -> None:
    """Issuer certificates are never fetched with a list, not even from listed addresses."""
    listed = frozenset({listener.url("signer/issuer.crt")})
    guarded = fetching_context(FETCH_TIMEOUT, allowed_urls=listed, trust_roots=_demo_roots(pki))
    assert not _trusted(sign(_crafted(CRAFTED[0], listener, pki)), guarded)
    assert listener.connections == []


def _signer_under_the_demo_intermediate(listener: Listener, pki: DemoPki) -> SignerBackend:
    """A signer the demo intermediate CA really issued, naming the listener for revocation.

    It chains to the trust roots, so the verifier may ask its addresses; it serves here to see
    that a fetching context with a list asks the listed revocation addresses and no others.
    """
    intermediate = x509.load_pem_x509_certificate(pki.intermediate_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(
        (pki.key_dir / "intermediate.key.pem").read_bytes(), None
    )
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    signer = _certificate(
        _name("SSRF Test Listed Signer"),
        key,
        intermediate.subject,
        ca_key,
        _pointing_at(listener, "listed"),
        ca=False,
    )
    return _backend(key, signer, [intermediate])


@pytest.mark.parametrize(
    ("listed", "asked"), [("nothing", 0), ("the OCSP address", 1), ("no list at all", 2)]
)
def test_a_fetching_context_with_an_allow_list_asks_only_listed_revocation_addresses(
    listed: str,
    asked: int,
    listener: Listener,
    pki: DemoPki,
    sign: Callable[[SignerBackend], bytes],
) -> None:
    pdf = sign(_signer_under_the_demo_intermediate(listener, pki))
    # the intermediate's status comes first: its CRL, from the demo services, is always listed
    intermediate = x509.load_pem_x509_certificate(pki.intermediate_cert.read_bytes())
    points = intermediate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    allowed = {str(name.value) for point in points for name in point.full_name or ()}
    if listed == "the OCSP address":
        allowed.add(listener.url("listed/ocsp"))
    guarded = fetching_context(
        FETCH_TIMEOUT,
        allowed_urls=None if listed == "no list at all" else frozenset(allowed),
        trust_roots=_demo_roots(pki),
    )
    # hard-fail: the listener answers nothing, so the signer is not trusted
    assert not _trusted(pdf, guarded)
    # without a list, its OCSP and CRL addresses are both asked (the control)
    assert len(listener.connections) == asked


def _demo_signer(pki: DemoPki, label: str) -> SignerBackend:
    passphrase_file = pki.root_cert.parent / "passphrase"
    return open_backend(KeySettings(pkcs12=pki.p12[label], passphrase_file=passphrase_file))


def test_a_genuine_b_b_letter_still_verifies_online_and_asks_no_stranger(
    listener: Listener, pki: DemoPki, sign: Callable[[SignerBackend], bytes]
) -> None:
    backend = _demo_signer(pki, "signer-ilmate")
    report = _online_verifier(pki).verify(sign(backend))
    assert report.verdict is Verdict.VALID, report.reasons
    assert report.level == "B-B"
    assert report.revocation == "good, checked online with the issuing CA's services"
    assert listener.connections == []


def test_a_genuine_b_b_letter_of_a_revoked_signer_is_still_found_revoked_online(
    pki: DemoPki, sign: Callable[[SignerBackend], bytes]
) -> None:
    """The allow-list holds the addresses the revoked signer's own chain names: it is asked."""
    backend = _demo_signer(pki, "signer-revoked")
    report = _online_verifier(pki).verify(sign(backend))
    assert report.verdict is Verdict.INVALID, report.reasons
    assert report.revocation == "revoked"
