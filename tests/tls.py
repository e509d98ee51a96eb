"""A test certificate authority, and a certificate it signs for the test servers' address,
written as PEM files: what ``genq serve --tls-cert/--tls-key`` serves and clients trust."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class TlsFiles:
    #: The authority's certificate: what a client trusts (``SSL_CERT_FILE``, ``verify``).
    ca: Path
    #: The server's certificate (for 127.0.0.1 and localhost) and its private key.
    cert: Path
    key: Path


def tls_files(directory: Path) -> TlsFiles:
    """A new authority and a server certificate it signed, in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1", "localhost")
    files = TlsFiles(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    authority.cert_pem.write_to_path(str(files.ca))
    issued.cert_chain_pems[0].write_to_path(str(files.cert))
    issued.private_key_pem.write_to_path(str(files.key))
    return files
