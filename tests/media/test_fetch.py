"""Fetching reference images, against a real HTTP(S) server on 127.0.0.1.

Host names ending in ``.test`` are made to resolve where a test needs them by replacing the
module's resolver; HTTP itself is never mocked. Where a test needs an allowed server, it lets
127.0.0.1 count as public (``loopback_is_public``), since the local server is the only one.
"""

from __future__ import annotations

import base64
import datetime
import io
import ipaddress
import logging
import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from genq.media import fetch
from genq.media.fetch import (
    MAX_REDIRECTS,
    Fetched,
    address_kind,
    check_reference,
    fetch_bytes,
    fetch_image,
)
from genq.models.base import InputError

LIMIT = 64 * 1024
LOOPBACK = ipaddress.ip_address("127.0.0.1")

Route = Callable[["Handler"], None]


def encoded(image: Image.Image, fmt: str = "PNG", **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


PNG = encoded(Image.new("RGB", (40, 30), (200, 30, 10)))


def data_uri(data: bytes, content_type: str = "image/png") -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode()}"


# --- a real server ---------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LocalServer

    def do_GET(self) -> None:
        app = self.server
        app.requests.append((self.path, self.headers.get("Host", "")))
        route = app.routes.get(self.path)
        try:
            if route is None:
                self.answer(404, b"no such page", "text/plain")
            else:
                route(self)
        except (BrokenPipeError, ConnectionResetError):
            app.cut_off.set()

    def answer(self, status: int, body: bytes, content_type: str | None = None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str]] = []
        self.server_names: list[str | None] = []
        self.cut_off = threading.Event()
        self.release = threading.Event()
        self.scheme = "http"
        if tls is not None:
            tls.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
            self.socket = tls.wrap_socket(self.socket, server_side=True)
            self.scheme = "https"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up or reject the certificate are part of the tests

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.server_address[1]}{path}"


def serve(tls: ssl.SSLContext | None = None) -> Iterator[LocalServer]:
    server = LocalServer(tls)
    # A short poll interval: shutdown() waits for the next poll.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def server() -> Iterator[LocalServer]:
    yield from serve()


def body(data: bytes, content_type: str | None = "image/png") -> Route:
    return lambda handler: handler.answer(200, data, content_type)


def redirect(location: str, status: int = 302) -> Route:
    def route(handler: Handler) -> None:
        handler.send_response(status)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return route


