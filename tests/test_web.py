"""The verification website over HTTP: ``docgen serve`` on loopback, a register with letters in
known states, real verification in the site's worker processes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import uvicorn

from docgen.errors import ConfigError, RegisterError
from docgen.register import LetterRecord, LetterStatus, Register
from docgen.render import Renderer
from docgen.web import create_app
from docgen.web.site import Site
from tests.attacks.hostile import bomb_update, deep_update
from tests.web import (
    REVOCATION_REASON,
    Letters,
    children,
    free_port,
    issue_letters,
    served,
    site,
)

MB = 1024 * 1024

__all__ = ["site"]  # the module's site, served once for its tests


def _upload(
    url: str,
    data: bytes,
    *,
    name: str = "surat.pdf",
    form: bool = True,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    if form:
        files = {"letter": (name, data, "application/pdf")}
        return httpx.post(url, files=files, headers=headers, timeout=60)
    return httpx.post(url, content=data, headers={"content-type": "application/pdf"}, timeout=60)


def _text(html: str) -> str:
    """A page's visible text, roughly: tags dropped, whitespace folded."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# ---------------------------------------------------------------- the QR code's page


def test_the_qr_page_shows_what_the_letter_shows_and_its_state(site: tuple[str, Letters]) -> None:
    base, letters = site
    letter = letters.valid
    assert letter.verification_url == f"{base}/surat/{letter.register_id}"
    page = httpx.get(letter.verification_url)
    assert page.status_code == 200
    text = _text(page.text)
    assert "TERBIT DAN BERLAKU" in text
    record = Register(letters.settings.letter_register.path, read_only=True).get(letter.register_id)
    assert record is not None and record.facts is not None
    for shown in (
        letter.letter_number,
        "PT Baja Cilegon Perkasa Tbk",  # the applicant
        record.facts.subject,
        record.facts.signatory,
        record.facts.position,
        "PAdES B-LTA",
        "DIREKTORAT JENDERAL INDUSTRI LOGAM",
        letter.sha256,
        "sha256sum",
    ):
        assert shown in text, shown
    # nothing the letter does not show: no request id, no file path on the server
    assert letter.request_id not in page.text and str(letter.path) not in page.text
    english = _text(httpx.get(letter.verification_url, params={"lang": "en"}).text)
    assert "ISSUED AND VALID" in english and "Signature level" in english


def test_a_revoked_letter_says_so_with_date_and_reason(site: tuple[str, Letters]) -> None:
    _, letters = site
    text = _text(httpx.get(letters.revoked.verification_url).text)
    assert "DICABUT" in text and REVOCATION_REASON in text
    assert "TERBIT DAN BERLAKU" not in text
    api = httpx.get(letters.revoked.verification_url.replace("/surat/", "/api/v1/letters/"))
    assert api.json()["state"] == "revoked"
    assert api.json()["revocation_reason"] == REVOCATION_REASON


def test_unknown_ids_get_one_page_that_reveals_nothing(site: tuple[str, Letters]) -> None:
    base, letters = site
    real = letters.valid.register_id
    near = real[:-1] + ("0" if real[-1] != "0" else "1")
    answers = [
        httpx.get(f"{base}/surat/{candidate}")
        for candidate in (near, "0" * 32, "not-an-id", real + "0", real[:-1])
    ]
    assert {answer.status_code for answer in answers} == {404}
    # the same page whatever the id (but for the language link, which names the page's own path)
    pages = {answer.text.replace(str(answer.url.path), "PATH") for answer in answers}
    assert len(pages) == 1, "the same page, whatever the id"
    assert "Surat tidak dikenal" in answers[0].text
    # the same id typed in capitals (from a printout) is the same letter
    assert httpx.get(f"{base}/surat/{real.upper()}").status_code == 200


def test_register_ids_issued_are_128_random_bits(site: tuple[str, Letters]) -> None:
    _, letters = site
    ids = [letters.valid.register_id, letters.revoked.register_id, letters.hostile.register_id]
    assert all(re.fullmatch(r"[0-9a-f]{32}", found) for found in ids)
    assert len(set(ids)) == 3


def test_untrusted_text_stays_text(site: tuple[str, Letters]) -> None:
    _, letters = site
    page = httpx.get(letters.hostile.verification_url).text
    assert "<script>" not in page
    assert "PT &lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;Co&#34;" in page


