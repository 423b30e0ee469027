"""Who may sign with a key: the printed signatory must be the key's holder or an allowed official.

A letter prints its signatory's name and NIP under the signature, and the signature's certificate
names the key's holder. A letter printing one official and signed with another's key misleads
every reader, so it is refused before a number is taken. The allowed signatories of a key are:

- the holder its certificate names: the common name, compared as a person's name (titles, commas,
  case and accents ignored), and the NIP where the certificate carries one (an 18-digit run in the
  subject's serial number), in any capacity (the certificate names a person, not a position);
- the officials the settings list for the key's Directorate General (``signing.officials``),
  by name and NIP, each only in the capacity listed: a Plt. or Plh. official only with that mark
  printed, and an official listed without one only as the position's own holder.

A key whose certificate names a position rather than a person (an organisation's key) matches no
printed name, so its officials must be listed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from asn1crypto import x509

from docgen.config import Official
from docgen.errors import FieldProblem, RequestInvalid
from docgen.models import Signatory

__all__ = ["KeyHolders", "certificate_nip", "fold_name"]

# titles printed before a name (after it, degrees follow a comma and are cut there)
_PREFIX_TITLES = frozenset(
    {"prof", "dr", "drs", "dra", "drg", "drh", "ir", "h", "hj", "kh", "apt", "ns"}
)
_HONORIS_CAUSA = re.compile(r"\(\s*h\.?\s*c\.?\s*\)")
_NIP_IN_TEXT = re.compile(r"(?<![0-9])[0-9]{18}(?![0-9])")


def fold_name(name: str) -> str:
    """A person's name as compared: without titles and degrees, case, accents and punctuation.

    ``"Dr. Ir. Agus Pramono Hadi, M.Sc."`` and ``"AGUS PRAMONO HADI"`` fold alike. Degrees are
    cut at the first comma, as Indonesian names write them; titles before the name are dropped
    one by one while they are known titles.
    """
    text = unicodedata.normalize("NFKD", name.split(",", 1)[0])
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    words = re.sub(r"[^\w\s]+", " ", _HONORIS_CAUSA.sub(" ", text)).split()
    while len(words) > 1 and words[0] in _PREFIX_TITLES:  # "Dr. Ir. Budi": titles at the front
        words.pop(0)
    return " ".join(words)


def certificate_nip(certificate: x509.Certificate) -> str | None:
    """The NIP a certificate's subject carries in its serial number, if it carries one."""
    serial = certificate.subject.native.get("serial_number")
    found = _NIP_IN_TEXT.findall(str(serial)) if serial else []
    return found[0] if len(found) == 1 else None


@dataclass(frozen=True, slots=True)
class _Allowed:
    name: str
    """The name as the settings or the certificate give it (for messages)."""
    folded: str
    nip: str | None
    """The NIP the letter must print; None: any (a certificate without one)."""
    acting: tuple[str | None, ...] | None
    """The capacities allowed (None for the position's own holder); None: any."""


@dataclass(frozen=True, slots=True)
class KeyHolders:
    """The signatories allowed to sign with one Directorate General's key."""

    directorate: str
    """The Directorate General whose key this is."""
    holder: str | None
    """The key holder's common name, or None when unknown (a remote key checked later)."""
    allowed: tuple[_Allowed, ...]

    @classmethod
    def of(
        cls,
        directorate: str,
        holder: str | None,
        holder_nip: str | None,
        officials: tuple[Official, ...] = (),
    ) -> KeyHolders:
        """The holder (common name and NIP of the key's certificate) and the listed officials."""
        allowed = [_Allowed(o.name, fold_name(o.name), o.nip, (o.acting,)) for o in officials]
        if holder:
            allowed.insert(0, _Allowed(holder, fold_name(holder), holder_nip, None))
        return cls(directorate, holder, tuple(allowed))

    def check(self, signatory: Signatory, *, source: str = "") -> None:
        """Refuse (:class:`RequestInvalid`) a signatory who may not sign with this key."""
        folded = fold_name(signatory.name)
        same_name = [a for a in self.allowed if a.folded == folded]
        same_nip = [a for a in same_name if a.nip is None or a.nip == signatory.nip]
        if any(a.acting is None or signatory.acting in a.acting for a in same_nip):
            return
        if same_nip:
            capacities = sorted(
                c or "the position's own holder" for a in same_nip for c in a.acting or ()
            )
            problem = FieldProblem(
                "Acting official",
                f"{signatory.name} may sign with the key of {self.directorate} only as "
                f"{' or '.join(capacities)}, but the letter prints "
                f"{signatory.acting or 'no Plt./Plh. mark'} (settings: signing.officials)",
            )
        elif same_name:
            problem = FieldProblem(
                "Signing official's NIP",
                f"{signatory.nip} is not the NIP of {signatory.name} that the key of "
                f"{self.directorate} is allowed for (its certificate or signing.officials)",
            )
        else:
            problem = FieldProblem("Signing official's name", self._who_may(signatory.name))
        raise RequestInvalid([problem], source=source)

    def _who_may(self, name: str) -> str:
        listed = [a.name for a in self.allowed if a.acting is not None]  # not the holder
        holder = f"its certificate names {self.holder}" if self.holder else "its holder is unknown"
        others = (
            f"signing.officials allows only: {'; '.join(listed)}"
            if listed
            else "signing.officials lists no other official for it"
        )
        key = f"the signing key of {self.directorate}"
        return f"{name} may not sign with {key}: {holder}, and {others}"
