"""Settings: loaded and checked in one place, unknown keys rejected.

docgen runs on embedded defaults (``defaults.toml`` beside this module): the templates shipped
with the package, the demo agency texts and a LibreOffice converter that docgen starts itself.
The register and the letters live in the data folder (:func:`data_home`: ``$DOCGEN_HOME``, else
``$XDG_DATA_HOME/docgen``, else ``~/.local/share/docgen``). Signing keys and trust roots have no
default: the settings name them.

Settings are read in layers, each merged over the one before, tables key by key (so a file holds
only what it changes): the embedded defaults, ``docgen.toml`` in the data folder when it exists,
the settings file given (``--config``, or ``$DOCGEN_CONFIG``), then a library caller's
overrides. A table of ``signing.keys`` is replaced whole, never merged, because a key's fields
only make sense together. Relative paths are relative to the folder of the file that gives them.
Texts that change over time — agency names, the electronic-signature footer, the verification
address — live here, never in code or templates.

Example::

    settings = Settings.load()                        # defaults (+ the data folder's docgen.toml)
    settings = Settings.load(Path("docgen.toml"))     # ... + this file
    settings.directorate("ILMATE").name
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from docgen.errors import ConfigError
from docgen.identifiers import Nip

__all__ = [
    "AgencySettings",
    "ConverterSettings",
    "DirectorateGeneral",
    "ElectronicSignatureSettings",
    "KeySettings",
    "Official",
    "RegisterSettings",
    "Settings",
    "SignatureLevel",
    "SigningSettings",
    "VerificationSettings",
    "WebSettings",
    "bundled_templates",
    "data_home",
]

_DEFAULTS = Path(__file__).with_name("defaults.toml")
HOME_ENV = "DOCGEN_HOME"
"""Environment variable naming docgen's data folder (see :func:`data_home`)."""
HOME_SETTINGS = "docgen.toml"
"""Name of the settings file read from the data folder, when it exists."""


def data_home() -> Path:
    """The data folder: the register, the letters and an optional ``docgen.toml`` live here.

    ``$DOCGEN_HOME`` when set, else ``$XDG_DATA_HOME/docgen``, else ``~/.local/share/docgen``
    (the XDG base directory rules, which a Linux operator expects for per-user data).
    """
    explicit = os.environ.get(HOME_ENV)
    if explicit:
        return Path(explicit).absolute()
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "docgen"


def bundled_templates() -> Path:
    """The templates shipped with the package: catalogue, templates, stylesheet and fonts.

    An installed package holds them as package data (``docgen/templates``); an editable install
    of a source checkout reads the checkout's ``templates/`` folder, which the wheel is built from.
    """
    package = Path(__file__).resolve().parent
    packaged = package / "templates"
    checkout = package.parent.parent / "templates"
    if not packaged.is_dir() and package.parent.name == "src" and checkout.is_dir():
        return checkout
    return packaged


def _relative_to_settings_file(value: Path, info: ValidationInfo) -> Path:
    """Resolve a relative path against the folder of the settings file that gave it."""
    base = (info.context or {}).get("base")
    # normalised ("certs/../out" is "out"), so that messages and records show a plain path
    return value if value.is_absolute() or base is None else Path(os.path.normpath(base / value))


ConfigPath = Annotated[Path, AfterValidator(_relative_to_settings_file)]
"""A path in the settings; relative ones are relative to the settings file's folder."""
CONFIG_ENV = "DOCGEN_CONFIG"
"""Environment variable naming a settings file, used when none is given explicitly."""


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class DirectorateGeneral(_Settings):
    """A Directorate General as printed in the letterhead."""

    code: str
    """Short code used in the catalogue and letter numbers (``AGRO``, ``IKFT``, ``ILMATE``)."""
    name: str
    """Full name, e.g. ``Direktorat Jenderal Industri Agro``."""
    address: str
    """Street address line of the letterhead."""
    phone: str
    """Telephone line of the letterhead."""
    website: str
    """Website shown in the letterhead."""
    email: str = ""
    """E-mail address shown in the letterhead, if any."""


