"""The Issuer: validate, number, render, sign, record — one call per request.

:class:`Issuer` is built once from settings: the templates are read, the stylesheet parsed, the
fonts prepared, every Directorate General's signing key opened and parsed, the register opened,
and the LibreOffice converter started on the first DOCX letter and kept warm. It is then safe to
share between the threads of a web application.

``issue(request)`` is idempotent on the request id. The order of work makes a crash harmless:

1. the register reserves a number (or returns the letter already issued);
2. the letter is rendered with that number and signed;
3. the signed PDF is written under a hidden temporary name beside its final name;
4. the register records the letter as issued, with the file's SHA-256;
5. the file is renamed to its final name.

A failure in 2–4 marks the reservation void with the reason and removes the temporary file. A
crash between 4 and 5 is completed by the next ``issue`` of the same request, which finds the
temporary file by its name and hash and renames it.

An issued letter's file is never replaced: a final name that already holds a file (a letter
issued under a register that was since lost or replaced, say) is refused with
:class:`~docgen.errors.OutputError` and the number voided, and so is a folder that is full or
read-only. The register itself is never created here: it must exist (``docgen register init``).

Example::

    with Issuer(Settings.load()) as issuer:
        letter = issuer.issue(LetterRequest.from_json(raw))
        print(letter.letter_number, letter.path)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from docgen._pdf import signed_revision_sha256
from docgen.catalogue import Catalogue, Service
from docgen.config import Settings
from docgen.errors import (
    DocgenError,
    OutputError,
    RegisterError,
    RequestInvalid,
    SigningError,
)
from docgen.files import commit_pending, pending_path, write_pending
from docgen.models import LetterRequest
from docgen.register import LetterFacts, LetterRecord, LetterStatus, Register, open_register
from docgen.render import Renderer
from docgen.reports import IssuedLetter, IssueOutcome
from docgen.resources import Closing
from docgen.sign import (
    PadesSigner,
    PassphrasePrompt,
    RemoteBackend,
    SignedPdf,
    SignerBackend,
    open_backend,
)
from docgen.sign.backends import common_name
from docgen.sign.holders import KeyHolders, certificate_nip

__all__ = ["Issuer", "letter_path", "request_hash"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _refuse_taken(path: Path, record: LetterRecord) -> None:
    """Refuse to issue a letter whose file name already holds a file (it is never replaced)."""
    if os.path.lexists(path):
        raise OutputError(
            f"{path} already holds a file, and letter {record.letter_number} would replace it; "
            "docgen never replaces a letter. Was the register replaced or restored from an "
            "older copy? Put back the register that issued that file, or issue into another "
            "folder (--out); this attempt's number is void"
        )


def request_hash(request: LetterRequest) -> str:
    """SHA-256 of the request's canonical JSON: what "the same request" means."""
    return hashlib.sha256(request.model_dump_json().encode()).hexdigest()


def letter_path(root: Path, record: LetterRecord) -> Path:
    """Where a letter goes: ``root/DG/service/date/number.pdf``, safe on any filesystem."""
    name = _UNSAFE.sub("_", record.letter_number.replace("/", "-")).strip("._") or "letter"
    return root / record.directorate / record.service / record.issued_on.isoformat() / f"{name}.pdf"


def _same_letter(path: Path, record: LetterRecord) -> bool:
    """Whether the file is the letter recorded (validation data added since is fine)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return False
    except OSError as error:
        raise OutputError(f"Cannot read the letter {path}: {error.strerror}") from None
    if hashlib.sha256(data).hexdigest() == record.pdf_sha256:
        return True
    return record.signed_sha256 is not None and (
        signed_revision_sha256(data) == record.signed_sha256
    )


def _facts(request: LetterRequest, service: Service, level: str) -> LetterFacts:
    """What the letter shows of itself, for its verification page (as the templates print it)."""
    signatory = request.signatory
    # as printed: the mandate line, then the position with its acting mark
    title = f"{signatory.acting} {signatory.title}" if signatory.acting else signatory.title
    return LetterFacts(
        subject=request.subject or service.subject_for(request.decision.outcome),
        signatory=signatory.name,
        position=f"{signatory.delegation}, {title}" if signatory.delegation else title,
        level=level,
        valid_until=request.valid_until,
    )


def _record_issued(
    register: Register,
    record: LetterRecord,
    signed: SignedPdf,
    path: Path,
    request: LetterRequest,
    service: Service,
) -> LetterRecord:
    """Record a reserved letter as issued: its file's hashes, signer and shown facts."""
    return register.mark_issued(
        record.register_id,
        sha256=signed.sha256,
        signed_sha256=signed.signed_sha256,
        path=str(path),
        signer=signed.signer,
        facts=_facts(request, service, signed.level),
    )


