"""The aiosmtpd handler: inbound mail for local agents, and submission by agents.

A session is inbound (any MTA delivering to our agents) until it authenticates with an agent's
API key; from then on each transaction is a submission by that agent, stored and sent exactly
like an API send. The mode is fixed at MAIL (RFC 4954 §4 forbids AUTH inside a transaction).

Nothing is acknowledged before it is durable: DATA is answered 250 only after the commit, and
any failure to store gives 451, so the client keeps the message and retries (RFC 5321 §4.2.5).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from aiosmtpd.smtp import SMTP, Envelope, Session, TLSSetupException

from agentpost.domain.addresses import Address, dedupe, is_valid_address, normalize
from agentpost.errors import (
    AgentNotFound,
    AgentPostError,
    Forbidden,
    InvalidInput,
    MailboxFull,
    RateLimited,
)
from agentpost.services import inbox, offload, outbox
from agentpost.services.accounts import now_utc
from agentpost.services.context import AppContext
from agentpost.smtp import approvals, replies
from agentpost.smtp.auth import AuthRefused, read_credentials, verify
from agentpost.smtp.protocol import (
    AgentEnvelope,
    describe_peer,
    dispatch_names,
    envelope_of,
    session_of,
)
from agentpost.smtp.submission import SenderMismatch, prepare_submission
from agentpost.smtp.trace import TraceInfo, new_queue_id, received_header
from agentpost.storage.records import AgentRecord

log = logging.getLogger(__name__)

# RCPT refusals, most specific first (RelayDenied is a Forbidden, AgentNotFound a NotFound).
_RCPT_REPLIES: tuple[tuple[type[AgentPostError], str], ...] = (
    (AgentNotFound, replies.UNKNOWN_RECIPIENT),
    (inbox.RelayDenied, replies.RELAY_DENIED),
    (MailboxFull, replies.MAILBOX_FULL),
    (InvalidInput, replies.BAD_RECIPIENT_SYNTAX),
)


MAX_AUTH_FAILURES = 3  # refused AUTH attempts before the connection is closed (421)


class SmtpHandler:
    """One handler for all sessions of a listener; per-transaction state lives in the envelope."""

    def __dir__(self) -> list[str]:
        # aiosmtpd lists the handler's members on every connection to find its hooks: give
        # it just those (protocol.dispatch_names says why).
        return dispatch_names(type(self))

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx
        self._inbound = inbox.GroupCommitter(ctx)
        self._recipients = inbox.RecipientCache(ctx)
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.closing = False

    async def wait_idle(self) -> None:
        """Return once no message is being stored."""
        await self._idle.wait()

    async def handle_AUTH(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope, args: list[str]
    ) -> str | None:
        if envelope.mail_from:
            return replies.AUTH_IN_TRANSACTION
        current = session_of(session)
        try:
            agent = await verify(self._ctx, await read_credentials(server, args))
        except AuthRefused as refused:
            log.warning("SMTP AUTH refused for %s", describe_peer(session))
            current.auth_failures += 1
            if current.auth_failures < MAX_AUTH_FAILURES:
                return refused.reply
            # Guessing keys one connection after another is slow; within one it is cut short.
            await server.push(replies.AUTH_TOO_MANY)
            if server.transport is not None:
                server.transport.close()
            return None
        current.agent = agent
        current.authenticated = True
        log.info("SMTP AUTH as %s from %s", agent.address, describe_peer(session))
        return replies.AUTH_OK

    async def handle_MAIL(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.closing:
            return replies.SHUTTING_DOWN
        agent = session_of(session).agent
        if agent is not None and normalize(address) != agent.address:
            return replies.SENDER_NOT_OWNED
        current = envelope_of(envelope)
        current.mail_from = address
        current.mail_options.extend(options)
        current.submitter = agent
        return replies.SENDER_OK

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        current = envelope_of(envelope)
        if len(current.rcpt_tos) >= self._ctx.settings.smtp_max_recipients:
            return replies.TOO_MANY_RECIPIENTS  # RFC 5321 §4.5.3.1.10
        if current.submitter is None:  # replies to owners' approval requests (approvals.py)
            routed = approvals.route_rcpt(self._ctx, address, current.rcpt_tos)
            if routed is not None:
                return routed
        try:
            if current.submitter is None:
                size = _declared_size(current)
                agent = await self._recipients.check(address, size_hint=size)
                current.mailboxes.append(agent)
            else:
                await self._check_submission_recipient(address)
        except AgentPostError as exc:
            return _rcpt_reply(exc)
        except Exception as exc:  # the database is unavailable: the client retries later
            _log_failure("RCPT lookup", session, exc)
            return replies.LOCAL_ERROR
        current.rcpt_tos.append(address)
        current.rcpt_options.extend(options)
        return replies.RECIPIENT_OK

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        current = envelope_of(envelope)
        raw = current.original_content or b""
        self._active += 1
        self._idle.clear()
        try:
            replying = approvals.is_reply_envelope(self._ctx, current.rcpt_tos)
            if current.submitter is None and replying:  # to an approval request: approvals.py
                return await approvals.receive(self._ctx, current.mail_from, current.rcpt_tos, raw)
            if current.submitter is None:
                return await self._deliver(server, session, current, raw)
            return await self._submit(server, session, current, current.submitter, raw)
        finally:
            self._active -= 1
            if self._active == 0:
                self._idle.set()

    async def handle_exception(self, error: Exception) -> str:
        # Only the class: messages of database errors can quote the message being stored.
        level = logging.INFO if isinstance(error, TLSSetupException) else logging.ERROR
        log.log(level, "SMTP session error: %s", type(error).__name__)
        return replies.LOCAL_ERROR

    async def _check_submission_recipient(self, address: str) -> None:
        """Any valid address may be sent to; a local one must be an existing agent."""
        if not is_valid_address(normalize(address)):
            raise InvalidInput("invalid recipient address", field="recipient")
        if Address(address=address).domain != self._ctx.settings.domain:
            return
        # A full mailbox is not checked: it is recorded as a failed local delivery of the
        # send, as for the API.
        await inbox.find_recipient(self._ctx, address)

    async def _deliver(
        self, server: SMTP, session: Session, envelope: AgentEnvelope, raw: bytes
    ) -> str:
        queue_id = new_queue_id()
        trace = received_header(
            _trace(session),
            hostname=server.hostname,
            recipients=envelope.rcpt_tos,
            queue_id=queue_id,
            now=now_utc(),
        )
        try:
            await self._inbound.accept(trace + raw, envelope.mailboxes)
        except Exception as exc:
            _log_failure("inbound storage", session, exc)
            return replies.STORAGE_FAILED
        self._recipients.delivered(envelope.mailboxes, len(trace) + len(raw))
        log.info(
            "accepted %s from %s for %d recipient(s), %d bytes",
            queue_id,
            describe_peer(session),
            len(envelope.rcpt_tos),
            len(raw),
        )
        return f"{replies.MESSAGE_ACCEPTED} as {queue_id}"

    async def _submit(
        self,
        server: SMTP,
        session: Session,
        envelope: AgentEnvelope,
        agent: AgentRecord,
        raw: bytes,
    ) -> str:
        now = now_utc()
        try:
            prepared = await offload.run_sized(
                len(raw),
                prepare_submission,
                raw,
                address=agent.address,
                display_name=outbox.display_name(agent),
                domain=self._ctx.settings.domain,
                now=now,
            )
        except SenderMismatch:
            return replies.SENDER_NOT_OWNED
        queue_id = new_queue_id()
        trace = _submission_trace(server, session, queue_id, envelope.rcpt_tos, now)
        recipients = dedupe([Address(address=r) for r in envelope.rcpt_tos])
        try:
            result = await outbox.store_outgoing(self._ctx, agent, trace + prepared, recipients)
        except InvalidInput:  # a local recipient was deleted after RCPT: nothing was stored
            return replies.UNKNOWN_RECIPIENT
        except (Forbidden, RateLimited) as exc:  # the agent's permissions or limits refused it
            return _policy_reply(exc)
        except Exception as exc:
            _log_failure("submission storage", session, exc)
            return replies.STORAGE_FAILED
        log.info("submitted %s by %s to %d recipient(s)", queue_id, agent.address, len(recipients))
        if result.held is not None:  # kept (we are responsible for it), not sent yet
            return f"{replies.MESSAGE_ACCEPTED} as {queue_id}, held for the owner's approval"
        return f"{replies.MESSAGE_ACCEPTED} as {queue_id}"


def _policy_reply(exc: Forbidden | RateLimited) -> str:
    """RFC 3463 §3.8 security/policy status: over a limit is temporary (the client retries
    later), not permitted is permanent; the text names the rule, on one ASCII line."""
    text = " ".join(exc.message.split())[:400].encode("ascii", "replace").decode("ascii")
    return f"451 4.7.1 {text}" if isinstance(exc, RateLimited) else f"550 5.7.1 {text}"


def _rcpt_reply(exc: AgentPostError) -> str:
    for kind, reply in _RCPT_REPLIES:
        if isinstance(exc, kind):
            return reply
    return replies.LOCAL_ERROR


def _trace(session: Session) -> TraceInfo:
    return TraceInfo(
        helo=session.host_name,
        peer=session.peer,
        extended=session.extended_smtp,
        tls=session.ssl,
        authenticated=bool(session.authenticated),
    )


def _submission_trace(
    server: SMTP, session: Session, queue_id: str, recipients: list[str], now: datetime
) -> bytes:
    # The agent's own network address is not shown to its recipients (RFC 5321 §7.6 leaves
    # the detail of trace information to the submission server).
    return received_header(
        _trace(session),
        hostname=server.hostname,
        recipients=recipients,
        queue_id=queue_id,
        now=now,
        show_peer=False,
    )


def _declared_size(envelope: Envelope) -> int:
    """The SIZE the client declared at MAIL (RFC 1870), for the quota check at RCPT."""
    for option in envelope.mail_options:
        name, _, value = option.partition("=")
        if name == "SIZE" and value.isdigit():
            return int(value)
    return 0


def _log_failure(stage: str, session: Session, exc: BaseException) -> None:
    # Never the exception text: SQL errors can quote the message bytes being stored.
    log.error(
        "%s failed for a session from %s (%s); replied 451",
        stage,
        describe_peer(session),
        type(exc).__name__,
    )
