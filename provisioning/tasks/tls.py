"""TLS material on a host: the operator's certificate and key copied there, else a self-signed pair once."""

from __future__ import annotations

from pathlib import Path

from pyinfra import host
from pyinfra.facts.files import File
from pyinfra.operations import files, server


def certificate(directory: str, cert: str | None, key: str | None, public_name: str, what: str) -> list:
    """``directory``/tls.crt and tls.key (0600) from local files, or self-signed for ``public_name``.

    ``what`` starts each operation's name ("Relay TLS", "Proxy TLS"). The returned operations are the ones
    that change what the service serves, for its ``restarted``/``reloaded`` condition. A self-signed pair
    is made only when there is no key yet, so a second run changes nothing.
    """
    if cert and key:
        return [
            files.put(name=f"{what} certificate installed", src=str(Path(cert).expanduser()),
                      dest=f"{directory}/tls.crt", mode="644"),
            files.put(name=f"{what} key installed", src=str(Path(key).expanduser()),
                      dest=f"{directory}/tls.key", mode="600"),
        ]
    if host.get_fact(File, path=f"{directory}/tls.key"):
        return []
    return [server.shell(
        name=f"{what}: self-signed certificate for {public_name} exists",
        commands=[f"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 "
                  f"-subj /CN={public_name} -addext subjectAltName=DNS:{public_name} "
                  f"-keyout {directory}/tls.key -out {directory}/tls.crt 2>/dev/null && chmod 600 {directory}/tls.key"],
    )]
