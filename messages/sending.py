"""Moving prepared transactions over the sender pool (no database access here).

``send_all`` takes the transactions of one claimed batch, sends them over
reused connections through the routes the ``RouteTracker`` picks, fails over to
the next route when one breaks, and returns one ``Outcome`` per recipient. The
caller records the outcomes; this module only talks SMTP and DNS.
"""

from __future__ import annotations

import json
import logging
import smtplib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings

from . import mx
from .pool import Route, RouteTracker
from .smtp_client import ConnectionTrouble, SmtpSession

logger = logging.getLogger("mail.delivery")

# Reused connections are dropped after this long idle: servers close idle
# sessions themselves (Postfix after 300 s), and a stale one costs a failed
# round trip.
IDLE_SECONDS = 20.0
# Reconnect after this many transactions; some relays cap messages per session.
MAX_TRANSACTIONS_PER_SESSION = 1000


@dataclass
class Transaction:
    """One SMTP transaction: one envelope sender (VERP, so one recipient)."""

    key: int  # recipient row id
    message_id: str  # Postmark MessageID, for logs
    mail_from: str
    rcpt: str
    data: bytes


@dataclass
class Outcome:
    key: int
    kind: str  # delivered | transient | bounced | deferred
    code: int = 0
    reply: str = ""
    destination: str = ""
    ip: str = ""
    route: str = ""
    duration: float = 0.0
    permanent_reason: str = ""  # DNS says the domain takes no mail
    retry_at: float = 0.0  # for "deferred": epoch seconds of the next try


@dataclass
class _Local(threading.local):
    sessions: dict[str, SmtpSession] = field(default_factory=dict)


_local = _Local()


def _relay_session(route: Route) -> tuple[SmtpSession, bool]:
    """This thread's session for ``route`` and whether it is a reused one."""
    session = _local.sessions.get(route.name)
    now = time.monotonic()
    if session is not None and (
        not session.is_open
        or now - session.last_used > IDLE_SECONDS
        or session.transactions >= MAX_TRANSACTIONS_PER_SESSION
    ):
        session.close()
        session = None
    if session is None:
        session = SmtpSession(
            host=route.host,
            port=route.port,
            helo=route.helo,
            source=route.source,
            tls=route.tls,
            username=route.username,
            password=route.password,
            timeout=settings.SMTP_TIMEOUT_SECONDS,
        )
        _local.sessions[route.name] = session
        return session, False
    return session, True


def sessions_close() -> None:
    """Close this thread's pooled connections (tests, worker shutdown)."""
    for session in _local.sessions.values():
        session.close()
    _local.sessions.clear()


def _classify(code: int) -> str:
    if 200 <= code < 300:
        return "delivered"
    if 500 <= code < 600:
        return "bounced"
    return "transient"


def _log(tx: Transaction, outcome: Outcome) -> None:
    # One structured line per attempt (grep-able, machine-parsable).
    logger.info(
        json.dumps(
            {
                "event": "delivery_attempt",
                "message_id": tx.message_id,
                "recipient_id": tx.key,
                "recipient": tx.rcpt,
                "route": outcome.route,
                "destination": outcome.destination,
                "ip": outcome.ip,
                "outcome": outcome.kind,
                "reply": outcome.reply,
                "duration_ms": round(outcome.duration * 1000, 2),
            }
        )
    )


def _send_one(
    session: SmtpSession, tx: Transaction, route: Route, destination: str
) -> Outcome:
    started = time.perf_counter()
    result = session.send(mail_from=tx.mail_from, recipients=[tx.rcpt], data=tx.data)
    reply = result.replies[tx.rcpt]
    outcome = Outcome(
        key=tx.key,
        kind=_classify(reply.code),
        code=reply.code,
        reply=str(reply),
        destination=destination,
        ip=session.peer_ip,
        route=route.name,
        duration=time.perf_counter() - started,
    )
    _log(tx, outcome)
    return outcome


