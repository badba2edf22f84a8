"""Diagnostic-text rules: which reason a remote server's words point to.

Each rule is a reason and a list of regular expressions over the *lower-cased,
whitespace-collapsed* text. ``RULES`` is ordered: the first reason with a match
wins, so the more specific evidence comes first (a virus or a DMARC failure is
more telling than the generic "rejected" around it; "mailbox full" beats the
"5.1.1" some servers put in front of it; blocklist words beat "user unknown",
because a receiver refusing our IP often answers with a recipient-looking code).

The phrases were collected from real MTA and provider texts (Postfix, Exim,
Sendmail, qmail, Exchange/Office 365, Gmail, Yahoo, Outlook.com, Domino,
Courier, appliance filters, Japanese carriers ...). Keep every pattern bounded
(no nested repetition): the input comes from strangers.
"""

from __future__ import annotations

import re


def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


VIRUS = _rx(
    r"\bvirus(es)?\b(?! ?scan(ner)? (is )?(not )?(available|unavailable))",
    r"\bmalware\b",
    r"\binfected\b",
    r"\btrojan\b",
    r"\bworm\b.{0,20}detected",
    r"eicar",
)

AUTH_FAILURE = _rx(
    r"\bdmarc\b",
    r"\bspf\b.{0,40}\b(fail|failed|failure|reject|softfail|hardfail|check|validation)",
    r"(fail|failed|failure)\w*.{0,30}\bspf\b",
    r"sender policy framework",
    r"is not allowed to send (mail )?from .{0,80}spf",
    r"per it'?s spf rec",
    r"//spf\.pobox\.com",
    r"please inspect your spf settings",
    r"\bdkim\b.{0,40}(fail|invalid|not pass|missing|required)",
    r"(no|not) (passing|valid|acceptable)[a-z -]{0,20}dkim",
    r"unauthenticated (email|mail|message)s? (from \S+ )?(is|are) not accepted",
    r"authentication checks? (failed|did not pass)",
    r"5\.7\.(2[0-3]|26)\b",
)

MAILBOX_FULL = _rx(
    r"(mailbox|mail ?folder|inbox|mail box) (is |was )?full",
    r"mailbox exceeds (the )?(allowed|maximum) size",
    r"(mail ?box|mail ?folder|inbox|account|user|recipient|maildir|disk)"
    r"[a-z' ]{0,30}(over|exceed\w*|reached|beyond)[a-z ]{0,20}(quota|storage|limit)",
    r"over (the )?(allowed )?quota",
    r"quota (exceeded|violation|full|usage exceeded|limit)",
    r"(disk|mail|mailbox|storage|user|userdisk|domaindisk) quota",
    r"\bover ?quota\b",
    r"exceeded (its|their|the|his|her)? ?(mailbox |disk |storage )?quota",
    r"exceeded storage allocation",
    r"mailbox (size|storage) limit",
    r"insufficient (disk )?(space|storage)",
    r"(not enough|no more|does not have enough|out of) (storage |disk )?space",
    r"full mailbox",
    r"mailbox (has )?exceeded",
    r"the user'?s space has been used up",
    r"too much mail data",
    r"user has too many messages",
    r"boite du destinataire pleine",
    r"mailbox would exceed",
    r"would be over the allowed",
    r"recipient reached disk quota",
    r"mail file size exceeds the maximum",
)

MESSAGE_TOO_BIG = _rx(
    r"message (file |size |length )?(is )?too (big|large)",
    r"(max(imum)?|fixed) (message )?size (limit )?(exceeded|exceeds)",
    r"message size exceeds",
    r"size exceeds (the )?(fixed |maximum |size )?(limit|maximum|value)",
    r"exceeded (the )?maximum (inbound |incoming )?message size",
    r"message (is )?larger than",
    r"message too large for this",
    r"\bsize limit\b",
    r"mail size (limit|exceed)",
    r"message exceeds? (the )?(maximum|max) ",
    r"email (is )?too (big|large)",
)

EXCEED_LIMIT = _rx(
    r"message length exceeds administrative limit",
    r"exceeds? (the )?(per-)?(recipient|mailbox)('s)? (message )?(size )?limit",
    r"recipient limit",
)

HAS_MOVED = _rx(
    r"address .{1,80} has been replaced by ",
    r"(mailbox|recipient|user|address) (has )?moved",
    r"no longer (on|at) (this )?server",
    r"recipient no longer on server",
)