def _holders(
    directorate: str, backend: SignerBackend | RemoteBackend, settings: Settings
) -> KeyHolders:
    """Who may sign with a Directorate General's key: its holder and the officials listed."""
    officials = settings.signing.officials.get(directorate, ())
    if isinstance(backend, RemoteBackend):  # the certificate comes with the signature
        return KeyHolders.of(directorate, backend.subject, None, officials)
    certificate = backend.signer.signing_cert
    assert certificate is not None
    return KeyHolders.of(
        directorate, common_name(certificate), certificate_nip(certificate), officials
    )


def _move_into_place(pending: Path, path: Path, record: LetterRecord) -> bool:
    """Move a recorded letter's pending file to its name; a rival doing the same move is fine.

    Once a letter is recorded, any issuer asked for the same request, in any thread, process or
    node, completes a move that looks unfinished (see :meth:`Issuer._existing`), so two may race
    to it: the slower one finds the pending name gone or the final name taken, by the letter
    recorded. Only another file under the final name, or a failure with no letter there, is an
    error. Returns whether this call made the move (False: the rival did).
    """
    try:
        commit_pending(pending, path)
    except OutputError:
        if not _same_letter(path, record):
            raise
        with contextlib.suppress(OSError):  # the rival may have died between link and unlink
            pending.unlink(missing_ok=True)
        return False
    return True


