"""What the setup tools say: the modes this server offers, the Gmail "Send mail as" steps, and
the honest "not configured yet" answers of the custom-domain and payment tools. Pure data."""

from __future__ import annotations

from typing import Any

GMAIL_ACCOUNTS_SETTINGS = "https://mail.google.com/mail/u/0/#settings/accounts"
GOOGLE_APP_PASSWORDS = "https://myaccount.google.com/apppasswords"


def setup_guide(server_domain: str, relay_email: str | None) -> dict[str, Any]:
    """The ways agents can get email on this server, easiest first."""
    relay_from = (
        f"{relay_email.split('@')[0]}+<agent>@{relay_email.split('@')[1]}"
        if relay_email
        else "you+<agent>@gmail.com"
    )
    return {
        "modes": [
            {
                "mode": "local",
                "status": "active",
                "difficulty": "none",
                "description": "Every agent has a mailbox on this server; agents mail each other "
                "at once, and the SMTP listener receives mail for the server's domain.",
                "fromAddress": f"<agent>@{server_domain}",
                "requirements": [
                    "For mail from the internet: AGENTPOST_DOMAIN set to a domain whose MX "
                    "record points at this server, port 25 reachable",
                ],
                "setup": {"tool": "create_account", "params": {"name": "<agent>"}},
            },
            {
                "mode": "relay",
                "status": "configured" if relay_email else "available",
                "difficulty": "easy",
                "description": "Connect an existing Gmail, Outlook or other account: agents send "
                "through it as sub-addresses and replies are fetched over IMAP (IDLE) and "
                "routed to the right agent.",
                "fromAddress": relay_from,
                "requirements": [
                    "An existing mail account with IMAP and SMTP access",
                    f"Gmail: 2-Step Verification and an app password ({GOOGLE_APP_PASSWORDS})",
                    "Outlook/Microsoft 365: an app password, and SMTP AUTH allowed for the mailbox",
                ],
                "setup": {
                    "tool": "setup_email_relay",
                    "params": {"provider": "gmail", "email": "you@gmail.com", "password": "<app>"},
                },
                "pros": ["Nothing to host or register", "Mail comes from a trusted provider"],
                "cons": [
                    "Provider sending limits apply (Gmail: about 500 a day)",
                    "Agents share the owner's account, seen as you+agent@",
                ],
                "next": "setup_gmail_alias shows how to make Gmail keep each agent's From.",
            },
            {
                "mode": "domain",
                "status": "not configured yet",
                "difficulty": "advanced",
                "description": NOT_CONFIGURED["domain"],
            },
        ]
    }


NOT_CONFIGURED = {
    "domain": (
        "Custom-domain setup through Cloudflare (DNS, tunnel, DKIM) is not configured yet on "
        "this server. Instead: point your domain's MX record at this server and start it with "
        "AGENTPOST_DOMAIN=<your domain> (agents become <name>@<your domain>), or connect an "
        "existing mailbox with setup_email_relay."
    ),
    "purchase": (
        "Buying domains is not configured yet on this server. Register the domain with any "
        "registrar yourself, then point its MX record at this server and set AGENTPOST_DOMAIN, "
        "or use setup_email_relay with an existing account."
    ),
    "payment": (
        "Payment setup is not configured yet on this server: it is only needed for buying "
        "domains, which this server does not do. Register a domain yourself, or use "
        "setup_email_relay with an existing account (no payment needed)."
    ),
}


def gmail_alias_steps(agent_email: str, display_name: str, gmail: str) -> dict[str, Any]:
    """The real steps to add ``agent_email`` (``you+agent@gmail.com``) as a "Send mail as"
    address of ``gmail``, so Gmail keeps it as the From instead of rewriting it."""
    return {
        "summary": f'Add {agent_email} to "Send mail as" in the Gmail settings of {gmail}, so '
        "mail the agent sends keeps its own From address.",
        "gmailSettingsUrl": GMAIL_ACCOUNTS_SETTINGS,
        "steps": [
            {
                "step": 1,
                "action": f"Sign in to Gmail as {gmail} and open Settings → Accounts and Import.",
                "url": GMAIL_ACCOUNTS_SETTINGS,
            },
            {"step": 2, "action": 'Under "Send mail as", click "Add another email address".'},
            {
                "step": 3,
                "action": 'Enter the name and address, keep "Treat as an alias" ticked, then '
                '"Next Step".',
                "fields": {"name": display_name, "emailAddress": agent_email},
            },
            {
                "step": 4,
                "action": 'If Gmail asks for an SMTP server, enter these and click "Add Account".',
                "fields": {
                    "smtpServer": "smtp.gmail.com",
                    "port": 587,
                    "username": gmail,
                    "password": "your app password",
                    "security": "TLS",
                },
            },
            {
                "step": 5,
                "action": f"Gmail mails a confirmation link to {agent_email}. It arrives in "
                "your own inbox, and with the relay connected also in the agent's inbox: "
                "open the link (or enter the code) to confirm.",
            },
            {
                "step": 6,
                "action": 'Optional: under "When replying to a message", choose "Reply from '
                'the same address the message was sent to".',
            },
        ],
    }
