"""PII rules of the outbound guard: identity, financial and contact data (18 rules).

Every pattern is built for linear scanning: each repetition is bounded, and a pattern whose
repetition could run long starts behind a lookbehind that refuses to start inside such a run,
so no position is re-scanned more than a constant number of times (tests/domain/
test_guard_linear.py checks this on 5 MB adversarial bodies). Rules that are easy to trip by
accident (cards, IBANs, SSNs) are confirmed by a checksum or structure check. A rule whose
every match holds a digit says how far matching reads from a match's start (``digit_reach``,
checked against its patterns by tests/domain/test_guard_windows.py): the scanner then runs it
only near the text's digits.
"""

from __future__ import annotations

import re

from agentpost.domain.guard import validators as v
from agentpost.domain.guard.model import (
    DIGIT,
    LONG_NUMBER,
    REACH,
    Family,
    Severity,
    TextRule,
    Validator,
)

ICASE = re.IGNORECASE
# "number", "no.", "#", ":" and friends between a keyword and its value, a few at most.
NUM = r"(?:[ \t]{0,3}(?:number|num|no\.?|#|:|=|-|is)){0,3}[ \t]{0,3}"
HIGH, MEDIUM = Severity.high, Severity.medium
# Gates (see model.TextRule.gates). Every form of an SSN holds 3, 2 and 4 digits with a
# separator between, or nine digits in a row; both forms of a phone number hold three digits,
# maybe a ")", a separator and three more; a wallet address holds "bc1", "0x", or a 1 or 3
# followed by 25 Base58 characters (one literal per branch, for the engine's skip-ahead).
ONE_DIGIT = (DIGIT,)
SSN_GATES = (DIGIT, re.compile(r"\d\d{2}(?:[ .-]\d\d[ .-]\d{4}|\d{6})"))
LONG_NUMBER_GATES = (DIGIT, LONG_NUMBER)
PHONE_GATES = (DIGIT, re.compile(r"\d\d{2}\)?[ .-]\d{3}"))
_BASE58_25 = "[1-9A-HJ-NP-Za-km-z]{25}"
WALLET_GATES = (DIGIT, re.compile("bc1|0x|1" + _BASE58_25 + "|3" + _BASE58_25))


def _pii(
    rule_id: str,
    severity: Severity,
    description: str,
    pattern: str,
    *,
    flags: int = ICASE,
    validator: Validator | None = None,
    hints: tuple[str, ...] = (),
    requires: str | None = None,
    plain: str | None = None,
    gates: tuple[re.Pattern[str], ...] = (),
    digit_reach: int | None = None,
) -> TextRule:
    return TextRule(
        id=rule_id,
        family=Family.pii,
        severity=severity,
        description=description,
        pattern=re.compile(pattern, flags),
        validator=validator,
        hints=hints,
        reach=REACH,
        requires=re.compile(requires, ICASE) if requires else None,
        plain=re.compile(plain) if plain else None,
        gates=gates,
        digit_reach=digit_reach,
    )


def _group(index: int, check: v.TextCheck) -> Validator:
    """A validator applying ``check`` to one capture group of the match."""
    return lambda match: check(match.group(index) or "")


