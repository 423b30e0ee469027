"""No asn1crypto object is used by two threads: each letter and verification parses its own.

asn1crypto parses lazily into the object, without a lock. With certificates shared between
threads, a B-LTA letter was refused now and then ("the signature of the end-entity certificate
could not be verified", three tries in a row), and contexts built at the same moment raised
KeyError ("No field numbered 2 is present in this Extension").
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest
from asn1crypto import ocsp, x509
from pyhanko.keys import load_cert_from_pemder
from pyhanko_certvalidator import ValidationContext

from docgen.config import Settings
from docgen.reports import IssuedLetter, Verdict
from docgen.sign.backends import open_backend
from docgen.sign.copies import Kept, fresh, keep_all
from docgen.sign.services import RevocationAnswers, TrustServices
from docgen.verify import Verifier
from scripts.demo_pki import DemoPki


def _all_at_once(work: Callable[[], object], threads: int = 8) -> list[BaseException]:
    """Start ``work`` in ``threads`` threads at the same moment; the errors they raised."""
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def run() -> None:
        start.wait()
        try:
            work()
        except BaseException as error:  # collected and reported by the test
            errors.append(error)

    running = [threading.Thread(target=run) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(timeout=30)
    return errors


def _parse_everything(certificate: x509.Certificate) -> None:
    """What path building asks of a certificate first: names, key identifiers, the signature."""
    assert certificate.subject.hashable and certificate.issuer.hashable
    assert certificate.key_identifier is not None
    assert certificate["tbs_certificate"].dump() and certificate["signature_value"].native


def test_contexts_made_at_the_same_moment_each_parse_their_own_roots(
    settings: Settings, pki: DemoPki
) -> None:
    """Before, eight threads building their first contexts raced in the shared root certificate."""
    root = load_cert_from_pemder(pki.root_cert)
    key_id = root.key_identifier  # read here, in this thread: the threads only use the bytes
    for _ in range(40):  # a new TrustServices each round: its roots not parsed by anyone yet
        services = TrustServices(settings)
        found: list[x509.Certificate] = []

        def build(
            services: TrustServices = services, found: list[x509.Certificate] = found
        ) -> None:
            context = services.validation_context("owner")
            known = context.certificate_registry.retrieve_by_key_identifier(key_id)
            _parse_everything(known)
            found.append(known)

        assert _all_at_once(build) == []
        assert len({id(known) for known in found}) == len(found) == 8
        assert {known.dump() for known in found} == {root.dump()}


def test_each_letter_signs_with_certificates_of_its_own(settings: Settings) -> None:
    backend = open_backend(settings.signing.keys["AGRO"])
    shared = backend.signer
    first, second = shared.for_letter(), shared.for_letter()
    assert first.signing_cert is not None and second.signing_cert is not None
    assert first.signing_cert is not second.signing_cert is not shared.signing_cert
    assert first.signing_cert.dump() == second.signing_cert.dump()
    chain_ids = [{id(c) for c in signer.cert_registry} for signer in (shared, first, second)]
    assert not chain_ids[0] & chain_ids[1] and not chain_ids[1] & chain_ids[2]
    assert len(chain_ids[1]) == len(chain_ids[0]) > 0
    # the copies sign with the one key: same mechanism, same certificate bytes
    assert first.get_signature_mechanism_for_digest("sha256").dump() == (
        shared.get_signature_mechanism_for_digest("sha256").dump()
    )

    errors = _all_at_once(lambda: _parse_everything(_signing_cert(shared.for_letter())))
    assert errors == []


def _signing_cert(signer: object) -> x509.Certificate:
    certificate = getattr(signer, "signing_cert", None)
    assert isinstance(certificate, x509.Certificate)
    return certificate


def test_revocation_answers_are_handed_out_as_copies(pki: DemoPki) -> None:
    answers = RevocationAnswers(max_age=60)
    certificate = load_cert_from_pemder(pki.root_cert)
    answers.put("one", certificate)
    answers.put("several", [certificate, fresh(certificate)])
    one, again = answers.get("one"), answers.get("one")
    assert isinstance(one, x509.Certificate) and isinstance(again, x509.Certificate)
    assert one is not again and one is not certificate and one.dump() == certificate.dump()
    several = answers.get("several")
    assert isinstance(several, list) and [c.dump() for c in several] == [certificate.dump()] * 2

    answers.put("unknown", object())  # nothing docgen can copy is kept (asked again next time)
    assert answers.get("unknown") is None
    response = ocsp.OCSPResponse({"response_status": "try_later"})
    answers.put("ocsp", response)
    kept = answers.get("ocsp")
    assert isinstance(kept, ocsp.OCSPResponse) and kept is not response
    assert kept.dump() == response.dump()


def test_the_timestamp_sample_is_asked_once_and_each_letter_gets_a_copy(
    settings: Settings, pki_services: str
) -> None:
    signing = settings.signing.model_copy(update={"timestamp_url": pki_services})
    services = TrustServices(settings.model_copy(update={"signing": signing}))
    first, second = services.timestamper(), services.timestamper()
    assert first is not second
    sample = asyncio.run(first.async_dummy_response("sha256"))
    # the second client registers a copy of the kept answer: it never asks the authority

    async def not_asked(request: object) -> object:
        raise AssertionError("the authority was asked again for its sample answer")

    second.async_request_tsa_response = not_asked  # type: ignore[method-assign,assignment]
    copy = asyncio.run(second.async_dummy_response("sha256"))
    assert copy is not sample and copy.dump() == sample.dump()


def test_a_verifier_shared_by_threads_parses_its_roots_per_verification(
    verifier: Verifier, issued: dict[str, IssuedLetter]
) -> None:
    pdf = next(iter(issued.values())).path.read_bytes()
    verdicts: list[Verdict] = []
    errors = _all_at_once(lambda: verdicts.append(verifier.verify(pdf).verdict))
    assert errors == [] and len(verdicts) == 8 and set(verdicts) == {Verdict.VALID}


def test_kept_values_come_back_as_new_equal_objects(pki: DemoPki) -> None:
    kept = keep_all([load_cert_from_pemder(pki.root_cert)])
    assert isinstance(kept[0], Kept) and kept[0].kind is x509.Certificate
    made = [kept[0].fresh() for _ in range(2)]
    assert made[0] is not made[1] and made[0].dump() == made[1].dump() == kept[0].der


def test_building_contexts_from_one_shared_root_without_copies_is_what_fails(
    pki: DemoPki,
) -> None:
    """The hazard itself, so that the tests above guard something real: shared, it breaks."""
    root = load_cert_from_pemder(pki.root_cert).dump()
    others = [load_cert_from_pemder(path).dump() for path in pki.certs.values()]
    for _ in range(200):
        # new, unparsed certificates each round
        shared = x509.Certificate.load(root), [x509.Certificate.load(der) for der in others]

        def build(certificates: tuple[x509.Certificate, list[x509.Certificate]] = shared) -> None:
            ValidationContext(trust_roots=[certificates[0]], other_certs=certificates[1])

        if _all_at_once(build):
            return
    pytest.fail("asn1crypto no longer fails when shared: docgen.sign.copies may be simplified")
