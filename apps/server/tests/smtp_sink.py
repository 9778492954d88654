#!/usr/bin/env python3
"""A real SMTP server for the API tests, on loopback, that accepts mail only over STARTTLS.

Started by tests/api/mail_server.rs. It listens on 127.0.0.1:PORT, refuses every command but
EHLO/HELO, STARTTLS, NOOP and QUIT until the connection is encrypted (aiosmtpd's
require_starttls), optionally requires AUTH PLAIN/LOGIN with one user name and password (only
offered inside TLS), and writes each message it accepts as one file in OUT_DIR, atomically:
a temporary name in the same folder, then a rename, so that a reader never sees half of one.
It prints READY once it listens and exits on SIGTERM or SIGINT.

With --refuse CODE, every RCPT is answered with that code (e.g. 451 to test retries, 550 to
test a permanent refusal) and nothing is stored. With --plaintext it offers no STARTTLS at
all, as a relay does when an attacker strips STARTTLS from its EHLO answer: a client that
requires TLS must send nothing.

Requires aiosmtpd (pinned in smtp_sink.requirements.txt beside this file).
"""

import argparse
import asyncio
import os
import signal
import ssl
import sys
import uuid
import warnings

# aiosmtpd 1.4 warns about its own use of a deprecated attribute on every login.
warnings.simplefilter("ignore", DeprecationWarning)

try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword
except ImportError:
    sys.stderr.write(
        "aiosmtpd is not installed: python3 -m pip install -r "
        "apps/server/tests/smtp_sink.requirements.txt\n"
    )
    sys.exit(3)


class Sink:
    """Stores each accepted message as OUT_DIR/<n>-<uuid>.eml."""

    def __init__(self, out_dir, refuse):
        self.out_dir = out_dir
        self.refuse = refuse
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse:
            return f"{self.refuse} refused by the test server"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = f"{self.count:06d}-{uuid.uuid4().hex}.eml"
        temp = os.path.join(self.out_dir, f".{name}.tmp")
        with open(temp, "wb") as f:
            # The envelope and what TLS and AUTH the session had, as headers the tests read.
            f.write(f"X-Sink-Mail-From: {envelope.mail_from}\r\n".encode())
            f.write(f"X-Sink-Rcpt-To: {','.join(envelope.rcpt_tos)}\r\n".encode())
            f.write(f"X-Sink-Tls: {'yes' if session.ssl else 'no'}\r\n".encode())
            data = session.auth_data
            login = data.login.decode() if isinstance(data, LoginPassword) else "-"
            f.write(f"X-Sink-Auth: {login}\r\n".encode())
            f.write(envelope.original_content)
            f.flush()
            os.fsync(f.fileno())
        os.rename(temp, os.path.join(self.out_dir, name))
        return "250 Message accepted for delivery"


def authenticator(username, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == username.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    return check


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True, help="PEM certificate chain, leaf first")
    parser.add_argument("--key", required=True, help="PEM private key")
    parser.add_argument("--out", required=True, help="folder for received messages")
    parser.add_argument("--username", help="require AUTH with this user name")
    parser.add_argument("--password", help="... and this password")
    parser.add_argument("--refuse", help="answer every RCPT with this reply, e.g. 451")
    parser.add_argument("--plaintext", action="store_true", help="offer no STARTTLS")
    args = parser.parse_args()

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(args.cert, args.key)
    auth = {}
    if args.username is not None:
        auth = dict(
            authenticator=authenticator(args.username, args.password or ""),
            auth_required=True,
            auth_require_tls=True,
        )
    tls = {} if args.plaintext else dict(tls_context=context, require_starttls=True)
    controller = Controller(
        Sink(args.out, args.refuse),
        hostname="127.0.0.1",
        port=args.port,
        ready_timeout=10,
        **tls,
        **auth,
    )
    controller.start()
    print("READY", flush=True)

    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        loop.run_until_complete(stop.wait())
    finally:
        controller.stop()
        loop.close()


if __name__ == "__main__":
    main()