def chunked(chunks: Callable[[], Iterator[bytes]]) -> Route:
    """A body sent with chunked transfer encoding, so without a Content-Length."""

    def route(handler: Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for chunk in chunks():
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        handler.wfile.write(b"0\r\n\r\n")

    return route


class FakeDNS:
    """Answers for ``.test`` host names; other names go to the real resolver."""

    def __init__(self) -> None:
        self.answers: dict[str, list[list[str]]] = {}
        self.lookups: list[str] = []

    def add(self, host: str, *answers: list[str]) -> None:
        """Successive lookups of ``host`` get successive answers; the last one repeats."""
        self.answers[host] = list(answers)

    def resolve(self, host: str, port: int) -> list[fetch.IPAddress]:
        self.lookups.append(host)
        if host not in self.answers:
            if host.endswith(".test"):
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return real_resolve(host, port)
        answers = self.answers[host]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return [ipaddress.ip_address(address) for address in answer]


real_resolve = fetch._resolve
real_address_kind = fetch.address_kind


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDNS:
    fake = FakeDNS()
    monkeypatch.setattr(fetch, "_resolve", fake.resolve)
    return fake


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


@dataclass(frozen=True)
class Certificates:
    """A certificate for some names, signed by a CA made for the occasion."""

    #: Serves the certificate.
    server: ssl.SSLContext
    #: Trusts the CA.
    client: ssl.SSLContext
    #: The CA certificate, for processes that read trusted CAs from a file (SSL_CERT_FILE).
    ca_file: Path


def make_certificates(directory: Path, *names: str) -> Certificates:
    """A CA and a certificate for ``names`` (host names or IP addresses) under ``directory``."""
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def certificate(subject: str, key: Any, issuer: str, signer: Any, extensions: list[Any]) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(signer, hashes.SHA256())

    def alternative_name(name: str) -> Any:
        try:
            return x509.IPAddress(ipaddress.ip_address(name))
        except ValueError:
            return x509.DNSName(name)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate(
        "genq test CA",
        ca_key,
        "genq test CA",
        ca_key,
        [
            (x509.BasicConstraints(ca=True, path_length=None), True),
            (x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False),
        ],
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = certificate(
        names[0],
        key,
        "genq test CA",
        ca_key,
        [
            (x509.SubjectAlternativeName([alternative_name(n) for n in names]), False),
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False),
        ],
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    ca_file = directory / "ca.pem"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    client_context = ssl.create_default_context(cafile=ca_file)
    return Certificates(server_context, client_context, ca_file)


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


# --- references that are not fetched ---------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("file:///etc/passwd", "only http://, https:// and data: references are accepted"),
        ("ftp://example.com/cat.png", "only http://, https:// and data: references"),
        ("gopher://example.com/", "only http://, https:// and data: references"),
        ("javascript:alert(1)", "only http://, https:// and data: references"),
        ("example.com/cat.png", "only http://, https:// and data: references"),
        ("http://user:secret@example.com/cat.png", "URLs with credentials are not accepted"),
        ("http://[::1/cat.png", "not a valid URL"),
        ("http:///cat.png", "the URL has no host"),
    ],
)
def test_references_that_are_not_http_urls_are_refused(dns: FakeDNS, ref: str, reason: str) -> None:
    """Other schemes, credentials and malformed URLs are refused without a lookup."""
    with pytest.raises(InputError) as refused:
        fetch_bytes(ref, max_bytes=LIMIT)
    assert str(refused.value).startswith(f"cannot fetch {ref}: {reason}")
    assert dns.lookups == []


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("hello", "only http://, https:// and data: references are accepted"),
        ("file:///etc/passwd", "only http://, https:// and data: references are accepted"),
        ("HTTPS://user:secret@example.com/cat.png", "URLs with credentials are not accepted"),
        ("https://[::1/cat.png", "not a valid URL"),
        ("https:///cat.png", "the URL has no host"),
        ("data:image/png;base64,iVBOR!!w0KGgo", "its base64 data is not valid"),
        ("data:image/png;base64", "a data: URI needs a comma before its data"),
        ("data:text/plain,hello", "not an image (text/plain)"),
    ],
)
def test_check_reference_refuses_what_no_fetch_could_use(
    dns: FakeDNS, ref: str, reason: str
) -> None:
    """The check made at submit refuses bad schemes, URLs and data: URIs with the bare reason
    (the caller names the field), without a lookup."""
    with pytest.raises(InputError) as refused:
        check_reference(ref)
    assert str(refused.value).startswith(reason)
    assert dns.lookups == []


@pytest.mark.parametrize(
    "ref",
    [
        "https://intranet.test/cat.png",
        " http://127.0.0.1:9/cat.png ",
        "DATA:image/png;base64," + base64.b64encode(PNG).decode(),
    ],
)
def test_check_reference_leaves_addresses_to_the_fetch(dns: FakeDNS, ref: str) -> None:
    """http(s) URLs pass whatever their host (no lookup: addresses are the worker's to check),
    and so do data: URIs that hold an image."""
    check_reference(ref)
    assert dns.lookups == []


# --- data: URIs ------------------------------------------------------------------------------


def test_png_data_uri_is_decoded() -> None:
    """A base64 PNG data URI gives the image."""
    image = fetch_image(data_uri(PNG), max_bytes=LIMIT)
    assert (image.mode, image.size) == ("RGB", (40, 30))