def test_every_response_carries_strict_security_headers(site: tuple[str, Letters]) -> None:
    base, letters = site
    for response in (
        httpx.get(letters.valid.verification_url),
        httpx.get(f"{base}/verifikasi"),
        httpx.get(f"{base}/surat/{'0' * 32}"),
        httpx.get(f"{base}/api/v1/letters/{letters.valid.register_id}"),
    ):
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert "script-src" not in policy and "unsafe-inline" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
        assert "server" not in response.headers


# ---------------------------------------------------------------- upload and verify


def test_the_genuine_letter_uploaded_is_valid_and_is_the_issued_one(
    site: tuple[str, Letters],
) -> None:
    base, letters = site
    data = letters.valid.path.read_bytes()
    report = _text(_upload(f"{base}/verifikasi", data).text)
    assert "SAH" in report and "TIDAK SAH" not in report
    on_its_page = _text(_upload(letters.valid.verification_url, data).text)
    assert "Berkas ini adalah surat yang diterbitkan dengan kode QR ini" in on_its_page
    # another genuine letter on this letter's page is valid, but not this letter
    other = _text(_upload(letters.valid.verification_url, letters.hostile.path.read_bytes()).text)
    assert "BUKAN surat yang diterbitkan dengan kode QR ini" in other


def test_a_tampered_copy_is_not_valid_and_says_why(site: tuple[str, Letters]) -> None:
    base, letters = site
    data = bytearray(letters.valid.path.read_bytes())
    at = len(data) // 3
    data[at] ^= 0x01
    answer = _upload(f"{base}/api/v1/verify", bytes(data), form=False)
    assert answer.status_code == 200
    report = answer.json()
    assert report["verdict"] == "invalid"
    failed = [check for check in report["checks"] if not check["passed"]]
    assert failed and all(check["detail"] for check in failed)
    page = _text(_upload(letters.valid.verification_url, bytes(data)).text)
    assert "TIDAK SAH" in page


def test_a_revoked_letter_uploaded_is_not_valid_with_the_reason(
    site: tuple[str, Letters],
) -> None:
    base, letters = site
    report = _upload(f"{base}/api/v1/verify", letters.revoked.path.read_bytes()).json()
    assert report["verdict"] == "invalid"
    (register,) = [check for check in report["checks"] if check["name"] == "register"]
    assert REVOCATION_REASON in register["detail"]


def test_a_letter_of_another_register_is_not_issued_here(
    site: tuple[str, Letters], tmp_path: Path, renderer: Renderer, pki_services: str
) -> None:
    base, _ = site
    elsewhere = issue_letters(tmp_path, free_port(), renderer, pki_services)
    report = _upload(f"{base}/api/v1/verify", elsewhere.valid.path.read_bytes()).json()
    assert report["verdict"] == "invalid"
    (register,) = [check for check in report["checks"] if check["name"] == "register"]
    assert not register["passed"] and "not issued" in register["detail"]


def test_the_api_report_is_the_command_lines(site: tuple[str, Letters]) -> None:
    base, letters = site
    command = subprocess.run(
        [
            *(sys.executable, "-m", "docgen", "--config", str(letters.config)),
            *("verify", "--json", str(letters.valid.path)),
        ],
        capture_output=True,
        check=False,
    )
    assert command.returncode == 0, command.stderr
    expected = json.loads(command.stdout)
    for form in (True, False):
        got = _upload(f"{base}/api/v1/verify", letters.valid.path.read_bytes(), form=form).json()
        assert got["verdict"] == expected["verdict"] == "valid"
        assert [c["name"] for c in got["checks"]] == [c["name"] for c in expected["checks"]]
        assert got["letter_number"] == expected["letter_number"]


