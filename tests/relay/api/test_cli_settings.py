"""Where the CLI finds the admin API: ``cli.toml``, the environment and the options, in
that order of strength, and a bad ``cli.toml`` refused naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from relay.api.cli_settings import DEFAULT_URL, CliSettings, resolve
from shared.exceptions import SettingsError
from tests.pki import make_pki
from tests.relay.api.cli_relay import hatchway
from tests.servers.ports import free_port


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty configuration folder, the one the commands read; no variables set."""
    folder = tmp_path / "config"
    folder.mkdir()
    monkeypatch.setenv("HATCHWAY_CONFIG_DIR", str(folder))
    monkeypatch.delenv("HATCHWAY_URL", raising=False)
    monkeypatch.delenv("HATCHWAY_TOKEN", raising=False)
    return folder


def write(config: Path, text: str) -> Path:
    path = config / "cli.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_without_a_file_the_url_is_the_local_relays_and_there_is_no_token(
    config: Path,
) -> None:
    settings = resolve(environ={})
    assert (settings.url, settings.token, settings.ca_file) == (DEFAULT_URL, None, None)
    with pytest.raises(SettingsError) as info:
        settings.api_token()
    text = str(info.value)
    assert text.startswith(f"{config / 'cli.toml'}: token: no API token")
    assert "HATCHWAY_TOKEN" in text and "--token-file" in text and "token_file" in text


def test_the_file_gives_url_token_and_ca(config: Path) -> None:
    ca, _, _ = make_pki(config)
    write(config, f'url = "https://relay.example:8443"\ntoken = "hwa_abc"\nca_file = "{ca.name}"\n')
    settings = resolve(environ={})
    assert settings.url == "https://relay.example:8443"
    assert settings.api_token() == "hwa_abc"
    assert settings.ca_file == ca  # relative to the file's folder
    assert "hwa_abc" not in repr(settings)


def test_a_token_file_is_read_beside_cli_toml_without_surrounding_blanks(config: Path) -> None:
    (config / "token").write_text("  hwa_from_file\n", encoding="utf-8")
    write(config, 'token_file = "token"\n')
    assert resolve(environ={}).api_token() == "hwa_from_file"


def test_options_win_over_the_environment_which_wins_over_the_file(
    config: Path, tmp_path: Path
) -> None:
    write(config, 'url = "http://file.example:1"\ntoken = "hwa_file"\n')
    env = {"HATCHWAY_URL": "http://env.example:2", "HATCHWAY_TOKEN": "hwa_env"}
    assert resolve(environ={}).url == "http://file.example:1"
    from_env = resolve(environ=env)
    assert (from_env.url, from_env.api_token()) == ("http://env.example:2", "hwa_env")
    option_token = tmp_path / "option-token"
    option_token.write_text("hwa_option\n", encoding="utf-8")
    given = resolve(url="http://option.example:3", token_file=str(option_token), environ=env)
    assert (given.url, given.api_token()) == ("http://option.example:3", "hwa_option")
    # Empty variables count as not set.
    empty = resolve(environ={"HATCHWAY_URL": "", "HATCHWAY_TOKEN": ""})
    assert (empty.url, empty.api_token()) == ("http://file.example:1", "hwa_file")


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("url = 8080\n", "url", "must be a string, not int"),
        ('url = "relay.example:8080"\n', "url", "must be an http:// or https:// URL"),
        ('url = "http://relay.example/api/v1"\n', "url", "without a path"),
        ('url = "http://relay.example:port"\n', "url", "bad port"),
        ('tokn = "hwa_x"\n', "tokn", "is not a known setting"),
        ("token = 5\n", "token", "must be a string"),
        ('token = "  "\n', "token", "must not be empty"),
        ('token = "hwa_one\\nhwa_two"\n', "token", "blanks or control characters"),
        ('token_file = "missing"\n', "token_file", "cannot read the token file"),
        ('token = "hwa_x"\ntoken_file = "t"\n', "token_file", "not both"),
        ('ca_file = "missing.pem"\n', "ca_file", "cannot load CA certificates"),
    ],
)
def test_a_bad_file_is_refused_naming_file_and_key(
    config: Path, text: str, key: str, problem: str
) -> None:
    path = write(config, text)
    with pytest.raises(SettingsError) as info:
        CliSettings.load(path)
    assert str(info.value).startswith(f"{path}: {key}: ")
    assert problem in str(info.value)