def test_data_uri_without_padding_or_with_line_breaks_is_accepted() -> None:
    """Hand-made data URIs often lack base64 padding or are wrapped; both are fine."""
    text = base64.b64encode(PNG).decode().rstrip("=")
    wrapped = "\n".join(text[i : i + 60] for i in range(0, len(text), 60))
    assert fetch_bytes(f"data:image/png;base64,{wrapped}", max_bytes=LIMIT).data == PNG


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("data:image/png;base64,iVBOR!!w0KGgo", "its base64 data is not valid"),
        ("data:image/png;base64", "a data: URI needs a comma before its data"),
        ("data:text/plain,hello", r"not an image \(text/plain\)"),
        (data_uri(b"GIF89a" + bytes(LIMIT)), "larger than the 64 KiB limit"),
        ("data:image/png," + "%00" * (LIMIT + 1), "larger than the 64 KiB limit"),
    ],
)
def test_bad_data_uris_are_refused(ref: str, reason: str) -> None:
    """Bad base64, a missing comma, non-images and oversized data are refused."""
    with pytest.raises(InputError, match=reason):
        fetch_bytes(ref, max_bytes=LIMIT)


def test_long_data_uri_is_shortened_in_messages() -> None:
    """A refused data URI is named by its start and length, not quoted whole."""
    ref = data_uri(b"GIF89a" + bytes(LIMIT))
    with pytest.raises(InputError) as refused:
        fetch_bytes(ref, max_bytes=LIMIT)
    message = str(refused.value)
    assert message.startswith(f"cannot fetch {ref[:80]}... ({len(ref)} characters): larger")
    assert len(message) < 200


# --- decoding --------------------------------------------------------------------------------


def test_corrupt_image_is_refused() -> None:
    """Bytes that start like a PNG but do not decode are refused by fetch_image."""
    broken = PNG[:40] + bytes(30)
    assert fetch_bytes(data_uri(broken), max_bytes=LIMIT).content_type == "image/png"
    with pytest.raises(InputError, match=r"^cannot use data:.*: not a readable image"):
        fetch_image(data_uri(broken), max_bytes=LIMIT)


@pytest.mark.parametrize("side", [12, 20])
def test_decompression_bomb_is_refused(monkeypatch: pytest.MonkeyPatch, side: int) -> None:
    """Images over Pillow's pixel limit are refused, both in its warning band (an error
    here, as warnings are) and beyond twice the limit (always an error)."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    ref = data_uri(encoded(Image.new("RGB", (side, side))))
    with pytest.raises(InputError, match="too many pixels"):
        fetch_image(ref, max_bytes=LIMIT)


def test_pixel_limit_holds_where_pillow_only_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the decompression bomb warning is only a warning, the image is still refused."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    ref = data_uri(encoded(Image.new("RGB", (12, 12))))
    with (
        pytest.warns(Image.DecompressionBombWarning),
        pytest.raises(InputError, match="12x12 is more than the 100 pixels allowed"),
    ):
        fetch_image(ref, max_bytes=LIMIT)


def test_too_many_pixels_are_refused_from_the_header() -> None:
    """An image over max_pixels is refused by the size its header gives: a PNG cut off right
    after its header, which no decoder could read, is refused for its pixels, not for that."""
    # The signature, IHDR and the next chunk's length and type.
    header = encoded(Image.new("1", (9400, 9400), 1))[:41]
    with pytest.raises(InputError, match="9400x9400 is more than the 25000000 pixels allowed"):
        fetch_image(data_uri(header), max_bytes=LIMIT)
    ref = data_uri(encoded(Image.new("RGB", (100, 100))))
    with pytest.raises(InputError, match="100x100 is more than the 9999 pixels allowed"):
        fetch_image(ref, max_bytes=LIMIT, max_pixels=9999)
    assert fetch_image(ref, max_bytes=LIMIT, max_pixels=10_000).size == (100, 100)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_images_are_resized_to_the_size_asked_for(fmt: str) -> None:
    """With a size, the image comes back at exactly that size, in RGB."""
    ref = data_uri(encoded(Image.new("RGB", (1200, 900), (10, 120, 240)), fmt))
    image = fetch_image(ref, max_bytes=LIMIT, size=(64, 40))
    assert (image.mode, image.size) == ("RGB", (64, 40))
    assert image.getpixel((32, 20)) == pytest.approx((10, 120, 240), abs=12)


def test_a_size_function_sees_the_upright_size() -> None:
    """A size function gets the picture's upright size, and its answer is the upright one."""
    photo = Image.new("RGB", (400, 200))
    exif = photo.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    seen: list[tuple[int, int]] = []

    def half(width: int, height: int) -> tuple[int, int]:
        seen.append((width, height))
        return width // 2, height // 2

    image = fetch_image(data_uri(encoded(photo, "JPEG", exif=exif)), max_bytes=LIMIT, size=half)
    assert seen == [(200, 400)]
    assert image.size == (100, 200)


