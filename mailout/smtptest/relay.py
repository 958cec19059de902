"""A real SMTP server for Leadline's tests: aiosmtpd (Debian's python3-aiosmtpd), run
by /usr/bin/python3, as the relay mail leaves through and the mailbox it arrives in.

Each message accepted is written to --dir as NNNNNN.eml (the bytes received, after
dot-unstuffing) beside NNNNNN.json (envelope sender, recipients, whether the session was
encrypted, who authenticated). The .json is written first and the .eml renamed into
place, so a reader that sees an .eml finds both whole. The first line on stdout is
"listening PORT" once connections are taken; it runs until stdin closes or it is
killed.

  --listen HOST:PORT   where to listen (port 0: any free one, printed)
  --dir DIR            where messages go
  --cert F --key F     offer STARTTLS with this certificate (--implicit-tls: TLS from the
                       first byte instead, as on port 465)
  --require-tls        refuse MAIL before STARTTLS
  --user U --password P
                       require AUTH (PLAIN or LOGIN) with these credentials
  --no-plain           offer AUTH LOGIN only
  --fail N --fail-with "451 4.3.0 Try again later"
                       answer the first N messages' DATA with that reply instead of
                       taking them
"""

import argparse
import asyncio
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Handler:
    def __init__(self, directory, fail, fail_with):
        self.directory = directory
        self.fail = fail
        self.fail_with = fail_with
        self.seq = 0

    async def handle_DATA(self, server, session, envelope):
        if self.fail > 0:
            self.fail -= 1
            return self.fail_with
        self.seq += 1
        base = os.path.join(self.directory, "%06d" % self.seq)
        auth = None
        if isinstance(session.auth_data, LoginPassword):
            auth = session.auth_data.login.decode("utf-8", "replace")
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None
                   or server.transport.get_extra_info("ssl_object") is not None,
            "auth": auth,
        }
        with open(base + ".json.tmp", "w") as f:
            json.dump(meta, f)
        os.rename(base + ".json.tmp", base + ".json")
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(base + ".eml.tmp", base + ".eml")
        return "250 2.0.0 Message accepted for delivery"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--implicit-tls", action="store_true")
    p.add_argument("--require-tls", action="store_true")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--no-plain", action="store_true")
    p.add_argument("--fail", type=int, default=0)
    p.add_argument("--fail-with", default="451 4.3.0 Try again later")
    a = p.parse_args()

    host, _, port = a.listen.rpartition(":")
    ctx = None
    if a.cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.cert, a.key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login.decode() == a.user
              and auth_data.password.decode() == a.password)
        # handled=False: aiosmtpd answers a failure with 535 itself.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    handler = Handler(a.dir, a.fail, a.fail_with)

    def factory():
        kw = dict(hostname="relay.test", decode_data=False)
        if ctx is not None and not a.implicit_tls:
            kw.update(tls_context=ctx, require_starttls=a.require_tls)
        if a.user:
            kw.update(authenticator=authenticator, auth_required=True,
                      auth_require_tls=ctx is not None and not a.implicit_tls)
            if a.no_plain:
                kw.update(auth_exclude_mechanism=["PLAIN"])
        return SMTP(handler, **kw)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(loop.create_server(
        factory, host=host, port=int(port), ssl=ctx if a.implicit_tls else None))
    print("listening %d" % server.sockets[0].getsockname()[1], flush=True)

    # Stop when stdin closes: the test that started it ended.
    def stdin_closed():
        if not sys.stdin.buffer.read1(4096):
            loop.stop()
    loop.add_reader(sys.stdin.fileno(), stdin_closed)
    loop.run_forever()
    server.close()


if __name__ == "__main__":
    main()
