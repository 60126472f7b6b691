"""Credential, system-internal and owner-privacy rules of the outbound guard.

Credentials (19 rules) are HIGH: a leaked key is a breach whoever reads it. System internals
(private addresses, home paths, configuration variables) are MEDIUM: worth a second look, not
a hold. Owner privacy (2 rules) is HIGH: an agent telling a stranger about its human. The same
linear-time discipline as pii_rules.py applies: bounded repetitions, and long runs only after a
lookbehind that forbids starting inside the run.
"""

from __future__ import annotations

import re

from agentpost.domain.guard import validators as v
from agentpost.domain.guard.model import DIGIT, REACH, Family, Severity, TextRule, Validator

ICASE = re.IGNORECASE
HIGH, MEDIUM = Severity.high, Severity.medium
TOKEN_CHARS = r"[A-Za-z0-9_.~+/-]"  # noqa: S105 (a character class)
# One line of ``NAME=value`` (a dotenv line), and a blank or comment line that may sit between.
_ENV_LINE = r"[A-Z][A-Z0-9_]{2,63}[ \t]{0,3}=[ \t]{0,3}[^\s=][^\n]{0,500}(?:\n|\Z)"
_SKIP_LINE = r"(?:[ \t]{0,8}(?:#[^\n]{0,500})?\n){0,5}"


def _rule(
    family: Family,
    rule_id: str,
    severity: Severity,
    description: str,
    pattern: str,
    *,
    flags: int = ICASE,
    hints: tuple[str, ...] = (),
    validator: Validator | None = None,
    reach: int | None = REACH,
    gates: tuple[re.Pattern[str], ...] = (),
    digit_reach: int | None = None,
) -> TextRule:
    return TextRule(
        id=rule_id,
        family=family,
        severity=severity,
        description=description,
        pattern=re.compile(pattern, flags),
        validator=validator,
        hints=hints,
        reach=reach,
        gates=gates,
        digit_reach=digit_reach,
    )


def _cred(
    rule_id: str,
    description: str,
    pattern: str,
    *,
    flags: int = ICASE,
    hints: tuple[str, ...] = (),
    validator: Validator | None = None,
    reach: int | None = REACH,
    gates: tuple[re.Pattern[str], ...] = (),
) -> TextRule:
    return _rule(
        Family.credential,
        rule_id,
        HIGH,
        description,
        pattern,
        flags=flags,
        hints=hints,
        validator=validator,
        reach=reach,
        gates=gates,
    )


def _value_is_secret(match: re.Match[str]) -> bool:
    return v.looks_like_secret_value(match.group("value"))


