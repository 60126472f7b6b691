"""The SMTP replies the listener sends, named by meaning.

Each reply carries an RFC 3463 enhanced status code after the basic one (RFC 5321 §4.2), so a
client (or the person reading its bounce) learns whether to retry and what to fix. 4xx replies
are temporary: the client keeps the message and tries again later.
"""

from __future__ import annotations

from typing import Final

# 2xx: accepted.
SENDER_OK: Final = "250 2.1.0 Sender OK"
RECIPIENT_OK: Final = "250 2.1.5 Recipient OK"
MESSAGE_ACCEPTED: Final = "250 2.0.0 Message accepted"
AUTH_OK: Final = "235 2.7.0 Authentication successful"

# 4xx: temporary, the client retries.
MAILBOX_FULL: Final = "452 4.2.2 Mailbox full; try again later"
TOO_MANY_RECIPIENTS: Final = "452 4.5.3 Too many recipients; send the rest in another transaction"
STORAGE_FAILED: Final = "451 4.3.0 Temporary storage failure; try again later"
LOCAL_ERROR: Final = "451 4.3.0 Temporary local problem; try again later"
SHUTTING_DOWN: Final = "421 4.3.2 Service shutting down; try again later"

# 5xx: permanent.
UNKNOWN_RECIPIENT: Final = "550 5.1.1 No such mailbox here"
RELAY_DENIED: Final = "550 5.7.1 Relay not permitted; this server only receives mail"
BAD_RECIPIENT_SYNTAX: Final = "501 5.1.3 Bad recipient address syntax"
SENDER_NOT_OWNED: Final = "553 5.7.1 Sender address is not the authenticated agent's address"
AUTH_INVALID: Final = "535 5.7.8 Authentication credentials invalid"
AUTH_BAD_BASE64: Final = "501 5.5.2 Cannot decode base64"
AUTH_BAD_PLAIN: Final = "501 5.5.2 AUTH PLAIN wants authzid NUL authcid NUL passwd"
AUTH_IN_TRANSACTION: Final = "503 5.5.1 AUTH is not permitted during a mail transaction"
AUTH_TOO_MANY: Final = "421 4.7.0 Too many failed authentication attempts; closing connection"
SIZE_EXCEEDED: Final = "552 5.3.4 Message size exceeds fixed maximum message size"
COMMAND_TOO_LONG: Final = "500 5.5.2 Command line too long"
