"""The one error tree of docgen.

Every error docgen raises on purpose derives from :class:`DocgenError` and carries a message
written for the officer or operator who has to act on it, not for a Python developer::

    DocgenError                      base; ``str(error)`` is the user-facing message
    ├── ConfigError                  settings file unreadable or invalid
    ├── CatalogueError               service catalogue invalid, or a service code unknown
    ├── RequestInvalid               a letter request failed validation (lists every field)
    ├── RequestConflict              a request id came back with different content
    ├── LetterInProgress             another process is issuing the same request right now
    ├── RegisterError                the register is missing, or could not be read or written
    │   ├── RegisterBusy             another process held the register's lock too long
    │   └── RegisterUnavailable      the register's database server could not be reached
    ├── OutputError                  a letter's file could not be written (or its name is taken)
    ├── UnknownLetter                no such letter, or not in a state the action needs
    ├── SigningError                 the key could not be opened, or signing failed
    │   └── ServiceUnavailable       the timestamping or revocation service did not answer
    └── RenderError                  a letter could not be rendered
        ├── TemplateError            a template is broken or uses an unknown variable
        ├── ForbiddenResource        a template tried to reach a file or URL it may not
        └── ConverterError           the LibreOffice converter failed or timed out

The CLI turns these into messages and exit codes in one place (``docgen.cli``). Whether running
again may succeed by itself (a batch's ``retryable``) is the class's :attr:`DocgenError.retryable`,
and :func:`is_retryable` answers it for any exception, so it is decided here and nowhere else.

Example::

    try:
        request = LetterRequest.from_json(raw)
    except RequestInvalid as error:
        for problem in error.problems:
            print(problem.field, problem.message)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CatalogueError",
    "ConfigError",
    "ConverterError",
    "DocgenError",
    "FieldProblem",
    "ForbiddenResource",
    "LetterInProgress",
    "OutputError",
    "RegisterBusy",
    "RegisterError",
    "RegisterUnavailable",
    "RenderError",
    "RequestConflict",
    "RequestInvalid",
    "ServiceUnavailable",
    "SigningError",
    "TemplateError",
    "UnknownLetter",
    "is_retryable",
]


class DocgenError(Exception):
    """Base of every error docgen raises on purpose; the message is meant for people."""

    exit_code: int = 1
    """Process exit status the CLI uses for this kind of error."""
    retryable: bool = False
    """Whether running again, unchanged, may succeed: the cause is temporary (a lock, a service
    that did not answer). False when a person must act first (fix the request, the settings,
    the key, the disk)."""


def is_retryable(error: BaseException) -> bool:
    """Whether running again may succeed after ``error``; an unexpected exception never may.

    An exception docgen did not raise on purpose (a ``TypeError``, say) is a fault that the
    same input reproduces, so retrying it on every run would only repeat it.
    """
    return isinstance(error, DocgenError) and error.retryable


class ConfigError(DocgenError):
    """The settings could not be loaded or are invalid."""

    exit_code = 78  # EX_CONFIG


class CatalogueError(DocgenError):
    """The service catalogue is invalid, or a request names a service it does not have."""

    exit_code = 78


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One invalid field of a request, described for an officer."""

    field: str
    """Where the problem is, in words (``Goods item 2 › Tariff code``)."""
    message: str
    """What is wrong and what is expected."""

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class RequestInvalid(DocgenError):
    """A letter request failed validation; :attr:`problems` names every field at fault."""

    exit_code = 65  # EX_DATAERR

    def __init__(self, problems: list[FieldProblem] | tuple[FieldProblem, ...], source: str = ""):
        self.problems = tuple(problems)
        self.source = source
        where = f" in {source}" if source else ""
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        lines = [f"The letter request{where} has {count} {noun}:"]
        lines += [f"  - {problem}" for problem in self.problems]
        super().__init__("\n".join(lines))


class RequestConflict(DocgenError):
    """A request id that was already issued came back with different content."""

    exit_code = 65


class LetterInProgress(DocgenError):
    """Another process is issuing the same request right now; try again shortly."""

    exit_code = 75  # EX_TEMPFAIL
    retryable = True


class UnknownLetter(DocgenError):
    """No letter has that number, or the letter is not in the state the action needs."""

    exit_code = 65


class RegisterError(DocgenError):
    """The register is missing, or could not be read or written."""

    exit_code = 74  # EX_IOERR


class RegisterBusy(RegisterError):
    """Another process held the register's write lock for longer than docgen waits."""

    retryable = True


class RegisterUnavailable(RegisterError):
    """The register's database server could not be reached, or ended the connection."""

    exit_code = 69  # EX_UNAVAILABLE
    retryable = True


class OutputError(DocgenError):
    """A letter's file could not be written or read, or its name already holds another file.

    The folder may be full or read-only; a name already taken is never overwritten, because
    docgen never replaces a letter.
    """

    exit_code = 74  # EX_IOERR


class SigningError(DocgenError):
    """A letter could not be signed: the key could not be opened, or signing failed."""

    exit_code = 77  # EX_NOPERM


class ServiceUnavailable(SigningError):
    """A timestamping authority or revocation service was down or slow; try again later."""

    exit_code = 69  # EX_UNAVAILABLE
    retryable = True


class RenderError(DocgenError):
    """A letter could not be rendered."""

    exit_code = 70  # EX_SOFTWARE


class TemplateError(RenderError):
    """A template is broken, or uses a variable the request model does not have."""


class ForbiddenResource(RenderError):
    """A template tried to load a file or URL outside its own assets; the render was stopped."""


class ConverterError(RenderError):
    """The LibreOffice converter failed, timed out, or could not be started."""

    exit_code = 69  # EX_UNAVAILABLE
    retryable = True  # a fresh LibreOffice is started for the next letter