def test_a_large_jpeg_is_decoded_at_a_reduced_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    """A JPEG shrunk to a fraction of its size is decoded at 1/8 scale, not at full size."""
    from PIL import JpegImagePlugin

    drafts: list[Any] = []
    draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self: Any, mode: str | None, size: tuple[int, int] | None) -> Any:
        drafts.append(result := draft(self, mode, size))
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    ref = data_uri(encoded(Image.new("RGB", (1600, 1200), "olive"), "JPEG"))
    assert fetch_image(ref, max_bytes=LIMIT, size=(100, 75)).size == (100, 75)
    assert [d[1] for d in drafts] == [(0, 0, 200, 150)]


@pytest.mark.parametrize(
    ("image", "fmt", "mode"),
    [
        (Image.new("RGBA", (8, 6), (1, 2, 3, 4)), "PNG", "RGBA"),
        (Image.new("L", (8, 6), 90), "PNG", "RGB"),
        (Image.new("RGB", (8, 6), (9, 9, 9)), "JPEG", "RGB"),
        (Image.new("RGBA", (8, 6), (1, 2, 3, 4)), "WEBP", "RGBA"),
        (Image.new("P", (8, 6)), "GIF", "RGB"),
    ],
)
def test_images_come_back_as_rgb_or_rgba(image: Image.Image, fmt: str, mode: str) -> None:
    """Every accepted format decodes to RGB, or RGBA where it has transparency."""
    decoded = fetch_image(data_uri(encoded(image, fmt)), max_bytes=LIMIT)
    assert (decoded.mode, decoded.size) == (mode, (8, 6))


def test_animated_gif_gives_its_first_frame() -> None:
    """An animation is read as its first frame."""
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    gif = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    image = fetch_image(data_uri(gif, "image/gif"), max_bytes=LIMIT)
    assert image.getpixel((0, 0)) == (255, 0, 0)


def test_exif_orientation_is_applied() -> None:
    """A photo stored sideways with an EXIF orientation comes back upright."""
    photo = Image.new("RGB", (40, 20))
    exif = photo.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image = fetch_image(data_uri(encoded(photo, "JPEG", exif=exif)), max_bytes=LIMIT)
    assert image.size == (20, 40)


# --- the address classifier ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("8.8.8.8", "public"),
        ("93.184.216.34", "public"),
        ("172.32.0.1", "public"),
        ("100.128.0.1", "public"),
        ("192.0.3.1", "public"),
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("10.0.0.5", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("100.127.255.255", "shared (carrier-grade NAT)"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "reserved"),
        ("198.18.0.1", "reserved"),
        ("2606:4700:4700::1111", "public"),
        ("2a00:1450:4001:80b::200e", "public"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fd00::1", "private"),
        ("fc00::1", "private"),
        ("fd00:ec2::254", "private"),
        ("fec0::1", "private"),
        ("fe80::1", "link-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "reserved"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "reserved"),  # Teredo
        ("::127.0.0.1", "reserved"),  # IPv4-compatible, deprecated
        ("4000::1", "reserved"),  # outside global unicast
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.5", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:8.8.8.8", "public"),
        ("64:ff9b::a00:5", "private"),  # NAT64 of 10.0.0.5
        ("64:ff9b::808:808", "public"),  # NAT64 of 8.8.8.8
        ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:808:808::1", "public"),  # 6to4 of 8.8.8.8
    ],
)
def test_address_kind(address: str, kind: str) -> None:
    """Addresses are classed as the IANA registries say; embedded IPv4 addresses decide."""
    assert address_kind(ipaddress.ip_address(address)) == kind
