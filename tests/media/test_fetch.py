"""Fetching reference images, against a real HTTP(S) server on 127.0.0.1.

Host names ending in ``.test`` are made to resolve where a test needs them by replacing the
module's resolver; HTTP itself is never mocked. Where a test needs an allowed server, it lets
127.0.0.1 count as public (``loopback_is_public``), since the local server is the only one.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from genq.media import fetch
from genq.media.fetch import (
    MAX_REDIRECTS,
    Fetched,
    check_reference,
    fetch_bytes,
    fetch_file,
    fetch_image,
)
from genq.models.base import InputError
from tests.media.images import LIMIT, PNG, data_uri, encoded
from tests.media.network import (
    FakeDNS,
    Handler,
    LocalServer,
    body,
    chunked,
    make_certificates,
    real_address_kind,
    redirect,
    serve,
)

LOOPBACK = ipaddress.ip_address("127.0.0.1")


@pytest.fixture
def server() -> Iterator[LocalServer]:
    yield from serve()


@pytest.fixture
def loopback_is_public(monkeypatch: pytest.MonkeyPatch) -> None:
    def kind(address: fetch.IPAddress) -> str:
        return "public" if address == LOOPBACK else real_address_kind(address)

    monkeypatch.setattr(fetch, "address_kind", kind)


# --- private addresses -----------------------------------------------------------------------


def test_loopback_url_is_refused_by_default(server: LocalServer) -> None:
    """A URL on 127.0.0.1 is refused before any request is made."""
    server.routes["/image.png"] = body(PNG)
    url = server.url("/image.png")
    with pytest.raises(InputError) as refused:
        fetch_image(url, max_bytes=LIMIT)
    assert str(refused.value) == (
        f"cannot fetch {url}: the host 127.0.0.1 does not resolve to a public address"
    )
    assert server.requests == []


def test_loopback_url_is_fetched_when_private_addresses_are_allowed(server: LocalServer) -> None:
    """With allow_private the same URL is fetched and decoded."""
    server.routes["/image.png"] = body(PNG)
    image = fetch_image(server.url("/image.png"), max_bytes=LIMIT, allow_private=True)
    assert (image.mode, image.size) == ("RGB", (40, 30))
    assert image.getpixel((0, 0)) == (200, 30, 10)


@pytest.mark.parametrize(
    ("host", "named"),
    [
        ("localhost", "localhost"),
        ("[::1]", "::1"),
        ("0.0.0.0", "0.0.0.0"),
        # The decimal form of 127.0.0.1, a classic way around string checks.
        ("2130706433", "2130706433"),
    ],
)
def test_other_spellings_of_this_host_are_refused(host: str, named: str) -> None:
    """Host names and IP spellings that reach this machine are refused too."""
    with pytest.raises(InputError) as refused:
        fetch_bytes(f"http://{host}:9/x.png", max_bytes=LIMIT)
    assert f"the host {named} does not resolve to a public address" in str(refused.value)


PRIVATE_ANSWERS = [
    (["10.0.0.5"], "10.0.0.5", "a private"),
    (["93.184.216.34", "192.168.1.7"], "192.168.1.7", "a private"),
    (["::ffff:10.0.0.5"], "::ffff:10.0.0.5", "a private"),
    (["169.254.169.254"], "169.254.169.254", "a link-local"),
    (["100.64.1.1"], "100.64.1.1", "a shared (carrier-grade NAT)"),
    (["fd00:ec2::254"], "fd00:ec2::254", "a private"),
]
# Dotted quads, and IPv6 groups around a "::" or eight groups long.
IP_ADDRESS = re.compile(
    r"\b\d{1,3}(\.\d{1,3}){3}\b|[0-9a-f]{0,4}(:[0-9a-f]{0,4})*::[0-9a-f:.]*"
    r"|\b[0-9a-f]{1,4}(:[0-9a-f]{1,4}){7}\b",
    re.IGNORECASE,
)


@pytest.mark.parametrize(("answer", "address", "kind"), PRIVATE_ANSWERS)
def test_host_name_resolving_to_a_private_address_is_refused(
    dns: FakeDNS, answer: list[str], address: str, kind: str
) -> None:
    """Every address a name resolves to is checked; one private address refuses the URL."""
    dns.add("intranet.test", answer)
    with pytest.raises(InputError) as refused:
        fetch_bytes("https://intranet.test/cat.png", max_bytes=LIMIT)
    assert str(refused.value) == (
        "cannot fetch https://intranet.test/cat.png: the host intranet.test does not "
        "resolve to a public address"
    )


@pytest.mark.parametrize(("answer", "address", "kind"), PRIVATE_ANSWERS)
def test_refusals_name_no_address_but_the_operator_log_does(
    dns: FakeDNS, caplog: pytest.LogCaptureFixture, answer: list[str], address: str, kind: str
) -> None:
    """What the submitter reads holds no IP address (genq is no DNS oracle for internal
    names); the operator's warning names the address, its kind, the job and the reference."""
    dns.add("intranet.test", answer)
    ref = "https://intranet.test/" + "x" * 200
    with (
        caplog.at_level(logging.WARNING, logger="genq.fetch"),
        pytest.raises(InputError) as refused,
    ):
        fetch_bytes(ref, max_bytes=LIMIT, job_id="job_42")
    message = str(refused.value)
    assert address not in message
    assert IP_ADDRESS.search(message) is None, message
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert f"{kind} address {address}" in record.getMessage()
    assert "job_42" in record.getMessage()
    assert f"{ref[:80]}... ({len(ref)} characters)" in record.getMessage()


