"""PII redaction of transcripts: card and account numbers, phone numbers, e-mails, optionally names.

Whisper writes numbers both ways ("4111 1111 ..." and "four one one one ..."), so the text is cut into
tokens and number words are read as digits first ("zero"/"oh"/"nought", "one".."nine", "ten".."nineteen",
"twenty".."ninety" with an optional unit, "double"/"triple" before a digit). A run of consecutive numeric
tokens (commas and dashes between them allowed) is then classified:

* 13-19 digits passing the Luhn check (``stdnum.luhn``) -> ``card``; 3 or more digits right after
  "security code", "CVV", "expiry", "PIN" -> ``card`` as well;
* after "account", "IBAN", "sort code", "customer/reference/policy/member number" -> ``account``;
* a written phone number (``phonenumbers``: "+44 20 7946 0958", "(020) 7946-0958"), a run that starts
  with "+"/"00", or one after "phone", "mobile", "call me", "number is"... of 7-15 digits -> ``phone``;
* any other run of 6 or more digits -> ``account`` (a longer number said in a call is an identifier far
  more often than not; amounts, times and short counts stay);
* an IBAN written with letters (``stdnum.iban``) -> ``account``.

E-mails are found written (``john.smith@gmail.com``) and as ASR writes them when spoken
("john dot smith at gmail dot com"). Names (``names=True``) are capitalised first names from the
name lists of ``faker`` (several locales), with a following capitalised last name when it is one.

:func:`redact` replaces each finding with ``[CARD]``, ``[ACCOUNT]``, ``[PHONE]``, ``[EMAIL]`` or ``[NAME]``;
:func:`redact_words` does the same for timed words and returns the time spans to mute in the audio.
Nothing here logs text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

__all__ = ["KINDS", "TAGS", "RedactedText", "find_pii", "pii_word_ranges", "redact", "redact_words", "tag_words"]

KINDS = ("card", "account", "phone", "email", "name")
TAGS = {k: f"[{k.upper()}]" for k in KINDS}
_TAG_WORDS = set(TAGS.values())

_UNITS = {"zero": 0, "oh": 0, "nought": 0, "naught": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
          "six": 6, "seven": 7, "eight": 8, "nine": 9}
_TEENS = {"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
          "seventeen": 17, "eighteen": 18, "nineteen": 19}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_REPEAT = {"double": 2, "triple": 3}
_HOMOPHONES = {"to": "2", "too": "2", "for": "4", "won": "1", "ate": "8"}
_STRIP = "\"'()[]{}<>“”‘’¿¡"
_DIGITS = re.compile(r"\+?\d(?:[\d\-]*\d)?")  # not "/" or ".": dates, amounts
_MIN_ACCOUNT = 6  # a bare run of this many digits is an identifier
#: right before a number (a few words): even its first digits are a card number ("my card number is 4111")
_CARD_CONTEXT = ("card number", "card number is", "card is", "card no", "credit card", "debit card")
#: right before a number: its first digits are a phone number (the rest may follow in the next turn)
_PHONE_ANNOUNCED = ("call me on", "call me at", "phone number is", "my number is", "mobile is", "reach me on")
_SECRET_CONTEXT = ("security code", "cvv", "cvc", "expiry", "expiration", "pin")
_ACCOUNT_CONTEXT = ("account", "acct", "iban", "sort code", "customer number", "reference", "policy", "member",
                    "routing", "bank")
_PHONE_CONTEXT = ("phone", "mobile", "cell", "telephone", "call me", "call you", "reach me", "ring me",
                  "landline", "whatsapp", "text me", "fax")
_EMAIL_TLDS = (r"com|org|net|edu|gov|info|biz|io|co|uk|de|pl|fr|es|it|nl|eu|us|ca|au|ch|at|be|se|no|dk|fi|ie|pt"
               r"|cz|ru|in|me")
_WORD = r"[A-Za-z0-9][\w+\-]*"
_PROVIDERS = r"g-?mail|googlemail|hotmail|yahoo|outlook|icloud|aol|gmx|protonmail|proton|yandex|web\.de|wp\.pl|onet"
_DOT = r"(?:\.|\s+dot\s+)"  # "gmail.com" or "gmail dot com", never ". " (a sentence end)
_LOCAL_SEP = r"(?:\s*[._\-]\s*|\s+(?:dot|underscore|dash|hyphen)\s+)"
_EMAIL = re.compile(
    rf"\b[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+\b"  # written
    # spoken: "john dot smith at gmail dot com"
    rf"|\b{_WORD}(?:{_LOCAL_SEP}{_WORD}){{0,3}}\s+(?:at|@)\s+{_WORD}(?:{_DOT}{_WORD}){{0,2}}?{_DOT}(?:{_EMAIL_TLDS})\b"
    rf"|\b[\w.+\-]+at[\w\-]+(?:\.[\w\-]+)*\.(?:{_EMAIL_TLDS})\b"  # run together: "john.smithatgmail.com"
    # misheard, around a mail provider's name: "john dot missat gmail col"
    rf"|\b{_WORD}(?:{_LOCAL_SEP}{_WORD}){{0,3}}\s*(?:\s(?:at|@)\s+|@)?(?:{_PROVIDERS})\b(?:{_DOT}\w+|\s+\w{{2,4}}\b)?",
    re.IGNORECASE)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ \-]?[A-Z0-9]{1,4}){3,8}\b", re.IGNORECASE)
_IBAN_GROUP = re.compile(r"[ \-]?[A-Z0-9]{1,4}", re.IGNORECASE)
#: capitalised words that are first names in some list but mostly ordinary words in a call
_NOT_NAMES = {"will", "may", "june", "april", "august", "grant", "bill", "mark", "rose", "hope", "joy", "faith",
              "art", "pat", "sue", "don", "dawn", "summer", "sunny", "chance", "hunter", "thank", "thanks", "hello",
              "okay", "ok", "yes", "no", "sorry", "please", "good", "oh", "so", "well", "right", "sure", "great",
              "christian", "royal", "major", "young", "king", "love", "page", "price", "bank", "card", "energy"}


@dataclass
class RedactedText:
    """Text with its PII replaced by tags; ``spans`` are ``(start_char, end_char, kind)`` in the ORIGINAL text."""

    text: str
    spans: list[tuple[int, int, str]] = field(default_factory=list)


@dataclass
class _Token:
    start: int
    end: int
    raw: str
    digits: str | None  # the digits it stands for, None if not numeric
    plus: bool = False  # written with a leading "+" or "00"
    stop: bool = False  # ends a run (sentence punctuation after it)


def _word_digits(word: str) -> str | None:
    w = word.lower()
    if w in _UNITS:
        return str(_UNITS[w])
    if w in _TEENS:
        return str(_TEENS[w])
    if w in _TENS:
        return str(_TENS[w])
    parts = w.split("-")
    if len(parts) > 1 and all(p in _UNITS or p in _TEENS or p in _TENS for p in parts):
        if len(parts) == 2 and parts[0] in _TENS and parts[1] in _UNITS and _UNITS[parts[1]] > 0:
            return str(_TENS[parts[0]] + _UNITS[parts[1]])  # "forty-two"
        return "".join(str(_UNITS.get(p, _TEENS.get(p, _TENS.get(p)))) for p in parts)
    return None


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    for m in re.finditer(r"\S+", text):
        raw = m.group()
        core = raw.strip(_STRIP)
        stop = core.endswith((".", "?", "!", ";", ":")) and not _DIGITS.fullmatch(core)
        core = core.rstrip(".,;:!?").strip(_STRIP)
        digits: str | None = None
        plus = False
        if _DIGITS.fullmatch(core.replace(",", "")):
            plus = core.startswith("+")
            digits = re.sub(r"\D", "", core)
        else:
            digits = _word_digits(core)
        out.append(_Token(m.start(), m.end(), raw, digits, plus, stop))
    # ASR's homophones between two digit words: "zero to zero" -> 0 2 0, "four for" -> 4 4
    for i in range(1, len(out) - 1):
        low = out[i].raw.lower().strip(_STRIP + ".,;:!?")
        if low in _HOMOPHONES and out[i].digits is None and not out[i - 1].stop \
                and _word_digits(out[i - 1].raw.strip(_STRIP + ".,;:!?")) is not None \
                and _word_digits(out[i + 1].raw.strip(_STRIP + ".,;:!?")) is not None:
            out[i].digits = _HOMOPHONES[low]
    # "double five" -> "55"; "forty two" -> "42"; "oh" only counts next to other digits
    for i, t in enumerate(out):
        low = t.raw.lower().strip(_STRIP + ".,;:!?")
        if low in _REPEAT and i + 1 < len(out) and out[i + 1].digits and len(out[i + 1].digits or "") == 1:
            out[i + 1].digits = (out[i + 1].digits or "") * _REPEAT[low]
            t.digits = ""  # part of the run, no digits of its own
        if low in _TENS and t.digits and i + 1 < len(out) and not t.stop:
            nxt = out[i + 1].raw.lower().strip(_STRIP + ".,;:!?")
            if nxt in _UNITS and _UNITS[nxt] > 0:
                t.digits = str(_TENS[low] + _UNITS[nxt])
                out[i + 1].digits = ""
    return out


def _context(text: str, start: int, words: Sequence[str], width: int = 40) -> bool:
    before = text[max(0, start - width):start].lower()
    return any(re.search(rf"\b{re.escape(w)}\b", before) for w in words)


def _luhn(digits: str) -> bool:
    from stdnum import luhn

    return bool(luhn.is_valid(digits))


def _is_written_phone(text: str) -> bool:
    import phonenumbers

    for region in ("US", "GB", "DE", "PL", "FR"):
        try:
            if phonenumbers.is_possible_number(phonenumbers.parse(text, region)):
                return True
        except phonenumbers.NumberParseException:
            continue
    return False


def _number_spans(text: str) -> list[tuple[int, int, str]]:
    toks = _tokens(text)
    spans: list[tuple[int, int, str]] = []
    i = 0
    while i < len(toks):
        if toks[i].digits is None or (toks[i].digits == "" and (i + 1 >= len(toks) or not toks[i + 1].digits)):
            i += 1
            continue
        j = i
        while j + 1 < len(toks) and toks[j + 1].digits is not None and not toks[j].stop:
            j += 1
        run = toks[i:j + 1]
        digits = "".join(t.digits or "" for t in run)
        start, end = run[0].start, run[-1].end
        raw = text[start:end]
        n = len(digits)
        kind: str | None = None
        if (13 <= n <= 19 and _luhn(digits)) or (n >= 3 and _context(text, start, _SECRET_CONTEXT)) \
                or (n >= 4 and _context(text, start, _CARD_CONTEXT, width=24)):
            kind = "card"
        elif (n >= _MIN_ACCOUNT and _context(text, start, _ACCOUNT_CONTEXT)) \
                or (n >= 4 and _context(text, start, ("account number", "account is", "account no"), width=24)):
            kind = "account"
        elif (n >= 3 and _context(text, start, _PHONE_ANNOUNCED, width=16)
              and not _context(text, start, ("card", "account"), width=40)):
            kind = "phone"  # part of a number, right after its announcement (the rest may follow later)
        elif 7 <= n <= 15 and (run[0].plus or digits.startswith("00") or _context(text, start, _PHONE_CONTEXT)
                               or (re.search(r"[()+\-]", raw) and _is_written_phone(raw))):
            kind = "phone"
        elif n >= _MIN_ACCOUNT:
            kind = "account"
        if kind:
            # keep the run's trailing punctuation outside the span
            end = start + len(raw.rstrip(".,;:!?"))
            spans.append((start, end, kind))
        i = j + 1
    return spans


@lru_cache(maxsize=1)
def _first_names() -> frozenset[str]:
    from importlib import import_module

    names: set[str] = set()
    for loc in ("en_US", "en_GB", "de_DE", "pl_PL", "fr_FR", "es_ES", "it_IT"):
        p = import_module(f"faker.providers.person.{loc}").Provider
        for attr in ("first_names", "first_names_male", "first_names_female"):
            names.update(str(n).lower() for n in getattr(p, attr, ()) or ())
    return frozenset(names - _NOT_NAMES)


@lru_cache(maxsize=1)
def _last_names() -> frozenset[str]:
    from importlib import import_module

    names: set[str] = set()
    for loc in ("en_US", "en_GB", "de_DE", "pl_PL", "fr_FR", "es_ES", "it_IT"):
        p = import_module(f"faker.providers.person.{loc}").Provider
        names.update(str(n).lower() for n in getattr(p, "last_names", ()) or ())
    return frozenset(names - _NOT_NAMES)


def _name_spans(text: str) -> list[tuple[int, int, str]]:
    first, last = _first_names(), _last_names()
    toks = [(m.start(), m.end(), m.group()) for m in re.finditer(r"[^\W\d_]+(?:['\-][^\W\d_]+)*", text)]
    spans = []
    i = 0
    while i < len(toks):
        s, e, w = toks[i]
        if w[:1].isupper() and w.lower() in first:
            if i + 1 < len(toks) and toks[i + 1][2][:1].isupper() and toks[i + 1][2].lower() in last \
                    and text[e:toks[i + 1][0]].strip() == "":
                e = toks[i + 1][1]
                i += 1
            spans.append((s, e, "name"))
        i += 1
    return spans


def _merge(spans: Iterable[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Overlapping spans joined (the kind of the earliest-found one wins: e-mail before numbers)."""
    out: list[tuple[int, int, str]] = []
    for s, e, k in sorted(spans, key=lambda x: (x[0], -x[1])):
        if out and s < out[-1][1]:
            ps, pe, pk = out[-1]
            out[-1] = (ps, max(pe, e), pk)
        else:
            out.append((s, e, k))
    return out


