"""The SMTP listener: inbound MX for local agents and authenticated submission by agents."""

from agentpost.smtp.server import SmtpServer, start_smtp

__all__ = ["SmtpServer", "start_smtp"]
