"""A relay serving TLS: agents verify its certificate, with the system's CAs or a given one."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.exceptions import RegistrationFailed
from agent.registration import register
from relay.settings import RelaySettings
from shared.exceptions import SettingsError
from tests.e2e.harness import AgentProcess
from tests.e2e.test_batches import _users_table, creates, sql_settings


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def make_pki(folder: Path) -> tuple[Path, Path, Path]:
    """A test CA and a certificate for 127.0.0.1 signed by it: (ca, cert, key) PEM files."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Hatchway test CA"))
        .issuer_name(_name("Hatchway test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("relay"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "relay.pem", folder / "relay.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture
async def tls_relay(relay, tmp_path):
    ca, cert, key = make_pki(tmp_path)
    await relay.stop()
    relay.settings = replace(relay.settings, tls_certificate=str(cert), tls_private_key=str(key))
    await relay.start()
    relay.ca_file = ca
    return relay


async def test_agent_registers_and_serves_over_tls_with_a_given_ca(
    tls_relay, tmp_path, sqlite_odbc_database
):
    relay = tls_relay
    config_dir, data_dir = tmp_path / "a" / "config", tmp_path / "a" / "data"
    with pytest.raises(RegistrationFailed) as refused:
        await register(
            relay.url, await relay.token("secure"), config_dir=config_dir, data_dir=data_dir
        )
    assert refused.value.code == "unreachable"
    assert "certificate" in refused.value.detail.lower()

    await register(
        relay.url,
        await relay.token("secure"),
        config_dir=config_dir,
        data_dir=data_dir,
        ca_file=str(relay.ca_file),
    )
    assert f'ca_file = "{relay.ca_file}"' in (config_dir / "agent.toml").read_text()
    _users_table(sqlite_odbc_database.path)
    agent = AgentProcess("secure", config_dir, data_dir)
    agent.add_connector("hr", **sql_settings(sqlite_odbc_database))
    await agent.start()
    try:
        connected = await agent.wait_for("connected")
        assert connected["relay"].startswith("wss://")
        results = await relay.hub.send("secure", "hr", creates("tls", 3), timeout=30)
        assert all(r.ok for r in results)
    finally:
        await agent.terminate()


def test_relay_settings_refuse_half_a_tls_pair_and_missing_files(tmp_path):
    config = tmp_path / "relay.toml"
    config.write_text('tls_certificate = "/nonexistent/relay.pem"\n')
    with pytest.raises(SettingsError, match=r"tls_private_key.*go together"):
        RelaySettings.load(config)
    config.write_text(
        'tls_certificate = "/nonexistent/relay.pem"\ntls_private_key = "/nonexistent/k"\n'
    )
    with pytest.raises(SettingsError, match=r"tls_certificate: no such file"):
        RelaySettings.load(config)
    ca, cert, _ = make_pki(tmp_path)
    config.write_text(f'tls_certificate = "{cert}"\ntls_private_key = "{ca}"\n')
    with pytest.raises(SettingsError, match="cannot load the certificate and key"):
        RelaySettings.load(config)