NO_RELAYING = _rx(
    r"relay(ing)? (access )?(denied|not (permitted|allowed))",
    r"not (allowed|permitted) to relay",
    r"unable to relay",
    r"relaying (mail )?to .{1,80} (is )?not allowed",
    r"we do not relay",
    r"insecure mail relay",
    r"requires authentication when attempting to send to a non-local",
    r"(that domain|domain) isn'?t in my list of allowed rcpthosts",
    r"no relay",
    r"relay not permitted",
)

BLOCKED = _rx(
    # blocklists and reputation
    r"blocked using",
    r"\bspamhaus\b(?!.{0,40}help_spam)",
    r"spamcop\.net/bl",
    r"\bbarracudacentral\b",
    r"\bsorbs\b",
    r"\b(rbl|dnsbl|rbl-?plus)\b",
    r"\b(black|block|deny|ban)[ -]?list(ed)?\b(?! url)",
    r"(?<!not )listed (at|in|on|by) ",
    r"(?<!not )\bis listed\b",
    r"(poor|bad|low)( email)? reputation",
    r"reputation (problem|score|of)",
    r"(ip|sender|domain)(/domain)? reputation",
    r"\bas\(\d+\)",
    r"\bbanned\b",
    r"(client|your|sending) (host|ip|ip address|server|network) .{0,40}"
    r"(blocked|rejected|denied|refused|not allowed|blacklisted)",
    r"(ip|address|host|server|network|domain) .{0,30}(has been|is|was) "
    r"(temporarily |permanently )?(blocked|blacklisted|banned|refused)",
    r"(?<!rejected: )access (from ip address .{1,40} )?(blocked|denied)"
    r"(?! \(in reply to mail from)"
    r"(?!\.? ?(ip name lookup|recipient))",
    r"connection refused by",
    r"not currently accepting mail from your ip",
    r"mail from \S+ (is )?(refused|rejected|denied)",
    r"\bgo away\b",
    r"service refus(e|ed)\b",
    r"sorry, your remotehost looks suspiciously like spammer",
    r"your (network|ip) is temporar(il)?y blacklisted",
    r"your server requires confirmation",
    r"confirm this mail server",
    r"messages from .{1,60} temporarily deferred",
    r"temporarily deferred due to (user )?complaints",
    r"has been temporarily rate limited",
    # reverse DNS / PTR / hostname checks
    r"\bptr\b",
    r"reverse (dns|lookup)",
    r"\brdns\b",
    r"ip name lookup failed",
    r"cannot (find|resolve) your (hostname|address)",
    r"client host rejected: (may not be mail exchanger|cannot find|was not auth)",
    r"unresolvable relay host name",
    r"hosts? with dynamic ip",
    r"dynamic ip",
    r"generic (dns|rdns)",
    r"mismatches client ip",
    r"invalid ip for sending",
    r"frequency limited",
    r"blocked ip\b",
    r"messages from .{1,60} weren'?t sent",
    r"dns lookup failure: .{1,80} try again later",
    r"please use the smtp server of your isp",
    r"rejecting open proxy",
    r"no access from mail server",
    r"mail server at .{1,80} is blocked",
    r"is blocked by earthlink",
    # rate limits, connections
    r"too many (connections|concurrent|smtp sessions|errors from your ip|recipients|messages)",
    r"connection rate limit",
    r"rate ?limit(ed|ing)?\b",
    r"sending rate",
    r"throttl(ed|ing)",
    r"exceeds per-domain connection limit",
    r"max(imum)? connection",
    r"has exceeded the max emails per hour",
    r"trop de connexions",
    r"numerous attempts to deliver",
    r"(sending|send|message) quota exceeded",
    r"daily (message|sending) (quota|limit)",
    r"\bspeeding\b",
    r"temporarily (deferred|rejected|restricted)",
    r"try (again )?later.{0,40}(limit|volume|unusual)",
    r"unusual (rate|volume)",
)

