"""Starting and stopping the SMTP listener on the running event loop.

``start_smtp`` binds the port (0 picks a free one), offers STARTTLS (RFC 3207) and AUTH
(RFC 4954) and returns a handle with the bound port. ``close`` stops accepting, lets messages
that are being stored finish (so nothing acknowledged is lost and nothing is half-written), then
drops the remaining connections; their clients retry later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from dataclasses import dataclass, field

from agentpost.services.context import AppContext
from agentpost.smtp.handler import SmtpHandler
from agentpost.smtp.protocol import AgentSMTP, quiet_library_log
from agentpost.smtp.tls import load_tls_context

log = logging.getLogger(__name__)

# RFC 5321 §4.5.3.2.7: a server should wait at least 5 minutes for the next command.
SESSION_TIMEOUT = 300.0
CLOSE_GRACE = 10.0
BACKLOG = 1024
IDENT = "AgentPost ESMTP"


@dataclass
class SmtpServer:
    """A running listener: ``port`` is the bound port."""

    host: str
    port: int
    _server: asyncio.Server
    _handler: SmtpHandler
    _sessions: weakref.WeakSet[AgentSMTP] = field(default_factory=weakref.WeakSet)

    async def close(self, *, grace: float = CLOSE_GRACE) -> None:
        """Stop listening, wait up to ``grace`` seconds for stores in flight, then disconnect."""
        self._handler.closing = True
        self._server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._handler.wait_idle(), timeout=grace)
        for protocol in list(self._sessions):
            if protocol.transport is not None:
                protocol.transport.close()
        # Python 3.12+ waits here for every connection; a peer that never finishes its TLS
        # close must not hold the shutdown.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), timeout=grace)
        log.info("SMTP listener on %s:%d closed", self.host, self.port)


async def start_smtp(ctx: AppContext, *, host: str, port: int) -> SmtpServer:
    """Listen for SMTP on ``host:port`` and serve it on the running loop."""
    settings = ctx.settings
    loop = asyncio.get_running_loop()
    tls_context = await asyncio.to_thread(load_tls_context, settings)
    quiet_library_log()
    handler = SmtpHandler(ctx)
    sessions: weakref.WeakSet[AgentSMTP] = weakref.WeakSet()

    def make_protocol() -> AgentSMTP:
        protocol = AgentSMTP(
            handler,
            hostname=settings.domain,
            ident=IDENT,
            data_size_limit=settings.max_message_bytes,
            enable_SMTPUTF8=True,
            tls_context=tls_context,
            require_starttls=False,
            auth_required=False,
            auth_require_tls=settings.smtp_require_tls_for_auth,
            timeout=SESSION_TIMEOUT,
            loop=loop,
        )
        sessions.add(protocol)
        return protocol

    server = await loop.create_server(make_protocol, host=host, port=port, backlog=BACKLOG)
    bound = int(server.sockets[0].getsockname()[1])
    log.info("SMTP listening on %s:%d for @%s", host, bound, settings.domain)
    return SmtpServer(host=host, port=bound, _server=server, _handler=handler, _sessions=sessions)
