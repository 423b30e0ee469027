"""A real browser for the tests: the system's Chromium, driven by Playwright, headless.

Playwright never downloads a browser here: it is pointed at the ``chromium`` that
``scripts/setup.sh`` installs from Debian. The network of a test machine reaches nothing but
loopback, so Chromium is started with the flags that keep it from calling Google's services.
Each browser gets a fresh profile, in a temporary folder named after the test process, removed
when the browser closes. If the test process is killed instead, Playwright's driver (its child)
sees its pipe close, ends the browser and removes the profile; if the driver is killed too, the
browser ends by itself when its pipe closes, and the next browser started removes the folder.

The fixtures are a pytest plugin; a conftest (or a test module) registers them with::

    pytest_plugins = ["tests.browser"]

``browser`` is one browser per test module, ``page`` a new
page in a new browser context for each test, at the size that the fixture ``screen`` gives:
:data:`DESKTOP` unless the test asks for others with :func:`on_screens`::

    @on_screens(PHONE, DESKTOP)
    def test_badge(page: Page, artifacts: Path) -> None:
        page.goto(url)
        assert decode_qr(save_screenshot(page, artifacts, "badge")) == [link]

``artifacts`` is the test's own folder under ``build/test-artifacts/``, emptied when the test
starts, for screenshots and printed PDFs that a person may want to look at afterwards.

PYTEST_DONT_REWRITE: this module has no assert for pytest to rewrite, and a test module may
import from it before registering it as a plugin, which pytest would otherwise warn about.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from docgen.files import process_start
from tests.helpers import ROOT

__all__ = [
    "ARTIFACTS",
    "CHROMIUM_ARGS",
    "DESKTOP",
    "PHONE",
    "Screen",
    "artifacts_fixture",
    "artifacts_folder",
    "browser_session",
    "chromium_executable",
    "decode_qr",
    "launched_browser",
    "new_page",
    "on_screens",
    "page_fixture",
    "print_pdf",
    "save_screenshot",
    "screen_fixture",
]

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # it still looks up Google's hosts for its services (accounts, updates): resolve nothing
    # but loopback, so that nothing is asked of the network's resolver either (the rules apply
    # to addresses too, hence each loopback form)
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.*, EXCLUDE ::1",
)
"""Chromium's flags: headless, and no call to Google's services (the network is closed)."""

ARTIFACTS = ROOT / "build" / "test-artifacts"
"""Where tests leave screenshots and PDFs for a person to look at (git ignores ``build/``)."""


@dataclass(frozen=True)
class Screen:
    """A browser window's size in CSS pixels, its pixel density, and whether it is a phone's."""

    name: str
    """A short name, used in test ids and file names."""
    width: int
    """The viewport's width in CSS pixels."""
    height: int
    """The viewport's height in CSS pixels."""
    device_scale_factor: float = 1
    """Device pixels per CSS pixel: the screenshot is this many times the viewport's size."""
    is_mobile: bool = False
    """Whether the page sees a phone: the meta viewport tag is honoured, touch is on."""


PHONE = Screen("phone", 390, 844, device_scale_factor=3, is_mobile=True)
"""A common phone held upright (390 × 844 CSS pixels, three device pixels each)."""
DESKTOP = Screen("desktop", 1280, 900)
"""A desktop browser window."""


def on_screens(*screens: Screen) -> pytest.MarkDecorator:
    """Run the decorated test once at each of ``screens``: its ``page`` fixture is that size."""
    return pytest.mark.parametrize("screen", screens, ids=[screen.name for screen in screens])


def chromium_executable() -> str:
    """The system's Chromium; an error telling how to install it when there is none."""
    found = shutil.which("chromium")
    if found is None:
        raise RuntimeError("no chromium on PATH: run scripts/setup.sh to install it")
    return found


@contextmanager
def launched_browser(*, timeout: float = 60) -> Iterator[Browser]:
    """The system's Chromium, headless, with a fresh profile; closed (and its profile removed)
    when the block ends.

    ``timeout`` (seconds) bounds the start, which takes about a second on a quiet machine.
    Several may be open at once (a test's own beside the ``browser`` fixture's), all from the
    thread that opened the first: they share the process's one Playwright driver.
    """
    executable = chromium_executable()
    with _driver() as (playwright, folder):
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=list(CHROMIUM_ARGS),
            headless=True,
            # Playwright's own sandbox switch, off as --no-sandbox asks: tests run as root
            chromium_sandbox=False,
            timeout=timeout * 1000,
            # its crash reports and caches otherwise land in the home folder, outside the profile
            env={
                **os.environ,
                "TMPDIR": str(folder),
                "XDG_CONFIG_HOME": str(folder / "config"),
                "XDG_CACHE_HOME": str(folder / "cache"),
            },
        )
        try:
            yield browser
        finally:
            browser.close()


_running: tuple[Playwright, Path] | None = None
"""The process's Playwright driver and its temporary folder, while some browser is open."""
_users = 0
"""How many open browsers use it."""


