"""Phishing rules: links that lie, look-alike domains and senders pretending to be someone.

- mismatched display URL: an anchor whose visible text is a URL on another host;
- ``data:``/``javascript:`` link targets, which run in the reader instead of opening a page;
- homographs: punycode labels (``xn--``, RFC 3492) or one label mixing scripts (Latin with
  Cyrillic or Greek) in the sender's domain or a link's host;
- spoofed sender: a display name naming a brand, or holding another address, while the real
  address is elsewhere (often a free-mail account);
- webhook exfiltration: links to request catchers and tunnels used to receive stolen data;
- suspicious links: raw IP hosts, URL shorteners, deeply nested host names.
"""

from __future__ import annotations

import re
import unicodedata

from agentpost.domain.scanning.links import Anchor, host_of
from agentpost.domain.scanning.model import DATA_EXFILTRATION, PHISHING, Match

BRANDS: dict[str, tuple[str, ...]] = {
    "google": ("google.com", "gmail.com", "googlemail.com"),
    "microsoft": ("microsoft.com", "outlook.com", "hotmail.com", "live.com", "office.com"),
    "office 365": ("microsoft.com", "office.com"),
    "apple": ("apple.com", "icloud.com"),
    "amazon": ("amazon.com", "amazon.co.uk", "amazon.de", "amazonaws.com"),
    "paypal": ("paypal.com",),
    "facebook": ("facebook.com", "meta.com", "facebookmail.com"),
    "instagram": ("instagram.com",),
    "netflix": ("netflix.com",),
    "docusign": ("docusign.com", "docusign.net"),
    "dropbox": ("dropbox.com",),
    "github": ("github.com",),
    "linkedin": ("linkedin.com",),
    "chase": ("chase.com",),
    "wells fargo": ("wellsfargo.com",),
    "bank of america": ("bankofamerica.com",),
    "citibank": ("citibank.com", "citi.com"),
    "dhl": ("dhl.com", "dhl.de"),
    "fedex": ("fedex.com",),
    "ups": ("ups.com",),
}
FREE_MAIL = frozenset(
    [
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "ymail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "aol.com",
        "icloud.com",
        "mail.com",
        "gmx.com",
        "gmx.net",
        "gmx.de",
        "web.de",
        "proton.me",
        "protonmail.com",
        "yandex.com",
        "yandex.ru",
        "mail.ru",
        "zoho.com",
        "qq.com",
        "163.com",
    ]
)
OFFICIAL_WORDS = re.compile(
    r"\b(?:support|security|billing|account|service|helpdesk|it department|admin"
    r"|administrator|payroll|bank|verification|team|ceo|cfo|director|president)\b"
)
WEBHOOK_HOSTS = re.compile(
    r"webhook|ngrok|pipedream|requestbin|hookbin|beeceptor|requestcatcher|interact\.sh"
    r"|oast\.|burpcollaborator|trycloudflare|localtunnel|loca\.lt|serveo|pastebin"
)
SHORTENERS = frozenset(
    [
        "bit.ly",
        "t.co",
        "tinyurl.com",
        "goo.gl",
        "ow.ly",
        "is.gd",
        "buff.ly",
        "rebrand.ly",
        "shorturl.at",
        "cutt.ly",
        "rb.gy",
        "tiny.cc",
        "s.id",
        "t.ly",
    ]
)
_BRAND_NAMES = re.compile(r"\b(" + "|".join(re.escape(b) for b in BRANDS) + r")\b")
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_ADDRESS_IN_NAME = re.compile(r"[\w.+-]+@([\w-]+(?:\.[\w-]+)+)")


def _m(rule_id: str, score: int, description: str, category: str = PHISHING) -> Match:
    return Match(rule_id, category, score, description)


def _within(domain: str, allowed: tuple[str, ...] | frozenset[str]) -> bool:
    return any(domain == a or domain.endswith("." + a) for a in allowed)


def link_matches(anchors: list[Anchor], all_urls: list[str]) -> list[Match]:
    found: list[Match] = []
    for anchor in anchors:
        shown = host_of(anchor.text) if anchor.text.lower().startswith(("http", "www.")) else ""
        if not shown and anchor.text.lower().startswith("www."):
            shown = host_of("http://" + anchor.text)
        target = host_of(anchor.href)
        if shown and target and shown != target:
            found.append(_m("ph_mismatched_display_url", 15, "link text shows another site"))
            break
    if any(a.href.lower().lstrip().startswith(("data:", "javascript:")) for a in anchors):
        found.append(_m("ph_data_uri", 25, "a link runs code or an inline page (data:/js)"))
    hosts = [h for h in (host_of(u) for u in all_urls) if h]
    if any(WEBHOOK_HOSTS.search(h) for h in hosts):
        found.append(
            _m("de_webhook_exfil", 15, "link to a request catcher or tunnel", DATA_EXFILTRATION)
        )
    if any(_IPV4.match(h) or h in SHORTENERS or h.count(".") >= 4 for h in hosts):
        found.append(_m("ph_suspicious_links", 10, "raw IP, shortened or deeply nested link"))
    if any(is_homograph(h) for h in hosts):
        found.append(_m("ph_homograph_link", 15, "a link's host imitates another (punycode)"))
    return found


def is_homograph(domain: str) -> bool:
    """Punycode labels, or a label mixing Latin with Cyrillic or Greek letters."""
    for label in domain.lower().split("."):
        if label.startswith("xn--"):
            return True
        if label.isascii():
            continue
        scripts = set()
        for ch in label:
            if ch.isalpha():
                name = unicodedata.name(ch, "")
                scripts.add(name.split(" ", 1)[0])
        if len(scripts & {"LATIN", "CYRILLIC", "GREEK"}) > 1:
            return True
        # A whole Cyrillic or Greek label under a Latin top-level domain ("paypal" in Cyrillic).
        if scripts & {"CYRILLIC", "GREEK"} and domain.rsplit(".", 1)[-1].isascii():
            return True
    return False


def sender_matches(name: str, address: str, reply_to: list[str]) -> list[Match]:
    found: list[Match] = []
    domain = address.rpartition("@")[2].lower()
    display = name.lower()
    if domain and is_homograph(domain):
        found.append(_m("ph_homograph", 15, "the sender's domain imitates another"))
    claimed = _ADDRESS_IN_NAME.search(display)
    if claimed and claimed.group(1) != domain:
        found.append(
            _m("ph_display_address", 25, "the display name shows another domain's address")
        )
    elif display:
        for brand in dict.fromkeys(_BRAND_NAMES.findall(display)):
            if not _within(domain, BRANDS[brand]):
                found.append(_m("ph_spoofed_sender", 15, f'names "{brand}" but is not from it'))
                break
    if domain in FREE_MAIL and OFFICIAL_WORDS.search(display) and not found:
        found.append(_m("ph_freemail_official", 10, "an official-sounding name on free mail"))
    reply_domains = [r.rpartition("@")[2].lower() for r in reply_to]
    if reply_domains and domain and reply_domains[0] != domain:
        found.append(
            _m("ha_reply_to_mismatch", 5, "replies go to another domain", "header_anomaly")
        )
    return found
