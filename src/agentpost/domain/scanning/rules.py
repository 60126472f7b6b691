"""Content rules of the spam filter: one named, weighted pattern per rule, grouped by category.

The weights follow the upstream filter (research/upstream-contract.md §3.3) so scores mean the
same thing to agents written for it. Patterns run over the lower-cased subject and body text
with whitespace collapsed to single spaces; gaps between words are bounded (``.{0,60}``) and
no group repeats inside another, so every rule is linear in the size of the body. Each rule
names keywords one of which must occur before its pattern runs: a substring test is much
cheaper than a regex that starts with ``\b``, and most mail contains none of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agentpost.domain.scanning.model import (
    CONTENT_SPAM,
    DATA_EXFILTRATION,
    PROMPT_INJECTION,
    SOCIAL_ENGINEERING,
    Match,
)


@dataclass(frozen=True, slots=True)
class Rule:
    rule_id: str
    category: str
    score: int
    description: str
    pattern: re.Pattern[str]
    words: frozenset[str]
    marks: tuple[str, ...]

    def fires(self, content: str, tokens: frozenset[str]) -> bool:
        present = not self.words.isdisjoint(tokens) or any(m in content for m in self.marks)
        return present and bool(self.pattern.search(content))

    def match(self) -> Match:
        return Match(self.rule_id, self.category, self.score, self.description)


def _rule(rule_id: str, category: str, score: int, description: str, pattern: str) -> Rule:
    keys = KEYWORDS[rule_id].split()
    words = frozenset(k for k in keys if k[0].isalnum())
    marks = tuple(k for k in keys if not k[0].isalnum())
    return Rule(rule_id, category, score, description, re.compile(pattern), words, marks)


_NOT_WORD = str.maketrans({ch: " " for ch in "!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~"})


def tokens_of(content: str) -> frozenset[str]:
    """The words of ``content`` (runs of letters, digits and ``_``) for keyword look-ups."""
    return frozenset(content.translate(_NOT_WORD).split())


# Words (whole tokens of the content) or marks (substrings, written with their punctuation),
# one of which must be present for a rule's pattern to run.
KEYWORDS: dict[str, str] = {
    "pi_ignore_instructions": "ignore disregard forget",
    "pi_you_are_now": "now",
    "pi_system_delimiter": "system inst sys im_start",
    "pi_new_instructions": "instruction instructions",
    "pi_act_as": "act pretend",
    "pi_do_not_mention": "mention tell reveal disclose inform",
    "pi_jailbreak": "jailbreak jailbreaking dan anything bypass mode",
    "pi_markdown_injection": "```",
    "pi_tool_call": "call invoke use run",
    "se_owner_impersonation": "owner creator admin administrator boss master human operator user",
    "se_secret_request": "api password secret credential credentials token tokens private 2fa otp"
    " one",
    "se_impersonate_system": "this",
    "se_money_request": "send wire western moneygram",
    "se_gift_card": "gift itunes play steam",
    "se_ceo_fraud": "ceo cfo cto director executive president",
    "de_forward_all": "forward",
    "de_search_credentials": "password passwords credential credentials api token tokens secret"
    " secrets",
    "de_send_to_external": "@",
    "de_dump_instructions": "prompt instructions rules",
    "cs_lottery_scam": "won selected lottery million nigerian",
    "cs_crypto_scam": "bitcoin crypto ethereum btc usdt guaranteed double airdrop connect trading",
    "cs_pharmacy_spam": "viagra cialis meds pharmacy prescription",
    "cs_weight_loss": "weight diet lose fat belly keto slimming",
    "cs_seo_spam": "guarantee guaranteed guarantees first backlinks seo",
    "cs_gambling": "casino spins welcome deposit jackpot betting",
    "cs_loan_spam": "approved preapproved bad credit payday debt",
    "cs_replica": "replica replicas",
}


PI, SE, DE, CS = PROMPT_INJECTION, SOCIAL_ENGINEERING, DATA_EXFILTRATION, CONTENT_SPAM
W = " "  # content is whitespace-normalised: one space between words

CONTENT_RULES: tuple[Rule, ...] = (
    _rule(
        "pi_ignore_instructions",
        PI,
        25,
        "tells the reader to ignore its instructions",
        rf"(?:ignore|disregard|forget){W}(?:all{W}|any{W})?(?:of{W})?(?:the{W}|your{W})?"
        rf"(?:previous|prior|above|earlier|preceding|existing){W}"
        r"(?:instructions|prompts?|rules|directions|guidelines)",
    ),
    _rule(
        "pi_you_are_now",
        PI,
        25,
        "tries to give the reader a new identity",
        rf"\byou{W}are{W}now{W}(?:a|an|the|my|in)\b",
    ),
    _rule(
        "pi_system_delimiter",
        PI,
        20,
        "contains chat-template or system-prompt markers",
        r"\[system\]|\[/?inst\]|<<sys>>|<\|im_start\|>|<\|system\|>|###{0,1} ?system:",
    ),
    _rule(
        "pi_new_instructions",
        PI,
        20,
        "announces new or overriding instructions",
        rf"\b(?:new|updated|override|revised){W}instructions?{W}?:",
    ),
    _rule(
        "pi_act_as",
        PI,
        15,
        "asks the reader to play a role",
        rf"\bact{W}as{W}(?:a|an|if)\b|\bpretend{W}(?:to{W}be|you{W}are)\b",
    ),
    _rule(
        "pi_do_not_mention",
        PI,
        15,
        "asks the reader to hide something",
        rf"\b(?:do{W}not|don't|never){W}(?:mention|tell|reveal|disclose|inform)"
        rf"{W}(?:that|this|the{W}user|your{W}(?:owner|user|human))",
    ),
    _rule(
        "pi_jailbreak",
        PI,
        20,
        "jailbreak vocabulary",
        rf"\bjailbreak|\bdan{W}mode\b|\bdo{W}anything{W}now\b"
        rf"|\bbypass{W}(?:your{W}|the{W})?(?:safety|filters?|restrictions|guardrails)"
        rf"|\b(?:unlimited|developer|god){W}mode\b",
    ),
    _rule(
        "pi_markdown_injection",
        PI,
        10,
        "a code block posing as a system or exec block",
        r"```(?:system|python exec|bash exec|tool_code)",
    ),
    _rule(
        "pi_tool_call",
        PI,
        20,
        "tells the reader to call its tools or functions",
        rf"\b(?:call|invoke|use|run){W}(?:the{W})?(?:send_email|forward_email|reply_email"
        rf"|delete_email|manage_\w+|function|tool){W}(?:with|to)\b",
    ),
    _rule(
        "se_owner_impersonation",
        SE,
        20,
        "claims to speak for the reader's owner",
        rf"\byour{W}(?:owner|creator|admin|administrator|boss|master|human|operator|user)"
        rf"{W}(?:has{W})?(?:asked|told|wants|said|instructed|needs|authori[sz]ed|approved)",
    ),
    _rule(
        "se_secret_request",
        SE,
        15,
        "asks for keys, passwords or tokens",
        rf"\b(?:share|send|give|provide|reply{W}with|paste){W}(?:me{W}|us{W})?(?:your{W}|the{W})"
        r"(?:api key|password|secret|credentials?|tokens?|private key|2fa|otp|one[- ]time)",
    ),
    _rule(
        "se_impersonate_system",
        SE,
        15,
        "poses as a system or security notice",
        rf"\bthis{W}is{W}(?:a|an|the){W}(?:system|security|admin|automated|official)"
        rf"{W}(?:message|alert|notification|notice|instruction)",
    ),
    _rule(
        "se_money_request",
        SE,
        15,
        "asks for money",
        rf"\bsend{W}(?:me|us){W}\$?\d|\bwire{W}transfer|\bwestern{W}union|\bmoneygram",
    ),
    _rule(
        "se_gift_card",
        SE,
        20,
        "asks for gift cards",
        rf"\bbuy{W}(?:me{W}|some{W})?(?:\w+{W})?gift{W}cards?|\bitunes{W}cards?"
        rf"|\bgoogle{W}play{W}cards?|\bsteam{W}cards?",
    ),
    _rule(
        "se_ceo_fraud",
        SE,
        15,
        "an executive asking for an urgent payment",
        r"\b(?:ceo|cfo|cto|director|executive|president)\b.{0,80}"
        r"\b(?:wire|transfer|payment|urgent)",
    ),
    _rule(
        "de_forward_all",
        DE,
        20,
        "asks to forward all mail",
        rf"\bforward{W}(?:all|every|each){W}(?:of{W}your{W}|your{W}|the{W})?"
        r"(?:e-?mails?|messages?|mail)",
    ),
    _rule(
        "de_search_credentials",
        DE,
        20,
        "asks to search the mailbox for secrets",
        rf"\b(?:search|look{W}through|scan|go{W}through){W}(?:your{W}|the{W})?"
        r"(?:inbox|e-?mails?|mailbox|messages).{0,80}"
        r"(?:passwords?|credentials?|api keys?|tokens?|secrets?)",
    ),
    _rule(
        "de_send_to_external",
        DE,
        15,
        "asks to send data to an address",
        rf"\bsend{W}(?:the|all|every|them|it|a{W}copy){W}.{{0,60}}\bto{W}"
        r"[\w.+-]+@[\w-]+\.[\w.-]+",
    ),
    _rule(
        "de_dump_instructions",
        DE,
        15,
        "asks for the reader's prompt or instructions",
        rf"\b(?:reveal|show|print|dump|repeat|output){W}(?:me{W})?(?:your{W}|the{W})"
        rf"(?:system{W}prompt|instructions|initial{W}prompt|hidden{W}prompt|rules)",
    ),
    _rule(
        "cs_lottery_scam",
        CS,
        25,
        "lottery or prize scam wording",
        rf"\byou{W}(?:have{W})?won\b|\byou{W}have{W}been{W}selected|\blottery\b"
        rf"|\bmillion{W}(?:us{W})?dollars\b|\bnigerian{W}prince",
    ),
    _rule(
        "cs_crypto_scam",
        CS,
        10,
        "crypto investment bait",
        r"\b(?:bitcoin|crypto|ethereum|btc|usdt)\b.{0,60}\binvest"
        rf"|\bguaranteed{W}(?:returns|profit)|\bdouble{W}your{W}(?:money|bitcoin|crypto)"
        rf"|\bairdrop\b|\bconnect{W}your{W}wallet{W}to{W}(?:claim|receive|get)"
        rf"|\btrading{W}bot\b",
    ),
    _rule(
        "cs_pharmacy_spam",
        CS,
        15,
        "pharmacy spam",
        rf"\bviagra\b|\bcialis\b|\bcheap{W}meds\b|\bonline{W}pharmacy|\bno{W}prescription",
    ),
    _rule(
        "cs_weight_loss",
        CS,
        10,
        "weight-loss spam",
        rf"\bweight{W}loss\b|\bdiet{W}pills?\b|\blose{W}\d+{W}?(?:lbs|pounds|kg)\b"
        rf"|\bfat{W}burn|\bbelly{W}fat\b|\bketo{W}(?:diet{W})?(?:pills|gummies)"
        rf"|\bslimming{W}(?:pills|tea|capsules)",
    ),
    _rule(
        "cs_seo_spam",
        CS,
        10,
        "search-ranking spam",
        rf"\bguarantee[ds]?{W}(?:a{W}|you{W}|your{W})?(?:first{W}page|page{W}one|#1{W}rank"
        rf"|top{W}(?:\d+{W})?(?:ranking|position)s?)|\bfirst{W}page{W}(?:on{W}|of{W})?google"
        rf"{W}rank|\b(?:cheap|dofollow|quality){W}backlinks\b|\bseo{W}(?:package|services)"
        rf"{W}(?:from|for|at){W}\$?\d",
    ),
    _rule(
        "cs_gambling",
        CS,
        15,
        "casino and betting bait",
        rf"\bonline{W}casino|\bfree{W}spins\b|\bwelcome{W}bonus\b|\bno{W}deposit{W}bonus"
        rf"|\bjackpot\b|\bbetting{W}tips\b",
    ),
    _rule(
        "cs_loan_spam",
        CS,
        15,
        "easy-credit bait",
        rf"\bpre-?approved{W}(?:for{W})?(?:a{W})?(?:\w+{W})?loan|\bbad{W}credit{W}(?:ok|okay"
        rf"|accepted|welcome|is{W}fine)|\bno{W}credit{W}checks?\b|\bpayday{W}loans?\b"
        rf"|\bdebt{W}relief{W}(?:program|offer)",
    ),
    _rule(
        "cs_replica",
        CS,
        15,
        "counterfeit goods",
        rf"\breplicas?{W}(?:of{W})?(?:\w+{W})?(?:watch|watches|handbags?|bags|rolex|designer)",
    ),
)

SPAM_PHRASES = (
    "congratulations",
    "winner",
    "prize",
    "claim now",
    "100% free",
    "special offer",
    "limited time",
    "act now",
    "click here",
    "no obligation",
    "risk free",
    "risk-free",
    "guaranteed",
    "million",
    "inheritance",
    "beneficiary",
    "wire transfer",
    "western union",
    "dear friend",
    "dear sir",
    "kindly",
    "revert back",
    "do the needful",
    "humbly",
    "esteemed",
    "investment opportunity",
    "double your",
    "earn money",
    "work from home",
    "make money",
    "cash bonus",
    "lowest price",
    "unsubscribe",
    "buy now",
    "order now",
    "exclusive deal",
)
URGENCY = re.compile(
    r"\burgent|\bimmediately\b|\bright now\b|\basap\b|\bdeadline\b|\bexpir(?:e|es|ed|ing)\b"
    r"|\blast chance\b|\bact now\b|\btime-sensitive\b|\bwithin 24 hours\b"
)
AUTHORITY = re.compile(
    r"\bsuspend|\bterminat|\bdeactivat|\bunauthori[sz]ed\b|\blocked\b|\bcompromised\b"
    r"|\bbreach\b|\bviolation\b|\blegal action\b|\bclosed permanently\b"
)
CREDENTIAL_ASK = re.compile(
    r"\b(?:verify|confirm|validate|update) your "
    r"(?:account|identity|password|credentials?|login|payment|billing)"
)
LOGIN_URGENCY = re.compile(
    r"\b(?:click here|sign in|log in|login)\b.{0,120}\b(?:urgent|immediately|expire|suspend"
    r"|locked|within)"
)
BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{120,}={0,2}")
# An invitation to act on a pitch ("buy now", "click here", "revert back"); one of the
# CALL_WORDS must be a token of the content before the pattern runs.
CALL_TO_ACTION = re.compile(
    r"\b(?:buy|order|shop|apply|claim|join|register|call|act|book|start|subscribe)"
    r" (?:now|today|here)\b|\bsign up (?:now|today)\b|\bclick here\b|\brevert back\b"
    r"|\bclaim your\b|\bjoin our\b|\bget yours\b|\bget your (?:first|free)\b"
)
CALL_WORDS = frozenset(
    {"buy", "order", "shop", "apply", "claim", "join", "register", "call", "act", "book"}
    | {"start", "subscribe", "sign", "click", "revert", "get"}
)
# The text sends the reader to the attachment itself ("open the attached form").
OPEN_ATTACHMENT = re.compile(
    r"\b(?:open|see|view|download|complete|fill in)(?: the)? attached\b"
    r"|\battached (?:form|document|file|invoice|receipt|label)\b"
)


def content_matches(content: str, tokens: frozenset[str]) -> list[Match]:
    """The content rules that fire on the lower-cased subject + body ``content``."""
    return [rule.match() for rule in CONTENT_RULES if rule.fires(content, tokens)]


def spam_phrase_count(content: str, tokens: frozenset[str]) -> int:
    # A phrase can only occur when its first word does.
    return sum(1 for key, p in _PHRASE_KEYS if key in tokens and p in content)


def call_to_action(content: str, tokens: frozenset[str]) -> bool:
    return not CALL_WORDS.isdisjoint(tokens) and bool(CALL_TO_ACTION.search(content))


def urgent_threat(content: str, tokens: frozenset[str]) -> bool:
    """An urgency word together with a threat to the account."""
    return (
        not URGENCY_WORDS.isdisjoint(tokens)
        and bool(URGENCY.search(content))
        and bool(AUTHORITY.search(content))
    )


URGENCY_WORDS = frozenset(
    {"urgent", "urgently", "immediately", "now", "asap", "deadline", "expire", "expires"}
    | {"expired", "expiring", "last", "act", "time", "within"}
)


_PHRASE_KEYS = tuple((sorted(tokens_of(p), key=p.find)[0], p) for p in SPAM_PHRASES)
