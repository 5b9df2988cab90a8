"""Phone numbers in any national format, found by Google's libphonenumber and replaced by ``[PHONE]``.

The parse's regular expressions (conversations.py) catch the common shapes (``+44 7700 900123``, ``(713) 555-0142``,
``07700 900123``); numbers written as other countries write them (``01 23 45 67 89``, ``098765 43210``) slip past.
libphonenumber's ``PhoneNumberMatcher`` finds the numbers of one region that are valid (``Leniency.VALID``: in a
range the region gives out, with its national prefix where one is written, not joined to a letter, not a date or a
time stamp), and any number written with its country code (``+49 30 901820``, ``0033 1 23 45 67 89``). A text is
searched once per region of ``ANALYTICS_PHONE_REGIONS`` (default GB and US, the demo's countries).

It runs as a DuckDB Python function over Arrow vectors, after the regular expressions, and only on the texts that
could hold a number: a run of at least as many digits as the shortest valid number (of those regions, or with a
country code) has, with at most 4 of the characters libphonenumber allows between digits. A text that is a UUID is
not searched (its digits are random; an id's chance digit groups are not a number anyone wrote).
"""

from __future__ import annotations

import functools

import duckdb
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import Leniency, PhoneMetadata, PhoneNumberMatcher

FUNCTION = "redact_phone_numbers"
REPLACEMENT = "[PHONE]"
# What libphonenumber's matcher allows between two digits of a number: up to 4 of its punctuation characters
# (dashes, dots, spaces, brackets, slashes, ... and "x", matched in any case).
_PUNCTUATION = phonenumbers.phonenumberutil._VALID_PUNCTUATION + "X"
_GAP = f"[{_PUNCTUATION}]{{0,4}}"
_UUID = r"^(?i:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
_CACHED_TEXT_CHARACTERS = 200  # short texts repeat (session ids, labels): their answers are kept


def _shortest(metadata: PhoneMetadata) -> int:
    return min(length for length in metadata.general_desc.possible_length if length > 0)


@functools.cache
def _shortest_international() -> int:
    """The fewest digits of a number written with its country code, in any country (6: +43 and 4 digits)."""
    everywhere = [PhoneMetadata.metadata_for_region(r) for r in phonenumbers.SUPPORTED_REGIONS]
    everywhere += [PhoneMetadata.metadata_for_nongeo_region(c) for c in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS]
    return min(len(str(m.country_code)) + _shortest(m) for m in everywhere)


class PhoneNumberRedactor:
    """Replaces the phone numbers libphonenumber finds for ``regions`` (ISO 3166 codes) with ``[PHONE]``."""

    def __init__(self, regions: tuple[str, ...]):
        if not regions or not set(regions) <= phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"phone number regions must be libphonenumber's region codes, not {regions!r}")
        self.regions = regions
        digits = min([_shortest_international()] + [_shortest(PhoneMetadata.metadata_for_region(r)) for r in regions])
        # RE2 (Arrow): \p{Nd} is any decimal digit, as libphonenumber reads them (full-width, Arabic-Indic, ...)
        self.candidates = rf"\p{{Nd}}(?:{_GAP}\p{{Nd}}){{{digits - 1}}}"
        self._cached = functools.lru_cache(maxsize=65536)(self._redact)

    def redact(self, text: str) -> str:
        return self._cached(text) if len(text) <= _CACHED_TEXT_CHARACTERS else self._redact(text)

    def _redact(self, text: str) -> str:
        # Again until nothing is found: digits left beside a replaced number can make one of their own, and the PII
        # check (conversations/assets.py) searches the stored text once more.
        while (redacted := self._replace_once(text)) != text:
            text = redacted
        return text

    def _replace_once(self, text: str) -> str:
        # every candidate is tried (the matcher's default stops after 65,535, which a long text could reach)
        spans = sorted({(m.start, m.end) for region in self.regions
                        for m in PhoneNumberMatcher(text, region, leniency=Leniency.VALID, max_tries=len(text) + 1)})
        parts, done = [], 0
        for start, end in spans:  # numbers the regions read differently may overlap: one [PHONE] for the union
            if start < done:
                done = max(done, end)
                continue
            parts += [text[done:start], REPLACEMENT]
            done = end
        return "".join(parts) + text[done:] if spans else text

    def may_hold_a_number(self, texts: pa.Array) -> pa.Array:
        """True where ``texts`` has a run of digits long enough for a number (and is not a UUID)."""
        found = pc.and_not(pc.match_substring_regex(texts, self.candidates), pc.match_substring_regex(texts, _UUID))
        return pc.fill_null(found, False)

    def redact_vector(self, texts: pa.ChunkedArray | pa.Array) -> pa.Array:
        """The DuckDB function (Arrow): the texts that may hold a number searched, the rest returned as they are."""
        if isinstance(texts, pa.ChunkedArray):
            texts = texts.combine_chunks()
        searched = self.may_hold_a_number(texts)
        if not pc.any(searched).as_py():
            return texts
        redacted = [self.redact(text) for text in pc.filter(texts, searched).to_pylist()]
        return pc.replace_with_mask(texts, searched, pa.array(redacted, texts.type))


@functools.cache
def phone_number_redactor(regions: tuple[str, ...]) -> PhoneNumberRedactor:
    return PhoneNumberRedactor(regions)


def register_phone_number_redaction(con: duckdb.DuckDBPyConnection, regions: tuple[str, ...]) -> None:
    """``redact_phone_numbers(text)`` on ``con`` (replacing one registered before)."""
    try:
        con.remove_function(FUNCTION)
    except duckdb.InvalidInputException:
        pass
    con.create_function(FUNCTION, phone_number_redactor(tuple(regions)).redact_vector, [duckdb.sqltype("VARCHAR")],
                        duckdb.sqltype("VARCHAR"), type="arrow", side_effects=False)