def test_connection_goes_to_the_checked_address(
    server: LocalServer, dns: FakeDNS, loopback_is_public: None
) -> None:
    """One lookup per fetch: a rebinding DNS answer after the check is never used, and the
    server still sees the host name in the Host header."""
    server.routes["/cat.png"] = body(PNG)
    dns.add("rebind.test", ["127.0.0.1"], ["10.0.0.5"])
    url = server.url("/cat.png", host="rebind.test")
    fetched = fetch_bytes(url, max_bytes=LIMIT)
    assert fetched == Fetched(PNG, "image/png")
    assert dns.lookups == ["rebind.test"]
    assert server.requests == [("/cat.png", f"rebind.test:{server.server_address[1]}")]


def test_unresolvable_host_is_refused(dns: FakeDNS) -> None:
    """A host name without addresses is refused with its name and, where private addresses
    are allowed, the resolver's reason."""
    with pytest.raises(InputError, match=r"the host name nowhere\.test does not resolve \("):
        fetch_bytes("http://nowhere.test/a.png", max_bytes=LIMIT, allow_private=True)


def test_unresolvable_and_private_hosts_read_alike(dns: FakeDNS) -> None:
    """Without private addresses, a name that does not resolve and one that resolves to a
    private address get the same words: a refusal tells nothing of which internal names
    exist."""
    dns.add("inside.test", ["10.1.2.3"])
    messages = []
    for host in ("nowhere.test", "inside.test"):
        with pytest.raises(InputError) as refused:
            fetch_bytes(f"http://{host}/a.png", max_bytes=LIMIT)
        messages.append(str(refused.value).replace(host, "HOST"))
    assert messages[0] == messages[1]


@pytest.mark.parametrize(
    "url", ["http://a..b/x.png", "http://" + "a" * 64 + ".test/x.png", "http://a.test:99999/"]
)
def test_malformed_hosts_and_ports_are_refused_at_submit(url: str) -> None:
    """A host name IDNA cannot encode or a port out of range is refused before any lookup."""
    with pytest.raises(InputError, match=r"malformed|out of range"):
        check_reference(url)
    with pytest.raises(InputError):
        fetch_bytes(url, max_bytes=LIMIT)


# --- redirects -------------------------------------------------------------------------------


def test_redirect_to_a_private_address_is_refused(
    server: LocalServer, dns: FakeDNS, loopback_is_public: None
) -> None:
    """Each redirect hop is checked: an allowed server cannot bounce the fetch inwards."""
    server.routes["/cat.png"] = redirect("http://metadata.test/latest/")
    dns.add("metadata.test", ["169.254.169.254"])
    url = server.url("/cat.png")
    with pytest.raises(InputError) as refused:
        fetch_bytes(url, max_bytes=LIMIT)
    assert str(refused.value) == (
        f"cannot fetch {url} (redirected to http://metadata.test/latest/): the host "
        "metadata.test does not resolve to a public address"
    )
    assert [path for path, _ in server.requests] == ["/cat.png"]