class AgencySettings(_Settings):
    """The issuing ministry."""

    ministry: str
    """Ministry name as printed at the top of the letterhead."""
    minister_title: str
    """Title used in mandate lines, e.g. ``Menteri Perindustrian``."""
    place: str
    """Place printed before the letter date (``Jakarta``)."""
    directorates: tuple[DirectorateGeneral, ...] = Field(min_length=1)
    """The Directorates General that issue letters."""


class ElectronicSignatureSettings(_Settings):
    """Texts and addresses for electronically signed letters."""

    footer: str
    """The footer saying the letter was signed electronically (with the certificate authority)."""
    legal_basis: str
    """The legal notice quoted in the footer (electronic documents are legal evidence)."""
    verification_base_url: str
    """Base address of the verification page; the letter's register id is appended."""
    draft_stamp: str
    """Text stamped across every page of an unsigned draft."""


class ConverterSettings(_Settings):
    """The LibreOffice that docgen starts, keeps warm and drives through its ``uno`` bridge."""

    soffice: str = "soffice"
    """The LibreOffice executable."""
    shared_folder: ConfigPath | None = None
    """A folder through which every docgen process of this machine that names it shares one
    LibreOffice (a web application's worker processes, say); unset: each process starts its
    own. A batch run makes one for its workers."""
    timeout_seconds: float = Field(default=60.0, gt=0)
    """Longest one conversion may take before the converter is restarted."""
    startup_timeout_seconds: float = Field(default=60.0, gt=0)
    """Longest LibreOffice may take to start."""
    recycle_after: int = Field(default=250, ge=0)
    """Start a fresh LibreOffice after this many letters (0: never); LibreOffice's memory
    grows with the documents it converts, so a long batch would otherwise keep growing."""
    jemalloc: bool = True
    """Run LibreOffice with the jemalloc memory allocator (Debian package libjemalloc2) when it
    is installed: LibreOffice spends much of a conversion allocating, and it then takes 5-15%
    less CPU per letter and a third less memory. False: the system's allocator."""


class KeySettings(_Settings):
    """One signing key: a PKCS#12 file, a PEM key, or a key on a PKCS#11 token (an HSM).

    Give exactly one key source: ``pkcs12``; or ``key`` with its ``certificate``; or
    ``pkcs11_module`` with ``token_label`` and ``key_label``. A token key's certificate is read
    from the token (labelled ``cert_label``, by default ``key_label``) unless ``certificate``
    names a PEM file.

    The passphrase — for a token, its user PIN — never comes from the command line: it is read
    from the environment variable ``passphrase_env`` when that is set, else from
    ``passphrase_file``, else asked for on a terminal.
    """

    pkcs12: ConfigPath | None = None
    """PKCS#12 (.p12/.pfx) file holding the key, its certificate and the chain."""
    key: ConfigPath | None = None
    """PEM private key (with ``certificate``), as an alternative to ``pkcs12``."""
    certificate: ConfigPath | None = None
    """PEM certificate of the ``key``, or of the token key when it is not on the token."""
    chain: tuple[ConfigPath, ...] = ()
    """PEM certificates of the issuing CAs, for a PEM ``key`` or a token key.

    For a token key left empty, every other certificate on the token is taken as the chain.
    """
    pkcs11_module: ConfigPath | None = None
    """PKCS#11 library of the token or HSM: a path (``/usr/lib/softhsm/libsofthsm2.so``)."""
    token_label: str | None = None
    """Label of the PKCS#11 token holding the key."""
    key_label: str | None = None
    """Label of the private key on the token."""
    cert_label: str | None = None
    """Label of the certificate on the token; ``key_label`` when not given."""
    passphrase_env: str | None = "DOCGEN_KEY_PASSPHRASE"
    """Environment variable holding the passphrase (or the token's user PIN)."""
    passphrase_file: ConfigPath | None = None
    """File holding the passphrase (or the token's user PIN), on its first line."""

    @model_validator(mode="after")
    def _one_source(self) -> KeySettings:
        sources = [self.pkcs12, self.key, self.pkcs11_module]
        if sum(source is not None for source in sources) != 1:
            raise ValueError(
                "give exactly one of pkcs12, key and certificate, or pkcs11_module "
                "with token_label and key_label"
            )
        if self.key is not None and self.certificate is None:
            raise ValueError("a PEM key needs its certificate")
        token_fields = (self.token_label, self.key_label, self.cert_label)
        if self.pkcs11_module is None and any(f is not None for f in token_fields):
            raise ValueError("token_label, key_label and cert_label need pkcs11_module")
        if self.pkcs11_module is not None:
            if not self.token_label or not self.key_label:
                raise ValueError("a PKCS#11 key needs token_label and key_label")
            if self.cert_label is not None and self.certificate is not None:
                raise ValueError("give either cert_label or certificate, not both")
        return self


