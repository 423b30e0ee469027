"""The demo PKI: DEMO certificates for the three Directorates General, made from certs/demo-pki.yml.

FOR DEMONSTRATION AND TESTS ONLY; real letters are signed with BSrE certificates. It belongs to the
source checkout (the demo and the tests), not to the docgen package: it needs certomancer, a test
dependency, and the configuration in certs/. The configuration
(certomancer format, no key material) is committed; :func:`make_demo_pki` generates the keys and
writes into a target directory::

    keys/<key label>.key.pem     private keys (unencrypted PKCS#8, mode 0600), for certomancer
    <signer>.p12                 key, certificate and chain to its root, under the passphrase (0600)
    <label>.cert.pem             every certificate: root, intermediate, tsa, ocsp, the signers,
                                 rogue-root

Signers: ``signer-agro``, ``signer-ikft``, ``signer-ilmate`` (one per Directorate General), and
for tests ``signer-expired`` (2020–2021), ``signer-revoked`` (revoked 2025-06-01) and
``signer-rogue`` (under ``rogue-root``, outside the demo root). certomancer is imported only when
needed. Example::

    pki = make_demo_pki(Path("certs/generated"), b"passphrase")
    signer = SimpleSigner.load_pkcs12(pki.p12["signer-agro"], passphrase=b"passphrase")
    arch = load_architecture(pki.config, pki.key_dir)   # serves OCSP, CRLs, time stamps

From the shell, ``python scripts/demo_pki.py TARGET`` (passphrase from ``$DOCGEN_PKI_PASSPHRASE``,
else from ``TARGET/passphrase``, else a random one written there).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docgen.errors import ConfigError

if TYPE_CHECKING:
    from certomancer import PKIArchitecture

__all__ = [
    "ARCHITECTURE",
    "CHECKOUT",
    "DEFAULT_CONFIG",
    "DEMO_PKI",
    "OFFICIAL_SIGNERS",
    "PASSPHRASE_ENV",
    "TEST_SIGNERS",
    "DemoPki",
    "load_architecture",
    "make_demo_pki",
    "passphrase_for",
]

ARCHITECTURE = "docgen-demo"
"""Label of the PKI architecture in the configuration."""

CHECKOUT = Path(__file__).resolve().parents[1]
"""The source checkout this script lies in."""

DEFAULT_CONFIG = CHECKOUT / "certs" / "demo-pki.yml"
"""The committed configuration (``certs/demo-pki.yml``)."""

DEMO_PKI = CHECKOUT / "certs" / "generated"
"""Where the set-up makes the demo PKI (keys are never committed)."""

OFFICIAL_SIGNERS = ("signer-agro", "signer-ikft", "signer-ilmate")
"""Certificate labels of the signing officials, one per Directorate General."""

TEST_SIGNERS = ("signer-expired", "signer-revoked", "signer-rogue")
"""Certificate labels of the signers that must fail validation, for tests."""

PASSPHRASE_ENV = "DOCGEN_PKI_PASSPHRASE"
"""Environment variable ``scripts/demo_pki.py`` reads the PKCS#12 passphrase from."""

_CERTS = ("root", "intermediate", "tsa", "ocsp", "rogue-root", *OFFICIAL_SIGNERS, *TEST_SIGNERS)
# Keys certomancer signs with while it serves OCSP, CRLs and timestamps are ECDSA P-256: it loads
# the key again for every answer, and loading (checking) an RSA key costs hundreds of ms, which
# would make the live test services slow. The officials' signing keys are RSA 3072.
_SERVICE_KEYS = frozenset({"root", "intermediate", "rogue-root", "ocsp", "tsa"})


@dataclass(frozen=True)
class DemoPki:
    """Where a demo PKI lies on disk."""

    config: Path
    """The certomancer configuration it was made from."""
    key_dir: Path
    """Directory of the private keys, the key root for certomancer."""
    root_cert: Path
    """PEM certificate of the demo root CA: the trust root."""
    intermediate_cert: Path
    """PEM certificate of the intermediate CA that issues the signers' certificates."""
    rogue_root_cert: Path
    """PEM certificate of the untrusted root that issued ``signer-rogue``."""
    p12: Mapping[str, Path]
    """PKCS#12 file of every signer (official and test), by certificate label."""
    certs: Mapping[str, Path]
    """PEM certificate of every certificate, by label."""


def demo_officials() -> dict[str, list[dict[str, Any]]]:
    """Who may sign with each demo key (``signing.officials`` of certs/demo.toml).

    The demo certificates name positions, not people, so settings written for the demo keys
    elsewhere (tests, benchmarks) list the officials the examples print, as the demo does.
    """
    settings = tomllib.loads((CHECKOUT / "certs" / "demo.toml").read_text("utf-8"))
    officials: dict[str, list[dict[str, Any]]] = settings["signing"]["officials"]
    return officials


def load_architecture(config: Path, key_dir: Path) -> PKIArchitecture:
    """The certomancer architecture of the demo PKI, with its keys loaded from ``key_dir``."""
    from certomancer.registry import ArchLabel, CertomancerConfig

    loaded = CertomancerConfig.from_file(
        str(config), key_search_dir=str(key_dir), allow_external_config=False
    )
    return loaded.get_pki_arch(ArchLabel(ARCHITECTURE))