CREDENTIAL_RULES: tuple[TextRule, ...] = (
    _cred(
        "ob_api_key",
        "an API key",
        r"(?<![A-Za-z0-9_])(?:sk|pk|rk|api_?key|apikey)_[A-Za-z0-9_]{20}"
        r"|(?<![A-Za-z0-9_-])sk-(?:proj|ant|live|test|svcacct)-[A-Za-z0-9_-]{20}",
        hints=("sk_", "pk_", "rk_", "apikey", "api_key", "sk-"),
    ),
    _cred(
        "ob_aws_key",
        "an AWS access key id",
        r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])",
        flags=0,
        hints=("akia", "asia"),
    ),
    _cred(
        "ob_aws_secret",
        "an AWS secret access key",
        r"\baws_?secret(?:_?access)?_?key[\"']?[ \t]{0,3}[:=][ \t]{0,3}[\"']?"
        r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])",
        hints=("aws",),
    ),
    _cred(
        "ob_password_value",
        "a password",
        r"\bp[a@4]ss(?:w[o0]rd)?[ \t]{0,3}[:=][ \t]{0,3}(?P<value>\S{4,64})",
        hints=("pass", "p@ss", "p4ss"),
        validator=_value_is_secret,
    ),
    _cred(
        "ob_private_key",
        "a private key block",
        r"-----BEGIN (?:[A-Z0-9]{1,12} ){0,2}PRIVATE KEY(?: BLOCK)?-----",
        flags=0,
        hints=("private key",),
    ),
    _cred(
        "ob_bearer_token",
        "a bearer token",
        r"\bbearer[ \t]{1,3}(?=[A-Za-z_.~+/-]{0,40}\d)" + TOKEN_CHARS + r"{20}",
        hints=("bearer",),
        gates=(DIGIT,),
    ),
    _cred(
        "ob_connection_string",
        "a database or broker connection string with a password",
        r"\b(?:mongodb(?:\+srv)?|postgres(?:ql)?|mysql|mariadb|rediss?|amqps?|mssql|sqlserver)"
        r"://[^\s:/@]{0,128}:[^\s@/]{1,256}@",
        hints=("://",),
        reach=600,
    ),
    _cred(
        "ob_github_token",
        "a GitHub token",
        r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{20}|github_pat_[A-Za-z0-9_]{20})",
        hints=("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    _cred(
        "ob_stripe_key",
        "a Stripe key",
        r"(?<![A-Za-z0-9_])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{20}",
        hints=("_live_", "_test_"),
    ),
    _cred(
        "ob_jwt",
        "a JSON Web Token",
        r"eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{7,4096}\.[A-Za-z0-9_-]{10,8192}\.[A-Za-z0-9_-]{10}",
        flags=0,
        hints=("eyj",),
        reach=None,  # a token can run to 12 KB: scan the whole text
    ),
    _cred(
        "ob_webhook_url",
        "a secret webhook URL (Slack, Discord, webhook.site)",
        r"\bhttps?://(?:hooks\.slack\.com/services/|(?:ptb\.|canary\.)?discord(?:app)?\.com/api"
        r"/webhooks/|(?:[a-z0-9-]{1,63}\.)?webhook\.site/)[A-Za-z0-9]",
        hints=("hooks.slack.com", "discord", "webhook.site"),
    ),
    _cred(
        "ob_env_block",
        "a block of environment variables (a .env file)",
        r"(?m)^" + _ENV_LINE + r"(?:" + _SKIP_LINE + _ENV_LINE + r"){2}",
        flags=0,
        hints=("=",),
        reach=None,  # several lines: scan the whole text
    ),
    _cred(
        "ob_seed_phrase",
        "a wallet seed or recovery phrase",
        r"\b(?:seed|recovery|mnemonic|backup|secret)[ \t](?:phrase|words)[ \t]{0,3}(?:is|[:=-])?"
        r"\s{0,3}(?:[a-z]{3,8}[ \t,\n]{1,3}){11}[a-z]{3,8}\b",
        hints=("phrase", "words"),
    ),
    _cred(
        "ob_2fa_codes",
        "two-factor backup or recovery codes",
        r"\b(?:2fa|two.factor|backup|recovery)[ \t](?:codes?|keys?)[ \t]{0,3}[:=-]?\s{0,3}"
        r"(?:(?=[A-Za-z-]{0,8}\d)[A-Za-z0-9-]{4,9}[\s,;]{1,3}){2}",
        hints=("2fa", "factor", "backup", "recovery"),
        gates=(DIGIT,),
    ),
    _cred(
        "ob_credential_pair",
        "a username and password together",
        r"\b(?:user(?:name)?|e-?mail|login)[ \t]{0,3}[:=][ \t]{0,3}\S{1,128}[\s,;|/]{1,10}"
        r"(?:password|passwd|pass|pwd)[ \t]{0,3}[:=][ \t]{0,3}\S",
        hints=("pass", "pwd"),
    ),
    _cred(
        "ob_oauth_token",
        "an OAuth access or refresh token",
        r"\b(?:access|refresh|oauth|id)_token[\"']?[ \t]{0,3}[:=][ \t]{0,3}[\"']?"
        + TOKEN_CHARS
        + r"{20}",
        hints=("_token",),
    ),
    _cred(
        "ob_vpn_creds",
        "VPN credentials",
        r"\b(?:vpn|openvpn|wireguard|ipsec)\b[^\n]{0,80}?\b(?:password|pre-?shared(?:[ \t]key)?"
        r"|psk|private[ \t]?key|secret|credentials?)\b[^\n:=]{0,12}[:=][ \t]{0,3}\S",
        hints=("vpn", "wireguard", "ipsec"),
    ),
    _cred(
        "ob_slack_token",
        "a Slack token",
        r"(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10}",
        hints=("xox",),
    ),
    _cred(
        "ob_google_api_key",
        "a Google API key",
        r"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}",
        flags=0,
        hints=("aiza",),
    ),
)


