"""``usage.yaml`` (beside ``mahavishnu.yaml``): the user's own prices and budgets.

    pricing:                     # per profile (or provider, as reports name it), per model,
      lab:                       # USD per million tokens; cache prices default to the input's
        qwen3.7-max: {input: 1.2, output: 6.0, cache_read: 0.24}
    budgets:                     # `doctor` and `health` warn when one is passed
      - {period: month, usd: 50}
      - {period: day, usd: 5, provider: zai}

A profile's own prices win over ``genai-prices``' for its requests: a negotiated rate, or a
provider the maintained data does not cover (DashScope)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mahavishnu import paths
from mahavishnu.errors import ConfigError


class OwnPrice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_write: float | None = Field(default=None, ge=0)
    cache_read: float | None = Field(default=None, ge=0)


class Budget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: Literal["day", "month"]
    usd: float = Field(gt=0)
    provider: str | None = None


class UsageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pricing: dict[str, dict[str, OwnPrice]] = Field(default_factory=dict)
    budgets: list[Budget] = Field(default_factory=list)


def settings_file() -> Path:
    return paths.config_dir() / "usage.yaml"


def load(file: Path | None = None) -> UsageSettings:
    """The user's usage settings (none when the file does not exist); ConfigError when it is broken."""
    import yaml

    file = file or settings_file()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return UsageSettings()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {file}: {error}") from error
    try:
        data = yaml.safe_load(text) or {}
        return UsageSettings.model_validate(data)
    except (yaml.YAMLError, ValidationError) as error:
        first = str(error).strip().splitlines()
        raise ConfigError(f"{file} is invalid: {' '.join(first[:3])}") from error