SignatureLevel = Literal["auto", "B-B", "B-T", "B-LT", "B-LTA"]
"""A PAdES baseline level, or ``auto``."""


class Official(_Settings):
    """An official allowed to sign with a Directorate General's key besides its holder."""

    name: Annotated[str, Field(min_length=1, max_length=120)]
    """Name as printed on letters; titles, commas and case are ignored when compared."""
    nip: Nip
    """The official's NIP (18 digits), which the letter must print."""
    acting: Literal["Plt.", "Plh."] | None = None
    """``Plt.`` or ``Plh.``: the official signs only as acting official, with that mark
    printed; none: only as the position's own holder."""


class SigningSettings(_Settings):
    """How letters are signed."""

    keys: dict[str, KeySettings] = {}
    """The signing key of each Directorate General's official, by DG code; none by default (a
    letter of a Directorate General without a key is refused)."""
    officials: dict[str, tuple[Official, ...]] = {}
    """Who may sign with each Directorate General's key, by DG code, besides the holder its
    certificate names: a letter printing anyone else as its signatory is refused."""
    field_name: str = "TandaTanganElektronik"
    """Name of the signature field."""
    reason: str = "Surat ini ditandatangani secara elektronik"
    """Reason recorded in the signature."""
    timezone: str = "Asia/Jakarta"
    """Time zone of letter dates and of the signing time shown on the letter."""
    zone_label: str = "WIB"
    """How that time zone is written after a time."""
    level: SignatureLevel = "auto"
    """PAdES level: B-B, B-T (timestamped), B-LT (+ validation data), B-LTA (+ document
    timestamp); ``auto`` is B-LTA when a timestamping authority is configured, else B-B."""
    timestamp_url: str = ""
    """The timestamping authority (RFC 3161) used for B-T and above; empty for none."""
    timeout_seconds: float = Field(default=10.0, gt=0)
    """Longest wait for one answer of the timestamping authority or a revocation service."""
    retries: int = Field(default=2, ge=0, le=10)
    """How often a failed timestamp or revocation request is tried again before giving up."""
    revocation_refresh_seconds: float = Field(default=300.0, ge=0)
    """How long revocation data fetched for signing is reused before it is fetched again."""


