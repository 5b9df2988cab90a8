"""Phone numbers in any national format, found by Google's libphonenumber and replaced by ``[PHONE]``.

The parse's regular expressions (conversations.py) catch the common shapes (``+44 7700 900123``, ``(713) 555-0142``,
``07700 900123``); numbers written as other countries write them (``01 42 68 53 00``, ``098765 43210``) slip past.
libphonenumber's ``PhoneNumberMatcher`` finds the numbers of one region that are valid (``Leniency.VALID``: in a
range the region gives out, with its national prefix where one is written, not joined to a letter, not a date or a
time stamp), and any number written with its country code (``+33 1 42 68 53 00``). A text is searched once per
region of ``ANALYTICS_PHONE_REGIONS`` (default GB and US, the demo's countries).

It runs as a DuckDB Python function over Arrow vectors, on what the regular expressions left, and only for the texts
that could hold a number (``may_hold_phone_number``, in SQL): a run of at least as many digits as the shortest valid
number (of those regions, or with a country code) has, with at most 4 of the characters libphonenumber allows between
digits, not right after a Latin letter. A text that is a UUID is not searched (its digits are random; an id's chance
digit groups are not a number anyone wrote).
"""

from __future__ import annotations

import functools

import duckdb
import phonenumbers
import pyarrow as pa
from phonenumbers import Leniency, PhoneMetadata, PhoneNumberMatcher

from analytics_pipeline.lake.duck import python_function, sql_literal

FUNCTION = "phone_numbers_replaced"
FILTER = "may_hold_phone_number"
REPLACEMENT = "[PHONE]"
# What libphonenumber's matcher allows between two digits of a number: up to 4 of its punctuation characters
# (dashes, dots, spaces, brackets, slashes, ... and "x", matched in any case).
_PUNCTUATION = phonenumbers.phonenumberutil._VALID_PUNCTUATION + "X"
_GAP = f"[{_PUNCTUATION}]{{0,4}}"
# One candidate of the matcher holds at most 21 blocks of 20 digits: in a longer run of digits the next one starts
# right after a digit. Any run of 20 digits is searched (a looser test than 420 is as safe, and far cheaper in RE2).
_LONG_RUN = phonenumbers.phonenumbermatcher._DIGIT_BLOCK_LIMIT
_UUID = r"(?i:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"  # matched whole
_CACHED_TEXT_CHARACTERS = 200  # short texts repeat (session ids, labels): their answers are kept


def _shortest(metadata: PhoneMetadata) -> int:
    return min(length for length in metadata.general_desc.possible_length if length > 0)


@functools.cache
def _shortest_international() -> int:
    """The fewest digits of a number written with its country code, in any country (6: +98 9601)."""
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
        # RE2 (DuckDB): \p{Nd} is any decimal digit, as libphonenumber reads them (full-width, Arabic-Indic, ...).
        # Not right after a Latin letter: libphonenumber turns down a number that starts there (ab12345678, the hex
        # of an id) and finds one inside it only after a space, dash, dot, slash or bracket, where this matches again;
        # nor inside a run of digits, where a number starts only after the longest candidate it reads (_LONG_RUN).
        self.candidates = rf"(?:^|[^A-Za-z\p{{Nd}}])\p{{Nd}}(?:{_GAP}\p{{Nd}}){{{digits - 1}}}|\p{{Nd}}{{{_LONG_RUN}}}"
        self._cached = functools.lru_cache(maxsize=16384)(self._redact)  # a few MB at most

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

    def redact_texts(self, texts: list[str]) -> list[str]:
        return [self.redact(text) for text in texts]


@functools.cache
def phone_number_redactor(regions: tuple[str, ...]) -> PhoneNumberRedactor:
    return PhoneNumberRedactor(regions)


def register_phone_number_redaction(con: duckdb.DuckDBPyConnection, regions: tuple[str, ...]) -> None:
    """On ``con``: ``phone_numbers_replaced(text)``, libphonenumber's search for ``regions``, and the SQL macro
    ``may_hold_phone_number(text)``, the cheap test that decides which texts it gets (``redact_phone_numbers_sql``).
    The search is one Python function for every connection (``python_function``), given the connection's regions
    from its variable ``phone_regions``."""
    redactor = phone_number_redactor(tuple(regions))
    con.execute("SET VARIABLE phone_regions = ?", [",".join(redactor.regions)])
    python_function(con, f"{FUNCTION}_for_regions", _replaced, ["VARCHAR", "VARCHAR"], "VARCHAR", type="arrow",
                    side_effects=False)
    con.execute(f"CREATE OR REPLACE TEMP MACRO {FUNCTION}(x) AS {FUNCTION}_for_regions(x, getvariable('phone_regions'))")
    con.execute(f"CREATE OR REPLACE TEMP MACRO {FILTER}(x) AS regexp_matches(x, {sql_literal(redactor.candidates)}) "
                f"AND NOT regexp_full_match(x, {sql_literal(_UUID)})")


def _replaced(texts: pa.ChunkedArray, regions: pa.ChunkedArray) -> pa.Array:
    """The DuckDB function (Arrow): a vector of texts that may hold a number, each searched for the numbers of
    its row's regions (one value for a whole statement)."""
    texts, regions = texts.to_pylist(), regions.to_pylist()
    if len(set(regions)) == 1:
        return pa.array(phone_number_redactor(tuple(regions[0].split(","))).redact_texts(texts), pa.string())
    return pa.array([phone_number_redactor(tuple(r.split(","))).redact(t) for t, r in zip(texts, regions)], pa.string())


def redact_phone_numbers_sql(text: str, redacted: str) -> str:
    """SQL: ``redacted`` (an expression of ``text``) with libphonenumber's numbers replaced, searched only where
    ``text`` may hold one. ``redacted`` is evaluated once per row (the CASE branches take disjoint rows), and the
    test may run on ``text`` itself, before the regular expressions: they replace digits by tokens with letters, which
    never join two runs of digits into a longer one."""
    return f"CASE WHEN {FILTER}({text}) THEN {FUNCTION}({redacted}) ELSE {redacted} END"


def holds_phone_number_sql(text: str) -> str:
    """SQL: true where libphonenumber finds a number in ``text`` (the PII check)."""
    return f"CASE WHEN {FILTER}({text}) THEN {FUNCTION}({text}) <> {text} ELSE false END"
