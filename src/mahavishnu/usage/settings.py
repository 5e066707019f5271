"""``usage.yaml`` (beside ``mahavishnu.yaml``): the user's own prices and budgets. A profile may
also carry its prices in ``mahavishnu.yaml`` (``profiles: NAME: pricing: MODEL: {input, output}``);
``usage.yaml``'s win for the same profile and model (``own_prices``).

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
from mahavishnu.config import ModelPrice
from mahavishnu.errors import ConfigError

#: A model's own price: the same shape as a profile's ``pricing:`` entries in mahavishnu.yaml.
OwnPrice = ModelPrice


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
    """The user's usage settings (none when the file does not exist); ConfigError when it is broken,
    worded as ``mahavishnu.yaml``'s errors are (``invalid YAML in FILE at line N``; a bad value's
    place and what is wrong with it, naming this file)."""
    from mahavishnu.config import read_settings_file

    file = file or settings_file()
    try:
        data = read_settings_file(file)  # (its YAML, UTF-8 and top-level errors: mahavishnu.yaml's)
    except ConfigError as error:
        if error.hint != ConfigError.default_hint:
            raise
        raise ConfigError(error.message, hint=_fix(file)) from error  # (not `config path`'s file)
    try:
        return UsageSettings.model_validate(data)
    except ValidationError as error:
        raise _invalid(file, error) from error


def _fix(file: Path) -> str:
    return f"Fix it in {file}; nothing was changed."


def _invalid(file: Path, error: ValidationError) -> ConfigError:
    """The first validation error in one line, as mahavishnu.yaml's are worded."""
    from mahavishnu.config import first_error

    return ConfigError(f"{file} is invalid: {first_error(error)}", hint=_fix(file))


def own_prices(usage: UsageSettings) -> dict[str, dict[str, OwnPrice]]:
    """Every own price by profile and model: the profiles' ``pricing:``, then ``usage.yaml``'s over
    them. A broken settings file contributes no profile prices (the report still runs)."""
    from mahavishnu.config import load_settings
    from mahavishnu.environments.profiles import all_profiles
    from mahavishnu.errors import MahavishnuError

    try:
        profiles = all_profiles(load_settings())
    except MahavishnuError:
        profiles = {}
    prices = {
        name: dict(profile.settings.pricing) for name, profile in profiles.items() if profile.settings.pricing
    }
    for name, models in usage.pricing.items():
        prices[name] = {**prices.get(name, {}), **models}
    return prices
