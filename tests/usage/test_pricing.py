"""Prices: genai-prices' rates applied per request as ``genai_prices.calc_price`` applies them
(tiers included); the user's own prices first; a model or provider nobody prices stays unpriced."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from genai_prices import Usage, calc_price
from hypothesis import given, settings
from hypothesis import strategies as st

from mahavishnu.usage.pricing import Pricing, model_ref
from mahavishnu.usage.records import Provider
from mahavishnu.usage.settings import OwnPrice

WHEN = datetime(2026, 6, 1, tzinfo=UTC)
tokens = st.integers(min_value=0, max_value=400_000)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(
        [
            ("anthropic", "claude-sonnet-4-5-20250929"),  # tiered above 200k input
            ("anthropic", "claude-opus-4-1"),
            ("openai", "gpt-5-codex"),
            ("google", "gemini-2.5-pro"),  # tiered
            ("zai", "glm-4.6"),
            ("deepseek", "deepseek-chat"),
        ]
    ),
    tokens,
    tokens,
    tokens,
    tokens,
    st.floats(min_value=0, max_value=1),
)
def test_costs_agree_with_genai_prices_calc_price(
    pair: tuple[str, str], fresh: int, output: int, written: int, read: int, hour_share: float
) -> None:
    provider_id, model = pair
    if provider_id not in ("anthropic",):
        written = 0  # only Anthropic's logs report cache writes
    hour = int(written * hour_share)  # written to the 1-hour cache: 2x input, the rest 1.25x
    rates = Pricing().rates(Provider(provider_id, price_id=provider_id), model, WHEN.timestamp())
    assert rates is not None
    usage = Usage(
        input_tokens=fresh + written + read,
        output_tokens=output,
        cache_write_tokens=written,
        cache_write_1h_tokens=hour,
        cache_read_tokens=read,
    )
    expected = float(
        calc_price(usage, model, provider_id=provider_id, genai_request_timestamp=WHEN).total_price
    )
    assert rates.cost(fresh, output, written, read, hour) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_an_hour_s_cache_write_costs_two_inputs_and_five_minutes_one_and_a_quarter() -> None:
    rates = Pricing().rates(
        Provider("anthropic", price_id="anthropic"), "claude-sonnet-4-5", WHEN.timestamp()
    )
    assert rates is not None
    assert rates.cost(0, 0, 100_000, 0, 0) == pytest.approx(0.1 * 3.75)  # $3 input x 1.25
    assert rates.cost(0, 0, 100_000, 0, 100_000) == pytest.approx(0.1 * 6.0)  # x 2
    assert rates.cost(0, 0, 100_000, 0, 40_000) == pytest.approx(0.06 * 3.75 + 0.04 * 6.0)


def test_a_base_url_genai_prices_does_not_know_leaves_even_a_claude_model_unpriced() -> None:
    dashscope = Provider(
        "qwen", profile="qwen", base_url="https://dashscope-intl.aliyuncs.com/apps/anthropic"
    )
    assert Pricing().rates(dashscope, "claude-sonnet-4-5-20250929", WHEN.timestamp()) is None
    local = Provider("lab", profile="lab", base_url="http://127.0.0.1:8080")
    assert Pricing().rates(local, "claude-sonnet-4-5-20250929", WHEN.timestamp()) is None


def test_a_known_base_url_prices_its_own_models_and_claude_code_s_context_marker_is_dropped() -> None:
    zai = Provider("zai", profile="zai", base_url="https://api.z.ai/api/anthropic")
    rates = Pricing().rates(zai, "GLM-4.6[1m]", WHEN.timestamp())
    assert rates is not None and rates.source == "genai-prices: zai/GLM-4.6"
    assert Pricing().rates(zai, "claude-sonnet-4-5", WHEN.timestamp()) is None  # not z.ai's model
    assert model_ref("glm-5.3[1m]") == "glm-5.3"


def test_an_unknown_model_is_unpriced_never_guessed() -> None:
    anthropic = Provider("anthropic", price_id="anthropic")
    assert Pricing().rates(anthropic, "claude-made-up-9", WHEN.timestamp()) is None


def test_own_prices_win_and_cache_prices_default_to_the_input_price() -> None:
    own = {"lab": {"Qwen3.7-Max": OwnPrice(input=2.0, output=8.0, cache_read=0.5)}}
    lab = Provider("lab", profile="lab", base_url="http://127.0.0.1:9")
    rates = Pricing(own).rates(lab, "qwen3.7-max", WHEN.timestamp())
    assert rates is not None and rates.source == "usage.yaml (lab)"
    # 1M fresh at 2, 1M out at 8, 1M cache write at the input's 2, 1M cache read at 0.5
    assert rates.cost(10**6, 10**6, 10**6, 10**6) == pytest.approx(12.5)


def test_a_claude_code_line_s_one_hour_cache_writes_are_priced_as_such(isolated_home) -> None:  # type: ignore[no-untyped-def]
    import json

    from mahavishnu.usage.report import report

    folder = isolated_home / ".claude" / "projects" / "-home-dev-src-shop"
    folder.mkdir(parents=True)
    usage = {
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_creation_input_tokens": 100_000,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 60_000, "ephemeral_1h_input_tokens": 40_000},
    }
    line = {
        "type": "assistant",
        "sessionId": "s",
        "requestId": "r",
        "timestamp": "2026-06-01T10:00:00Z",
        "message": {"id": "m", "model": "claude-sonnet-4-5", "usage": usage},
    }
    (folder / "s.jsonl").write_text(json.dumps(line) + "\n")
    built = report("daily", None, ["claude"])
    assert built.totals.cache_write == 100_000
    assert built.totals.cost == pytest.approx(0.06 * 3.75 + 0.04 * 6.0)


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:4000", "https://litellm.internal.example/v1", "http://localhost:8080"]
)
@pytest.mark.parametrize(("model", "listed_at"), [("claude-sonnet-4-5", "anthropic"), ("gpt-5", "openai")])
def test_a_gateway_s_requests_are_priced_at_their_model_s_list_price(
    base_url: str, model: str, listed_at: str
) -> None:
    gateway = Provider("proxy", profile="proxy", base_url=base_url, gateway=True)
    rates = Pricing().rates(gateway, model, WHEN.timestamp())
    direct = Pricing().rates(Provider(listed_at, price_id=listed_at), model, WHEN.timestamp())
    assert rates is not None and direct is not None
    assert rates.kind == "list" and rates.source.startswith(f"list price: {listed_at}/")
    assert rates.cost(1000, 1000, 0, 0) == direct.cost(1000, 1000, 0, 0)
    assert Pricing().rates(gateway, "made-up-model-7", WHEN.timestamp()) is None  # nobody lists it


def test_a_known_provider_serving_another_s_model_name_is_not_list_priced() -> None:
    zai = Provider("zai", profile="mine", base_url="https://api.z.ai/api/anthropic", gateway=True)
    assert Pricing().rates(zai, "claude-sonnet-4-5", WHEN.timestamp()) is None  # z.ai maps it to GLM


def test_own_prices_hold_from_their_date_and_a_subscription_costs_nothing() -> None:
    from datetime import date

    gateway = Provider("proxy", profile="proxy", base_url="http://127.0.0.1:4000", gateway=True)
    own = {"proxy": {"claude-sonnet-4-5": OwnPrice(input=0, output=0, since=date(2026, 6, 1))}}
    before = Pricing(own).rates(
        gateway, "claude-sonnet-4-5", datetime(2026, 5, 31, 23, tzinfo=UTC).timestamp()
    )
    after = Pricing(own).rates(gateway, "claude-sonnet-4-5", WHEN.timestamp())
    assert before is not None and before.kind == "list"  # not yet: the list price
    assert after is not None and after.kind == "own" and after.cost(10**6, 10**6, 10**6, 10**6) == 0


@settings(max_examples=50, deadline=None)
@given(
    counts=st.lists(
        st.tuples(st.integers(0, 300_000), st.integers(0, 9_000), st.integers(0, 90_000)), max_size=40
    ),
    order=st.randoms(use_true_random=False),
)
def test_a_report_s_costs_are_the_same_whatever_order_its_requests_are_added_in(
    counts: list[tuple[int, int, int]], order: random.Random
) -> None:
    """Costs are added up in picodollars (integers): exactly, so a report added up as a first read
    stores its logs (in the ledger's order) shows to the last digit what one added up oldest first
    shows, even on a rounding boundary (n requests of $33.9 per million tokens x n: $0.0005085)."""
    from mahavishnu.usage.attribution import Attribution
    from mahavishnu.usage.records import UsageRecord
    from mahavishnu.usage.report import build

    boundary = [(n, 2 * n, 3 * n) for n in range(1, 6)]
    when, model = 1_767_225_600, "claude-sonnet-4-5"
    records = [
        UsageRecord("claude", f"k{i}", when + i * 60, model, fresh, output, 0, read, "s", None)
        for i, (fresh, output, read) in enumerate(boundary + counts)
    ]
    shuffled = records[:]
    order.shuffle(shuffled)
    attribution = Attribution([], {})
    first = build(records, attribution, Pricing(), "daily", "model")
    assert build(shuffled, attribution, Pricing(), "daily", "model").to_json() == first.to_json()
    if not counts:  # $3, $15 and $0.30 a million: 15 x 3 + 30 x 15 + 45 x 0.3 = 508.5 millionths
        assert first.totals.units == 508_500_000


def test_a_fast_mode_request_is_priced_at_the_fast_rates_or_left_unpriced(isolated_home) -> None:  # type: ignore[no-untyped-def]
    """Anthropic's fast mode (``usage.speed`` "fast") costs several times the standard rates: a
    fast request is shown as its own model (``-fast``, as ccusage names it) at the fast rates the
    price data has (Opus 4.8: $10 input, twice the standard $5), or Anthropic's where it lacks them
    (Opus 4.6 and 4.7: $30, six times; they were unpriced), and is unpriced where no fast rate is
    known (Sonnet 4.6 has no fast mode), never at the standard rates; ``usage.yaml`` may price it by
    name."""
    import json

    from mahavishnu.usage.report import report

    folder = isolated_home / ".claude" / "projects" / "-home-dev-src-shop"
    folder.mkdir(parents=True)

    def line(n: int, model: str, speed: str | None) -> str:
        usage = {"input_tokens": 1_000_000, "output_tokens": 0, **({"speed": speed} if speed else {})}
        return json.dumps(
            {
                "type": "assistant",
                "sessionId": "s",
                "requestId": f"r{n}",
                "timestamp": "2026-11-20T10:00:00Z",
                "message": {"id": f"m{n}", "model": model, "usage": usage},
            }
        )

    lines = [
        line(1, "claude-opus-4-8", None),
        line(2, "claude-opus-4-8", "fast"),
        line(3, "claude-opus-4-6", "fast"),
        line(4, "claude-opus-4-7", "fast"),
        line(5, "claude-sonnet-4-6", "fast"),
    ]
    (folder / "s.jsonl").write_text("\n".join(lines) + "\n")
    totals = report("daily", "model", ["claude"]).to_json()["totals"]
    assert totals["cost_usd"] == pytest.approx(5 + 10 + 30 + 30)  # 4.8: $5 and $10 fast; 4.6, 4.7 fast
    assert totals["unpriced_requests"] == 1 and totals["unpriced_tokens"] == 1_000_000
    assert totals["models"] == [
        "claude-opus-4-6-fast",
        "claude-opus-4-7-fast",
        "claude-opus-4-8",
        "claude-opus-4-8-fast",
        "claude-sonnet-4-6-fast",
    ]


def test_opus_4_6_s_fast_mode_is_six_times_its_standard_rates_cache_and_long_context_included() -> None:
    """Anthropic's fast-mode table for Opus 4.6: $30/$150 a million, $60/$225 above 200k input
    while 4.6 had a long-context tier (to 2026-03-12); the cache multipliers apply on top."""
    anthropic = Provider("anthropic", price_id="anthropic")
    early = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
    fast = Pricing().rates(anthropic, "claude-opus-4-6-fast", early, "fast")
    assert fast is not None and "(fast: 6x)" in fast.source
    n = 10_000  # each: $30 fresh, $150 output, $60 written for an hour (2x input), $3 read, a million
    assert fast.cost(n, n, n, n, n) == pytest.approx(0.01 * (30 + 150 + 60 + 3))
    assert fast.cost(300_000, 10**6, 0, 0) == pytest.approx(0.3 * 60 + 225)
    later = Pricing().rates(anthropic, "claude-opus-4-6-fast", WHEN.timestamp(), "fast")
    assert later is not None and later.cost(300_000, 10**6, 0, 0) == pytest.approx(0.3 * 30 + 150)


def test_usage_yaml_prices_a_fast_mode_model_by_its_name() -> None:
    own = {"anthropic": {"claude-opus-4-6-fast": OwnPrice(input=30.0, output=150.0)}}
    anthropic = Provider("anthropic", price_id="anthropic")
    rates = Pricing(own).rates(anthropic, "claude-opus-4-6-fast", WHEN.timestamp(), "fast")
    assert rates is not None and rates.cost(10**6, 10**6, 0, 0) == pytest.approx(180)
    assert Pricing().rates(anthropic, "claude-sonnet-4-6-fast", WHEN.timestamp(), "fast") is None
    standard = Pricing().rates(anthropic, "claude-opus-4-6", WHEN.timestamp())
    assert standard is not None and standard.cost(10**6, 0, 0, 0) == pytest.approx(5)


@pytest.mark.parametrize("backwards", [False, True])
def test_a_price_that_depends_on_the_time_of_day_is_looked_up_per_request(backwards: bool) -> None:
    """DeepSeek's rates differ by the hour (genai-prices: standard 00:30-16:30 UTC, off-peak the
    rest): a day's first request must not set the rates of the day's others, in either order."""
    from mahavishnu.usage.attribution import Attribution
    from mahavishnu.usage.records import UsageRecord
    from mahavishnu.usage.report import build

    day = datetime(2026, 6, 2, tzinfo=UTC).timestamp()
    records = [
        UsageRecord("claude", f"k{hour}", day + hour * 3600, "deepseek-chat", 10**6, 0, 0, 0, "s", None)
        for hour in (3, 20)
    ]
    expected = sum(
        float(
            calc_price(
                Usage(input_tokens=10**6),
                "deepseek-chat",
                provider_id="deepseek",
                genai_request_timestamp=datetime.fromtimestamp(record.time, UTC),
            ).total_price
        )
        for record in records
    )
    assert expected == pytest.approx(0.27 + 0.135)  # (the data this test was written against)
    ordered = records[::-1] if backwards else records
    built = build(ordered, Attribution([], {}), Pricing(), "daily", "model")
    assert built.totals.cost == pytest.approx(expected)


def test_rates_that_vary_by_the_hour_stay_so_in_the_kept_sums() -> None:
    from mahavishnu.usage.pricing import Rates

    deepseek = Provider("deepseek", price_id="deepseek")
    rates = Pricing().rates(deepseek, "deepseek-chat", WHEN.timestamp())
    assert rates is not None and rates.hourly
    assert Rates.restore(rates.dump()).hourly


def test_sonnet_4_above_200k_input_is_charged_anthropic_s_long_context_rates_whole() -> None:
    """genai-prices (0.2.3) has no long-context tier for Sonnet 4: priced at the standard rates, a
    210k-input request cost half what Anthropic charges ($6 / $22.50 a million above 200k)."""
    sonnet_4 = Pricing().rates(
        Provider("anthropic", price_id="anthropic"), "claude-sonnet-4-20250514", WHEN.timestamp()
    )
    assert sonnet_4 is not None
    assert sonnet_4.cost(200_000, 1_000, 0, 0, 0) == pytest.approx(0.2 * 3 + 0.001 * 15)
    assert sonnet_4.cost(210_000, 1_000, 0, 0, 0) == pytest.approx(0.21 * 6 + 0.001 * 22.5)
    # cache reads and writes count toward the 200k, and are charged at their long-context rates
    assert sonnet_4.cost(10_000, 0, 100_000, 100_000, 50_000) == pytest.approx(
        0.01 * 6 + 0.05 * 7.5 + 0.05 * 12 + 0.1 * 0.6
    )


SONNET_ON_BEDROCK = "anthropic.claude-sonnet-4-5-20250929-v1:0"


@pytest.mark.parametrize(
    ("model", "listed_as"),
    [
        (f"us.{SONNET_ON_BEDROCK}", f"regional.{SONNET_ON_BEDROCK}"),
        (f"global.{SONNET_ON_BEDROCK}", f"global.{SONNET_ON_BEDROCK}"),
        (SONNET_ON_BEDROCK, f"regional.{SONNET_ON_BEDROCK}"),
    ],
)
def test_claude_code_on_bedrock_is_priced_at_bedrock_s_rates_for_its_model_id(
    isolated_home, model: str, listed_as: str
) -> None:  # type: ignore[no-untyped-def]
    """Claude Code on Amazon Bedrock logs Bedrock's model id: its requests were Anthropic's by the
    name and unpriced (Anthropic lists no such id); they are Bedrock's (genai-prices' ``aws``), at
    its rates for that id, a cross-region profile's included."""
    import json

    from mahavishnu.usage.report import report

    folder = isolated_home / ".claude" / "projects" / "-home-dev-src-shop"
    folder.mkdir(parents=True)
    usage = {"input_tokens": 1_000_000, "output_tokens": 100_000}
    line = {
        "type": "assistant",
        "sessionId": "s",
        "requestId": "r",
        "timestamp": "2026-06-01T10:00:00Z",
        "message": {"id": "m", "model": model, "usage": usage},
    }
    (folder / "s.jsonl").write_text(json.dumps(line) + "\n")
    built = report("daily", "provider", ["claude"])
    bedrock = Provider("aws", price_id="aws")
    rates = Pricing().rates(bedrock, model, WHEN.timestamp())
    assert rates is not None and rates.source == f"genai-prices: aws/{listed_as}"
    assert [line.group for line in built.lines] == ["aws"] and not built.unpriced_models
    assert built.totals.cost == pytest.approx(rates.cost(1_000_000, 100_000, 0, 0))
    assert built.totals.cost > 0