SPAM = _rx(
    r"\bspam\b",
    r"\bunsolicited\b",
    r"\bbulk (e-?mail|mail)\b",
    r"\bube\b",
    r"\buce\b",
    r"junk ?mail",
    r"content (filter|rejected|denied|was rejected)",
    r"message content (rejected|denied)",
    r"mail content denied",
    r"message (has been |was )?filtered",
    r"rejected (due to|because of) (unacceptable |suspect(ed)? |its )?content",
    r"unacceptable content",
    r"banned content",
    r"rejecting mail content",
    r"spamassassin",
    r"spam score",
    r"scored as",
    r"recurrent pattern",
    r"\buribl\b",
    r"\bsurbl\b",
    r"url in (the )?message",
    r"blacklisted url",
    r"antispam",
    r"anti-spam",
    r"phish",
    r"suspicious (content|message|links?)",
    r"classified as (bulk|junk)",
    r"message looks like",
    r"greylist\w* .{0,40}please try again",
    # content / format errors (RFC 3463 X.6.X)
    r"improper use of 8-bit data",
    r"duplicate header",
    r"header size exceeds",
    r"invalid mime",
    r"mime complexity",
    r"improperly-formatted binary content",
    r"unnecessary base64 encoding",
    r"too many received: headers",
)

POLICY = _rx(
    r"(local |organi[sz]ational |security |content )?polic(y|ies)",
    r"not (compliant|conform\w*) (with|to) rfc",
    r"rfc ?\d{3,4} (violation|compliance|non-?compliant)",
    r"violat\w+ rfc",
    r"protocol violation",
    r"header error",
    r"\bno [a-z-]{2,20} (header|field) given",
    r"without [a-z-]{2,20}:? (header|field)s? (are|is) not accepted",
    r"headers? (are|is) not accepted",
    r"illegal attachment",
    r"members-only list",
    r"closed mailing list",
    r"not subscribed to this group",
    r"multiple addresses",
    r"mass mailer",
    r"organizational settings",
    r"not accepting mail with (attachments|embedded images)",
    r"attachments? (is |are )?not (allowed|accepted|permitted)",
    r"message given low priority",
)

REJECTED = _rx(
    r"sender (address |email address |domain )?(rejected|refused|denied|"
    r"is (rejected|refused|denied|spammer|invalid|not))",
    r"(envelope|return) (sender|path)[a-z ]{0,20}(rejected|invalid|denied|refused)",
    r"(domain of sender|sender domain|sender's domain)[a-z ]{0,40}"
    r"(does not|must|not|isn'?t|is empty|invalid|rejected)",
    r"sender verify failed",
    r"sender verification",
    r"sender (address )?(does not exist|unknown|not allowed|not pre-approved)",
    r"unroutable sender",
    r"invalid sender",
    r"bogus mail from",
    r"(null|empty) (envelope )?senders? (is |are )?not allowed",
    r"mail from not owned by user",
    r"not a registered gateway user",
    r"no third-party dsns",
    r"batv",
    r"backscatter",
    r"returned mail not accepted",
    r"fully qualified email address required",
    r"from: domain is invalid",
    r"email address is not verified",
    r"(mail|envelope) from[a-z :<>]{0,30}(rejected|refused|denied|invalid)",
    r"denied \[bouncedeny\]",
    r"administrative prohibition",
    r"delivery not authorized, message refused",
    r"rule imposed mailbox access",
    r"emetteur invalide",
    r"(may )?not have permission to post",
    r"\bin reply to mail from\b",
    r"after mail from",
)

SUSPENDED = _rx(
    r"(account|mailbox|user|address|recipient)[a-z ]{0,30}(is |has been |was )?"
    r"(currently )?(suspended|disabled|deactivated|inactive|frozen|locked|"
    r"discontinued|blocked for inactivity|not active)",
    r"temporar(il)?y (inactive|locked|disabled)",
    r"(inactive|disabled|suspended|deactivated|frozen|locked) "
    r"(user|account|mailbox|recipient|address)",
    r"invalid/inactive user",
    r"user suspended",
    r"recipient suspend",
    r"boite du destinataire archivee",
    r"extended inactivity",
    r"mailbox unavailable or access denied",
    r"this account has been disabled",
    r"expired account",
    r"account (has )?expired",
)

FILTERED = _rx(
    r"refused due to recipient preferences",
    r"only accepting mail from specific",
    r"not accepting (any )?mail",
    r"resolver\.rst\.notauthorized",
    r"this account is protected by",
    r"user reject",
    r"refuse to receive mail",
    r"you have been blocked by the recipient",
    r"has restricted sms e-mail",
    r"bounced address",
    r"(recipient|user)[a-z' ]{0,20}(filter|block list|blocklist|preferences)",
    r"sender is not (in|on) .{0,30}(allow|white|safe)",
    r"not (authori[sz]ed|allowed|permitted) to send (e-?mail|mail|messages) to",
    r"restricted to (internal|authorized)",
    r"rejected by (the )?recipient(?! domain)",
    r"recipient (has )?(rejected|refused|blocked)",
    r"does not accept mail from (you|your)",
    r"mail (was )?(rejected|refused) by (the )?user",
    r"delivery (is )?restricted",
    r"recipient.{0,20} (does not|doesn'?t) (accept|want)",
    r"sms e-?mail",
)

