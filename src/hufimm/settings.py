"""Settings: defaults, overridden by a TOML file, overridden by ``HUFIMM_*`` variables.

Command-line options (``--db``) override all three.  A bad value stops start-up with one line
naming the key and the reason (:func:`load_settings` raises :class:`ConfigError`).  Secrets are
``SecretStr`` so ``config show`` and logs print them masked.  Each module that needs settings
adds one section (a nested model defined in its own package) to :class:`Settings`.
"""

from __future__ import annotations

import tomllib
import uuid
from contextvars import ContextVar
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from hufimm.core.errors import ConfigError
from hufimm.core.ids import DEFAULT_NAMESPACE
from hufimm.exchange.settings import ExchangeSettings
from hufimm.hufi.settings import HufiSettings
from hufimm.ledger.settings import LedgerSettings
from hufimm.mixin.settings import MixinSettings
from hufimm.store.db import normalize_database_url
from hufimm.tracking.settings import TrackingSettings

_toml_path: ContextVar[Path | None] = ContextVar("hufimm_settings_toml", default=None)


class Settings(BaseSettings):
    """Every setting of the service, with safe defaults for a local run."""

    model_config = SettingsConfigDict(
        env_prefix="HUFIMM_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    database_url: str = Field(
        "sqlite:///hufimm.db",
        description="SQLAlchemy URL; sqlite:///file.db (default) or postgresql://user@host/db",
    )
    sqlite_synchronous: Literal["FULL", "EXTRA", "NORMAL"] = Field(
        "FULL", description="SQLite durability; FULL survives power loss after a commit"
    )
    tick_size: Decimal = Field(Decimal("1"), description="Clock tick in seconds")
    seed: int = Field(1, description="Seed of every random stream (simulation, ids)")
    id_namespace: uuid.UUID = Field(DEFAULT_NAMESPACE, description="Namespace of derived ids")
    instance_id: str = Field("hufimm-1", description="This process's name in leases")
    log_format: Literal["console", "json"] = "console"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    admin_token: SecretStr | None = Field(None, description="Bearer token of the admin API")
    mixin: MixinSettings = Field(MixinSettings(), description="Mixin Safe API")
    exchange: ExchangeSettings = Field(default_factory=lambda: ExchangeSettings.model_validate({}))
    hufi: HufiSettings = Field(default_factory=lambda: HufiSettings(), description="HuFi")
    ledger: LedgerSettings = Field(LedgerSettings(), description="Balance ledger writer")
    tracking: TrackingSettings = Field(default_factory=TrackingSettings, description="Trackers")

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        try:
            normalize_database_url(value)
        except ConfigError as exc:
            raise ValueError(exc.reason) from None
        return value

    @field_validator("tick_size")
    @classmethod
    def _check_tick(cls, value: Decimal) -> Decimal:
        if not value.is_finite() or value <= 0:
            raise ValueError(f"must be a positive number of seconds, got {value}")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml = _toml_path.get()
        if toml is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain data, secrets replaced by ``***``."""
        masked: dict[str, Any] = _mask(self.model_dump(mode="python"))
        return masked


def _mask(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "***" if value.get_secret_value() else ""
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    if isinstance(value, Decimal | uuid.UUID | Path):
        return str(value)
    return value


def _describe(error: ErrorDetails) -> ConfigError:
    key = ".".join(str(part) for part in error["loc"]) or "settings"
    kind = error["type"]
    if kind == "extra_forbidden":
        return ConfigError(key, "unknown setting")
    message = error["msg"]
    message = message.removeprefix("Value error, ")
    return ConfigError(key, message)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the effective settings or raise :class:`ConfigError` naming the first bad key."""
    if config_file is not None:
        if not config_file.is_file():
            raise ConfigError("--config", f"no such file: {config_file}")
        try:
            tomllib.loads(config_file.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("--config", f"{config_file} is not valid TOML: {exc}") from None
    token = _toml_path.set(config_file)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise _describe(exc.errors()[0]) from None
    finally:
        _toml_path.reset(token)
