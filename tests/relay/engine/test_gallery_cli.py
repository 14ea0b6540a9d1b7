"""``hatchway gallery ...`` and ``hatchway job-file ...`` as an administrator runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from relay.cli import main

EXPORT = Path(__file__).with_name("data") / "entra_scim_schema.json"


def test_gallery_list_prints_name_title_and_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gallery", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "TITLE", "TARGET"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert "GitHub Enterprise Managed Users" in rows["github-emu"]
    assert rows["slack"].endswith("scim")
    assert len(rows) >= 8


def test_gallery_show_prints_the_template(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gallery", "show", "zoom"]) == 0
    out = capsys.readouterr().out
    assert 'target = "userName"' in out
    assert (
        "https://learn.microsoft.com/en-us/entra/identity/saas-apps/zoom-provisioning-tutorial"
        in out
    )


def test_gallery_show_refuses_an_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gallery", "show", "myspace"]) == 1
    err = capsys.readouterr().err
    assert "no gallery template 'myspace'; the templates are atlassian-cloud, dropbox" in err


def test_import_entra_writes_a_job_file_that_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "job.toml"
    assert main(["job-file", "import-entra", str(EXPORT), "--output", str(output)]) == 0
    err = capsys.readouterr().err
    assert "not carried over: synchronizationRules[0].objectMappings[0]" in err
    assert [p.name for p in tmp_path.iterdir()] == ["job.toml"]
    assert main(["job-file", "check", str(output)]) == 0
    out = capsys.readouterr().out
    assert "users -> user: 21 mappings, 2 scoping filters" in out
    assert f"{output}: OK" in out


def test_check_reports_a_bad_job_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "job.toml"
    path.write_text('template = "slack"\n[[users.mappings]]\ntarget = "x"\nexpression = "Left("\n')
    assert main(["job-file", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: users.mappings[0].expression: user mapping 'x'" in err
