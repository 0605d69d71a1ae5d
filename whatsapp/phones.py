"""Phone numbers in E.164 with '+', the variants WhatsApp uses for one person, and BSUIDs."""

from __future__ import annotations

import re

import phonenumbers

_BSUID = re.compile(r"^[A-Z]{2}\.(?:[A-Z0-9]+\.)?[A-Za-z0-9]{1,128}$")
_SEPARATORS = re.compile(r"[\s\-().]")


class InvalidPhone(ValueError):
    """Not a phone number we can message."""


def from_wa_id(wa_id: str | None) -> str | None:
    """Meta's `wa_id`/`from` (digits, no '+') -> '+digits', kept as Meta sent it.

    Meta's ids are not always valid numbers by the numbering plan (Brazil without the 9), so they
    are not re-validated: they are the customer's key as WhatsApp knows it.
    """
    if wa_id is None:
        return None
    digits = re.sub(r"[^0-9]", "", str(wa_id))
    return f"+{digits}" if digits else None


def normalize(raw: str | None) -> str:
    """An agent's or client's phone number -> E.164 ('+56944328662').

    Accepts '+56944328662', '56944328662', ' 56944328662' (a '+' that a query string turned into a
    space) and the usual separators. Raises InvalidPhone with a reason otherwise.
    """
    if raw is None or not str(raw).strip():
        raise InvalidPhone("phone_number is empty")
    text = _SEPARATORS.sub("", str(raw).strip())
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text.startswith("+"):
        text = "+" + text
    if not re.fullmatch(r"\+[0-9]{6,15}", text):
        raise InvalidPhone(f"{str(raw).strip()!r} is not a phone number in international format (e.g. +56944328662)")
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise InvalidPhone(f"{str(raw).strip()!r} has no valid country code") from None
    if not phonenumbers.is_possible_number(parsed):
        # WhatsApp ids such as Brazil's number without the ninth digit are impossible by the plan
        # but real; keep the digits as given when the country code itself is known.
        if phonenumbers.region_code_for_country_code(parsed.country_code) == "ZZ":
            raise InvalidPhone(f"{str(raw).strip()!r} has no valid country code")
        return text
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def variants(e164: str) -> list[str]:
    """Every form under which WhatsApp may know the same person (Brazil's 9, Mexico's and Argentina's 1/9)."""
    digits = e164.lstrip("+")
    forms = {digits}
    if digits.startswith("55") and len(digits) in (12, 13):
        area, rest = digits[2:4], digits[4:]
        if len(rest) == 9 and rest.startswith("9"):
            forms.add("55" + area + rest[1:])
        elif len(rest) == 8 and rest[0] in "6789":
            forms.add("55" + area + "9" + rest)
    elif digits.startswith("521") and len(digits) == 13:
        forms.add("52" + digits[3:])
    elif digits.startswith("52") and len(digits) == 12:
        forms.add("521" + digits[2:])
    elif digits.startswith("549") and len(digits) == 13:
        forms.add("54" + digits[3:])
    elif digits.startswith("54") and len(digits) == 12:
        forms.add("549" + digits[2:])
    return sorted("+" + f for f in forms)


def is_bsuid(value: str | None) -> bool:
    """A business-scoped user id looks like 'US.13491208655302741918' (country, dot, alphanumerics)."""
    return bool(value) and bool(_BSUID.match(str(value).strip()))
