"""SMTP client adapter over ``smtplib`` (RFC 5321) for delivery.

One ``SmtpSession`` is one connection to one host. ``send`` runs one mail
transaction (one envelope sender, its recipients, the data) and reports the
reply for each recipient. Connection-level trouble (refused, timeout, dropped,
``421``, TLS required but not offered) raises ``ConnectionTrouble``: the route is
at fault, not the recipient, so the caller tries elsewhere.

Sessions are reused across messages: after a completed DATA the server has
already reset its transaction state (RFC 5321 §4.1.1.4), and after an aborted
transaction (MAIL refused, no recipient accepted) we send RSET (§4.1.1.5).
"""

from __future__ import annotations

import smtplib
import ssl
import time
from dataclasses import dataclass, field


class ConnectionTrouble(Exception):
    """The connection or server failed as a whole (not a per-recipient answer).

    ``reply`` is the server's answer when there was one (e.g. ``421 ...``).
    ``maybe_delivered`` is True when it happened after the data was sent and
    before the final reply: the server may have accepted it (RFC 1047).
    """

    def __init__(self, reason: str, *, maybe_delivered: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.maybe_delivered = maybe_delivered


@dataclass
class Reply:
    code: int
    text: str

    def __str__(self) -> str:
        return f"{self.code} {self.text}".strip()


@dataclass
class TransactionResult:
    """Per-recipient final replies: the RCPT reply when it was refused, else
    the reply to the data."""

    replies: dict[str, Reply] = field(default_factory=dict)


def _reply(code: int, message: bytes | str) -> Reply:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return Reply(code, " ".join(text.split()))


@dataclass
class SmtpSession:
    host: str
    port: int
    helo: str = ""
    source: str = ""
    tls: str = "opportunistic"  # required | opportunistic | none
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 30.0
    smtp: smtplib.SMTP | None = None
    peer_ip: str = ""
    transactions: int = 0
    last_used: float = 0.0
    _dirty: bool = False

    def open(self) -> None:
        """Connect, EHLO, STARTTLS per the route's policy, AUTH if configured."""
        try:
            smtp = smtplib.SMTP(
                timeout=self.timeout,
                local_hostname=self.helo or None,
                source_address=(self.source, 0) if self.source else None,
            )
            smtp._host = (
                self.host
            )  # STARTTLS's SNI/verification name (smtplib sets it only in __init__)
            code, msg = smtp.connect(self.host, self.port)
            if code != 220:
                smtp.close()
                raise ConnectionTrouble(f"greeting {_reply(code, msg)}")
            self.smtp = smtp
            self.peer_ip = smtp.sock.getpeername()[0] if smtp.sock else ""
            self._ehlo()
            if self.tls != "none" and smtp.has_extn("starttls"):
                # RFC 3207. Opportunistic TLS to MX hosts does not verify the
                # certificate (RFC 7435); a relay with tls=required does.
                context = ssl.create_default_context()
                if self.tls != "required":
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                code, msg = smtp.starttls(context=context)
                if code != 220:
                    raise ConnectionTrouble(f"STARTTLS {_reply(code, msg)}")
                self._ehlo()
            elif self.tls == "required":
                raise ConnectionTrouble("STARTTLS required but not offered")
            if self.username:
                smtp.login(self.username, self.password)
        except ConnectionTrouble:
            self.close()
            raise
        except smtplib.SMTPAuthenticationError as exc:
            self.close()
            raise ConnectionTrouble(
                f"AUTH {_reply(exc.smtp_code, exc.smtp_error)}"
            ) from exc
        except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
            self.close()
            raise ConnectionTrouble(f"connect {self.host}:{self.port}: {exc}") from exc
        self.last_used = time.monotonic()

    def _ehlo(self) -> None:
        assert self.smtp is not None
        code, msg = self.smtp.ehlo()
        if code == 421:
            raise ConnectionTrouble(f"EHLO {_reply(code, msg)}")
        if code != 250:
            # RFC 5321 §3.2: fall back to HELO for servers without ESMTP.
            code, msg = self.smtp.helo()
            if code != 250:
                raise ConnectionTrouble(f"HELO {_reply(code, msg)}")

    @property
    def is_open(self) -> bool:
        return self.smtp is not None and self.smtp.sock is not None

    def send(
        self, *, mail_from: str, recipients: list[str], data: bytes
    ) -> TransactionResult:
        """One mail transaction. Raises ``ConnectionTrouble`` for 421 or a broken
        connection; every other answer is reported per recipient."""
        if not self.is_open:
            self.open()
        smtp = self.smtp
        assert smtp is not None
        result = TransactionResult()
        sent_data = False
        try:
            if smtp.has_extn("pipelining"):
                sent_data = self._send_pipelined(
                    smtp, mail_from, recipients, data, result
                )
                self.transactions += 1
                self.last_used = time.monotonic()
                return result
            if self._dirty:
                smtp.rset()
                self._dirty = False
            code, msg = smtp.mail(mail_from)
            self._check_421(code, msg)
            if code != 250:
                self._dirty = True
                for rcpt in recipients:
                    result.replies[rcpt] = _reply(code, msg)
                return result
            accepted = []
            for rcpt in recipients:
                code, msg = smtp.rcpt(rcpt)
                self._check_421(code, msg)
                if code in (250, 251):
                    accepted.append(rcpt)
                else:
                    result.replies[rcpt] = _reply(code, msg)
            if not accepted:
                self._dirty = True
                return result
            code, msg = smtp.docmd("DATA")
            self._check_421(code, msg)
            if code != 354:
                self._dirty = True
                for rcpt in accepted:
                    result.replies[rcpt] = _reply(code, msg)
                return result
            sent_data = True
            self._send_body(smtp, data, accepted, result)
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            self.close()
            raise ConnectionTrouble(
                f"{type(exc).__name__}: {exc}", maybe_delivered=sent_data
            ) from exc
        self.transactions += 1
        self.last_used = time.monotonic()
        return result

    def _send_pipelined(
        self,
        smtp: smtplib.SMTP,
        mail_from: str,
        recipients: list[str],
        data: bytes,
        result: TransactionResult,
    ) -> bool:
        """RFC 2920: MAIL, every RCPT and DATA in one write, then the replies
        in order; two round trips per message instead of 3 + recipients.
        Returns whether the body was sent."""
        commands = []
        dirty = self._dirty
        if dirty:
            commands.append("RSET")
        commands.append(f"MAIL FROM:{smtplib.quoteaddr(mail_from)}")
        commands += [f"RCPT TO:{smtplib.quoteaddr(r)}" for r in recipients]
        commands.append("DATA")
        smtp.send(("\r\n".join(commands) + "\r\n").encode("utf-8"))
        if dirty:
            self._check_421(*smtp.getreply())
            self._dirty = False
        mail_code, mail_msg = smtp.getreply()
        self._check_421(mail_code, mail_msg)
        accepted = []
        for rcpt in recipients:
            code, msg = smtp.getreply()
            self._check_421(code, msg)
            if mail_code != 250:
                result.replies[rcpt] = _reply(mail_code, mail_msg)
            elif code in (250, 251):
                accepted.append(rcpt)
            else:
                result.replies[rcpt] = _reply(code, msg)
        code, msg = smtp.getreply()
        self._check_421(code, msg)
        if code != 354:
            self._dirty = True
            for rcpt in accepted:
                result.replies[rcpt] = _reply(code, msg)
            return False
        if not accepted:
            # RFC 2920 §3.1: a server should refuse DATA when no recipient was
            # accepted; one that said 354 anyway gets an empty body, ignored.
            smtp.send(b".\r\n")
            smtp.getreply()
            return False
        self._send_body(smtp, data, accepted, result)
        return True

    def _send_body(
        self,
        smtp: smtplib.SMTP,
        data: bytes,
        accepted: list[str],
        result: TransactionResult,
    ) -> None:
        # smtplib's data() would resend DATA; send the dot-stuffed body
        # ourselves (RFC 5321 §4.5.2 transparency) and read the final reply.
        # ``data`` must already use CRLF line ends (the DKIM signature covers
        # these exact bytes).
        body = smtplib._quote_periods(data)  # type: ignore[attr-defined]
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        smtp.send(body + b".\r\n")
        code, msg = smtp.getreply()
        self._check_421(code, msg)
        for rcpt in accepted:
            result.replies[rcpt] = _reply(code, msg)

    def _check_421(
        self, code: int, msg: bytes, *, maybe_delivered: bool = False
    ) -> None:
        # 421: the service is closing the channel (RFC 5321 §3.8).
        if code == 421 or code == -1:
            self.close()
            raise ConnectionTrouble(
                str(_reply(code, msg)), maybe_delivered=maybe_delivered
            )

    def close(self) -> None:
        """QUIT politely when possible; safe to call twice."""
        smtp, self.smtp = self.smtp, None
        if smtp is None:
            return
        try:
            if smtp.sock is not None:
                smtp.quit()
        except (OSError, smtplib.SMTPException):
            pass
        finally:
            try:
                smtp.close()
            except OSError:
                pass
