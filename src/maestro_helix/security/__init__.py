"""Mutual TLS between Maestro and Helix services: a private CA, short-lived leaves rotated
weekly (:mod:`~maestro_helix.security.certs`), and a listener that requires client
certificates, reloads rotated leaves in place and counts failed handshakes
(:mod:`~maestro_helix.security.tls`)."""

from maestro_helix.security.certs import (
    CertError,
    CertInfo,
    CertKind,
    init_ca,
    inspect,
    issue,
    rotate,
)
from maestro_helix.security.tls import (
    MutualTLS,
    client_ssl_context,
    reload,
    serve_tls,
    server_ssl_context,
)

__all__ = [
    "CertError",
    "CertInfo",
    "CertKind",
    "MutualTLS",
    "client_ssl_context",
    "init_ca",
    "inspect",
    "issue",
    "reload",
    "rotate",
    "serve_tls",
    "server_ssl_context",
]
