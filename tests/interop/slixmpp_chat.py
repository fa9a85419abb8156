#!/usr/bin/env python3
"""Interop check: two slixmpp clients log in to Waxwing and exchange a message.

For each transport (STARTTLS, then direct TLS / XEP-0368) both accounts log
in with SCRAM-SHA-256 only, the server's certificate pinned as the sole
trust anchor; A sends a chat message to B's *full* JID; B checks body, from
and to; then both close their streams and wait for the server's
</stream:stream>.

Exit status 0 on success; 1 with a "FAIL: ..." line on stderr otherwise.
Every wait is bounded (--timeout per step), so it never hangs.

Example:
    python3 tests/interop/slixmpp_chat.py --host 127.0.0.1 \\
        --starttls-port 5222 --direct-tls-port 5223 \\
        --cafile data/certs/localhost.crt \\
        --jid-a alice@localhost --jid-b bob@localhost --password secret
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import secrets
import ssl
import sys
from pathlib import Path

try:
    import slixmpp
    from slixmpp import ClientXMPP, JID
except ImportError:  # pragma: no cover - reported to the caller
    print("FAIL: slixmpp is not installed (pip install -r tests/interop/requirements.txt)",
          file=sys.stderr)
    sys.exit(2)

MECHANISM = "SCRAM-SHA-256"


class Failure(Exception):
    pass


def pinned_context(cafile: Path) -> ssl.SSLContext:
    """A TLS context that trusts exactly the server's (self-signed) certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname + CERT_REQUIRED
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cafile=str(cafile))  # no system CAs: pinning
    # Python >= 3.13 sets VERIFY_X509_STRICT by default, which rejects some
    # self-signed leaf certificates used as their own anchor; the pin and the
    # hostname check still apply without it.
    strict = getattr(ssl, "VERIFY_X509_STRICT", 0)
    if strict:
        ctx.verify_flags &= ~strict
    return ctx


class Client(ClientXMPP):
    def __init__(self, label: str, jid: str, password: str, resource: str,
                 transport: str, cafile: Path):
        super().__init__(f"{jid}/{resource}", password, sasl_mech=MECHANISM)
        self.label = label
        self.transport_name = transport
        self.ssl_context = pinned_context(cafile)
        # Only the transport under test: no fallback to the other one, and
        # never plaintext.
        self.enable_plaintext = False
        self.enable_direct_tls = transport == "direct-tls"
        self.enable_starttls = transport == "starttls"
        # No SCRAM/PLAIN before TLS, whatever happens.
        self.plugin["feature_mechanisms"].unencrypted_plain = False
        self.plugin["feature_mechanisms"].unencrypted_scram = False

        loop = asyncio.get_event_loop()
        self.started: asyncio.Future = loop.create_future()
        self.gone: asyncio.Future = loop.create_future()
        self.messages: asyncio.Queue = asyncio.Queue()
        self.used_mechanism: str | None = None
        self.tls_version: str | None = None

        self.add_event_handler("session_start", self._on_session_start)
        self.add_event_handler("auth_success", self._on_auth_success)
        self.add_event_handler("failed_auth", self._on_fail("SASL authentication failed"))
        self.add_event_handler("failed_all_auth", self._on_fail("no SASL mechanism succeeded"))
        self.add_event_handler("no_auth", self._on_fail(f"server did not offer {MECHANISM}"))
        self.add_event_handler("ssl_invalid_chain", self._on_fail("certificate not trusted (pin mismatch?)"))
        self.add_event_handler("connection_failed", self._on_connection_failed)
        self.add_event_handler("stream_error", self._on_stream_error)
        self.add_event_handler("disconnected", self._on_disconnected)
        self.add_event_handler("message", self._on_message)

    def _fail(self, why: str) -> None:
        if not self.started.done():
            self.started.set_exception(Failure(f"{self.label} ({self.transport_name}): {why}"))

    def _on_fail(self, why: str):
        return lambda *_: self._fail(why)

    def _on_connection_failed(self, err) -> None:
        self._fail(f"connection failed: {err}")

    def _on_stream_error(self, err) -> None:
        self._fail(f"stream error from server: {err['condition']} {err['text']}")

    def _on_auth_success(self, _stanza) -> None:
        mech = self.plugin["feature_mechanisms"].mech
        self.used_mechanism = mech.name if mech is not None else None

    def _on_session_start(self, _event) -> None:
        ssl_obj = self.transport.get_extra_info("ssl_object") if self.transport else None
        self.tls_version = ssl_obj.version() if ssl_obj is not None else None
        if not self.started.done():
            self.started.set_result(True)

    def _on_disconnected(self, reason) -> None:
        self._fail(f"disconnected before the session started ({reason})")
        if not self.gone.done():
            self.gone.set_result(reason)

    def _on_message(self, msg) -> None:
        self.messages.put_nowait(msg)


async def bounded(aw, timeout: float, what: str):
    try:
        return await asyncio.wait_for(aw, timeout)
    except asyncio.TimeoutError:
        raise Failure(f"timed out after {timeout:g}s: {what}") from None