@pytest.mark.parametrize(
    ("model", "listed"),
    [
        ("anthropic/claude-sonnet-4-5", "anthropic/claude-sonnet-4-5"),
        ("Anthropic/claude-sonnet-4.5", "anthropic/claude-sonnet-4-5"),
        ("openai/gpt-5", "openai/gpt-5"),
        ("deepseek/deepseek-chat", "deepseek/deepseek-chat"),
    ],
)
def test_a_model_id_led_by_its_owner_is_priced_as_the_model_it_names(
    isolated_home, model: str, listed: str
) -> None:  # type: ignore[no-untyped-def]
    """OpenRouter, LiteLLM and OpenCode spell a model ``anthropic/claude-sonnet-4-5``: its requests
    were unpriced (no provider lists that id; ccusage prices it as Sonnet 4.5); they are the owner's,
    at its rates, and a gateway's at that list price. A reseller's or another lab's prefix is not
    the owner's: unpriced."""
    import json

    from mahavishnu.usage.report import report

    folder = isolated_home / ".claude" / "projects" / "-home-dev-src-shop"
    folder.mkdir(parents=True)
    line = {
        "type": "assistant",
        "sessionId": "s",
        "timestamp": "2026-06-01T10:00:00Z",
        "message": {"id": "m", "model": model, "usage": {"input_tokens": 1000, "output_tokens": 500}},
    }
    (folder / "s.jsonl").write_text(json.dumps(line) + "\n")
    built = report("daily", "provider", ["claude"])
    owner, name = listed.split("/")
    at = datetime(2026, 6, 1, 10, tzinfo=UTC).timestamp()  # (DeepSeek's rates vary by the hour)
    direct = Pricing().rates(Provider(owner, price_id=owner), name, at)
    assert direct is not None and not built.unpriced_models
    assert [line.group for line in built.lines] == [owner]
    assert built.totals.cost == pytest.approx(direct.cost(1000, 500, 0, 0)) and built.totals.cost > 0
    gateway = Provider("proxy", profile="proxy", base_url="http://127.0.0.1:4000", gateway=True)
    listed_rates = Pricing().rates(gateway, model, WHEN.timestamp())
    assert listed_rates is not None and listed_rates.source == f"list price: {listed}"
    for other in ("openrouter/anthropic/claude-sonnet-4.5", "google/claude-sonnet-4-5", "anthropic/" * 3000):
        assert Pricing().rates(gateway, other, WHEN.timestamp()) is None