def test_redirects_are_followed_up_to_the_limit(server: LocalServer) -> None:
    """Relative and absolute redirects are followed, up to MAX_REDIRECTS of them."""
    server.routes["/0"] = body(PNG)
    for hop in range(1, MAX_REDIRECTS + 2):
        target = f"/{hop - 1}" if hop % 2 else server.url(f"/{hop - 1}")
        server.routes[f"/{hop}"] = redirect(target, status=(301, 302, 303, 307, 308)[hop % 5])
    fetched = fetch_bytes(server.url(f"/{MAX_REDIRECTS}"), max_bytes=LIMIT, allow_private=True)
    assert fetched.data == PNG
    with pytest.raises(InputError, match=f"more than {MAX_REDIRECTS} redirects"):
        fetch_bytes(server.url(f"/{MAX_REDIRECTS + 1}"), max_bytes=LIMIT, allow_private=True)


def test_redirect_to_another_scheme_is_refused(server: LocalServer) -> None:
    """A redirect to file:// is refused like a file:// reference."""
    server.routes["/cat.png"] = redirect("file:///etc/passwd")
    with pytest.raises(InputError, match=r"\(redirected to file:/+etc/passwd\): only http"):
        fetch_bytes(server.url("/cat.png"), max_bytes=LIMIT, allow_private=True)


# --- what comes back -------------------------------------------------------------------------


def test_content_length_over_the_limit_is_refused_before_reading(server: LocalServer) -> None:
    """A declared length above the limit is refused from the headers."""
    server.routes["/big.png"] = body(PNG + bytes(LIMIT))
    size = len(PNG) + LIMIT
    with pytest.raises(InputError, match=rf"larger than the 64 KiB limit \({size} bytes\)"):
        fetch_bytes(server.url("/big.png"), max_bytes=LIMIT, allow_private=True)


def test_endless_chunked_body_is_cut_off_at_the_limit(server: LocalServer) -> None:
    """Without a Content-Length, reading stops once the limit is passed: the server, which
    would send forever, sees the connection closed."""

    def endless() -> Iterator[bytes]:
        yield PNG
        while not server.release.is_set():
            yield bytes(16 * 1024)

    server.routes["/endless.png"] = chunked(endless)
    with pytest.raises(InputError, match=r"larger than the 64 KiB limit$"):
        fetch_bytes(server.url("/endless.png"), max_bytes=LIMIT, allow_private=True)
    assert server.cut_off.wait(10), "the server is still sending"


def test_chunked_body_within_the_limit_is_fetched(server: LocalServer) -> None:
    """A chunked body under the limit arrives whole."""
    server.routes["/cat.png"] = chunked(lambda: iter([PNG[:10], PNG[10:]]))
    fetched = fetch_bytes(server.url("/cat.png"), max_bytes=LIMIT, allow_private=True)
    assert fetched == Fetched(PNG, "image/png")


@pytest.mark.parametrize(
    ("data", "content_type", "reason"),
    [
        (b"<html>hello</html>", "text/html; charset=utf-8", r"not an image \(text/html\)"),
        (b"<html>hello</html>", "image/png", r"not a PNG, JPEG, WebP or GIF image \(declared"),
        (encoded(Image.new("RGB", (4, 4)), "BMP"), "image/bmp", "declared as image/bmp"),
        (b"\x00\x01", None, "not a PNG, JPEG, WebP or GIF image$"),
    ],
)
def test_non_images_are_refused_whatever_the_server_says(
    server: LocalServer, data: bytes, content_type: str | None, reason: str
) -> None:
    """The bytes decide: HTML, BMP and unknown bytes are refused even when called image/png."""
    server.routes["/x"] = body(data, content_type)
    with pytest.raises(InputError, match=reason):
        fetch_bytes(server.url("/x"), max_bytes=LIMIT, allow_private=True)


def test_error_status_is_refused(server: LocalServer) -> None:
    """A 404 is refused with the status."""
    with pytest.raises(InputError, match="the server answered 404 Not Found"):
        fetch_bytes(server.url("/missing.png"), max_bytes=LIMIT, allow_private=True)


def test_slow_server_times_out(server: LocalServer) -> None:
    """A server that does not answer within the timeout is refused."""
    server.routes["/slow.png"] = lambda handler: (server.release.wait(10), None)[1]
    with pytest.raises(InputError, match=r"no answer within 0\.3 s"):
        fetch_bytes(server.url("/slow.png"), max_bytes=LIMIT, allow_private=True, timeout=0.3)