class RegisterSettings(_Settings):
    """The letter register: a SQLite file (``path``), or a PostgreSQL database (``url``)."""

    path: ConfigPath = Field(default_factory=lambda: data_home() / "register.sqlite3")
    """SQLite file of the register; by default ``register.sqlite3`` in the data folder. The
    embedded default, for the processes of one machine."""
    url: str = ""
    """PostgreSQL database of the register, shared by several machines:
    ``postgresql://user@host:5432/docgen`` (libpq's address; ``?host=/run/postgresql`` for a
    Unix socket). Set, it is used instead of ``path``. It never holds the password: libpq reads
    ``PGPASSWORD`` or the password file ``PGPASSFILE`` (``~/.pgpass``), or set
    ``password_file``."""
    password_file: ConfigPath | None = None
    """File holding the PostgreSQL password on its first line (instead of libpq's own)."""
    node: str = ""
    """This machine's name in reservations and the audit trail; empty: its host name. Each
    machine sharing a register needs its own."""
    lease_seconds: float = Field(default=600.0, gt=0)
    """How long a reservation made on another machine stays its own: past it, a new attempt at
    the same request takes it over (that machine's process is presumed dead). A reservation of
    this machine whose process is gone is taken over at once."""
    lock_timeout_seconds: float = Field(default=60.0, gt=0)
    """How long to wait for another process's hold on the register's write lock; past it the
    letter fails, retryably (the lock is temporary)."""
    connect_timeout_seconds: float = Field(default=10.0, gt=0)
    """Longest wait for a connection to the PostgreSQL server; past it the letter fails,
    retryably."""

    @model_validator(mode="after")
    def _url_without_password(self) -> RegisterSettings:
        if self.url:
            from docgen.register.postgres import scrub, url_has_password

            if not self.url.startswith(("postgresql://", "postgres://")):
                raise ValueError(
                    f"url must be a PostgreSQL address (postgresql://...), not {scrub(self.url)}"
                )
            if url_has_password(self.url):
                raise ValueError(
                    "url must not hold the password: use PGPASSWORD, PGPASSFILE or "
                    "letter_register.password_file"
                )
        return self


class VerificationSettings(_Settings):
    """What verification trusts, and the limits that keep it bounded on hostile files."""

    trust: tuple[ConfigPath, ...] = ()
    """Trust roots (PEM or DER certificates) that signers must chain to; none by default."""
    signers: dict[str, tuple[ConfigPath, ...]] = {}
    """The ministry's signing certificates (PEM or DER), by Directorate General code: a letter
    must be signed with one of its own Directorate General's. A trust root (a national CA)
    vouches for every certificate it issued, not only the ministry's: without a register,
    a letter can be valid only when these are set."""
    max_file_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    """Files larger than this are refused before they are read (letters are well under 1 MB)."""
    max_revisions: int = Field(default=100, gt=0)
    """Revisions allowed after the signature: validation data and document timestamps, two per
    refresh by ``docgen timestamp``. A file with more is invalid."""
    time_budget_seconds: float = Field(default=30.0, gt=0)
    """Longest verification of one file by ``docgen verify``; past it the file is unchecked."""
    memory_budget_mb: int = Field(default=1024, ge=256)
    """Most memory the process verifying one file for ``docgen verify`` may take."""


class WebSettings(_Settings):
    """The verification website (``docgen serve``, :func:`docgen.web.create_app`)."""

    upload_max_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    """Largest upload taken; a larger one is refused while it streams, before it is parsed."""
    time_budget_seconds: float = Field(default=20.0, gt=0)
    """Longest verification of one upload; past it the upload is reported unchecked."""
    memory_budget_mb: int = Field(default=1024, ge=256)
    """Most memory the process verifying one upload may take beyond what it holds at rest."""
    verifiers: int = Field(default=1, ge=1, le=16)
    """Verification processes per server worker: uploads verified at once by one worker."""
    uploads_per_minute: int = Field(default=30, ge=1)
    """Uploads one client address may make per minute (per server worker); more are refused
    with 429 until the minute has passed."""
    uploads_waiting: int = Field(default=16, ge=1)
    """Uploads one server worker holds at once, verified or waiting; more are refused with 503
    (each holds up to ``upload_max_bytes`` in memory)."""
    forwarded_allow_ips: str = "127.0.0.1"
    """Proxies whose X-Forwarded-For names the client (rate limits count by client address)."""