USER_UNKNOWN = _rx(
    r"(user|recipient|mailbox|address|account|addressee|person|e-?mail address|"
    r"local[- ]part|mail ?box)(?: address| name| account|'s mailbox| mailbox| id)?"
    r" (is )?(unknown|not found|not known|"
    r"does ?n[o']t exist|not exist|doesn't exist|invalid|not present|"
    r"not valid|unavailable|unavaiable|is not a known user|no longer (exists|valid|accepts))",
    r"unknown (user|recipient|mailbox|local[- ]?part|address|e-?mail ?address|alias)",
    r"no such (user|mailbox|recipient|address|person|account|local user)",
    r"invalid (recipient|mailbox|address|user|e-?mail address|destination)",
    r"invalid (final delivery )?user ?id",
    r"n'?existe pas",
    r"does not have a final (e-?mail )?delivery point",
    r"(recipient|user) name is not recognized",
    r"check (if|that) (the )?(e-?mail )?address is correct",
    r"(recipient )?(e-?mail )?address is (possibly |probably )?(incorrect|wrong)",
    r"recipient address rejected: access denied",
    r"not a (valid|known) (recipient|mailbox|user|address)",
    r"(is not|isn'?t) a valid (mailbox|recipient|user|address)",
    r"no (mailbox|account|mail box|user) (here|by that name|available|found|"
    r"for this|with that)",
    r"sorry, no mailbox",
    r"there is no one at this address",
    r"this (email )?address (no longer accepts mail|is wrong|does not exist)",
    r"the email account that you tried to reach does not exist",
    r"(recipient|mailbox|address|user)( address)? rejected: "
    r"(user unknown|unknown|invalid|undeliverable|no such)",
    r"recipient address rejected\.? \(in reply to rcpt",
    r"recipient not (ok|exist|found|local)",
    r"recipient is not (accepted|local)",
    r"not (listed|found) in (the )?(domino|public|name|address|global)",
    r"not listed in",
    r"resolver\.adr\.recip",
    r"recipnotfound",
    r"addressee unknown",
    r"undeliverable address",
    r"this user doesn'?t have a \S+ account",
    r"destination addresses were unknown",
    r"(user|recipient|address) .{1,60} (was not found|does not exist|unknown)",
    r"badrcptto",
    r"validrcptto",
    r"mailbox (not found|not present|invalid|does not exist)",
    r"unrouteable address",
    r"(not|no) (a )?local (user|address|recipient)",
    r"user missing home directory",
    r"vdeliver: invalid or unknown",
    r"nessun utente",
    r"utilisateur inconnu",
    r"no existe",
    r"unbekannt",
    r"existiert nicht",
    r"\bnxuser\b",
    r"#5\.1\.1\b",
    r"envelope recipient (has been denied|is in my badrcptto)",
    r"can'?t accept user",
    r"account .{1,60} does not exist at the organization",
    r"non-?existent (user|address|mailbox)",
    r"user (not active|not exist)",
    r"the following recipients? (was|were) undeliverable",
    r"address (not|is not) (present|known)",
    r"destination server rejected recipients",
    r"recipient refuses to accept your mail",
    r"\bno valid recipients\b",
)

HOST_UNKNOWN = _rx(
    r"host (or domain name )?(not found|unknown)(?!, try again)",
    r"had no relevant answers",
    r"responded with code nxdomain",
    r"unknown host",
    r"\bhost \S{1,255} not found",
    r"domain (name )?(not found|does not exist|doesn't exist|must exist|"
    r"is not reachable|unknown|not resolvable)",
    r"no such (domain|host)",
    r"unrouteable (mail )?domain",
    r"name or service not known",
    r"\bnxdomain\b",
    r"couldn'?t find any host (named|by that name)",
    r"could not find (a |the )?(host|domain|mail exchanger)",
    r"unknown domain",
    r"invalid domain",
    r"mail domain mentioned in email address is unknown",
    r"the account or domain may not exist",
    r"recipient domain must exist",
    r"domain (is )?(not|isn'?t) (registered|valid|configured)",
    r"domain .{1,40} (does not|doesn'?t) exist",
    r"no mx (or a )?records? (found )?for",
    r"not (a )?valid (dns|domain)",
    r"dns error: .{0,80}(nxdomain|domain name not found|no such)",
)