# --- https -----------------------------------------------------------------------------------


@pytest.fixture
def tls(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for images.test, and a client context that trusts
    its CA."""
    made = make_certificates(tmp_path, "images.test")
    return made.server, made.client


@pytest.fixture
def tls_server(
    tls: tuple[ssl.SSLContext, ssl.SSLContext], monkeypatch: pytest.MonkeyPatch
) -> Iterator[LocalServer]:
    server_context, client_context = tls
    monkeypatch.setattr(fetch, "_tls_context", lambda: client_context)
    yield from serve(server_context)


def test_https_checks_the_host_name_while_connecting_to_the_address(
    tls_server: LocalServer, dns: FakeDNS
) -> None:
    """Over https the request goes to the checked address, yet SNI and the certificate check
    use the host name."""
    tls_server.routes["/cat.png"] = body(PNG)
    dns.add("images.test", ["127.0.0.1"])
    url = tls_server.url("/cat.png", host="images.test")
    fetched = fetch_bytes(url, max_bytes=LIMIT, allow_private=True)
    assert fetched == Fetched(PNG, "image/png")
    assert tls_server.server_names == ["images.test"]
    assert tls_server.requests == [("/cat.png", f"images.test:{tls_server.server_address[1]}")]


def test_https_certificate_for_another_name_is_refused(
    tls_server: LocalServer, dns: FakeDNS
) -> None:
    """A certificate that does not name the host is refused, though the address is right."""
    tls_server.routes["/cat.png"] = body(PNG)
    dns.add("impostor.test", ["127.0.0.1"])
    url = tls_server.url("/cat.png", host="impostor.test")
    with pytest.raises(InputError, match=r"could not connect \(.*certificate verify failed"):
        fetch_bytes(url, max_bytes=LIMIT, allow_private=True)
    assert tls_server.requests == []


# --- files of any type -----------------------------------------------------------------------


def test_files_of_any_type_are_fetched_and_named_after_their_url(
    server: LocalServer, tmp_path: Path
) -> None:
    """fetch_file takes what is no image, asks for any type, and names the file after the
    URL's last segment (characters a file name should not hold replaced)."""
    wave = b"RIFF\x24\x00\x00\x00WAVEfmt "
    accepted: list[str] = []

    def route(handler: Handler) -> None:
        accepted.append(handler.headers.get("Accept", ""))
        handler.answer(200, wave, "audio/wav")

    server.routes["/clips/voice%20memo%3B1.wav?x=1"] = route
    path, content_type = fetch_file(
        server.url("/clips/voice%20memo%3B1.wav?x=1"), tmp_path, max_bytes=LIMIT, allow_private=True
    )
    assert (path, path.read_bytes(), content_type) == (
        tmp_path / "voice_memo_1.wav",
        wave,
        "audio/wav",
    )
    assert accepted == ["*/*"]


@pytest.mark.parametrize(
    ("ref", "name", "content_type"),
    [
        (data_uri(b"hello", "text/plain"), "file.txt", "text/plain"),
        (data_uri(PNG, "application/octet-stream"), "file.png", "image/png"),
        ("data:,plain%20bytes", "file.bin", "application/octet-stream"),
    ],
)
def test_a_data_uri_file_is_named_after_its_type(
    tmp_path: Path, ref: str, name: str, content_type: str
) -> None:
    """A data: URI's file is called file, with the suffix of its type: an image's recognised
    from its bytes, another's as declared."""
    path, found = fetch_file(ref, tmp_path, max_bytes=LIMIT)
    assert (path.name, found) == (name, content_type)


def test_file_fetches_keep_the_guard(server: LocalServer, tmp_path: Path) -> None:
    """A private address and a file over the limit are refused as for images, nothing saved."""
    server.routes["/big.bin"] = body(b"x" * (LIMIT + 1), "application/octet-stream")
    with pytest.raises(InputError, match="does not resolve to a public address"):
        fetch_file(server.url("/big.bin"), tmp_path, max_bytes=LIMIT)
    assert server.requests == []
    with pytest.raises(InputError, match="larger than the 64 KiB limit"):
        fetch_file(server.url("/big.bin"), tmp_path, max_bytes=LIMIT, allow_private=True)
    assert list(tmp_path.iterdir()) == []