@contextmanager
def _driver() -> Iterator[tuple[Playwright, Path]]:
    """The process's Playwright driver and its temporary folder: started by the first user,
    stopped (and the folder removed) when the last one ends.

    One for all: Playwright's synchronous API refuses to start a second driver in a thread
    that runs one, as a test that imports the fixtures while a conftest registers them would.
    """
    global _running, _users
    if _running is None:
        folder = _temp_folder()
        try:
            # the driver makes each browser's profile in its own temporary folder: in ours, it
            # goes wherever the process goes, even when the driver is killed before removing it
            with _environment(TMPDIR=str(folder)):
                _running = (sync_playwright().start(), folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    _users += 1
    try:
        yield _running
    finally:
        _users -= 1
        if _users == 0:
            playwright, folder = _running
            _running = None
            try:
                playwright.stop()
            finally:
                shutil.rmtree(folder, ignore_errors=True)


_TEMP_PREFIX = "tests-chromium-"


def _temp_folder() -> Path:
    """A new temporary folder for this process's browser, after removing those of dead processes.

    Its name tells the process that made it (pid and start time, as pids are reused).
    """
    for orphan in Path(tempfile.gettempdir()).glob(f"{_TEMP_PREFIX}*-*-*"):
        owner, started, _ = orphan.name.removeprefix(_TEMP_PREFIX).split("-", 2)
        if not (owner.isdigit() and process_start(int(owner)) == started):
            shutil.rmtree(orphan, ignore_errors=True)
    me = os.getpid()
    return Path(tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}{me}-{process_start(me)}-"))


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """The process's environment with ``values`` set, for the block only."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def new_page(browser: Browser, screen: Screen = DESKTOP) -> Iterator[Page]:
    """A page in a new browser context (no cookies or storage shared) of ``screen``'s size."""
    context = browser.new_context(
        viewport={"width": screen.width, "height": screen.height},
        device_scale_factor=screen.device_scale_factor,
        is_mobile=screen.is_mobile,
        has_touch=screen.is_mobile,
    )
    # a page that never loads should fail its test quickly, not after Playwright's 30 s
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def artifacts_folder(node_id: str) -> Path:
    """The empty folder, under :data:`ARTIFACTS`, for the test with pytest node id ``node_id``.

    Named after the test module and the test (with its parameters), e.g.
    ``test_browser_smoke.test_qr_code-phone``; anything left from an earlier run is removed.
    """
    path, _, name = node_id.partition("::")
    readable = f"{Path(path).stem}.{name}".replace("::", ".").replace("[", "-")
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9._-]+", "_", readable.rstrip("]"))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def save_screenshot(page: Page, folder: Path, name: str, *, full_page: bool = True) -> bytes:
    """A PNG of ``page`` (all of it, not only what the window shows, unless ``full_page`` is
    false), also saved as ``folder/name.png``."""
    return page.screenshot(path=folder / f"{name}.png", full_page=full_page)


def print_pdf(page: Page, path: Path | None = None) -> bytes:
    """``page`` printed as the browser prints it (print style sheet, A4, backgrounds kept) to
    a PDF; also saved at ``path`` when one is given."""
    return page.pdf(path=path, format="A4", print_background=True)


def decode_qr(png: bytes) -> list[str]:
    """The text of every QR code in an image (PNG or any format Pillow reads), top to bottom,
    then left to right; empty when it has none."""
    # imported here, not above: it loads the system's libzbar, which only this function needs
    from pyzbar import pyzbar  # type: ignore[import-untyped]  # pyzbar ships no type hints

    with Image.open(io.BytesIO(png)) as image:
        # zbar reads grey levels; transparent pixels would otherwise turn black, not white
        grey = Image.alpha_composite(
            Image.new("RGBA", image.size, "white"), image.convert("RGBA")
        ).convert("L")
    found = cast(list[Any], pyzbar.decode(grey, symbols=[pyzbar.ZBarSymbol.QRCODE]))
    found.sort(key=lambda symbol: (symbol.rect.top, symbol.rect.left))
    return [bytes(symbol.data).decode("utf-8") for symbol in found]


@pytest.fixture(scope="module", name="browser")
def browser_session() -> Iterator[Browser]:
    """One headless Chromium for a test module, closed at its end.

    Not one per process: while Playwright's driver runs, the thread that started it counts as
    running an event loop, and ``asyncio.run`` (pyHanko signing, in the tests of the next
    module) fails in it.
    """
    with launched_browser() as browser:
        yield browser


@pytest.fixture(name="screen")
def screen_fixture() -> Screen:
    """The size of the test's ``page``: :data:`DESKTOP`, unless :func:`on_screens` says."""
    return DESKTOP


@pytest.fixture(name="page")
def page_fixture(browser: Browser, screen: Screen) -> Iterator[Page]:
    """A page of its own for the test, at the size of ``screen``, closed when it ends."""
    with new_page(browser, screen) as page:
        yield page


@pytest.fixture(name="artifacts")
def artifacts_fixture(request: pytest.FixtureRequest) -> Path:
    """The test's own empty folder under :data:`ARTIFACTS`, kept after the run."""
    return artifacts_folder(request.node.nodeid)