def make_demo_pki(
    target: Path, passphrase: bytes, *, config: Path = DEFAULT_CONFIG, force: bool = False
) -> DemoPki:
    """Generate the keys of ``config`` and write the demo PKI into ``target``.

    If ``target`` already holds a complete PKI it is left alone (unless ``force``); it must then
    open with ``passphrase``, or :class:`~docgen.errors.ConfigError` is raised. Keys already in
    ``target/keys`` are kept (unless ``force``), and the certificates made for them.
    """
    if not passphrase:
        raise ConfigError("the demo PKI needs a non-empty passphrase for its PKCS#12 files")
    key_labels = _key_labels(config)
    pki = DemoPki(
        config=config,
        key_dir=target / "keys",
        root_cert=target / "root.cert.pem",
        intermediate_cert=target / "intermediate.cert.pem",
        rogue_root_cert=target / "rogue-root.cert.pem",
        p12={label: target / f"{label}.p12" for label in (*OFFICIAL_SIGNERS, *TEST_SIGNERS)},
        certs={label: target / f"{label}.cert.pem" for label in _CERTS},
    )
    keys = [pki.key_dir / f"{label}.key.pem" for label in key_labels]
    if not force and all(p.is_file() for p in (*keys, *pki.p12.values(), *pki.certs.values())):
        _check_passphrase(pki.p12[OFFICIAL_SIGNERS[0]], passphrase)
        return pki

    from certomancer.registry import CertLabel
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import pkcs12

    pki.key_dir.mkdir(parents=True, exist_ok=True)
    pki.key_dir.chmod(0o700)
    private_keys: dict[str, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey] = {}
    for label, path in zip(key_labels, keys, strict=True):
        if path.is_file() and not force:  # kept: only certificates and PKCS#12 files are made
            loaded = serialization.load_pem_private_key(path.read_bytes(), None)
            assert isinstance(loaded, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
            private_keys[label] = loaded
            continue
        key = private_keys[label] = (
            ec.generate_private_key(ec.SECP256R1())
            if label in _SERVICE_KEYS
            else rsa.generate_private_key(65537, 3072)
        )
        pem_key = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write(path, pem_key, private=True)
    arch = load_architecture(config, pki.key_dir)

    def cert(label: str) -> x509.Certificate:
        return x509.load_der_x509_certificate(arch.get_cert(CertLabel(label)).dump())

    for label, path in pki.certs.items():
        _write(path, cert(label).public_bytes(serialization.Encoding.PEM), private=False)
    for label, path in pki.p12.items():
        # a signer's key has its certificate's label (certomancer's default subject-key)
        p12 = pkcs12.serialize_key_and_certificates(
            name=label.encode("ascii"),
            key=private_keys[label],
            cert=cert(label),
            cas=[cert(str(issuer)) for issuer in arch.get_chain(CertLabel(label))],
            encryption_algorithm=serialization.BestAvailableEncryption(passphrase),
        )
        _write(path, p12, private=True)
    return pki


def _key_labels(config: Path) -> list[str]:
    """Labels of the keys the configuration's key set expects, each at ``<label>.key.pem``."""
    import yaml  # type: ignore[import-untyped]  # certomancer's dependency; no stubs here

    try:
        keys = yaml.safe_load(config.read_text(encoding="utf-8"))["keysets"][ARCHITECTURE]["keys"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as error:
        raise ConfigError(f"cannot read the demo PKI configuration {config}: {error}") from error
    labels = [str(label) for label in keys]
    for label in labels:
        if keys[label] != {"path": f"{label}.key.pem"}:
            raise ConfigError(f"{config}: key {label!r} must have path {label}.key.pem")
    return labels


def _check_passphrase(p12: Path, passphrase: bytes) -> None:
    """Raise ConfigError unless ``p12`` opens with ``passphrase``."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        pkcs12.load_key_and_certificates(p12.read_bytes(), passphrase)
    except ValueError as error:
        raise ConfigError(
            f"the demo PKI in {p12.parent} does not open with the given passphrase; "
            "make it again with force=True (scripts/demo_pki.py --force)"
        ) from error


def _write(path: Path, data: bytes, *, private: bool) -> None:
    """Write ``data`` to ``path`` through a temporary file; mode 0600 if ``private``."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        if not private:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def passphrase_for(target: Path) -> bytes:
    """The passphrase from the environment, else from ``target/passphrase``, else a new one."""
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return from_env.encode("utf-8")
    stored = target / "passphrase"
    if stored.is_file():
        return stored.read_text(encoding="utf-8").strip().encode("utf-8")
    fresh = secrets.token_urlsafe(24)
    target.mkdir(parents=True, exist_ok=True)
    _write(stored, fresh.encode("utf-8") + b"\n", private=True)
    return fresh.encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    """``python scripts/demo_pki.py TARGET``: make the demo PKI in TARGET; the exit status."""
    parser = argparse.ArgumentParser(
        prog="scripts/demo_pki.py", description="Make the demo PKI (DEMO only)."
    )
    parser.add_argument("target", type=Path, help="directory to write the demo PKI into")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="certomancer YAML")
    parser.add_argument("--force", action="store_true", help="make it again even if complete")
    options = parser.parse_args(argv)
    try:
        pki = make_demo_pki(
            options.target,
            passphrase_for(options.target),
            config=options.config,
            force=options.force,
        )
    except ConfigError as error:
        print(f"demo_pki: {error}", file=sys.stderr)
        return error.exit_code
    print(
        f"demo PKI in {options.target}: trust root {pki.root_cert.name}, signers "
        + ", ".join(sorted(pki.p12))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
