"""Text as every encoder, tokenizer, path and database takes it.

JSON may carry a lone surrogate (``"\\ud800"``: Node's ``JSON.stringify`` writes one for half of an
emoji it cut) and NUL characters; neither survives UTF-8, a tokenizer or a C string. A hook's JSON
comes from outside, so whatever reads one cleans its text first."""

from __future__ import annotations


def clean_text(text: str) -> str:
    """``text`` with each lone surrogate as U+FFFD and NUL characters dropped; a surrogate pair
    is joined into its character."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text.replace("\0", "") if "\0" in text else text
