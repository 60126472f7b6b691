"""Attachment risk from file names: what an agent should never open or trust.

CRITICAL: a double extension hiding an executable (``invoice.pdf.exe``). HIGH: executables,
scripts and HTML files (which can host phishing pages). MEDIUM: archives, which can carry
either past a name check.
"""

from __future__ import annotations

from agentpost.domain.scanning.model import AttachmentRisk

EXECUTABLE = frozenset(
    [
        "exe",
        "bat",
        "cmd",
        "ps1",
        "psm1",
        "sh",
        "msi",
        "msp",
        "scr",
        "com",
        "vbs",
        "vbe",
        "js",
        "jse",
        "wsf",
        "wsh",
        "hta",
        "cpl",
        "jar",
        "app",
        "dmg",
        "run",
        "dll",
        "lnk",
        "reg",
        "pif",
        "apk",
        "deb",
        "rpm",
        "iso",
        "img",
        "appimage",
    ]
)
HTML = frozenset({"html", "htm", "xhtml", "shtml", "svg", "mht", "mhtml"})
ARCHIVE = frozenset(
    ["zip", "rar", "7z", "tar", "gz", "tgz", "bz2", "xz", "cab", "arj", "lzh", "ace", "z", "zst"]
)
MACRO_DOCUMENT = frozenset({"docm", "xlsm", "pptm", "xlam", "dotm", "one"})


def attachment_risk(filename: str) -> AttachmentRisk | None:
    """The risk of one attachment name, or None for ordinary documents and images."""
    name = filename.strip().strip(".").lower()
    parts = name.split(".")
    ext = parts[-1] if len(parts) > 1 else ""
    if ext in EXECUTABLE:
        if len(parts) > 2 and 1 <= len(parts[-2]) <= 5 and parts[-2].isalnum():
            return AttachmentRisk(filename, "CRITICAL", "double extension: a disguised executable")
        return AttachmentRisk(filename, "HIGH", "executable or script: do not open or trust")
    if ext in HTML:
        return AttachmentRisk(filename, "HIGH", "HTML file: may contain phishing pages or scripts")
    if ext in MACRO_DOCUMENT:
        return AttachmentRisk(filename, "HIGH", "document with macros: may run code")
    if ext in ARCHIVE:
        return AttachmentRisk(filename, "MEDIUM", "archive: may contain malware")
    return None


def attachment_risks(filenames: list[str]) -> list[AttachmentRisk]:
    return [risk for name in filenames if (risk := attachment_risk(name)) is not None]


def is_html(filename: str) -> bool:
    """An HTML page posing as a file: opened, it runs in a browser (a classic lure)."""
    return filename.strip().strip(".").lower().rpartition(".")[2] in HTML
