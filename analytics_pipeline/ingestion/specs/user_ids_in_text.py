"""User ids in the text of a rejected record, in any form, replaced by their pseudonyms.

A rejected conversations record is kept with its original text, so no user id may stay in it, whatever its form:
a string, a number, an object or a list (every value in it) under a key that names a user (``user_id``, ``userId``,
``UserID``, ``user``, ``uid``, ``end_user_id``, ``username``, ...), at any depth, inside JSON held in a string, or
as ``user_id=…`` / ``user: …`` in a line that is not JSON at all (a cut line, a log line, a Python dict). The same
value is then replaced wherever else it stands in the text as a word of its own (ids of 3 characters or more).

The text is read token by token, leniently, so a cut or broken line is read as far as it goes; only values are
replaced, the rest of the text stays as written. This runs in Python, on rejected records only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

_TOKENS = re.compile(r"""
    (?P<string>"(?:[^"\\]|\\.)*(?:"|\\?\Z))              # a double-quoted string (or one cut at the end)
  | (?P<single>(?<![\w'])'(?:[^'\\\n]|\\.)*')         # a single-quoted one (a Python dict), not an apostrophe
  | (?P<open>[{\[])
  | (?P<close>[}\]])
  | (?P<colon>[:=])
  | (?P<comma>[,;&])
  | (?P<word>[^\s"'{}\[\]:=,;&]+)
  | (?P<other>\S)
""", re.VERBOSE | re.DOTALL)
_USER_KEY_ENDINGS = ("user", "users", "userid", "userids", "username", "usernames")
_NOT_IDS = {"", "null", "none", "true", "false"}
_SHORTEST_REPEATED_ID = 3


def is_user_key(name: str) -> bool:
    """A key that names a user or a user's id, in any spelling: user_id, userId, USER-ID, uid, end_user, ..."""
    normalised = re.sub(r"[^a-z0-9]", "", name.lower())
    return normalised == "uid" or normalised.endswith(_USER_KEY_ENDINGS)


def pseudonymise_user_ids(text: str, pseudonym: Callable[[str], str]) -> str:
    """``text`` with every user id value (and every other occurrence of one) replaced by ``pseudonym(value)``."""
    found: set[str] = set()
    text = _replace_values(text, pseudonym, found)
    repeated = sorted((v for v in found if len(v) >= _SHORTEST_REPEATED_ID), key=len, reverse=True)
    if not repeated:
        return text
    again = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, repeated)) + r")(?![\w-])")
    return again.sub(lambda m: pseudonym(m.group(1)), text)


def user_id_values(text: str) -> list[str]:
    """The values that stand under a user key in ``text`` (as :func:`pseudonymise_user_ids` finds them)."""
    values: list[str] = []
    _replace_values(text, lambda value: values.append(value) or value, set())
    return values


def _replace_values(text: str, pseudonym: Callable[[str], str], found: set[str]) -> str:
    tokens = [(m.lastgroup, m.start(), m.end()) for m in _TOKENS.finditer(text)]
    out, written = [], 0
    in_user_value: list[bool] = []  # per open object or list: is it (inside) the value of a user key?
    key: str | None = None
    for n, (kind, start, end) in enumerate(tokens):
        token = text[start:end]
        under_user = (bool(in_user_value) and in_user_value[-1]) or (key is not None and is_user_key(key))
        if kind in ("string", "single", "word"):
            if n + 1 < len(tokens) and tokens[n + 1][0] == "colon":
                key = _decoded(token, kind)
                continue
            value, replacement = _decoded(token, kind), None
            if under_user and value.lower() not in _NOT_IDS:
                found.add(value)
                replacement = f"'{pseudonym(value)}'" if kind == "single" else f'"{pseudonym(value)}"'
            elif kind != "word" and value.lstrip()[:1] in ("{", "["):  # JSON written into a string
                inner = _replace_values(value, pseudonym, found)
                if inner != value:
                    replacement = (json.dumps(inner, ensure_ascii=False) if kind == "string"
                                   else "'" + inner.replace("\\", "\\\\").replace("'", "\\'") + "'")
            if replacement is not None:
                out += [text[written:start], replacement]
                written = end
            key = None
        elif kind == "open":
            in_user_value.append(under_user)
            key = None
        elif kind in ("close", "comma", "other"):
            if kind == "close" and in_user_value:
                in_user_value.pop()
            key = None
    return "".join(out) + text[written:]


def _decoded(token: str, kind: str) -> str:
    if kind == "word":
        return token
    if kind == "single":
        return token[1:-1].replace("\\'", "'")
    # a string cut at the end of the text: closed, less a half escape (\ or \u00) it may end with
    for candidate in (token, *(token[:len(token) - cut] + '"' for cut in range(6))):
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, str):
            return value
    return token[1:-1] if len(token) > 1 and token.endswith('"') else token[1:]
