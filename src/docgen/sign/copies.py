"""Certificates and other ASN.1 values that threads share as bytes, each using its own copies.

asn1crypto, which pyHanko uses for every certificate, timestamp and revocation answer, parses
lazily and keeps what it parsed inside the object, without a lock. Two threads reading one
certificate for the first time each see the other's half-built state: a ``KeyError`` ("No
field numbered 2 is present in this Extension"), or a certificate whose signature "could not be
verified", so that a letter was refused. So no asn1crypto object is used by two threads: what
docgen shares (trust roots, a signer's chain, the timestamping authority's answer, revocation
answers) is kept as DER bytes, and each letter or verification builds new objects from them.

Example::

    roots = keep_all(load_certs_from_pemder(paths))   # once, shared by every thread
    context = ValidationContext(trust_roots=fresh_all(roots))   # per letter
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from asn1crypto import core, x509
from pyhanko.keys import load_certs_from_pemder

__all__ = [
    "Kept",
    "fresh",
    "fresh_all",
    "fresh_answer",
    "keep_all",
    "keep_certificates",
    "kept_answer",
]

A = TypeVar("A", bound=core.Asn1Value)


@dataclass(frozen=True, slots=True)
class Kept(Generic[A]):
    """An ASN.1 value kept as its encoding, from which any thread builds a copy of its own."""

    kind: type[A]
    """The asn1crypto class to load the bytes as."""
    der: bytes
    """The value's encoding."""

    @classmethod
    def of(cls, value: A) -> Kept[A]:
        """Keep ``value``: call it in the one thread that has used ``value`` so far."""
        return cls(type(value), value.dump())

    def fresh(self) -> A:
        """A new object, for the calling thread only."""
        value: A = self.kind.load(self.der)
        return value


def fresh(value: A) -> A:
    """A new object equal to ``value``, which other threads may be holding but not parsing.

    ``dump`` of a loaded value that nobody changed returns the bytes it was loaded from without
    parsing anything, so copying a shared value whose users all copy it first is safe.
    """
    return Kept.of(value).fresh()


def keep_all(values: Iterable[A]) -> tuple[Kept[A], ...]:
    """Keep every value (see :meth:`Kept.of`)."""
    return tuple(Kept.of(value) for value in values)


def keep_certificates(paths: Iterable[Path]) -> tuple[Kept[x509.Certificate], ...]:
    """Every certificate in the PEM or DER files ``paths``, kept (``OSError`` if unreadable)."""
    return keep_all(
        certificate for path in paths for certificate in load_certs_from_pemder([str(path)])
    )


def fresh_all(kept: Iterable[Kept[A]]) -> list[A]:
    """A new object for every kept value."""
    return [item.fresh() for item in kept]


def kept_answer(answer: Any) -> Kept[Any] | tuple[Kept[Any], ...] | None:
    """A revocation service's answer (one value or a list of them) as bytes; None otherwise."""
    if isinstance(answer, core.Asn1Value):
        return Kept.of(answer)
    if isinstance(answer, list | tuple) and all(isinstance(a, core.Asn1Value) for a in answer):
        return keep_all(answer)
    return None


def fresh_answer(kept: Kept[Any] | tuple[Kept[Any], ...]) -> Any:
    """A new copy of an answer kept by :func:`kept_answer` (a list for a list)."""
    return kept.fresh() if isinstance(kept, Kept) else fresh_all(kept)
