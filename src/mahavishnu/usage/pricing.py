"""Rates per million tokens for a provider's model, from the first that has them:

1. the user's own (``usage.yaml``, a profile's ``pricing:``; from its ``since`` date on): a
   negotiated rate, a gateway's own, a subscription at 0;
2. ``genai-prices`` (Pydantic's maintained price data, shipped in its wheel: no network) for the
   provider the base URL (or the assistant's own login) names;
3. for a gateway (a profile of the user's own whose base URL nobody knows: LiteLLM, a company
   proxy, a local router), the model's list price, from the provider ``genai-prices`` knows the
   model from: marked ``list``, since the gateway may charge otherwise.

Else none: a request nobody prices is shown with its tokens and as unpriced, never at a guessed
rate. A catalogue provider ``genai-prices`` does not know (DashScope) is not priced at another
provider's rates for a model name it serves under (``claude-sonnet-4-5`` on DashScope is Qwen).

``genai-prices`` takes ``input_tokens`` inclusive of cache reads and writes and charges tiered
prices by the request's whole input: ``Rates.cost`` does the same on our records (fresh input
apart), per request, with the rates looked up once per provider, model and day
(``tests/usage/test_pricing.py`` checks it against ``genai_prices.calc_price``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from mahavishnu.usage.records import FAST, FAST_SUFFIX, FLEX, PRIORITY, Provider

if TYPE_CHECKING:  # (genai-prices is imported at the first look-up, pydantic with the settings)
    from genai_prices.data_snapshot import DataSnapshot
    from genai_prices.types import ModelInfo, ModelPrice, TieredPrices

    from mahavishnu.usage.settings import OwnPrice

#: A price: the base rate and the tiers (start: the request's input above which it applies).
Price = tuple[float, tuple[tuple[int, float], ...]]
_MODEL_SUFFIX = re.compile(r"\[[^\]]*\]$")  # Claude Code's `[1m]` context marker


@dataclass(frozen=True)
class Rates:
    """USD per million tokens, and where they come from."""

    input: Price
    output: Price
    cache_write: Price
    cache_read: Price
    source: str
    #: Anthropic's 1-hour cache writes (the rest of ``cache_write`` is the 5-minute cache's)
    cache_write_1h: Price | None = None
    #: where the rates come from: ``own`` (the user's), ``provider`` (genai-prices, the provider's
    #: own), ``list`` (a gateway's request at its model's list price)
    kind: str = "provider"
    #: the price data's rates for the model differ by the time of day (DeepSeek's off-peak hours):
    #: these are one hour's, and each request's are looked up at its own time (``Pricing.rates``)
    hourly: bool = False
    #: the rates of a request of any size (input, output, cache write, cache read, 1-hour cache
    #: write) in picodollars a token, and from each tier start down (a request whose whole input is
    #: above it): worked out once, not per request
    _base: tuple[int, ...] = field(init=False, default=(), repr=False, compare=False)
    _steps: tuple[tuple[int, tuple[int, ...]], ...] = field(init=False, default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        hour = self.cache_write_1h or self.cache_write
        prices = (self.input, self.output, self.cache_write, self.cache_read, hour)
        starts = sorted({start for _, tiers in prices for start, _ in tiers}, reverse=True)
        object.__setattr__(self, "_base", tuple(_per_token(base) for base, _ in prices))
        steps = tuple(
            (start, tuple(_per_token(_at(price, start + 1)) for price in prices)) for start in starts
        )
        object.__setattr__(self, "_steps", steps)

    def dump(self) -> list[object]:
        """The rates as JSON values (``restore`` makes them again)."""
        return [
            self.input,
            self.output,
            self.cache_write,
            self.cache_read,
            self.source,
            self.cache_write_1h,
            self.kind,
            self.hourly,
        ]

    @classmethod
    def restore(cls, value: list[Any]) -> Rates:
        def price(item: list[Any]) -> Price:
            return float(item[0]), tuple((int(start), float(rate)) for start, rate in item[1])

        fresh, output, written, read, source, hour, kind, hourly = value
        return cls(
            price(fresh), price(output), price(written), price(read), str(source),
            None if hour is None else price(hour), str(kind), hourly is True,
        )  # fmt: skip

    def cost(
        self, fresh: int, output: int, cache_write: int, cache_read: int, cache_write_1h: int = 0
    ) -> float:
        """USD for one request; ``cache_write_1h`` is the part of ``cache_write`` written for an hour."""
        return self.units(fresh, output, cache_write, cache_read, cache_write_1h) / PICO

    def units(
        self, fresh: int, output: int, cache_write: int, cache_read: int, cache_write_1h: int = 0
    ) -> int:
        """``cost`` in picodollars (10^-12 USD): an integer, so that sums of them are exact and the
        same whatever order the requests are added up in (a rate has at most six decimals)."""
        rates = self._base
        if self._steps:
            whole = fresh + cache_write + cache_read
            for start, above in self._steps:
                if whole > start:
                    rates = above
                    break
        return (
            fresh * rates[0]
            + output * rates[1]
            + (cache_write - cache_write_1h) * rates[2]
            + cache_read * rates[3]
            + cache_write_1h * rates[4]
        )


#: Picodollars in a dollar: a rate of USD per million tokens is that many millionths of it a token.
PICO = 10**12


def _per_token(usd_per_million: float) -> int:
    """A rate in USD per million tokens as picodollars a token."""
    return round(usd_per_million * 1_000_000)


def _at(price: Price, whole_input: int) -> float:
    base, tiers = price
    for start, rate in reversed(tiers):
        if whole_input > start:
            return rate
    return base


def model_ref(model: str) -> str:
    """The model name as price data spells it: lower case, without a ``[1m]`` marker."""
    return _MODEL_SUFFIX.sub("", model.strip()).lower()


class Pricing:
    """Looks rates up (and remembers them) for the requests of one report."""

    def __init__(self, own: Mapping[str, Mapping[str, OwnPrice]] | None = None) -> None:
        self._own = {who: {model_ref(m): p for m, p in models.items()} for who, models in (own or {}).items()}
        self._known: dict[tuple[Provider, str, int, str], Rates | None] = {}
        #: what genai-prices matches a provider and model to (the same every day: found once)
        self._models: dict[tuple[Provider, str], tuple[str, ModelInfo] | None] = {}
        self._listed: dict[str, tuple[str, ModelInfo] | None] = {}
        #: the rates of each of genai-prices' prices (a model's, from one date on)
        self._made: dict[tuple[int, str, str], tuple[ModelPrice, Rates | None]] = {}

    def load(self) -> None:
        """The price data loaded now (else at the first look-up)."""
        _snapshot()

    def signature(self) -> str:
        """The prices' sources, as text: the user's own and the price data's version (read off the
        installed package: importing genai-prices takes longer than a warm report's reading)."""
        from importlib.metadata import version

        own = sorted(
            (who, model, repr(price)) for who, models in self._own.items() for model, price in models.items()
        )
        return repr((own, version("genai-prices")))

    def rates(self, provider: Provider, model: str, time: float, speed: str = "") -> Rates | None:
        """``speed`` (``records.FAST``): the model's rates at that speed, or none when the price
        data has none for it (never the standard ones: fast mode costs several times more);
        ``model`` then carries ``FAST_SUFFIX``, under which ``usage.yaml`` may price it. An OpenAI
        service tier (``records.PRIORITY``, ``records.FLEX``): the model's rates at that tier, its
        standard ones when the price data has none for it (another provider's model: Codex asks
        for a tier only of a model its catalog offers it for)."""
        key = (provider, model, int(time // 86_400), speed)
        if key not in self._known:
            self._known[key] = self._look_up(provider, model_ref(model), time, speed)
        found = self._known[key]
        if found is not None and found.hourly:  # (rare: the day's rates are not each request's)
            return self._look_up(provider, model_ref(model), time, speed)
        return found

    def _look_up(self, provider: Provider, model: str, time: float, speed: str) -> Rates | None:
        moment = datetime.fromtimestamp(time, UTC)
        for who in (provider.profile, provider.name):
            own = self._own.get(who or "", {}).get(model)
            if own is not None and (own.since is None or moment.date() >= own.since):
                return _own_rates(own, f"usage.yaml ({who})")
        if speed == FAST:
            model = model.removesuffix(FAST_SUFFIX)
        if (provider, model) not in self._models:
            self._models[provider, model] = _genai_model(provider, model)
        info = self._models[provider, model]
        if info is not None:
            return self._at_speed(info, moment, speed, f"genai-prices: {info[0]}/{info[1].id}")
        if provider.gateway and not _known_provider(provider):
            if model not in self._listed:
                self._listed[model] = _owner(model)  # its list price: its maker's
            listed = self._listed[model]
            if listed is not None:
                return self._at_speed(
                    listed, moment, speed, f"list price: {listed[0]}/{listed[1].id}", "list"
                )
        return None

    def _at_speed(
        self, info: tuple[str, ModelInfo], moment: datetime, speed: str, source: str, kind: str = "provider"
    ) -> Rates | None:
        """The rates of genai-prices' ``info`` at ``speed`` ("": standard), None when it has none."""
        hourly = _hourly(info[1])
        variants = info[1].price_variants or ()
        when = {_VARIANT_KEYS[speed]: speed} if speed else {}
        if when and any(variant.when == when for variant in variants):
            rates = _rates(info[1].get_prices(moment, when), f"{source} ({speed})", kind, hourly)
            return _with_long_context(info[1].id, rates)
        standard = _with_long_context(
            info[1].id, self._made_rates(info[1].get_prices(moment), source, kind, hourly)
        )
        if speed != FAST:  # (a service tier the data has no rates for: the standard ones, ``rates``)
            return standard
        times = _FAST_TIMES.get(info[1].id)
        if standard is None or times is None:
            return None
        return _times(standard, times, f"{source} ({speed}: {times:g}x)")

    def _made_rates(
        self, price: ModelPrice, source: str, kind: str = "provider", hourly: bool = False
    ) -> Rates | None:
        """``_rates``, made once for each of genai-prices' prices (days look the same ones up)."""
        key = (id(price), source, kind)
        made = self._made.get(key)
        if made is None or made[0] is not price:  # (the price held: its id is not reused)
            made = self._made[key] = (price, _rates(price, source, kind, hourly))
        return made[1]


#: Long-context rates the price data lacks (genai-prices 0.2.3), by its model id: from the input
#: tokens past which a request is charged them whole (input, output, 5-minute cache write, cache
#: read, 1-hour cache write; USD per million). Anthropic's published rates for Sonnet 4 above 200k
#: input: without them such a request was priced at half its cost. Where the data has tiers of its
#: own, they are kept.
_LONG_CONTEXT: dict[str, tuple[int, tuple[float, float, float, float, float]]] = {
    "claude-sonnet-4-0": (200_000, (6.0, 22.5, 7.5, 0.6, 12.0)),
}


#: Fast-mode rates the price data lacks (genai-prices 0.2.3 has Opus 4.8's only), by its model id:
#: the standard rates (cache writes and reads, long-context tiers) times this. Anthropic charged
#: Opus 4.6's and 4.7's fast mode six times their standard rates ($30/$150 a million; $60/$225
#: above 200k input while 4.6 had a long-context tier), as ccusage prices them.
_FAST_TIMES: dict[str, float] = {"claude-opus-4-6": 6.0, "claude-opus-4-7": 6.0}


#: genai-prices' condition of a price variant for each speed (``UsageRecord.speed``): Anthropic's
#: fast mode; OpenAI's service tiers.
_VARIANT_KEYS = {FAST: "speed", PRIORITY: "service_tier", FLEX: "service_tier"}


def _times(rates: Rates, factor: float, source: str) -> Rates:
    """Each of ``rates``' prices, tiers included, ``factor`` times."""

    def scaled(price: Price) -> Price:
        return price[0] * factor, tuple((start, rate * factor) for start, rate in price[1])

    hour = rates.cache_write_1h
    return replace(
        rates,
        input=scaled(rates.input),
        output=scaled(rates.output),
        cache_write=scaled(rates.cache_write),
        cache_read=scaled(rates.cache_read),
        cache_write_1h=None if hour is None else scaled(hour),
        source=source,
    )


def _with_long_context(model_id: str, rates: Rates | None) -> Rates | None:
    """``rates`` with the long-context tier ``_LONG_CONTEXT`` gives ``model_id``, unless it has tiers."""
    known = _LONG_CONTEXT.get(model_id)
    if rates is None or known is None or rates.input[1]:
        return rates
    start, (fresh, output, written, read, hour) = known

    def tiered(price: Price, rate: float) -> Price:
        return price[0], ((start, rate),)

    hour_price = rates.cache_write_1h
    return replace(
        rates,
        input=tiered(rates.input, fresh),
        output=tiered(rates.output, output),
        cache_write=tiered(rates.cache_write, written),
        cache_read=tiered(rates.cache_read, read),
        cache_write_1h=tiered(hour_price, hour) if hour_price is not None else None,
    )


def _hourly(info: ModelInfo) -> bool:
    """Whether genai-prices' prices of ``info`` depend on the time of day (an off-peak price)."""
    from genai_prices.types import TimeOfDateConstraint

    prices = info.prices if isinstance(info.prices, list) else ()
    return any(isinstance(price.constraint, TimeOfDateConstraint) for price in prices)


def _genai_model(provider: Provider, model: str) -> tuple[str, ModelInfo] | None:
    snapshot = _snapshot()
    try:
        if provider.base_url:
            found = snapshot.find_provider(None, None, provider.base_url)
        elif provider.price_id:
            found = snapshot.find_provider(None, provider.price_id, None)
        else:
            return None
    except LookupError:
        return None
    info = found.find_model(model, all_providers=snapshot.providers)
    if info is None and (named := _by_prefix(model)) is not None and named[0] == found.id:
        return named  # ``anthropic/claude-sonnet-4-5`` from Anthropic itself
    return (found.id, info) if info is not None else None


def _known_provider(provider: Provider) -> bool:
    """Whether genai-prices knows who ``provider`` is (by its base URL or id)."""
    snapshot = _snapshot()
    try:
        snapshot.find_provider(None, provider.price_id, provider.base_url)
    except LookupError:
        return False
    return bool(provider.base_url or provider.price_id)


def _owner(model: str) -> tuple[str, ModelInfo] | None:
    """The provider genai-prices knows ``model`` from by its name, and its entry there; of a lab
    with another brand (``_BRANDS``), that brand's while it lists the model; a Bedrock model id
    (``_BEDROCK_ID``) is Amazon Bedrock's (``aws``), at its rates for that id (a cross-region
    profile's included), never the lab's its name also matches."""
    snapshot = _snapshot()
    if _BEDROCK_ID.fullmatch(model):
        bedrock = next((p for p in snapshot.providers if p.id == BEDROCK), None)
        listed = bedrock.find_model(model, all_providers=snapshot.providers) if bedrock else None
        return (BEDROCK, listed) if listed is not None else None
    try:
        named = snapshot.find_provider(model, None, None)
    except LookupError:
        return _by_prefix(model)
    for found in (*(p for p in snapshot.providers if p.id in _BRANDS.get(named.id, ())), named):
        info = found.find_model(model, all_providers=snapshot.providers)
        if info is not None:
            return found.id, info
    return _by_prefix(model)


def _by_prefix(model: str) -> tuple[str, ModelInfo] | None:
    """A model id led by its owner's provider id, as OpenRouter, LiteLLM and OpenCode spell them
    (``anthropic/claude-sonnet-4-5``): the model it names (``_owner``), when the prefix is that
    model's owner (a reseller's, ``openrouter/…``, or another lab's is not: none)."""
    from genai_prices.data_snapshot import find_provider_by_id

    prefix, slash, rest = model.partition("/")
    if not (prefix and slash) or "/" in rest:  # (one owner: never a chain of them, read one by one)
        return None
    named = find_provider_by_id(_snapshot().providers, prefix)
    found = _owner(rest) if named is not None else None
    if named is None or found is None or found[0] not in (named.id, *_BRANDS.get(named.id, ())):
        return None
    return found


#: genai-prices' id of Amazon Bedrock, whose model ids name their vendor and version:
#: ``us.anthropic.claude-sonnet-4-5-20250929-v1:0`` (a cross-region profile), ``amazon.nova-pro-v1:0``.
BEDROCK = "aws"
_BEDROCK_ID = re.compile(r"(?:[a-z]{2,6}(?:-[a-z]+)?\.)?[a-z0-9-]+\.[a-z0-9.-]+-v\d+(?::\d+)?")


#: A lab's brand in genai-prices that its requests are filed under first, by model name. Zhipu's
#: names (``glm-…``) are matched to Zhipu (``zhipuai``, open.bigmodel.cn); Z.ai, its international
#: brand, lists its newer models only (``glm-4.6``) and most others at its own prices. A model's
#: name cannot say which endpoint served it, and filed by whichever lists it, Claude Code on Z.ai's
#: plan (``glm-4.6`` and ``glm-4.5-air``) came out as two providers, a budget for ``zai`` missing
#: one: Z.ai's (where the assistants' guides and the catalogue's ``zai`` point) while it lists the
#: model. A switch to a profile still files its requests under that profile's provider. Not any
#: provider that lists the model: resellers list many (``qwen3.7-max``), never at the lab's price.
_BRANDS: dict[str, tuple[str, ...]] = {"zhipuai": ("zai",)}


def known_provider_id(name: str) -> bool:
    """Whether ``genai-prices`` knows a provider by the id ``name`` (``anthropic``, ``openrouter``)."""
    try:
        _snapshot().find_provider(None, name, None)
    except LookupError:
        return False
    return True


def exact_provider_id(name: str) -> bool:
    """Whether ``name`` is one of ``genai-prices``' provider ids itself (``anthropic``, ``azure``),
    not a name it matches by a part of it (``anthropic-proxy``: ``known_provider_id``)."""
    wanted = name.strip().lower()
    return any(provider.id == wanted for provider in _snapshot().providers)


def provider_of_model(model: str) -> str | None:
    """The provider ``genai-prices`` knows ``model`` from, when it prices it (``_owner``)."""
    found = _owner(model_ref(model))
    return found[0] if found is not None else None


def provider_named(model: str) -> str | None:
    """The provider whose model names ``model`` has (genai-prices' pattern of them: ``claude-…``
    is Anthropic's), whether or not it lists that model."""
    try:
        named = _snapshot().find_provider(model_ref(model), None, None).id
    except LookupError:
        return None
    return next(iter(_BRANDS.get(named, ())), named)  # a lab's model newer than the data: as its others


def _rates(price: ModelPrice, source: str, kind: str = "provider", hourly: bool = False) -> Rates | None:
    fresh = _price(price.input_mtok)
    if fresh is None:
        return None
    output = _price(price.output_mtok) or (0.0, ())
    written = _price(price.cache_write_mtok) or fresh
    hour = _price(getattr(price, "cache_write_1h_mtok", None))  # in the data for Anthropic's models
    read = _price(price.cache_read_mtok) or fresh
    return Rates(fresh, output, written, read, source, hour, kind, hourly)


def _snapshot() -> DataSnapshot:
    """genai-prices' price data (imported and loaded on first use)."""
    from genai_prices import data_snapshot

    return data_snapshot.get_snapshot()


def _price(value: Decimal | TieredPrices | None) -> Price | None:
    if value is None:
        return None
    from genai_prices.types import TieredPrices

    if isinstance(value, TieredPrices):
        return float(value.base), tuple((tier.start, float(tier.price)) for tier in value.tiers)
    return float(value), ()


def _own_rates(own: OwnPrice, source: str) -> Rates:
    fresh: Price = (own.input, ())
    return Rates(
        fresh,
        (own.output, ()),
        (own.cache_write, ()) if own.cache_write is not None else fresh,
        (own.cache_read, ()) if own.cache_read is not None else fresh,
        source,
        kind="own",
    )