NOT_ACCEPT = _rx(
    r"(host|domain)(/domain)? does not accept (mail|e-?mail)",
    r"null mx",
    r"does not accept mail",
    r"accepts no mail",
    r"no smtp service",
    r"name server: \.: host not found",
    r"no mx record found for domain=",
    r"smtp protocol returned a permanent error",
)

NETWORK_ERROR = _rx(
    r"(host|network) (is )?unreachable",
    r"no route to host",
    r"connection (refused|reset|closed|lost)",
    r"lost connection",
    r"(dns|name server|nameserver) (error|failure|timeout|lookup fail)",
    r"malformed (or unexpected )?name server reply",
    r"temporary failure in name resolution",
    r"host not found, try again",
    r"unable to resolve",
    r"could not (be )?resolve",
    r"could not connect",
    r"unable to connect",
    r"dns records for the destination computer could not be found",
    r"\bmx\b.{0,30}(lookup|record).{0,20}(fail|error|not found|servfail)",
    r"servfail",
    r"name service error",
    r"network error",
    r"\btls\b.{0,40}(handshake|negotiation)",
)

SECURITY_ERROR = _rx(
    r"authenticat\w+ (is )?(required|failure|failed|credentials)",
    r"(must|need to|please) (be )?authenticat",
    r"smtp auth",
    r"turn on smtp authentication",
    r"authentication turned on",
    r"not authori[sz]ed to send mail, authentication",
    r"unauthenticated senders? not allowed",
    r"\b(starttls|tls|ssl)\b.{0,40}(required|not supported|must|fail)",
    r"(encryption|secure connection) (is )?required",
    r"must issue a starttls",
    r"certificate",
    r"verification failure",
    r"executable files are not allowed",
    r"recipient address rejected: access denied",
    r"you don'?t authenticate",
    r"not authorized to perform ses",
    r"account not subscribed to ses",
    r"is a dead domain",
)

EXPIRED = _rx(
    r"(connection|session|message|delivery) (has )?timed? ?out",
    r"timed out",
    r"time ?out",
    r"delivery time expired",
    r"envelope expired",
    r"giving up",
    r"gave up",
    r"retry (time|timeout) (not reached|exceeded)",
    r"(message|mail) (has been )?expired",
    r"expired after",
    r"in (the )?queue too long",
    r"been in the queue",
    r"queue period",
    r"not been collected after",
    r"could not (be )?deliver(ed)? for \d",
    r"could not find a gateway for",
    r"server did not respond",
    r"maximum time",
    r"no answer from host",
    r"after \d+ attempt",
    r"maximum (number of )?delivery attempts",
    r"failed \d+ attempts",
    r"could not initiate smtp conversation",
    r"connection (was )?dropped",
    r"did not accept our requests to connect",
    r"retry timeout",
    r"(couldn'?t|could not|unable to) be delivered (for|within|in) ",
    r"undeliverable for",
)

SYSTEM_ERROR = _rx(
    r"(local|internal|system|server|mail system|configuration|config)"
    r" (error|problem|failure)",
    r"misconfigur",
    r"service (currently |temporarily )?(unavailable|not available)",
    r"(mail|mailer|delivery|queue file) (system )?(error|failure)",
    r"can'?t create user output file",
    r"interrupted system call",
    r"error while being processed",
    r"it would create a mail loop",
    r"loops back to myself",
    r"aliasing/forwarding loop",
    r"(mail|routing|forwarding) loop",
    r"\blooping\b",
    r"loop (detected|count)",
    r"too many hops",
    r"hop count exceeded",
    r"possible (mail )?loop",
    r"recipient deferred because there is no mdb",
    r"could not load drd",
    r"internal (server )?error",
    r"upstream error",
    r"mail system full",
    r"system (is )?(full|overloaded|busy)",
    r"disk full",
    r"out of (memory|disk)",
    r"too busy",
    r"unable to (deliver|process)",
    r"temporary local problem",
    r"timeout waiting for input",
    r"error (in|during) (processing|delivery)",
    r"command (died|failed|output)",
    r"pipe to",
    r"mailbox (is )?(corrupt|locked|busy)",
    r"unable to contact ldap",
    r"x-unix;",
    r"\bprocmail\b",
    r"\bmaildrop\b",
)

SYNTAX_ERROR = _rx(
    r"syntax error",
    r"command (not )?(recognized|unrecognized|not implemented)",
    r"bad sequence of commands",
    r"unrecognized command",
    r"line too long",
    r"bare lf",
    r"pipelining",
)

