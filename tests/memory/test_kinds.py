"""The kind of answer a question asks for (``memory/core/kinds.py``): a person, named in a role."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mahavishnu.memory.core.kinds import READ_CHARS, asks_for_person, holds_asked_kind, names_person


@pytest.mark.parametrize(
    "query",
    [
        "who owns the deployment CLI?",
        "Whom should I contact when the ledger breaks at night?",
        "whose job is the Play Store listing?",
        "and who's the go-to person for billing screens?",
        "which person on the finance side owns the account-matching output?",
    ],
)
def test_questions_for_a_person(query: str) -> None:
    assert asks_for_person(query)


@pytest.mark.parametrize(
    "query",
    [
        "what owns the lock?",
        "which DB did we settle on?",
        "how do I reach the on-call?",
        "whoami prints root",
    ],
)
def test_questions_for_something_else(query: str) -> None:
    assert not asks_for_person(query)


@pytest.mark.parametrize(
    "text",
    [
        "Priya Raman owns ledgerd; page her through the #payments-oncall rotation.",
        "The reconciliation reports are maintained by Tomasz Wierzbicki from finance engineering.",
        "Lucía Fernández owns the design system package and approves changes to its tokens.",
        "Security reports go to Hannah Keller, the application security lead.",
        "Hannah Brooks is the engineering manager who approves new SaaS vendors.",
        "For the data platform, ask Dmitri Volkov.",
        "Łukasz Żółć reviews every migration.",
    ],
)
def test_a_person_in_a_role(text: str) -> None:
    assert names_person(text)


@pytest.mark.parametrize(
    "text",
    [
        "trailmix is pinned to React Native 0.74.3; 0.75 breaks background geolocation.",
        "We moved the workers to Cloud Run in May.",
        "Ledger storage is PostgreSQL 15, not DynamoDB.",
        "The incident on 2026-03-14 double-posted refunds for two hours.",
        "owns the cache: nobody",
        "Grace Mensah",  # a name alone says no role
    ],
)
def test_no_person_in_a_role(text: str) -> None:
    assert not names_person(text)


def test_the_kind_must_be_the_one_asked_for() -> None:
    note = "Nadia Haddad maintains skiff and triages its GitHub issues every Monday."
    assert holds_asked_kind("who looks after the deploy tool's bug reports?", note)
    assert not holds_asked_kind("how often are the deploy tool's issues triaged?", note)
    assert not holds_asked_kind("who was the incident commander?", "The refund incident lasted two hours.")


def test_a_long_memory_is_read_from_its_start() -> None:
    owner = "Nadia Haddad maintains skiff."
    assert names_person(owner + " filler" * 100)
    assert not names_person("filler " * READ_CHARS + owner)


@given(st.text(max_size=300), st.text(max_size=300))
def test_any_text_is_read_without_error(query: str, text: str) -> None:
    assert holds_asked_kind(query, text) in (True, False)
