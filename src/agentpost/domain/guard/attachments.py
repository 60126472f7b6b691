"""Attachment risk by file name, and which attachments are text worth scanning.

Outbound, the risk is what the file *is*: key material and credential stores (HIGH), a
disguised executable such as ``invoice.pdf.exe`` (HIGH), data exports that may carry records
(MEDIUM), executables (MEDIUM) and archives the guard cannot look inside (LOW).
"""

from __future__ import annotations

from agentpost.domain.guard.model import Family, Finding, Severity

SENSITIVE_EXTENSIONS = frozenset(
    [
        "pem",
        "key",
        "p12",
        "pfx",
        "env",
        "credentials",
        "keystore",
        "jks",
        "p8",
        "ppk",
        "kdbx",
        "keychain",
        "gpg",
        "asc",
        "ovpn",
    ]
)
SENSITIVE_NAMES = frozenset(
    [
        "id_rsa",
        "id_dsa",
        "id_ecdsa",
        "id_ed25519",
        ".env",
        ".netrc",
        ".pgpass",
        ".htpasswd",
        ".npmrc",
        ".pypirc",
        "credentials",
        "shadow",
    ]
)
DATA_EXTENSIONS = frozenset(
    [
        "db",
        "sqlite",
        "sqlite3",
        "sql",
        "csv",
        "tsv",
        "json",
        "yml",
        "yaml",
        "conf",
        "config",
        "ini",
        "bak",
        "dump",
        "xls",
        "xlsx",
        "parquet",
    ]
)
EXECUTABLE_EXTENSIONS = frozenset(
    [
        "exe",
        "bat",
        "cmd",
        "ps1",
        "sh",
        "msi",
        "scr",
        "com",
        "vbs",
        "js",
        "wsf",
        "hta",
        "cpl",
        "jar",
        "app",
        "dmg",
        "run",
        "apk",
        "dll",
    ]
)
# What a disguised executable pretends to be: ``invoice.pdf.exe``, ``photo.jpg.scr``.
DECOY_EXTENSIONS = frozenset(
    [
        "pdf",
        "doc",
        "docx",
        "xls",
        "xlsx",
        "ppt",
        "pptx",
        "txt",
        "rtf",
        "jpg",
        "jpeg",
        "png",
        "gif",
        "bmp",
        "mp3",
        "mp4",
        "mov",
        "avi",
        "zip",
        "csv",
    ]
)
ARCHIVE_EXTENSIONS = frozenset(["zip", "rar", "7z", "tar", "gz", "tgz", "bz2", "xz", "cab", "iso"])
TEXT_EXTENSIONS = frozenset(
    [
        "txt",
        "csv",
        "tsv",
        "json",
        "xml",
        "yaml",
        "yml",
        "md",
        "log",
        "env",
        "conf",
        "config",
        "ini",
        "sql",
        "js",
        "ts",
        "py",
        "sh",
        "html",
        "htm",
        "css",
        "toml",
        "properties",
        "cfg",
        "pem",
        "key",
    ]
)
TEXT_TYPES = frozenset(
    (
        "application/json",
        "application/xml",
        "application/yaml",
        "application/x-yaml",
        "application/javascript",
        "application/x-sh",
        "application/sql",
        "application/x-pem-file",
    )
)

# (rule id, severity, description): the attachment rules, for documentation and the eval set.
ATTACHMENT_RULES: tuple[tuple[str, Severity, str], ...] = (
    ("ob_sensitive_file", Severity.high, "a key, certificate or credential file"),
    ("ob_double_extension", Severity.high, "an executable disguised by a double extension"),
    ("ob_executable", Severity.medium, "an executable file"),
    ("ob_data_file", Severity.medium, "a data export (database, spreadsheet or config file)"),
    ("ob_archive", Severity.low, "an archive the guard cannot look inside"),
)
_BY_ID = {rule_id: (severity, text) for rule_id, severity, text in ATTACHMENT_RULES}


def extension(filename: str) -> str:
    """The text after the last dot, lower-cased; '' when there is none."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].lower().strip()
    stem, dot, ext = base.rpartition(".")
    return ext if dot and (stem or base.startswith(".")) else ""


def _finding(rule_id: str, filename: str) -> Finding:
    severity, text = _BY_ID[rule_id]
    return Finding(rule_id, Family.attachment_risk, severity, text, f"attachment {filename}")


def attachment_findings(filename: str) -> list[Finding]:
    """The name-based findings for one attachment (at most one per rule)."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].lower().strip()
    ext = extension(base)
    parts = [part for part in base.split(".") if part]
    found: list[Finding] = []
    if ext in SENSITIVE_EXTENSIONS or base in SENSITIVE_NAMES or base.startswith(".env"):
        found.append(_finding("ob_sensitive_file", filename))
    if ext in EXECUTABLE_EXTENSIONS:
        disguised = len(parts) > 2 and parts[-2] in DECOY_EXTENSIONS
        rule = "ob_double_extension" if disguised else "ob_executable"
        found.append(_finding(rule, filename))
    if ext in DATA_EXTENSIONS:
        found.append(_finding("ob_data_file", filename))
    if ext in ARCHIVE_EXTENSIONS:
        found.append(_finding("ob_archive", filename))
    return found


def is_text_like(filename: str, content_type: str) -> bool:
    """Whether an attachment's bytes are text the content rules should read."""
    ctype = content_type.lower().split(";", 1)[0].strip()
    if ctype.startswith("text/") or ctype in TEXT_TYPES or ctype.endswith(("+json", "+xml")):
        return True
    base = filename.lower()
    return extension(base) in TEXT_EXTENSIONS or base.startswith(".env")