PII_RULES: tuple[TextRule, ...] = (
    _pii(
        "ob_ssn",
        HIGH,
        "a US Social Security number",
        r"\d(?<![\d-]\d)\d{2}-\d{2}-\d{4}(?![\d-])",
        flags=0,
        validator=_group(0, v.is_ssn),
        gates=SSN_GATES,
        digit_reach=12,
    ),
    _pii(
        "ob_ssn_obfuscated",
        HIGH,
        "a Social Security number written with dots, spaces or after an SSN label",
        r"\b(?:ssn|social[ \t]{1,3}security|soc\.?[ \t]{0,2}sec)" + NUM + r"\d{9}\b",
        validator=_group(0, v.is_ssn),
        hints=("ssn", "social", "soc"),
        plain=r"\d(?<![\d.]\d)\d{2}([. ])\d{2}\1\d{4}(?!\d|\.\d)",
        gates=SSN_GATES,
        digit_reach=58,
    ),
    _pii(
        "ob_credit_card",
        HIGH,
        "a payment card number (Luhn-valid)",
        r"\d(?<![\w-]\d)(?:[ -]?\d){12,18}(?!\w)",
        validator=_group(0, v.is_card_number),
        gates=ONE_DIGIT,
        digit_reach=38,
    ),
    _pii(
        "ob_phone",
        MEDIUM,
        "a phone number",
        # US form: (?<![\w+.-])(?:\+?1[ .-])?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?![\d-]), and
        # international: (?<![\w+])\+\d{1,3}[ .-]\d{1,4}[ .-]\d{3,4}[ .-]\d{3,4}(?!\d). Both
        # start with "+", "(" or a digit, so the pattern opens with that class (the engine then
        # skips ahead to candidates instead of trying every position, about 2.5x faster on
        # digit-dense text) and the lookbehinds look past it to tell the forms apart.
        r"[+(\d](?:(?<![\w+.-].)(?:(?<=\+)1[ .-]\(?\d{3}|(?<=1)[ .-]\(?\d{3}|(?<=\()\d{3}"
        r"|(?<=\d)\d{2})\)?[ .-]\d{3}[ .-]\d{4}(?![\d-])"
        r"|(?<![\w+].)(?<=\+)\d{1,3}[ .-]\d{1,4}[ .-]\d{3,4}[ .-]\d{3,4}(?!\d))",
        gates=PHONE_GATES,
        digit_reach=20,
    ),
    _pii(
        "ob_bank_routing",
        HIGH,
        "a bank account or routing number",
        r"\b(?:routing|account|acct|aba|sort[ \t]code)" + NUM + r"\d{6,17}\b",
        hints=("routing", "account", "acct", "aba", "sort"),
        gates=LONG_NUMBER_GATES,
        digit_reach=58,
    ),
    _pii(
        "ob_drivers_license",
        HIGH,
        "a driver's license number",
        r"(?:\bdriver'?s?[ \t]{1,3}licen[cs]e|\bdriver[ \t]{1,3}lic\.?|\b(?-i:DL))"
        + NUM
        + r"([A-Z0-9][A-Z0-9-]{4,14})\b",
        validator=_group(1, v.has_digit),
        hints=("driver", "dl"),
        gates=ONE_DIGIT,
    ),
    _pii(
        "ob_dob",
        MEDIUM,
        "a date of birth",
        r"\b(?:date[ \t]of[ \t]birth|dob|born[ \t]on|birthday|birth[ \t]?date)[ \t]{0,3}[:=-]?"
        r"[ \t]{0,3}(?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{4}-\d{2}-\d{2}"
        r"|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]{0,6}\.?[ \t]\d{1,2},?"
        r"[ \t]\d{4})",
        hints=("birth", "dob", "born"),
        gates=ONE_DIGIT,
        digit_reach=40,
    ),
    _pii(
        "ob_passport",
        HIGH,
        "a passport number",
        r"\bpassport" + NUM + r"([A-Z0-9]{6,12})\b",
        validator=_group(1, v.has_digit),
        hints=("passport",),
        gates=ONE_DIGIT,
    ),
    _pii(
        "ob_tax_id",
        HIGH,
        "a tax identification number (EIN/TIN)",
        r"(?:\b(?-i:EIN|TIN)|\btax[ \t]{0,2}id(?:entification)?|\bemployer[ \t]{1,2}id)"
        + NUM
        + r"\d{2}-?\d{7}\b",
        hints=("ein", "tin", "tax", "employer"),
        gates=LONG_NUMBER_GATES,
        digit_reach=61,
    ),
    _pii(
        "ob_itin",
        HIGH,
        "an individual taxpayer identification number (ITIN)",
        r"\bITIN" + NUM + r"9\d{2}-?\d{2}-?\d{4}\b",
        hints=("itin",),
        gates=ONE_DIGIT,
        digit_reach=47,
    ),
    _pii(
        "ob_medicare",
        HIGH,
        "a health insurance or Medicare/Medicaid member number",
        r"\b(?:medicare|medicaid|health[ \t]{1,2}(?:insurance|plan))"
        r"(?:[ \t]{1,2}(?:member[ \t]{1,2})?(?:id|number|no\.?|#))?[ \t]{0,3}[:#=-]?[ \t]{0,3}"
        r"([A-Z0-9]{8,14})\b",
        validator=_group(1, v.has_digit),
        hints=("medicare", "medicaid", "health"),
        gates=ONE_DIGIT,
    ),
    _pii(
        "ob_immigration",
        HIGH,
        "an immigration (USCIS alien registration) number",
        r"\b(?:a-?number|alien(?:[ \t]registration)?|uscis)" + NUM + r"A?-?\d{8,9}\b",
        hints=("number", "alien", "uscis"),
        gates=LONG_NUMBER_GATES,
        digit_reach=61,
    ),
    _pii(
        "ob_pin",
        MEDIUM,
        "a PIN",
        r"\bpin(?:[ \t]{1,2}(?:code|number))?[ \t]{0,3}[:=][ \t]{0,3}\d{4,8}\b",
        hints=("pin",),
        gates=ONE_DIGIT,
        digit_reach=28,
    ),
    _pii(
        "ob_security_qa",
        MEDIUM,
        "a security question answer",
        r"\b(?:security|secret|challenge)[ \t]question[^\n]{5,80}?\b(?:answer|response)"
        r"[ \t]{0,3}(?:is|[:=-])[ \t]{0,3}\S{2}"
        r"|\b(?:security[ \t](?:answer|response)|mother'?s[ \t]maiden[ \t]name"
        r"|first[ \t]pet'?s?[ \t]name)(?:[ \t]{1,3}(?:is|was)[ \t]{1,3}|[ \t]{0,3}[:=][ \t]{0,3})"
        r"\S{2}",
        hints=("question", "security", "maiden", "pet"),
    ),
    _pii(
        "ob_iban",
        HIGH,
        "an IBAN (checksum-valid)",
        r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z]\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?"
        r"(?![A-Za-z0-9])",
        flags=0,
        validator=_group(0, v.is_iban),
        gates=ONE_DIGIT,
        digit_reach=45,
    ),
    _pii(
        "ob_swift",
        MEDIUM,
        "a SWIFT/BIC bank code",
        r"\b(?:swift|bic)(?:[ \t]code)?[ \t]{0,3}[:=-]?[ \t]{0,3}"
        r"(?-i:[A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?)\b",
        hints=("swift", "bic"),
    ),
    _pii(
        "ob_crypto_wallet",
        HIGH,
        "a cryptocurrency wallet address",
        r"(?<![A-Za-z0-9])(?:(bc1[a-z0-9]{11,71})|([13][1-9A-HJ-NP-Za-km-z]{25,34})"
        r"|0x[0-9a-fA-F]{40})(?![A-Za-z0-9])",
        flags=0,
        validator=lambda m: (
            v.is_bech32_address(m.group(1))
            if m.group(1)
            else v.is_base58check(m.group(2))
            if m.group(2)
            else True
        ),
        gates=WALLET_GATES,
        digit_reach=75,
    ),
    _pii(
        "ob_wire_transfer",
        HIGH,
        "wire transfer instructions with account details",
        r"\bwire[ \t]{1,3}(?:transfer|funds?|payment|to)\b",
        requires=r"\b(?:routing|account|swift|iban|beneficiary)\b",
        hints=("wire",),
    ),
)
