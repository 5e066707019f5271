"""A Qwen Code switch when the user's own settings hold a provider entry of the profile's model id.

Qwen Code 0.24.4 (``resolveCliGenerationConfig``, checked against the real CLI in
tests/e2e/test_qwen_same_model_e2e.py) takes, of the entries of ``model.name``'s id, the first at
``model.baseUrl``, else the first, preferring the selected auth type's wire API; a project's
``modelProviders.openai`` replaces the user's list. So a switch puts its entry before the user's of
the same id and names it in ``model.baseUrl``; the user's entry, its comments and keys stay as they
were, and ``current`` reports what Qwen Code really takes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from _jsonc import jsonc
from _switch_helpers import write_file, write_profiles
from hypothesis import given, settings
from hypothesis import strategies as st

from mahavishnu.config import load_settings
from mahavishnu.environments.assistants.qwen import (
    MARK,
    SettingsDocument,
    _selected,
    apply_profile,
    layered,
    remove_profile,
)
from mahavishnu.environments.switcher import current, switch_llm
from mahavishnu.files.json_document import json_data

A, B, P = "https://a.example/v1", "https://b.example/v1", "https://profile.example/v1"

# -- inserting an array element --------------------------------------------------------------------

LISTED = """{
  "a": [ // the list
    // above x
    {"id": "x"}, // x
    {"id": "y"}
  ]
}
"""


@pytest.mark.parametrize(
    ("text", "index", "expected"),
    [
        (
            LISTED,
            0,
            LISTED.replace("    // above x\n", '    {\n      "id": "n"\n    },\n    // above x\n'),
        ),
        (LISTED, 1, LISTED.replace('    {"id": "y"}', '    {\n      "id": "n"\n    },\n    {"id": "y"}')),
        (
            LISTED.replace("\n", "\r\n"),
            1,
            LISTED.replace('    {"id": "y"}', '    {\n      "id": "n"\n    },\n    {"id": "y"}').replace(
                "\n", "\r\n"
            ),
        ),
        (
            '{\n\t"a": [\n\t\t1,\n\t\t2\n\t]\n}\n',
            1,
            '{\n\t"a": [\n\t\t1,\n\t\t{\n\t\t\t"id": "n"\n\t\t},\n\t\t2\n\t]\n}\n',
        ),
        ('{"a": [1, 2]}', 0, '{"a": [{"id": "n"}, 1, 2]}'),
        ('{"a": [1,2]}', 1, '{"a": [1,{"id": "n"},2]}'),
        ('{"a": [ /* one */ 1]}', 0, '{"a": [ /* one */ {"id": "n"}, 1]}'),
        ('{"a": [\n  /* one */ 1\n]}', 0, '{"a": [\n  {\n    "id": "n"\n  },\n  /* one */ 1\n]}'),
        ('{"a": [1]}', 5, '{"a": [1, {"id": "n"}]}'),  # past the end: appended
        ("{}", 0, '{\n  "a": [\n    {\n      "id": "n"\n    }\n  ]\n}'),  # no array: made
        ("{a: [1, 'two']}", 1, '{a: [1, {"id": "n"}, \'two\']}'),  # JSON5: json-five's model
    ],
)
def test_insert_element_lays_the_element_out_like_its_neighbours(
    text: str, index: int, expected: str
) -> None:
    doc = SettingsDocument.parse(text)
    doc.insert_element(["a"], index, {"id": "n"})
    assert doc.dumps() == expected
    again = SettingsDocument.parse(doc.dumps())
    assert again.remove_elements(["a"], lambda value: value == {"id": "n"}) == 1
    if "a" in json_data(text):
        assert again.dumps() == text


ELEMENTS = st.lists(
    st.one_of(st.integers(), st.text(max_size=3), st.fixed_dictionaries({"id": st.sampled_from("xyz")})),
    min_size=1,
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(st.data(), ELEMENTS)
def test_insert_then_remove_gives_the_text_back(data: st.DataObject, elements: list[Any]) -> None:
    """Any layout of JSON with comments (trailing commas too), but spaces ending a line after ``[``
    or ``,``, which a removal drops with the element's line (as for any element)."""
    text = '{\n  "a": ' + jsonc(data.draw, elements) + "\n}\n"
    if re.search(r"[\[,][ \t]+\r?\n", text):
        return
    index = data.draw(st.integers(0, len(elements) - 1))
    doc = SettingsDocument.parse(text)
    doc.insert_element(["a"], index, {"id": "n"})
    inserted = doc.dumps()
    assert json_data(inserted)["a"] == [*elements[:index], {"id": "n"}, *elements[index:]]
    again = SettingsDocument.parse(inserted)
    again.remove_elements(["a"], lambda value: value == {"id": "n"})
    assert again.dumps() == text


# -- the switch's edit ----------------------------------------------------------------------------

USERS = """{
  // my settings
  "modelProviders": {
    "openai": [
      {"id": "other", "envKey": "K"},
      // my gateway's gpt-5: keep it
      {"id": "gpt-5", "name": "mine", "baseUrl": "https://b.example/v1", "envKey": "MY_KEY", "x": 1}, // mine
      {"id": "gpt-5", "baseUrl": "https://a.example/v1", "envKey": "MY_KEY"}
    ]
  },
  "general": {"vimMode": true}
}
"""


def _entry(model: str = "gpt-5", url: str = P, **more: str) -> dict[str, str]:
    return {"id": model, "name": "Lab (Mahavishnu)", "baseUrl": url, "envKey": "LAB_KEY", **more} | {
        "description": MARK + "lab"
    }


def test_the_profiles_entry_goes_before_the_users_of_the_same_model_which_stays_as_it_was() -> None:
    after = apply_profile(USERS, "t", _entry())
    ours = '      {\n        "id": "gpt-5",\n'
    assert after.index('{"id": "other"') < after.index(ours) < after.index("      // my gateway's gpt-5")
    for line in USERS.splitlines()[4:10]:  # the user's entries, their comments and keys
        assert line in after.splitlines()
    data = json_data(after)
    assert data["model"] == {"name": "gpt-5", "baseUrl": P}
    assert _selected(data) == _entry()
    assert remove_profile(after, "t") == USERS


def test_a_model_of_no_entry_of_the_users_is_appended_and_the_next_switch_moves_it() -> None:
    after = apply_profile(USERS, "t", _entry("kimi"))
    assert [e["id"] for e in json_data(after)["modelProviders"]["openai"]] == [
        "other",
        "gpt-5",
        "gpt-5",
        "kimi",
    ]
    again = apply_profile(after, "t", _entry())
    assert [e["id"] for e in json_data(again)["modelProviders"]["openai"]] == [
        "other",
        "gpt-5",
        "gpt-5",
        "gpt-5",
    ]
    assert remove_profile(again, "t") == USERS


# -- which entry Qwen Code takes (each case run with the real CLI against two mocks) ---------------


def _theirs(url: str = B, **more: str) -> dict[str, str]:
    return {"id": "m", "baseUrl": url, "envKey": "B_KEY", **more}


def _ours(url: str = A, **more: str) -> dict[str, str]:
    return {"id": "m", "baseUrl": url, "envKey": "A_KEY", "description": MARK + "lab", **more}


def _settings(
    entries: list[Any], model: dict[str, str] | None = None, auth: str | None = "openai"
) -> dict[str, Any]:
    data: dict[str, Any] = {"modelProviders": {"openai": entries}, "model": model or {"name": "m"}}
    return data | ({"security": {"auth": {"selectedType": auth}}} if auth else {})


RESPONSES = {"wireApi": "responses"}
CASES = [
    ("ours first", _settings([_ours(), _theirs()]), "ours"),
    ("ours last: the first of the id", _settings([_theirs(), _ours()]), "theirs"),  # (the old switch)
    (
        "ours last, model.baseUrl names it",
        _settings([_theirs(), _ours()], {"name": "m", "baseUrl": A}),
        "ours",
    ),
    (
        "ours first, model.baseUrl names theirs",
        _settings([_ours(), _theirs()], {"name": "m", "baseUrl": B}),
        "theirs",
    ),
    ("responses first, chat wins under openai", _settings([_ours(**RESPONSES), _theirs()]), "theirs"),
    (
        "…unless model.baseUrl names it",
        _settings([_ours(**RESPONSES), _theirs()], {"name": "m", "baseUrl": A}),
        "ours",
    ),
    (
        "…or the auth type is openai-responses",
        _settings([_ours(**RESPONSES), _theirs()], auth="openai-responses"),
        "ours",
    ),
    ("both responses: the first", _settings([_ours(**RESPONSES), _theirs(**RESPONSES)]), "ours"),
    ("same base URL: the first", _settings([_ours(), _theirs(A)], {"name": "m", "baseUrl": A}), "ours"),
    ("model.baseUrl empty: the first", _settings([_ours(), _theirs()], {"name": "m", "baseUrl": ""}), "ours"),
    ("no auth type: none", _settings([_ours()], auth=None), None),
    ("qwen-oauth: none", _settings([_ours()], auth="qwen-oauth"), None),
    ("openai-responses, a chat entry: none", _settings([_ours()], auth="openai-responses"), None),
    (
        "a custom provider listed first",
        {
            **_settings([]),
            "modelProviders": {"corp": [_theirs()], "openai": [_ours()]},
            "providerProtocol": {"corp": "openai"},
        },
        "theirs",
    ),
    (
        "…unless model.baseUrl names ours",
        {
            **_settings([], {"name": "m", "baseUrl": A}),
            "modelProviders": {"corp": [_theirs()], "openai": [_ours()]},
            "providerProtocol": {"corp": "openai"},
        },
        "ours",
    ),
    (
        "the legacy openai-responses list first",
        {**_settings([]), "modelProviders": {"openai-responses": [_theirs()], "openai": [_ours()]}},
        "ours",
    ),
]


@pytest.mark.parametrize(("data", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_entry_qwen_code_takes(data: dict[str, Any], expected: str | None) -> None:
    chosen = _selected(data)
    assert (None if chosen is None else "ours" if chosen.get("envKey") == "A_KEY" else "theirs") == expected


PROJECTS = [
    ("its own list of other models", {"modelProviders": {"openai": [_theirs() | {"id": "x"}]}}, None),
    ("its own list with the model", {"modelProviders": {"openai": [_theirs()]}}, "theirs"),
    ("only another provider's list", {"modelProviders": {"gemini": [{"id": "g"}]}}, "ours"),
    ("only model.name", {"model": {"name": "m"}}, "ours"),
    ("model.baseUrl naming theirs", {"model": {"baseUrl": B}}, "theirs"),
]


@pytest.mark.parametrize(("project", "expected"), [c[1:] for c in PROJECTS], ids=[c[0] for c in PROJECTS])
def test_a_project_file_is_read_over_the_users(project: dict[str, Any], expected: str | None) -> None:
    user = _settings([_ours(), _theirs()], {"name": "m", "baseUrl": A})
    chosen = _selected(layered(user, project))
    assert (None if chosen is None else "ours" if chosen.get("envKey") == "A_KEY" else "theirs") == expected


# -- current and the switch's warnings --------------------------------------------------------------

LAB = f"  lab:\n    secret: ['env:LAB_KEY']\n    openai: {{base_url: '{P}', model: gpt-5}}\n"
LAB_RESPONSES = LAB.replace(f"'{P}', model: gpt-5", f"'{B}', model: gpt-5, wire_api: responses")


@pytest.fixture
def lab(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_profiles(isolated_home, LAB)
    monkeypatch.setenv("LAB_KEY", "sk-lab-0123456789")
    return isolated_home / ".qwen" / "settings.json"


def test_current_says_the_users_entry_wins_in_a_file_the_old_switch_wrote(lab: Path) -> None:
    old = json.loads(json.dumps(json_data(USERS)))
    old["modelProviders"]["openai"].append(_entry())
    old |= {"model": {"name": "gpt-5"}, "security": {"auth": {"selectedType": "openai"}}}
    write_file(lab, json.dumps(old))
    [entry] = current(load_settings(), "qwen")
    assert (entry.profile, entry.base_url) == (None, B)

    switch_llm("lab", load_settings(), tool="qwen")
    [entry] = current(load_settings(), "qwen")
    assert (entry.profile, entry.base_url) == ("lab", P)


OWN_SELECTION = (
    '  "model": {"name": "gpt-5", "baseUrl": "https://b.example/v1"},\n'
    '  "security": {"auth": {"selectedType": "openai"}},\n'
)


def test_the_stock_switch_gives_the_users_own_selection_back_byte_for_byte(lab: Path) -> None:
    own = USERS.replace('  "general"', OWN_SELECTION + '  "general"')
    write_file(lab, own)
    result = switch_llm("lab", load_settings(), tool="qwen")
    assert not any("Qwen Code would still use" in w or "its settings win" in w for w in result.warnings)
    assert [(e.profile, e.base_url) for e in current(load_settings(), "qwen")] == [("lab", P)]
    switch_llm("qwen-code", load_settings(), tool="qwen")
    assert lab.read_text() == own
    assert [(e.profile, e.base_url) for e in current(load_settings(), "qwen")] == [(None, B)]


def test_a_responses_profile_wins_over_the_users_chat_entry_at_the_same_url(
    lab: Path, isolated_home: Path
) -> None:
    """Under the auth type ``openai`` Qwen Code prefers the entries of its protocol, Chat Completions:
    a Responses profile at the base URL of a chat entry of the user's selects ``openai-responses``."""
    write_profiles(isolated_home, LAB_RESPONSES)  # at B, like the user's chat entry
    write_file(lab, USERS)
    result = switch_llm("lab", load_settings(), tool="qwen")
    assert not any("Qwen Code would still use" in w for w in result.warnings)
    assert json_data(lab.read_text())["security"]["auth"]["selectedType"] == "openai-responses"
    assert [e.profile for e in current(load_settings(), "qwen")] == ["lab"]


def test_an_entry_of_a_provider_listed_before_openai_at_the_same_url_is_said_to_win(lab: Path) -> None:
    """Qwen Code takes the first entry of the model at ``model.baseUrl`` across its providers in the
    order the file lists them: a provider of the user's own listed before ``openai`` comes first."""
    own = {"id": "gpt-5", "baseUrl": P, "envKey": "MY_KEY"}
    users = {"providerProtocol": {"mine": "openai"}, "modelProviders": {"mine": [own], "openai": []}}
    write_file(lab, json.dumps(users, indent=2) + "\n")
    result = switch_llm("lab", load_settings(), tool="qwen")
    [said] = [w for w in result.warnings if "Qwen Code would still use" in w]
    assert said.startswith(f"{lab}: Qwen Code would still use the entry of gpt-5 at {P} there")
    assert [e.profile for e in current(load_settings(), "qwen")] == [None]


@pytest.mark.parametrize(
    ("project", "warned"),
    [
        ({"modelProviders": {"openai": [{"id": "gpt-5", "baseUrl": B, "envKey": "K"}]}}, f"the entry at {B}"),
        (
            {"modelProviders": {"openai": [{"id": "x", "baseUrl": B, "envKey": "K"}]}},
            "no entry of this model",
        ),
        ({"model": {"baseUrl": A}}, f"the entry at {A}"),
        ({"general": {"vimMode": True}}, None),
        ({"model": {"name": "gpt-5"}}, None),
    ],
)
def test_a_project_file_that_keeps_qwen_code_off_a_user_switch_is_named_once(
    lab: Path,
    isolated_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    project: dict[str, Any],
    warned: str | None,
) -> None:
    write_file(lab, USERS)
    work = isolated_home / "work"
    theirs = write_file(work / ".qwen" / "settings.json", json.dumps(project))
    monkeypatch.chdir(work)
    result = switch_llm("lab", load_settings(), tool="qwen")
    said = [w for w in result.warnings if str(theirs) in w]
    if warned is None:
        assert said == []
        return
    assert len(said) == 1 and f"use {warned}, not lab;" in said[0], result.warnings
    assert "--tool qwen --scope project` switches that file too" in said[0]


def test_a_project_file_already_pointing_elsewhere_is_left_to_the_outranking_note(
    lab: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_file(lab, USERS.replace('  "general"', '  "model": {"name": "gpt-5"},\n  "general"'))
    work = isolated_home / "work"
    entries = [{"id": "gpt-5", "baseUrl": B, "envKey": "K"}]
    theirs = write_file(
        work / ".qwen" / "settings.json",
        json.dumps({"modelProviders": {"openai": entries}, "security": {"auth": {"selectedType": "openai"}}}),
    )
    monkeypatch.chdir(work)
    result = switch_llm("lab", load_settings(), tool="qwen")
    [said] = [w for w in result.warnings if str(theirs) in w]
    assert "(project scope) wins over the user file" in said
    assert [(e.scope, e.base_url) for e in current(load_settings(), "qwen")] == [("project", B), ("user", P)]


# -- a property: any list of the user's, any profile ------------------------------------------------

#: Before each of the user's entries: a line of its own, as Qwen Code writes them (one-line lists are
#: ``test_insert_then_remove_gives_the_text_back``'s); after each, before its comma or ``]``.
LEADING = st.sampled_from(["\n      ", "\n      // mine\n      ", "\r\n      ", " // eol\n      "])
TRAILING = st.sampled_from(["", " /* b */"])
USER_ENTRIES = st.lists(
    st.fixed_dictionaries(
        {"id": st.sampled_from(["m", "x"]), "baseUrl": st.sampled_from([A, B]), "envKey": st.just("K")},
        optional={"wireApi": st.sampled_from(["chat-completions", "responses"]), "x-mine": st.integers()},
    ),
    min_size=1,  # (a stock switch alone drops a list left empty; the switcher's own_settings put it back)
    max_size=4,
)


@st.composite
def users_files(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]]]:
    """A user's settings.json with a list of their own providers, laid out in many ways."""
    entries = draw(USER_ENTRIES)
    items = [draw(LEADING) + json.dumps(e) + draw(TRAILING) for e in entries]
    text = '{\n  // mine\n  "modelProviders": {\n    "openai": [' + ",".join(items) + "\n    ]\n  },\n"
    return text + '  "general": {"vimMode": true}\n}\n', entries


@settings(max_examples=300, deadline=None)
@given(users_files(), st.sampled_from(["m", "x", "z"]), st.sampled_from([A, P]), st.booleans())
def test_any_switch_is_taken_keeps_the_users_entries_and_goes_back(
    file: tuple[str, list[dict[str, Any]]], model: str, url: str, responses: bool
) -> None:
    text, entries = file
    entry = _entry(model, url, **({"wireApi": "responses"} if responses else {}))
    after = json_data(apply_profile(text, "t", entry))
    listed = after["modelProviders"]["openai"]
    at = listed.index(entry)
    assert [e for e in listed if e != entry] == entries
    assert at == next((i for i, e in enumerate(entries) if e["id"] == model), len(entries))
    # (a Responses profile selects the auth type openai-responses: under openai a chat entry of the
    # user's at the same base URL won, Qwen Code preferring the selected auth type's protocol)
    assert _selected(after) == entry
    assert remove_profile(apply_profile(text, "t", entry), "t") == text