def find_pii(text: str, names: bool = False) -> list[tuple[int, int, str]]:
    """``(start_char, end_char, kind)`` of every PII finding in ``text``, sorted and not overlapping."""
    if not text:
        return []
    spans = [(m.start(), m.end(), "email") for m in _EMAIL.finditer(text)]
    from stdnum import iban

    for m in _IBAN.finditer(text):  # the longest prefix of the match that is a valid IBAN
        ends = [m.start() + 4 + g.end() for g in _IBAN_GROUP.finditer(m.group()[4:])]
        end = next((e for e in reversed(ends) if iban.is_valid(text[m.start():e])), None)
        if end is not None:
            spans.append((m.start(), end, "account"))
    spans += _number_spans(text)
    if names:
        spans += _name_spans(text)
    # an e-mail wins over a number inside it: e-mails first at equal starts
    order = {"email": 0, "card": 1, "account": 2, "phone": 3, "name": 4}
    return _merge(sorted(spans, key=lambda x: (x[0], order[x[2]])))


def redact(text: str, names: bool = False) -> RedactedText:
    """``text`` with every finding of :func:`find_pii` replaced by its tag (``[CARD]``, ``[EMAIL]``...)."""
    spans = find_pii(text, names=names)
    parts, pos = [], 0
    for s, e, k in spans:
        parts += [text[pos:s], TAGS[k]]
        pos = e
    parts.append(text[pos:])
    return RedactedText("".join(parts), spans)