def test_an_empty_or_unreadable_token_file(config: Path) -> None:
    (config / "token").write_text("\n", encoding="utf-8")
    path = write(config, 'token_file = "token"\n')
    with pytest.raises(SettingsError, match=r"token_file: the token file .* is empty"):
        CliSettings.load(path)
    (config / "folder").mkdir()  # unreadable as a file, also for root
    path = write(config, 'token_file = "folder"\n')
    with pytest.raises(SettingsError, match=r"token_file: cannot read the token file"):
        CliSettings.load(path)


def test_a_file_that_is_not_toml(config: Path) -> None:
    path = write(config, "url = \n")
    with pytest.raises(SettingsError, match="is not valid TOML") as info:
        CliSettings.load(path)
    assert str(info.value).startswith(str(path))


@pytest.mark.parametrize(
    ("option", "env", "named"),
    [
        ("ftp://relay.example", None, "--url"),
        (None, "relay.example:8080", "HATCHWAY_URL"),
        ("http://[::1", None, "--url"),  # urlsplit raises for this one
        (None, "https://[fe80::1:8443/", "HATCHWAY_URL"),
    ],
)
def test_a_bad_url_in_an_option_or_variable_names_it(
    config: Path, option: str | None, env: str | None, named: str
) -> None:
    environ = {} if env is None else {"HATCHWAY_URL": env}
    with pytest.raises(SettingsError) as info:
        resolve(url=option, environ=environ)
    assert str(info.value).startswith(f"{named}: ")
    assert "must be an http:// or https:// URL" in str(info.value) or "is not a URL" in str(
        info.value
    )


def test_a_token_that_cannot_be_sent_is_refused_naming_where_it_came_from(
    config: Path, tmp_path: Path
) -> None:
    """Two lines pasted into a token file or variable: refused before any request, since
    a newline cannot go into the Authorization header."""
    two = tmp_path / "two-tokens"
    two.write_text("hwa_first\nhwa_second\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"^--token-file: the token in .* holds blanks"):
        resolve(token_file=str(two), environ={})
    for value in ("hwa_first\nhwa_second", "hwa_a\rb", "hwa a", "hwa_\x00"):
        with pytest.raises(SettingsError, match=r"^HATCHWAY_TOKEN: the token holds blanks"):
            resolve(environ={"HATCHWAY_TOKEN": value})
    # Blanks around it are dropped, as a token file's trailing newline.
    assert resolve(environ={"HATCHWAY_TOKEN": " hwa_ok\n"}).api_token() == "hwa_ok"


def test_an_unreadable_token_file_option(config: Path, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"^--token-file: cannot read the token file"):
        resolve(token_file=str(tmp_path / "nope"), environ={})


# Through the command line -------------------------------------------------------------------


def test_no_token_is_one_line_naming_where_to_give_one(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    code, out, err = hatchway(capsys, "job", "list")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert err.startswith(f"hatchway: error: {config / 'cli.toml'}: token: no API token")
    assert "HATCHWAY_TOKEN" in err


@pytest.mark.parametrize(
    ("variable", "value"),
    [("HATCHWAY_TOKEN", "hwa_first\nhwa_second"), ("HATCHWAY_URL", "http://[::1:8080")],
)
def test_a_token_or_url_that_cannot_be_used_is_one_line_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
) -> None:
    write(config, 'token = "hwa_x"\n')
    monkeypatch.setenv(variable, value)
    for argv in (["job", "list"], ["logs"], ["agents", "list"]):
        code, out, err = hatchway(capsys, *argv)
        assert (code, out) == (2, "")
        assert err.startswith(f"hatchway: error: {variable}: ")
        assert err.count("\n") == 1


def test_a_bad_cli_toml_stops_every_command_with_status_2(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    path = write(config, 'url = "http://127.0.0.1:1"\ntoken_file = "gone"\n')
    for argv in (["job", "status", "crm"], ["logs"], ["agents", "list"]):
        code, out, err = hatchway(capsys, *argv)
        assert (code, out) == (2, "")
        assert err.startswith(f"hatchway: error: {path}: token_file: cannot read the token file")
        assert err.count("\n") == 1


def test_a_relay_that_is_not_running_is_one_line_with_its_url(
    capsys: pytest.CaptureFixture[str], config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    write(config, f'url = "{url}"\ntoken = "hwa_x"\n')
    code, out, err = hatchway(capsys, "job", "list")
    assert (code, out) == (1, "")
    assert err.startswith(f"hatchway: error: cannot reach the relay at {url}: ")
    assert err.count("\n") == 1
    monkeypatch.setenv("HATCHWAY_URL", "http://127.0.0.1:9")  # the variable wins
    assert "at http://127.0.0.1:9: " in hatchway(capsys, "agents", "list")[2]