def test_the_letters_api_and_its_description(site: tuple[str, Letters]) -> None:
    base, letters = site
    answer = httpx.get(f"{base}/api/v1/letters/{letters.valid.register_id}").json()
    assert answer["letter_number"] == letters.valid.letter_number
    assert answer["state"] == "valid" and answer["sha256"] == letters.valid.sha256
    assert answer["level"] == "B-LTA"
    missing = httpx.get(f"{base}/api/v1/letters/{'0' * 32}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    spec = httpx.get(f"{base}/api/v1/openapi.json").json()
    assert {"/api/v1/letters/{register_id}", "/api/v1/verify"} <= set(spec["paths"])
    body = spec["paths"]["/api/v1/verify"]["post"]["requestBody"]["content"]
    assert {"application/pdf", "multipart/form-data"} <= set(body)
    assert all("/surat" not in path for path in spec["paths"]), "pages are not API"
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{base}/readyz").json() == {"status": "ready"}


# ---------------------------------------------------------------- hostile uploads


def test_another_sites_page_cannot_post_a_letter_here(site: tuple[str, Letters]) -> None:
    """A page elsewhere posting a letter with a file name of its choosing would show that name
    inside the ministry's own report: browsers say where a post comes from, and it is refused."""
    base, letters = site
    data = letters.valid.path.read_bytes()
    claim = "PERUBAHAN RESMI kuota 999.999 ton.pdf"
    refused_headers = (
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},  # a sibling host's page is another site's page too
        {"origin": "https://evil.example"},
        {"origin": "null"},
    )
    for headers in refused_headers:
        for url in (f"{base}/verifikasi", letters.valid.verification_url):
            refused = _upload(url, data, name=claim, headers=headers)
            assert refused.status_code == 403, (url, headers)
            assert "Unggahan dari situs lain ditolak" in refused.text
            assert "PERUBAHAN RESMI" not in refused.text
    here = base.split("://", 1)[1].split("/", 1)[0]
    public = letters.valid.verification_url.split("/surat/")[0]  # the QR codes' origin
    allowed: tuple[dict[str, str], ...] = (
        {"sec-fetch-site": "same-origin"},
        {"sec-fetch-site": "none"},
        {"origin": f"http://{here}"},
        {"origin": public.upper(), "host": "backend.internal:8000"},  # a proxy's own Host
        {},
    )
    for headers in allowed:
        report = _text(_upload(f"{base}/verifikasi", data, headers=headers).text)
        assert "SAH" in report and "TIDAK SAH" not in report, headers


def test_links_on_a_page_stay_on_this_site(site: tuple[str, Letters]) -> None:
    base, _ = site
    page = httpx.get(f"{base}//evil.example/surat/x", timeout=10)
    links = re.findall(r'href="([^"]*)"', page.text)
    assert links and not [link for link in links if link.startswith("//") or "://" in link]


def test_hostile_uploads_get_clear_answers(site: tuple[str, Letters]) -> None:
    base, letters = site
    url = f"{base}/api/v1/verify"
    empty = _upload(url, b"", form=False)
    assert empty.status_code == 400 and empty.json()["error"]["code"] == "empty"
    no_file = httpx.post(url, files={"other": ("x.pdf", b"%PDF-1.7", "application/pdf")})
    assert no_file.status_code == 400 and no_file.json()["error"]["code"] == "no_file"
    not_pdf = _upload(url, b"GIF89a" + b"\0" * 100).json()
    assert not_pdf["verdict"] in ("invalid", "unchecked")
    # 21 MB: refused by its declared length, and refused while it streams without one
    big = b"%PDF-1.7\n" + b"0" * (21 * MB)
    declared = _upload(url, big, form=False)
    assert declared.status_code == 413 and declared.json()["error"]["code"] == "too_large"

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), MB):
            yield big[start : start + MB]

    streamed = httpx.post(url, content=chunks(), headers={"content-type": "application/pdf"})
    assert streamed.status_code == 413
    page = _upload(f"{base}/verifikasi", big)
    assert page.status_code == 413 and "lebih besar dari batas 20 MB" in page.text
    genuine = letters.valid.path.read_bytes()
    for hostile in (bomb_update(genuine), deep_update(genuine)):
        started = time.monotonic()
        report = _upload(url, hostile).json()
        assert report["verdict"] != "valid"
        assert time.monotonic() - started < 25, "within the budget"
    # and the site still answers
    assert httpx.get(letters.valid.verification_url).status_code == 200


def _slow_verifier() -> object:
    return _Slow()


class _Slow:
    """A verifier that never ends: what a PDF that takes minutes to parse does to one."""

    def verify(self, data: bytes, *, name: str = "<bytes>") -> object:
        time.sleep(600)
        raise AssertionError("unreachable")


