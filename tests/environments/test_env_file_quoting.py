"""How ``env_file`` writes a value into a ``.env`` file so that the assistant's reader reads it back
as it is, and what it refuses.

Two readers (their source, as the pinned CLIs ship it):

* Gemini CLI 0.61 and Qwen Code 0.24 read ``.env`` with the npm ``dotenv`` package's ``parse``
  (``lib/main.js``, bundled: 17.1.0 in Gemini CLI): one pattern, ``LINE``, matched again and again.
  A value in single quotes or backticks is taken as it is; in double quotes only ``\\n`` and ``\\r``
  become line breaks (``\\"`` and ``\\\\`` stay as written); bare, it ends at ``#`` and is trimmed;
  ``$`` means nothing. Line ends are made ``\\n`` first, so a carriage return survives only as ``\\r``
  within double quotes.
* Codex 0.169 reads it with the Rust crate ``dotenvy`` 0.15.7 (its binary names
  ``dotenvy-0.15.7``; ``src/iter.rs`` joins lines while a quote is open, ``src/parse.rs`` parses a
  line): like a shell, single quotes take the text as it is, double quotes and bare text take the
  escapes ``\\\\ \\' \\" \\$ \\ `` and ``\\n`` (any other one drops the line) and replace ``$NAME``
  with that variable's value. Joining lines, it takes a backslash within single quotes for an escape
  of the next character: a value ending with an odd number of backslashes in single quotes never
  closes (Codex then says the variable is missing; checked with the real CLI).

``dotenv_readers.read_as`` models both; the model of the npm package is checked here against the real
``parse``, taken from the installed CLI bundles and run by node (skipped without ``.e2e-tools``);
the model of dotenvy against the real Codex CLI in ``tests/e2e/test_dotenv_quoting_e2e.py``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mahavishnu.environments import dotenv_readers, env_file
from mahavishnu.environments.assistants.codex import _refuse_unreadable_key
from mahavishnu.environments.assistants.gemini import refuse_unreadable_key
from mahavishnu.environments.dotenv_readers import read_as
from mahavishnu.errors import InvalidInputError

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULES = REPO_ROOT / ".e2e-tools" / "node_modules"
#: Where each CLI bundles the npm dotenv package.
BUNDLES = {
    "gemini": MODULES / "@google" / "gemini-cli" / "bundle",
    "qwen": MODULES / "@qwen-code" / "qwen-code" / "chunks",
}

#: A user's own .env: a comment, a bare value, a value over several lines in each kind of quote.
OWN = (
    "# mine\nFOO=1\n"
    'SIGNING_KEY="-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----"\n'
    "NOTE='two\nlines'\n"
)
#: The characters the readers treat apart (quotes, escapes, comments, line ends, JavaScript's and
#: Rust's white space, which are not Python's), for values and texts made of them.
SPECIAL = [*"abnr'\"`\\$# \t\n\r=:", "\u2028", "\x85", "\ufeff", "\x1c", "\x0c", "\xa0", "\0"]
special_text = st.lists(st.sampled_from(SPECIAL)).map("".join)
any_value = st.one_of(st.text(), special_text)
readers = st.sampled_from(["dotenv", "dotenvy"])
many = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _old_quote(value: str) -> str:
    """How env_file wrote a value before it knew the readers apart (double quotes, backslash escapes)."""
    if re.fullmatch(r"[A-Za-z0-9_./:@%+~,-]*", value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


# -- round trip: what is written, its reader and env_file's own parse read back ---------------------


@many
@given(value=any_value, reader=readers, crlf=st.booleans())
def test_a_value_written_is_read_back_as_it_is_by_its_reader_and_by_parse(
    value: str, reader: dotenv_readers.Reader, crlf: bool
) -> None:
    assume(env_file.written_as(value, reader) is not None)
    own = OWN.replace("\n", "\r\n") if crlf else OWN
    text = env_file.update(own, {"K": value, "Z": "after"}, note="lab", reader=reader)

    env_file.validate(text)
    assert text.startswith(own)
    assert env_file.parse(text) == env_file.parse(own) | {"K": value, "Z": "after"}
    theirs = read_as(reader, text)
    assert (theirs["K"], theirs["Z"], theirs["FOO"]) == (value, "after", "1")
    assert env_file.update(text, {}) == own  # the next switch takes the lines out, byte for byte


@many
@given(value=any_value)
def test_dotenvy_is_given_every_value_but_one_with_a_nul(value: str) -> None:
    """Within double quotes its escapes carry every character; a NUL no environment variable holds."""
    assert (env_file.written_as(value, "dotenvy") is None) == ("\0" in value)


@many
@given(value=any_value, reader=readers)
def test_a_value_without_a_single_quote_goes_in_single_quotes_as_it_is(
    value: str, reader: dotenv_readers.Reader
) -> None:
    """No escapes and no ``$`` within single quotes, for either reader: the value is written as it is
    (bare when plain). Not a carriage return (the npm reader makes it a line feed) nor a backslash
    at the end (see the module's docstring)."""
    assume(not set("'\r\0") & set(value) and not value.endswith("\\"))
    assert env_file.written_as(value, reader) in (value, f"'{value}'")


@many
@given(value=any_value)
def test_files_written_before_stay_readable(value: str) -> None:
    """A value env_file wrote in double quotes with backslash escapes (before ``written_as``) reads
    back as it was; the old reader's replacements, one after another, read ``\\\\n`` as a line break."""
    text = f"# mahavishnu: profile 'lab' (Codex CLI)\nK={_old_quote(value)}\nZ=1\n"
    assert env_file.parse(text) == {"K": value, "Z": "1"}


def test_what_files_written_before_hold_is_read_as_it_was_meant() -> None:
    assert env_file.parse('K="say \\"hi\\"\\nthere \\\\n"\n') == {"K": 'say "hi"\nthere \\n'}
    assert env_file.parse('K="C:\\\\new"\n') == {"K": "C:\\new"}
    assert env_file.parse('K="a\\tb"\n') == {"K": "a\\tb"}  # an escape it never wrote stays as it is


@pytest.mark.parametrize("separator", ["\x0c", "\x0b", "\x1c", "\x85", "\u2028"])
def test_a_line_neither_reader_ends_there_is_one_line(separator: str) -> None:
    """Python's ``splitlines`` ends a line at a form feed, ``\\x1c``, U+0085, U+2028…; neither reader
    does (the npm one ends it only at a line feed, a carriage return, U+2028 or U+2029, and takes a
    bare value up to a line feed or carriage return): such a value is the user's, kept whole."""
    own = f"NOTE=a{separator}b\nFOO='x{separator}y'\n"
    env_file.validate(own)
    assert env_file.parse(own) == {"NOTE": f"a{separator}b", "FOO": f"x{separator}y"}
    assert read_as("dotenv", own) == env_file.parse(own) == read_as("dotenvy", own)
    assert env_file.update(own, {"K": "v"}).startswith(own)


# -- the ways, from the readers' documented rules ------------------------------------------------------

CASES = [
    # npm dotenv: "single and double quoted values maintain whitespace", "double quoted values expand
    # new lines", "inner quotes are maintained", backticks hold both other quotes, '#' starts a comment
    ("dotenv", "sk-plain_0123/.:@%+~,-", "sk-plain_0123/.:@%+~,-"),
    ("dotenv", "  spaced  ", "'  spaced  '"),
    ("dotenv", "new\\nline", "'new\\nline'"),
    ("dotenv", "a#b", "'a#b'"),
    ("dotenv", 'sk-a"b\\c$d', "'sk-a\"b\\c$d'"),
    ("dotenv", "it's", '"it\'s"'),
    ("dotenv", 'it\'s "x"', '`it\'s "x"`'),
    ("dotenv", "two\nlines", "'two\nlines'"),
    ("dotenv", "cr\r\nlf", '"cr\\r\\nlf"'),
    ("dotenv", "ends\\", "ends\\"),  # bare: within quotes "\\'" would read as an escaped quote
    ("dotenv", "sk-'`\"-0123", "sk-'`\"-0123"),
    ("dotenv", "'sk-`\"-0123", "''sk-`\"-0123'"),  # (the whole text, its outer quotes taken off)
    # dotenvy: single quotes are strong (no escapes, no $); double quotes take \\ \" \$ \n
    ("dotenvy", "sk-a$HOME", "'sk-a$HOME'"),
    ("dotenvy", "it's $5", '"it\'s \\$5"'),
    ("dotenvy", "ends\\", '"ends\\\\"'),
    ("dotenvy", "ends\\\\", "'ends\\\\'"),
    ("dotenvy", "sk-'`\"-0123", '"sk-\'`\\"-0123"'),
    ("dotenvy", "cr\r\nlf", '"cr\r\\nlf"'),
]


@pytest.mark.parametrize(("reader", "value", "written"), CASES)
def test_each_reader_gets_the_way_its_rules_read_back(
    reader: dotenv_readers.Reader, value: str, written: str
) -> None:
    assert env_file.written_as(value, reader) == written
    assert read_as(reader, f"K={written}\n") == {"K": value}
    assert env_file.update(None, {"K": value}, reader=reader) == f"# mahavishnu:\nK={written}\n"


@pytest.mark.parametrize(
    ("written", "read"),
    [
        # what Codex 0.169 sent the mock for each line (None: it said the variable was missing)
        ("'ab\\'", None),
        ("'ab\\\\'", "ab\\\\"),
        ('"ab\\\\"', "ab\\"),
        ('"a\'b\\$c\\"d\\\\e#f g"', "a'b$c\"d\\e#f g"),
        ("'a$b\"c\\d#e f'", 'a$b"c\\d#e f'),
        ("'a'\\''b'", "a'b"),
        ('"a\\tb"', None),
        ('"a$HOME"', None),
        ("a\\ b", "a b"),
    ],
)
def test_the_dotenvy_model_reads_what_codex_read(written: str, read: str | None) -> None:
    assert read_as("dotenvy", f"# mahavishnu: x\nLAB_KEY={written}\nZ=1\n").get("LAB_KEY") == read


def test_the_dotenvy_model_loads_a_file_as_codex_does() -> None:
    """Codex 0.169 skips a line dotenvy refuses and reads on; the last value of a key wins; a quote
    left open takes the lines below with it (what it sent the mock, each file)."""
    assert read_as("dotenvy", "BAD=a b\nLAB_KEY=sk-after-bad\n") == {"LAB_KEY": "sk-after-bad"}
    assert read_as("dotenvy", "LAB_KEY=sk-first\nLAB_KEY=sk-second\n") == {"LAB_KEY": "sk-second"}
    assert read_as("dotenvy", "BAD='open\nLAB_KEY=sk-after-open\n") == {}


# -- what no way carries: refused, the value never in the error ---------------------------------------

UNWRITABLE_FOR_DOTENV = ["sk-'\"`#-0123", 'sk-"#\r-0123', "sk-#-ends\\", "'starts-and-ends\\", "sk-\0-0123"]


@pytest.mark.parametrize("key", UNWRITABLE_FOR_DOTENV)
def test_gemini_and_qwen_refuse_a_key_no_way_of_writing_carries(key: str) -> None:
    assert env_file.written_as(key, "dotenv") is None
    with pytest.raises(InvalidInputError) as refused:
        refuse_unreadable_key(key, "lab", "Gemini CLI", "GEMINI_API_KEY", "gemini")
    assert "no way of writing its key into a .env file lets Gemini CLI read it back" in refused.value.message
    assert "0123" not in refused.value.message + str(refused.value.hint)
    with pytest.raises(InvalidInputError) as raised:
        env_file.quote(key)
    assert "0123" not in raised.value.message


@pytest.mark.parametrize(
    "key", ['sk-a"b\\c', "sk-$HOME", "sk-it's", "two\nlines", "sk-'`\"-0123", "'sk-`\"-0123"]
)
def test_gemini_and_qwen_take_a_key_one_way_carries(key: str) -> None:
    refuse_unreadable_key(key, "lab", "Gemini CLI", "GEMINI_API_KEY", "gemini")


def test_codex_refuses_only_a_key_with_a_nul() -> None:
    for key in [*UNWRITABLE_FOR_DOTENV[:-1], 'sk-a"b\\c$HOME', "ends\\"]:
        _refuse_unreadable_key(key, "lab")
    with pytest.raises(InvalidInputError, match="holds a NUL character") as refused:
        _refuse_unreadable_key("sk-\0-0123", "lab")
    assert "0123" not in refused.value.message + str(refused.value.hint)


# -- the npm model against the real parse (node, the installed CLIs' bundles) -------------------------

#: Reads one JSON text a line from stdin, writes what the bundle's dotenv ``parse`` makes of it.
NODE_PARSE = r"""
const fs = require("fs");
const src = fs.readFileSync(process.argv[1], "utf8");
const start = src.indexOf("var LINE = ");
const line = src.slice(start, src.indexOf(";\n", start) + 1);
const at = src.search(/function parse\d*\(src\) \{/);
let body = src.slice(at);
body = body.slice(0, body.indexOf("\n    }\n") + 6);
const parse = new Function(`${line}\n${body}\nreturn ${body.match(/function (\w+)/)[1]};`)();
require("readline").createInterface({ input: process.stdin }).on("line", (text) => {
  process.stdout.write(JSON.stringify(parse(JSON.parse(text))) + "\n");
});
"""


def _bundled_dotenv(folder: Path) -> Path | None:
    """The file of ``folder`` (smallest first) that bundles the npm dotenv package's main.js."""
    for path in sorted(folder.glob("*.js"), key=lambda p: p.stat().st_size) if folder.is_dir() else []:
        text = path.read_text(errors="replace")
        if '"node_modules/dotenv/lib/main.js"' in text and "var LINE = " in text:
            return path
    return None


class RealParse:
    def __init__(self, bundle: Path) -> None:
        self.process = subprocess.Popen(
            ["node", "-e", NODE_PARSE, str(bundle)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    def __call__(self, text: str) -> dict[str, str]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(text) + "\n")
        self.process.stdin.flush()
        parsed: dict[str, str] = json.loads(self.process.stdout.readline())
        return parsed


@pytest.fixture(scope="module", params=sorted(BUNDLES))
def real_parse(request: pytest.FixtureRequest) -> Iterator[RealParse]:
    bundle = _bundled_dotenv(BUNDLES[request.param])
    if bundle is None or shutil.which("node") is None:
        pytest.skip(f"{request.param}'s bundle or node not installed: run `bash .ci/install-e2e.sh`")
    parse = RealParse(bundle)
    yield parse
    parse.process.kill()
    parse.process.wait()


@many
@given(text=st.one_of(st.text(), st.lists(st.sampled_from([*SPECIAL, "K=", "\nK=", "export "])).map("".join)))
def test_the_npm_model_reads_what_the_real_parse_reads(real_parse: RealParse, text: str) -> None:
    assert read_as("dotenv", text) == real_parse(text)


@many
@given(value=any_value)
def test_what_is_written_for_the_npm_reader_the_real_parse_reads_back(
    real_parse: RealParse, value: str
) -> None:
    """In a file where lines below open a quote at their end (of each kind): the npm reader would
    take a quote escaped by a backslash at the end of the value for the value's own, and read on to
    the next quote that ends a line."""
    written = env_file.written_as(value, "dotenv")
    assume(written is not None)
    text = f"# mahavishnu: x\nK={written}\nA='\n1'\nB=`\n2`\nC=\"\n3\"\n"
    assert real_parse(text) == {"K": value, "A": "\n1", "B": "\n2", "C": "\n3"}