def _octets_ok(match: re.Match[str]) -> bool:
    return all(int(part) <= 255 for part in match.group(0).split("."))


SYSTEM_RULES: tuple[TextRule, ...] = (
    _rule(
        Family.system_internal,
        "ob_private_ip",
        MEDIUM,
        "a private network address",
        r"1(?<![\d.]1)(?:0\.\d{1,3}\.\d{1,3}\.\d{1,3}|92\.168\.\d{1,3}\.\d{1,3}"
        r"|72\.(?:1[6-9]|2\d|3[01])\.\d{1,3}\.\d{1,3})(?![\d.])",
        flags=0,
        validator=_octets_ok,
        gates=(DIGIT,),
        digit_reach=16,
    ),
    _rule(
        Family.system_internal,
        "ob_file_path",
        MEDIUM,
        "a local file path",
        r"(?<![\w./~-])(?:~/\.|/(?:Users|home|etc|var|root)/|[A-Za-z]:\\(?:Users|Windows)\\)"
        r"[^\s/\\]",
        flags=0,
        hints=("/users/", "/home/", "/etc/", "/var/", "/root/", ":\\", "~/."),
    ),
    _rule(
        Family.system_internal,
        "ob_env_variable",
        MEDIUM,
        "a configuration variable with its value",
        r"(?<![A-Za-z0-9_])[A-Z][A-Z0-9_]{0,40}_(?:URL|KEY|SECRET|TOKEN|PASSWORD|HOST|PORT|DSN)"
        r"[ \t]{0,3}=[ \t]{0,3}[^\s=]",
        flags=0,
        hints=("=",),
    ),
)

_ABOUT = r"(?:full|home|private|personal|real|work|cell)"
_WHAT = (
    r"(?:name|address|phone|number|email|e-mail|password|social|ssn|credit[ \t]card|bank"
    r"|account|birthday|location)"
)
OWNER_RULES: tuple[TextRule, ...] = (
    _rule(
        Family.owner_privacy,
        "ob_owner_info",
        Severity.high,
        "personal details of the agent's owner",
        r"\bmy[ \t]{1,3}(?:owner|human|operator|creator|principal)(?:'s|s)?[ \t]{1,3}"
        r"(?:" + _ABOUT + r"[ \t]{1,3})?" + _WHAT + r"\b",
        hints=("owner", "human", "operator", "creator", "principal"),
    ),
    _rule(
        Family.owner_privacy,
        "ob_personal_reveal",
        Severity.high,
        "a statement revealing who the agent's owner is",
        r"\bthe[ \t]{1,3}(?:person|human|people)[ \t]{1,3}who[ \t]{1,3}"
        r"(?:owns|runs|operates|controls|created)[ \t]{1,3}me\b"
        r"|\bmy[ \t]{1,3}(?:human|creator|operator|owner)[ \t]{1,3}"
        r"(?:is[ \t]{1,3}(?:named|called)|lives|works|is[ \t]{1,3}(?-i:[A-Z][a-z]{1,20})\b|named)",
        hints=("owns", "runs", "operates", "controls", "created", "human", "creator", "owner"),
    ),
)