class Settings(_Settings):
    """Everything docgen can be configured with."""

    templates: ConfigPath = Field(default_factory=bundled_templates)
    """Folder holding ``catalogue.toml``, the templates and their assets; by default the
    templates shipped with the package."""
    agency: AgencySettings
    """The issuing ministry and its Directorates General."""
    esign: ElectronicSignatureSettings
    """Electronic-signature footer, verification address, draft stamp."""
    converter: ConverterSettings = ConverterSettings()
    """The LibreOffice converter."""
    signing: SigningSettings = SigningSettings()
    """Signing keys and signature details."""
    letter_register: RegisterSettings = RegisterSettings()
    """The letter register."""
    verification: VerificationSettings = VerificationSettings()
    """Trust roots for verification."""
    web: WebSettings = WebSettings()
    """The verification website."""
    output: ConfigPath = Field(default_factory=lambda: data_home() / "letters")
    """Folder issued letters are written under (by DG / service / date); by default
    ``letters`` in the data folder."""

    @model_validator(mode="after")
    def _officials_of_known_directorates(self) -> Settings:
        # a misspelt code would leave its officials unused, and every letter they sign refused
        known = {d.code for d in self.agency.directorates}
        for where, named in (
            ("signing.officials", self.signing.officials),
            ("verification.signers", self.verification.signers),
        ):
            if unknown := sorted(set(named) - known):
                raise ValueError(
                    f"{where} names unknown Directorates General {unknown} "
                    f"(known: {', '.join(sorted(known))})"
                )
        return self

    def directorate(self, code: str) -> DirectorateGeneral:
        """The Directorate General with this code; :class:`ConfigError` when there is none."""
        for directorate in self.agency.directorates:
            if directorate.code == code:
                return directorate
        known = ", ".join(d.code for d in self.agency.directorates)
        raise ConfigError(f"No Directorate General {code!r} in the settings (known: {known})")

    @classmethod
    def load(cls, path: Path | None = None, **overrides: Any) -> Settings:
        """Load the embedded defaults and merge the other layers over them.

        The layers: the data folder's ``docgen.toml`` (when it exists), a settings file, then
        ``overrides``. Without ``path``, the file named by ``$DOCGEN_CONFIG`` is used when set.
        """
        data = _read_toml(_DEFAULTS)
        home = data_home() / HOME_SETTINGS
        if home.is_file():
            # validated on its own, so that its relative paths are taken from its own folder
            data = _merge(data, _read_toml(home))
            data = cls._validated(data, home).model_dump(exclude_unset=True)
        if path is None and os.environ.get(CONFIG_ENV):
            path = Path(os.environ[CONFIG_ENV])
        if path is not None:
            data = _merge(data, _read_toml(path))
        data = _merge(data, overrides)
        return cls._validated(data, path)

    @classmethod
    def _validated(cls, data: dict[str, Any], path: Path | None) -> Settings:
        """``data`` checked; relative paths taken from the folder of ``path``, its source."""
        base = path.resolve().parent if path is not None else None
        try:
            return cls.model_validate(data, context={"base": base})
        except ValidationError as error:
            where = path or "the embedded defaults"
            # a check of the whole settings has no field: its message names what it checks
            lines = [
                f"  - {'.'.join(str(p) for p in d['loc']) or 'settings'}: "
                + d["msg"].removeprefix("Value error, ")
                for d in error.errors()
            ]
            raise ConfigError(f"Invalid settings in {where}:\n" + "\n".join(lines)) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as error:
        raise ConfigError(f"Cannot read the settings file {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"The settings file {path} is not valid TOML: {error}") from None


_REPLACED_WHOLE = frozenset({("signing", "keys")})
# a key's fields only make sense together (a pkcs12 file merged with another layer's PEM key is
# two sources), and a layer naming keys names every key it means to sign with


def _merge(
    base: Mapping[str, Any], override: Mapping[str, Any], at: tuple[str, ...] = ()
) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        where = (*at, key)
        if (
            where not in _REPLACED_WHOLE
            and isinstance(value, Mapping)
            and isinstance(merged.get(key), Mapping)
        ):
            merged[key] = _merge(merged[key], value, where)
        else:
            merged[key] = value
    return merged
