"""Certificates for the TLS tests, made with openssl: a CA, and the broker and client
certificates it signs, as PEM files in one folder."""

from __future__ import annotations

import pathlib
import subprocess


def openssl(*args: str, cwd: pathlib.Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


class Pki:
    """A CA and the certificates it signs, as PEM files in one folder."""

    def __init__(self, folder: pathlib.Path, name: str = "shoal test CA"):
        self.dir = folder
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca = self.dir / "ca.pem"
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", f"/CN={name}", cwd=self.dir)

    def issue(self, name: str, subject: str, server: bool, client: bool = False,
              hosts: str = "IP:127.0.0.1,DNS:localhost") -> tuple[pathlib.Path, pathlib.Path]:
        """(certificate, key) files for `subject` (openssl's /O=../CN=.. form): a server's
        for `hosts` (also a client's with `client`, as a broker dialling others shows it),
        or a client's."""
        extensions = self.dir / f"{name}.ext"
        usage = ("serverAuth,clientAuth" if client else "serverAuth") if server else "clientAuth"
        san = f"subjectAltName={hosts}\n" if server else ""
        extensions.write_text(f"{san}extendedKeyUsage={usage}\nbasicConstraints=CA:FALSE\n")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
                "-out", f"{name}.csr", "-subj", subject, cwd=self.dir)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.crt", "-days", "2", "-extfile", extensions.name, cwd=self.dir)
        return self.dir / f"{name}.crt", self.dir / f"{name}.key"

    def keystore(self, name: str, subject: str = "/CN=localhost", client: bool = False,
                 hosts: str = "IP:127.0.0.1,DNS:localhost") -> pathlib.Path:
        """A PEM keystore file for the broker: its certificate, then its key."""
        certificate, key = self.issue(name, subject, server=True, client=client, hosts=hosts)
        store = self.dir / f"{name}.pem"
        store.write_bytes(certificate.read_bytes() + key.read_bytes())
        return store

    def encrypted_keystore(self, name: str, password: str) -> pathlib.Path:
        """A PEM keystore whose key is encrypted (PKCS#8, PBES2 with AES-256-CBC) with
        `password`, as `ssl.key.password` unlocks it."""
        certificate, key = self.issue(name, "/CN=localhost", server=True)
        openssl("pkcs8", "-topk8", "-in", key.name, "-out", f"{name}.enc.key", "-v2", "aes-256-cbc",
                "-passout", f"pass:{password}", cwd=self.dir)
        store = self.dir / f"{name}.pem"
        store.write_bytes(certificate.read_bytes() + (self.dir / f"{name}.enc.key").read_bytes())
        return store