def test_a_codex_request_is_priced_at_the_service_tier_its_rollout_records(isolated_home) -> None:  # type: ignore[no-untyped-def]
    """Codex records the ``service_tier`` in force (``config.toml``'s, or one chosen in its TUI) in
    an ``event_msg`` ``thread_settings_applied`` when a session starts or resumes and whenever its
    settings change: each request after one, in a later read too, is priced at that tier's
    rates in the price data (gpt-5.5: $5 a million input standard below 272k, $12.50 priority, $2.50
    flex; an older Codex's ``fast`` is ``priority``), a tier the data has no rates for the model at
    (gpt-5-nano's priority) at the standard ones ($0.05). Today's ``config.toml`` is not read: it
    says nothing of a past session's tier."""
    import json

    from mahavishnu.usage.report import report

    folder = isolated_home / ".codex" / "sessions" / "2026" / "11" / "20"
    folder.mkdir(parents=True)
    (isolated_home / ".codex" / "config.toml").write_text('service_tier = "priority"\n')
    lines: list[dict[str, object]] = [
        {"type": "session_meta", "payload": {"id": "s1", "cwd": "/p", "model_provider": "openai"}},
        {"type": "turn_context", "payload": {"model": "gpt-5.5"}},
    ]

    def request(n: int, tier: str | None) -> None:
        settings = {"model": "gpt-5.5", "model_provider_id": "openai"}
        settings |= {"service_tier": tier} if tier else {}
        applied = {"type": "thread_settings_applied", "thread_settings": settings}
        usage = {"input_tokens": 100_000, "cached_input_tokens": 0, "output_tokens": 0}
        record = {"response_id": f"resp_{n}", "usage": usage}
        lines.extend(
            [{"type": "event_msg", "payload": applied}, {"type": "token_usage_record", "payload": record}]
        )

    for n, tier in enumerate(["priority", None, "flex", "fast", "default"]):
        request(n, tier)
    lines.append({"type": "turn_context", "payload": {"model": "gpt-5-nano"}})
    request(9, "priority")
    text = "".join(
        json.dumps({"timestamp": f"2026-11-20T10:00:{i:02d}Z", **line}) + "\n" for i, line in enumerate(lines)
    )
    rollout = folder / "rollout-2026-11-20T10-00-00-s1.jsonl"
    rollout.write_text(text)
    totals = report("daily", "model", ["codex"]).to_json()["totals"]
    assert totals["unpriced_requests"] == 0
    assert totals["cost_usd"] == pytest.approx(1.25 + 0.5 + 0.25 + 1.25 + 0.5 + 0.005)
    record = {"response_id": "resp_10", "usage": {"input_tokens": 100_000}}
    appended = [  # read from where the last report stopped: the tier in force is still priority
        {"timestamp": "2026-11-20T10:01:00Z", "type": "turn_context", "payload": {"model": "gpt-5.5"}},
        {"timestamp": "2026-11-20T10:01:01Z", "type": "token_usage_record", "payload": record},
    ]
    with rollout.open("a") as log:
        log.write("".join(json.dumps(line) + "\n" for line in appended))
    totals = report("daily", "model", ["codex"]).to_json()["totals"]
    assert totals["cost_usd"] == pytest.approx(1.25 + 0.5 + 0.25 + 1.25 + 0.5 + 0.005 + 1.25)
