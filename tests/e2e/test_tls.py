"""A relay serving TLS: agents verify its certificate, with the system's CAs or a given one."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agent.exceptions import RegistrationFailed
from agent.registration import register
from relay.settings import RelaySettings
from shared.exceptions import SettingsError
from tests.e2e.harness import AgentProcess
from tests.e2e.test_batches import _users_table, creates, sql_settings
from tests.pki import make_pki


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
    with pytest.raises(SettingsError, match=r"tls_certificate: no such file: /nonexistent/relay"):
        RelaySettings.load(config)
    ca, cert, _ = make_pki(tmp_path)
    config.write_text(f'tls_certificate = "{cert}"\ntls_private_key = "/nonexistent/k"\n')
    with pytest.raises(SettingsError, match=r"tls_private_key: no such file: /nonexistent/k$"):
        RelaySettings.load(config)
    config.write_text(f'tls_certificate = "{cert}"\ntls_private_key = "{ca}"\n')
    with pytest.raises(SettingsError, match="cannot load the certificate and key"):
        RelaySettings.load(config)