class Issuer(Closing):
    """Issues letters: numbered once, signed, recorded, written safely. Build once, share."""

    def __init__(
        self,
        settings: Settings,
        *,
        renderer: Renderer | None = None,
        register: Register | None = None,
        signers: Mapping[str, SignerBackend | RemoteBackend] | None = None,
        prompt: PassphrasePrompt | None = None,
    ):
        """Prepare everything; signing keys not given in ``signers`` are opened from settings."""
        self.settings = settings
        # keys first: a wrong passphrase must fail before anything else is opened
        self._signers: dict[str, SignerBackend | RemoteBackend] = dict(signers or {})
        for directorate, key in settings.signing.keys.items():
            if directorate not in self._signers:
                self._signers[directorate] = open_backend(key, prompt)
        self._pades = PadesSigner(settings)
        for backend in self._signers.values():
            self._pades.check_backend(backend)  # a remote backend above B-B: refuse up front
        self._holders = {dg: _holders(dg, b, settings) for dg, b in self._signers.items()}
        self._zone = ZoneInfo(settings.signing.timezone)
        # the register next, before the renderer: a missing register (never created here) is a
        # quick, clear error, and nothing started has to be stopped for it
        self.register = register or open_register(settings)
        try:
            # the Issuer checks requests against the catalogue and renders with the same one
            self.catalogue = (
                renderer.catalogue
                if renderer is not None
                else Catalogue.load(settings.templates / "catalogue.toml")
            )
            self.renderer = renderer or Renderer(settings, self.catalogue)
        except BaseException:
            if register is None:
                self.register.close()
            raise
        self._owns_renderer = renderer is None

    def close(self) -> None:
        """Stop the converter (if this issuer started it) and close the register."""
        if self._owns_renderer:
            self.renderer.close()
        self.register.close()

    def verification_url(self, register_id: str) -> str:
        """The address recipients verify a letter at (the QR code leads there)."""
        return self.settings.esign.verification_base_url + register_id

    def issue(
        self,
        request: LetterRequest,
        *,
        out_dir: Path | None = None,
        source: str = "",
        taking_number: contextlib.AbstractContextManager[object] | None = None,
    ) -> IssuedLetter:
        """Issue a letter for a request, or return the one already issued for its id.

        ``taking_number`` is entered once the request has passed every check, just before its
        number is taken, and left right after: a batch numbering in input order waits there for
        the records before this one, and lets the next one go on.
        """
        today = datetime.now(self._zone).date()
        service = self.catalogue.check_request(request, today=today, source=source)
        backend = self._signers.get(service.directorate_general)
        if backend is None:
            raise SigningError(
                f"No signing key is configured for {service.directorate_general} "
                "(settings: signing.keys)"
            )
        # the printed signatory must be the key's holder or an official allowed to use it
        try:
            self._holders[service.directorate_general].check(request.signatory, source=source)
        except RequestInvalid:
            # a letter issued while its signatory was allowed stands: asked again (a batch run
            # again after the officials changed), it is returned, as any issued letter is
            issued = self.register.by_request(request.request_id)
            if issued is None or issued.status not in (LetterStatus.ISSUED, LetterStatus.REVOKED):
                raise
        with taking_number or contextlib.nullcontext():
            record = self.register.reserve(
                request, service.numbering(today), request_hash(request), issued_on=today
            )
        if record.status is not LetterStatus.RESERVED:
            return self._existing(record)
        # recorded whole: a letter asked for again from another folder is found where it is
        path = letter_path(Path(os.path.abspath(out_dir or self.settings.output)), record)
        pending = pending_path(path, record.register_id)
        try:
            _refuse_taken(path, record)  # before the work of rendering and signing
            url = self.verification_url(record.register_id)
            letter = self.renderer.render_final(
                request,
                number=record.letter_number,
                letter_date=record.issued_on,
                verification_url=url,
                source=source,
                checked=service,
                attach=False,  # the signer embeds it, in the signature's update
            )
            signed = self._pades.sign(letter.pdf, backend, request.signatory, url, attach=request)
            write_pending(path, signed.pdf, record.register_id)
            _refuse_taken(path, record)  # again: it may have appeared while this one was made
            record = _record_issued(self.register, record, signed, path, request, service)
        except BaseException as error:
            with contextlib.suppress(FileNotFoundError):
                pending.unlink()
            if not isinstance(error, KeyboardInterrupt | SystemExit):
                reason = str(error) if isinstance(error, DocgenError) else repr(error)
                with contextlib.suppress(DocgenError):
                    self.register.mark_void(record.register_id, reason[:2000])
            raise
        # recorded: a failure from here on keeps the pending file, and running again completes
        # the move (see _existing)
        _move_into_place(pending, path, record)
        return self._letter(record, IssueOutcome.ISSUED)

    def _existing(self, record: LetterRecord) -> IssuedLetter:
        """The letter issued before; completes a rename that a crash interrupted."""
        assert record.pdf_path is not None and record.pdf_sha256 is not None
        path = Path(record.pdf_path)
        pending = pending_path(path, record.register_id)
        if _same_letter(path, record):
            # a crash between the move's link and its unlink leaves the pending name as well
            with contextlib.suppress(OSError):
                pending.unlink(missing_ok=True)
        else:
            # the issuer may be moving it right now: the letter is then at its name already
            if not _same_letter(pending, record) and not _same_letter(path, record):
                where = "" if path.is_absolute() else f" (looked for in {Path.cwd()})"
                raise RegisterError(
                    f"Letter {record.letter_number} was issued, but its file {path} is missing "
                    f"or changed{where}; restore it from the archive"
                )
            if _move_into_place(pending, path, record):  # never over another file
                self.register.record_file_completed(record.register_id, str(path))
        outcome = (
            IssueOutcome.REVOKED
            if record.status is LetterStatus.REVOKED
            else IssueOutcome.ALREADY_ISSUED
        )
        return self._letter(record, outcome)

    def _letter(self, record: LetterRecord, outcome: IssueOutcome) -> IssuedLetter:
        assert record.pdf_path and record.pdf_sha256 and record.signer and record.issued_at
        return IssuedLetter(
            register_id=record.register_id,
            request_id=record.request_id,
            letter_number=record.letter_number,
            service=record.service,
            directorate=record.directorate,
            outcome=outcome,
            path=Path(record.pdf_path),
            sha256=record.pdf_sha256,
            signer=record.signer,
            issued_at=record.issued_at,
            verification_url=self.verification_url(record.register_id),
        )
