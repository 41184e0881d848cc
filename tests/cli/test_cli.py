"""The command line: set-up commands, settings precedence, and one-line errors on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def hufimm(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HUFIMM_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "hufimm", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_version_and_help(tmp_path: Path) -> None:
    assert hufimm("version", cwd=tmp_path).stdout.startswith("hufimm ")
    assert "demo" in hufimm("--help", cwd=tmp_path).stdout


def test_unknown_config_key_is_one_clear_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('database_url = "sqlite:///x.db"\nticksize = 2\n')
    assert_one_line_error(
        hufimm("--config", str(config), "config", "show", cwd=tmp_path),
        "ticksize",
        "unknown setting",
    )


def test_malformed_dsn_is_one_clear_line(tmp_path: Path) -> None:
    assert_one_line_error(
        hufimm("db", "upgrade", "--db", "postgres//nope", cwd=tmp_path), "database_url", "malformed"
    )
    assert_one_line_error(
        hufimm("config", "show", cwd=tmp_path, env={"HUFIMM_DATABASE_URL": "oracle://x/y"}),
        "database_url",
        "unsupported",
    )


@pytest.mark.parametrize("value", ["-1", "0", "abc"])
def test_bad_tick_size_is_one_clear_line(tmp_path: Path, value: str) -> None:
    result = hufimm("config", "show", cwd=tmp_path, env={"HUFIMM_TICK_SIZE": value})
    assert_one_line_error(result, "tick_size")


def test_settings_precedence_and_masked_secrets(tmp_path: Path) -> None:
    config = tmp_path / "hufimm.toml"
    config.write_text('seed = 5\ntick_size = "0.5"\nadmin_token = "hunter2"\n')
    shown = hufimm(
        "--config", str(config), "config", "show", "--json", cwd=tmp_path, env={"HUFIMM_SEED": "9"}
    )
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["seed"] == 9  # environment beats file
    assert data["tick_size"] == "0.5"  # file beats default
    assert data["admin_token"] == "***"
    assert "hunter2" not in shown.stdout
    override = hufimm(
        "--config",
        str(config),
        "config",
        "show",
        "--json",
        "--db",
        "sqlite:///other.db",
        cwd=tmp_path,
        env={"HUFIMM_DATABASE_URL": "sqlite:///env.db"},
    )
    assert json.loads(override.stdout)["database_url"] == "sqlite:///other.db"


def test_db_upgrade_and_demo_on_the_default_sqlite_file(tmp_path: Path) -> None:
    upgraded = hufimm("db", "upgrade", cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert (tmp_path / "hufimm.db").exists()
    again = hufimm("db", "upgrade", cwd=tmp_path)
    assert "already up to date" in again.stdout
    demo = hufimm("demo", "--minutes", "1", "--json", cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    report = json.loads(demo.stdout)
    assert report["ticks"] >= 60
    assert report["orders_placed"] > 0
    assert report["duplicate_orders"] == 0
    assert report["ledger_verified"] is True
    assert report["events"]["delivered"] == report["events"]["written"] > 0