@pytest.fixture
def in_process(
    tmp_path: Path, renderer: Renderer, pki_services: str, request: pytest.FixtureRequest
) -> Iterator[tuple[str, Site]]:
    """The application served by uvicorn in a thread, with settings.web from the test's mark."""
    port = free_port()
    web = getattr(request, "param", {})
    letters = issue_letters(tmp_path, port, renderer, pki_services, **web)
    site = Site(
        letters.settings,
        verifier=_slow_verifier if web.get("verifiers") == 2 else None,  # type: ignore[arg-type]
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(letters.settings, site=site), port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", site
    finally:
        server.should_exit = True
        thread.join(30)
        site.close()


@pytest.mark.parametrize(
    "in_process", [{"verifiers": 2, "time_budget_seconds": 3.0}], indirect=True
)
def test_a_file_that_takes_minutes_is_stopped_at_its_budget_while_the_site_serves(
    in_process: tuple[str, Site],
) -> None:
    base, site = in_process
    record = site.register.records()[0]
    answers: list[httpx.Response] = []
    stalls = [
        threading.Thread(
            target=lambda: answers.append(_upload(f"{base}/api/v1/verify", b"%PDF-1.7 slow"))
        )
        for _ in range(2)
    ]
    started = time.monotonic()
    for stall in stalls:
        stall.start()
    time.sleep(0.5)
    # both verifiers are busy: pages still answer at once
    page_started = time.monotonic()
    assert httpx.get(f"{base}/surat/{record.register_id}").status_code == 200
    assert time.monotonic() - page_started < 2
    for stall in stalls:
        stall.join(60)
    assert time.monotonic() - started < 20
    assert [answer.json()["verdict"] for answer in answers] == ["unchecked", "unchecked"]
    assert all("longer than 3 s" in answer.text for answer in answers)


@pytest.mark.parametrize("in_process", [{"uploads_per_minute": 2}], indirect=True)
def test_uploads_are_rate_limited_per_client(in_process: tuple[str, Site]) -> None:
    base, _ = in_process
    statuses = [_upload(f"{base}/api/v1/verify", b"not a pdf").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = _upload(f"{base}/api/v1/verify", b"not a pdf")
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) > 0
    page = _upload(f"{base}/verifikasi", b"not a pdf")
    assert page.status_code == 429 and "Terlalu banyak berkas" in page.text
    # pages are not limited
    assert httpx.get(f"{base}/verifikasi").status_code == 200


# ---------------------------------------------------------------- the server's processes


def test_serve_refuses_a_missing_register_clearly(tmp_path: Path) -> None:
    config = tmp_path / "docgen.toml"
    config.write_text(f'[letter_register]\npath = "{tmp_path / "none.sqlite3"}"\n')
    done = subprocess.run(
        [sys.executable, "-m", "docgen", "--config", str(config), "serve", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 74, done.stderr
    assert "register" in done.stderr and "Traceback" not in done.stderr


def test_the_servers_processes_end_when_it_is_killed(
    tmp_path: Path, renderer: Renderer, pki_services: str
) -> None:
    port = free_port()
    letters = issue_letters(tmp_path, port, renderer, pki_services)
    with served(letters.config, port, workers=2) as server:
        # each worker verifies once, so that each has its verification process too
        for _ in range(4):
            _upload(f"http://127.0.0.1:{port}/api/v1/verify", b"%PDF-1.7")
        workers = children(server.pid)
        family = workers + [grandchild for worker in workers for grandchild in children(worker)]
        assert len(workers) >= 2 and len(family) > len(workers)
        server.send_signal(signal.SIGKILL)
        server.wait()
        deadline = time.monotonic() + 15
        while any(Path(f"/proc/{pid}").exists() for pid in family) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = [pid for pid in family if Path(f"/proc/{pid}").exists()]
        assert not left, f"still running after the server was killed: {left}"


def test_the_register_is_only_read(site: tuple[str, Letters]) -> None:
    base, letters = site
    before = hashlib.sha256(Path(letters.settings.letter_register.path).read_bytes()).hexdigest()
    for _ in range(3):
        httpx.get(letters.valid.verification_url)
        _upload(f"{base}/api/v1/verify", letters.valid.path.read_bytes())
    after = hashlib.sha256(Path(letters.settings.letter_register.path).read_bytes()).hexdigest()
    assert before == after
    record = Register(letters.settings.letter_register.path, read_only=True).get(
        letters.valid.register_id
    )
    assert record is not None and record.status is LetterStatus.ISSUED


def test_a_portal_mounts_the_site_under_a_prefix(site: tuple[str, Letters]) -> None:
    _, letters = site
    from starlette.applications import Starlette
    from starlette.routing import Mount

    verification = create_app(letters.settings)
    portal = Starlette(routes=[Mount("/verifikasi-surat", app=verification)])

    async def visit() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=portal)
        async with httpx.AsyncClient(transport=transport, base_url="http://portal") as client:
            page = await client.get(f"/verifikasi-surat/surat/{letters.valid.register_id}")
            api = await client.get(f"/verifikasi-surat/api/v1/letters/{letters.valid.register_id}")
            home = await client.get("/verifikasi-surat/")
            return page, api, home

    try:
        # a thread of its own: a browser test in this process may hold the main thread's loop
        with ThreadPoolExecutor(1) as thread:
            page, api, home = thread.submit(asyncio.run, visit()).result()
    finally:
        verification.state.site.close()
    assert page.status_code == 200 and letters.valid.letter_number in page.text
    assert 'href="/verifikasi-surat/static/site.css"' in page.text
    assert f'action="/verifikasi-surat/surat/{letters.valid.register_id}?lang=id"' in page.text
    assert api.json()["letter_number"] == letters.valid.letter_number
    assert home.status_code == 303 and home.headers["location"] == "/verifikasi-surat/verifikasi"


class _Unreachable(Register):
    """A register whose server stopped answering after the site started."""

    def get(self, register_id: str) -> LetterRecord | None:
        raise RegisterError("could not connect to the register's server")


def test_a_register_that_stops_answering_is_a_clear_503(site: tuple[str, Letters]) -> None:
    _, letters = site
    register = _Unreachable(letters.settings.letter_register.path, read_only=True)
    verification = create_app(letters.settings, site=Site(letters.settings, register=register))
    id_ = letters.valid.register_id

    async def visit() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=verification)
        async with httpx.AsyncClient(transport=transport, base_url="http://site") as client:
            return await client.get(f"/surat/{id_}"), await client.get(f"/api/v1/letters/{id_}")

    try:
        with ThreadPoolExecutor(1) as thread:
            page, api = thread.submit(asyncio.run, visit()).result()
    finally:
        verification.state.site.close()
        register.close()
    assert page.status_code == 503 and "tidak dapat dibaca" in page.text
    assert "TERBIT" not in page.text and "tidak dikenal" not in page.text
    assert api.status_code == 503 and api.json()["error"]["code"] == "unavailable"


def test_waiting_uploads_get_a_verifier_in_the_order_they_came() -> None:
    from docgen.web.site import _Queue

    token = object()
    queue = _Queue((token,))  # type: ignore[arg-type]  # any object stands for a verifier
    assert queue.take() is token
    served: list[int] = []

    def upload(number: int) -> None:
        got = queue.take()
        served.append(number)
        queue.give(got)

    waiting = []
    for number in range(5):
        waiting.append(threading.Thread(target=upload, args=(number,)))
        waiting[-1].start()
        time.sleep(0.05)  # each in line before the next comes
    # a newcomer arriving as the verifier is handed back waits its turn behind them
    queue.give(token)
    late = threading.Thread(target=upload, args=(5,))
    late.start()
    for thread in [*waiting, late]:
        thread.join(10)
    assert served == [0, 1, 2, 3, 4, 5]


def test_uploads_are_logged_by_size_and_verdict_only(
    tmp_path: Path, renderer: Renderer, pki_services: str
) -> None:
    port = free_port()
    letters = issue_letters(tmp_path, port, renderer, pki_services)
    data = letters.valid.path.read_bytes()
    with served(letters.config, port, workers=2, verbose=True) as server:
        for _ in range(2):
            _upload(f"http://127.0.0.1:{port}/api/v1/verify", data, name="rahasia-pt-baja.pdf")
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        assert server.stderr is not None
        log = server.stderr.read().decode()
    assert log.count(f"verified an upload of {len(data)} bytes: valid") == 2, log
    for secret in ("rahasia-pt-baja", letters.valid.letter_number, "Cilegon", "Traceback"):
        assert secret not in log


def test_a_site_without_trust_roots_is_refused_before_it_serves(
    site: tuple[str, Letters],
) -> None:
    _, letters = site
    untrusting = letters.settings.model_copy(
        update={"verification": letters.settings.verification.model_copy(update={"trust": ()})}
    )
    with pytest.raises(ConfigError, match="No trust roots configured"):
        Site(untrusting)


def test_wrong_methods_and_head_requests(site: tuple[str, Letters]) -> None:
    base, _ = site
    wrong = httpx.get(f"{base}/api/v1/verify")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
    assert "POST" in wrong.headers["allow"]
    assert httpx.head(f"{base}/healthz").status_code == 200
    assert httpx.head(f"{base}/readyz").status_code == 200