def pii_word_ranges(words: Sequence[str], names: bool = False) -> list[tuple[int, int, str]]:
    """``(first, last, kind)`` word indices (inclusive) of every PII finding in a sequence of words
    (read as one text, joined by spaces)."""
    bounds, pos = [], 0
    for w in words:
        bounds.append((pos, pos + len(str(w))))
        pos += len(str(w)) + 1
    spans = find_pii(" ".join(str(w) for w in words), names=names)
    out: list[tuple[int, int, str]] = []
    i = 0
    for s, e, kind in spans:
        while i < len(bounds) and bounds[i][1] <= s:
            i += 1
        j = i
        while j + 1 < len(bounds) and bounds[j + 1][0] < e:
            j += 1
        if i < len(bounds):
            out.append((i, j, kind))
            i = j + 1
    return out


def tag_words(words: Sequence[dict[str, Any]], ranges: Sequence[tuple[int, int, str]]
              ) -> tuple[list[dict[str, Any]], list[tuple[float, float]]]:
    """``words`` with each range of :func:`pii_word_ranges` replaced by one entry whose ``word`` is the
    tag (from the first word's start to the last one's end), and those ``(start, end)`` time spans."""
    out: list[dict[str, Any]] = []
    muted: list[tuple[float, float]] = []
    pos = 0
    for i, j, kind in sorted(ranges):
        out += [dict(w) for w in words[pos:i]]
        t0, t1 = float(words[i]["start"]), float(words[j]["end"])
        out.append({**{k: v for k, v in words[i].items() if k not in ("word", "probability")},
                    "start": t0, "end": t1, "word": TAGS[kind]})
        muted.append((t0, t1))
        pos = j + 1
    out += [dict(w) for w in words[pos:]]
    return out, muted


def redact_words(words: Sequence[dict[str, Any]], names: bool = False
                 ) -> tuple[list[dict[str, Any]], list[tuple[float, float]]]:
    """Timed words (``{start, end, word}``) with PII replaced: the words of one finding become one entry
    whose ``word`` is the tag, from the first word's start to the last one's end. Also returns those
    ``(start, end)`` time spans (to mute in the audio, ``--redact-audio``)."""
    return tag_words(words, pii_word_ranges([str(w["word"]) for w in words], names=names))


def is_tag(word: str) -> bool:
    """Whether ``word`` is a redaction tag."""
    return word in _TAG_WORDS