def _send_relay(
    route: Route,
    txs: list[Transaction],
    emit: Callable[[Outcome], None],
) -> list[Transaction]:
    """Send ``txs`` through one smarthost; returns those left undone when the
    route failed (raises nothing). The caller marks the route down."""
    session, reused = _relay_session(route)
    if reused:
        # A pooled connection may have been closed by the server meanwhile;
        # NOOP (RFC 5321 §4.1.1.9) finds out for one round trip per batch.
        try:
            code, _ = session.smtp.noop()  # type: ignore[union-attr]
            if code != 250:
                raise OSError(f"NOOP {code}")
        except (OSError, smtplib.SMTPException) as exc:
            logger.debug("pooled session to %s is stale: %s", route.name, exc)
            session.close()
    for index, tx in enumerate(txs):
        try:
            outcome = _send_one(session, tx, route, route.host)
        except ConnectionTrouble as exc:
            session.close()
            raise _RouteFailed(str(exc.reason), txs[index:]) from exc
        emit(outcome)
    return []


class _RouteFailed(Exception):
    def __init__(self, reason: str, remaining: list[Transaction]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.remaining = remaining


def _send_direct(
    route: Route, txs: list[Transaction], emit: Callable[[Outcome], None]
) -> None:
    """Direct delivery: per recipient domain, try its MX hosts in order.
    A destination that cannot be reached is the destination's problem (a
    Transient for its recipients), not the route's."""
    by_domain: dict[str, list[Transaction]] = {}
    for tx in txs:
        by_domain.setdefault(tx.rcpt.rpartition("@")[2].lower(), []).append(tx)
    resolver = mx.make_resolver()
    for domain, domain_txs in by_domain.items():
        try:
            targets = mx.destinations(domain, resolver=resolver)
        except mx.MxError as exc:
            for tx in domain_txs:
                outcome = Outcome(
                    key=tx.key,
                    kind="bounced" if exc.permanent else "transient",
                    reply=exc.reason,
                    route=route.name,
                    permanent_reason=exc.reason if exc.permanent else "",
                )
                _log(tx, outcome)
                emit(outcome)
            continue
        pending = list(domain_txs)
        errors = []
        for target in targets:
            if not pending:
                break
            session = SmtpSession(
                host=target.address,
                port=route.port,
                helo=route.helo,
                source=route.source,
                tls=route.tls,
                timeout=settings.SMTP_TIMEOUT_SECONDS,
            )
            try:
                while pending:
                    emit(_send_one(session, pending[0], route, target.host))
                    pending.pop(0)
            except ConnectionTrouble as exc:
                errors.append(f"{target.host}[{target.address}]: {exc.reason}")
            finally:
                session.close()
        for tx in pending:
            outcome = Outcome(
                key=tx.key,
                kind="transient",
                reply="4.4.1 no MX host reachable: " + "; ".join(errors)[:400],
                route=route.name,
            )
            _log(tx, outcome)
            emit(outcome)


def send_all(
    txs: list[Transaction],
    emit: Callable[[Outcome], None],
    tracker: RouteTracker | None = None,
) -> None:
    """Deliver every transaction or say why not, calling ``emit`` once per
    transaction as soon as its outcome is known (so the caller can record in
    small chunks). When every route is down the rest are ``deferred`` until
    the first route's cooldown ends."""
    tracker = tracker or RouteTracker()
    pending = list(txs)
    while pending:
        route = tracker.choose()
        if route is None:
            retry_at = max(tracker.next_up_at(), time.time() + 1)
            for tx in pending:
                outcome = Outcome(
                    key=tx.key,
                    kind="deferred",
                    reply="all routes are down",
                    retry_at=retry_at,
                )
                _log(tx, outcome)
                emit(outcome)
            return
        if route.kind == "mx":
            _send_direct(route, pending, emit)
            tracker.success(route)
            return
        try:
            pending = _send_relay(route, pending, emit)
            tracker.success(route)
        except _RouteFailed as failed:
            tracker.failure(route, failed.reason)
            pending = failed.remaining