BAD_ADDRESS = _rx(
    r"(bad|invalid|illegal|malformed) (recipient |destination |e-?mail )?"
    r"address (syntax|format)",
    r"address (syntax|format) (error|invalid|is invalid)",
    r"syntax (error|illegal) in (recipient|address|parameters scanning)",
    r"incorrectly constructed",
    r"not a valid rfc[ -]?5?321 address",
    r"malformed (recipient|address)",
    r"illegal address",
    r"recipient addresses that were incorrectly",
    r"contained one or more recipient addresses that were incorrect",
)

AUTO_REPLY = _rx(
    r"out of (the )?office",
    r"\bvacation\b",
    r"auto(matic)?[ -]?(reply|response|responder|antwort)",
    r"away from (the |my )?(office|desk)",
    r"on (annual |parental |maternity |sick )?leave",
    r"i am (currently )?(away|out|on holiday|traveling|travelling)",
    r"i'?m (currently )?(away|out|on holiday|traveling|travelling)",
    r"\babwesend\b",
    r"abwesenheit",
    r"absence",
    r"r[ée]ponse automatique",
    r"will (be back|return) on",
    r"limited access to (my )?e-?mail",
)

CHALLENGE = _rx(
    r"challenge",
    r"verify (that )?you are (a )?(human|real|person)",
    r"(please|to) (verify|confirm) (your|that you|this|the)",
    r"spam ?arrest",
    r"mailfrontier",
    r"boxbe",
    r"sender verification (request|required)",
    r"approve (your|this) (message|email)",
    r"added to (my|the) (approved|allowed) (senders|list)",
    r"click (on )?(the|this) (link|button) (below )?to (verify|confirm|deliver)",
    r"whitelist",
    r"pending (delivery|approval)",
)

ADDRESS_CHANGE = _rx(
    r"(my|our|the) (new )?e-?mail address (has )?(changed|is now|will change)",
    r"(has|have) (a )?new (e-?mail )?address",
    r"new e-?mail address is",
    r"please (update|change) (your )?(address book|records|contact)",
    r"no longer (uses|using|use) this (e-?mail )?address",
    r"address (has )?changed",
)

# The order of evidence: first match wins. (reason, pattern, rule name)
RULES: list[tuple[str, re.Pattern[str]]] = [
    ("virus_detected", VIRUS),
    ("auth_failure", AUTH_FAILURE),
    ("mailbox_full", MAILBOX_FULL),
    ("exceed_limit", EXCEED_LIMIT),
    ("message_too_big", MESSAGE_TOO_BIG),
    ("has_moved", HAS_MOVED),
    ("no_relaying", NO_RELAYING),
    ("not_accept", NOT_ACCEPT),
    ("rejected", REJECTED),
    ("blocked", BLOCKED),
    ("spam_detected", SPAM),
    ("suspended", SUSPENDED),
    ("filtered", FILTERED),
    ("bad_address", BAD_ADDRESS),
    ("user_unknown", USER_UNKNOWN),
    ("host_unknown", HOST_UNKNOWN),
    ("policy_violation", POLICY),
    ("security_error", SECURITY_ERROR),
    ("network_error", NETWORK_ERROR),
    ("expired", EXPIRED),
    ("system_error", SYSTEM_ERROR),
    ("syntax_error", SYNTAX_ERROR),
]

RULES_BY_REASON = dict(RULES)


def text_reason(text: str) -> str:
    """The first reason whose phrases occur in ``text`` (already normalised)."""
    for reason, pattern in RULES:
        if pattern.search(text):
            return reason
    return ""


def normalise(text: str, limit: int = 4000) -> str:
    """Lower case, one space between words, bounded length."""
    return " ".join((text or "")[:limit].lower().split())


# The failure came after DATA: the recipient was accepted at RCPT, so a
# "user unknown" now is the recipient's filter refusing the message (Japanese
# carriers answer so for senders the subscriber has blocked).
AFTER_DATA = _rx(
    r"in reply to end of data",
    r"after end of data",
    r"in reply to data command",
    r"after data\b",
    r"smtp command:? ?data\b",
    r"-+ ?smtp command data",
    r">>> data\b",
)

# Delivery was given up: an expiry, even in a report that calls itself a delay.
GAVE_UP = _rx(
    r"envelope expired",
    r"giving up",
    r"gave up",
    r"retry timeout exceeded",
    r"delivery time expired",
    r"in the queue too long",
)