async def login(client: Client, host: str, port: int, timeout: float) -> None:
    client.connect(host, port)
    await bounded(client.started, timeout,
                  f"{client.label} logging in over {client.transport_name} to {host}:{port}")
    if client.used_mechanism != MECHANISM:
        raise Failure(f"{client.label}: authenticated with {client.used_mechanism}, wanted {MECHANISM}")
    if client.tls_version is None:
        raise Failure(f"{client.label}: session started without TLS")
    if client.transport_name == "starttls" and "starttls" not in client.features:
        raise Failure(f"{client.label}: STARTTLS was not negotiated")
    print(f"  {client.label}: bound {client.boundjid.full} over {client.transport_name} "
          f"({client.tls_version}) with {client.used_mechanism}")


async def logout(client: Client, timeout: float) -> None:
    if not client.is_connected():
        raise Failure(f"{client.label}: connection lost before logout")
    # disconnect() sends </stream:stream>; slixmpp records "End of stream"
    # as the reason when the server's closing tag arrives, and aborts the TCP
    # connection itself if it does not arrive within `wait`.
    client.disconnect(wait=timeout)
    reason = await bounded(asyncio.shield(client.gone), timeout + 2,
                           f"{client.label} disconnecting")
    if reason != "End of stream":
        raise Failure(f"{client.label}: server did not close its stream cleanly (reason: {reason!r})")
    print(f"  {client.label}: stream closed by both sides")


async def round_trip(args, transport: str, port: int) -> None:
    print(f"[{transport}] {args.host}:{port}")
    tag = secrets.token_hex(4)
    a = Client("A", args.jid_a, args.password, f"slix-a-{tag}", transport, args.cafile)
    b = Client("B", args.jid_b, args.password, f"slix-b-{tag}", transport, args.cafile)
    try:
        await login(a, args.host, port, args.timeout)
        await login(b, args.host, port, args.timeout)

        body = f"hello from A over {transport} <&> \u00e9\u2603 {tag}"
        a.send_message(mto=b.boundjid.full, mbody=body, mtype="chat")
        msg = await bounded(b.messages.get(), args.timeout, "B receiving A's message")
        problems = []
        if msg["body"] != body:
            problems.append(f"body {msg['body']!r} != {body!r}")
        if msg["from"].full != a.boundjid.full:
            problems.append(f"from {msg['from'].full!r} != {a.boundjid.full!r}")
        if msg["to"] and msg["to"].full != b.boundjid.full:
            problems.append(f"to {msg['to'].full!r} != {b.boundjid.full!r}")
        if msg["type"] != "chat":
            problems.append(f"type {msg['type']!r} != 'chat'")
        if problems:
            raise Failure("B got a wrong message: " + "; ".join(problems) + f"\n{msg}")
        print(f"  B: received {body!r} from {msg['from'].full}")

        await logout(a, args.timeout)
        await logout(b, args.timeout)
    finally:
        for c in (a, b):
            if c.is_connected():
                c.abort()
            c.cancel_connection_attempt()


async def main_async(args) -> None:
    transports = {"starttls": args.starttls_port, "direct-tls": args.direct_tls_port}
    for transport in args.transports:
        await round_trip(args, transport, transports[transport])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1", help="address to connect to")
    p.add_argument("--starttls-port", type=int, default=5222)
    p.add_argument("--direct-tls-port", type=int, default=5223)
    p.add_argument("--cafile", type=Path, required=True,
                   help="PEM certificate to trust (the server's self-signed localhost.crt)")
    p.add_argument("--jid-a", required=True, help="sender account, e.g. alice@localhost")
    p.add_argument("--jid-b", required=True, help="recipient account, e.g. bob@localhost")
    p.add_argument("--password", required=True, help="password of both accounts")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds allowed per step")
    p.add_argument("--transports", nargs="+", choices=["starttls", "direct-tls"],
                   default=["starttls", "direct-tls"])
    p.add_argument("-v", "--verbose", action="store_true", help="slixmpp debug log (XML) to stderr")
    args = p.parse_args()

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.CRITICAL,
                        format="%(levelname)-8s %(name)s %(message)s")
    if not args.cafile.is_file():
        print(f"FAIL: certificate file {args.cafile} does not exist", file=sys.stderr)
        return 1
    for jid in (args.jid_a, args.jid_b):
        if not JID(jid).user or JID(jid).resource:
            print(f"FAIL: {jid!r} should be a bare account JID (user@domain)", file=sys.stderr)
            return 1

    print(f"slixmpp {slixmpp.__version__}")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    overall = args.timeout * 8 * len(args.transports)
    try:
        loop.run_until_complete(asyncio.wait_for(main_async(args), overall))
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    except asyncio.TimeoutError:
        print(f"FAIL: whole run exceeded {overall:g}s", file=sys.stderr)
        return 1
    finally:
        # Let cancelled slixmpp tasks and dropped clients finish while the
        # loop still exists, so nothing complains at interpreter exit.
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        gc.collect()
        loop.close()
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
