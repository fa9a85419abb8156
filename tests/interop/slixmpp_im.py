#!/usr/bin/env python3
"""Interop check of instant messaging with a real client library (slixmpp).

Two users, A and B, on Waxwing:
  1. log in, fetch their rosters and send initial presence;
  2. A asks B for a subscription; B approves and asks back; A approves
     (slixmpp's own roster logic does the answering): both rosters end with
     subscription "both";
  3. each sees the other come online; A chats to B's bare JID and B gets it;
  4. B logs out and A sees B go offline;
  5. A sends B two messages while B is offline; B logs in again and gets them,
     in order, with a XEP-0203 delay stamp, and A sees B come back.

Exit status 0 with "OK" last on success; 1 with "FAIL: ..." otherwise. Every
wait is bounded by --timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import ssl
import sys
from pathlib import Path

try:
    from slixmpp import ClientXMPP, JID
except ImportError:  # pragma: no cover - reported to the caller
    print("FAIL: slixmpp is not installed (pip install -r tests/interop/requirements.txt)", file=sys.stderr)
    sys.exit(2)


class Failure(Exception):
    pass


def pinned_context(cafile: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=str(cafile))
    strict = getattr(ssl, "VERIFY_X509_STRICT", 0)
    if strict:
        ctx.verify_flags &= ~strict
    return ctx


class User(ClientXMPP):
    def __init__(self, label: str, jid: str, password: str, cafile: Path):
        super().__init__(f"{jid}/slix-{label.lower()}-{secrets.token_hex(3)}", password)
        self.label = label
        self.ssl_context = pinned_context(cafile)
        self.enable_plaintext = False
        self.enable_direct_tls = False
        self.register_plugin("xep_0203")  # delayed delivery stamps
        # slixmpp answers subscription requests itself: approve, and ask back.
        self.roster.auto_authorize = True
        self.roster.auto_subscribe = True
        loop = asyncio.get_event_loop()
        self.started: asyncio.Future = loop.create_future()
        self.messages: asyncio.Queue = asyncio.Queue()
        self.online: asyncio.Queue = asyncio.Queue()
        self.offline: asyncio.Queue = asyncio.Queue()
        self.add_event_handler("session_start", self._on_start)
        self.add_event_handler("failed_all_auth", lambda *_: self._fail("authentication failed"))
        self.add_event_handler("connection_failed", lambda e: self._fail(f"connection failed: {e}"))
        self.add_event_handler("message", lambda m: self.messages.put_nowait(m))
        self.add_event_handler("got_online", lambda p: self.online.put_nowait(p["from"].bare))
        self.add_event_handler("got_offline", lambda p: self.offline.put_nowait(p["from"].bare))

    def _fail(self, why: str) -> None:
        if not self.started.done():
            self.started.set_exception(Failure(f"{self.label}: {why}"))

    async def _on_start(self, _event) -> None:
        await self.get_roster()
        self.send_presence()
        if not self.started.done():
            self.started.set_result(True)

    def subscription(self, jid: str) -> str:
        return self.client_roster[jid]["subscription"] if jid in self.client_roster else "none"


async def bounded(aw, timeout: float, what: str):
    try:
        return await asyncio.wait_for(aw, timeout)
    except asyncio.TimeoutError:
        raise Failure(f"timed out after {timeout:g}s: {what}") from None


async def until(predicate, timeout: float, what: str) -> None:
    async def poll():
        while not predicate():
            await asyncio.sleep(0.05)
    await bounded(poll(), timeout, what)


async def wait_for_jid(queue: asyncio.Queue, jid: str, timeout: float, what: str) -> None:
    async def find():
        while (await queue.get()) != jid:
            pass
    await bounded(find(), timeout, what)


async def login(user: User, args) -> None:
    user.connect(args.host, args.port)
    await bounded(user.started, args.timeout, f"{user.label} logging in")
    print(f"  {user.label}: online as {user.boundjid.full}")


async def logout(user: User, timeout: float) -> None:
    user.disconnect(wait=timeout)
    await bounded(user.disconnected, timeout + 2, f"{user.label} logging out")


async def scenario(args) -> None:
    a = User("A", args.jid_a, args.password, args.cafile)
    b = User("B", args.jid_b, args.password, args.cafile)
    b2 = None
    try:
        await login(a, args)
        await login(b, args)

        a.send_presence(pto=args.jid_b, ptype="subscribe")
        await until(lambda: a.subscription(args.jid_b) == "both" and b.subscription(args.jid_a) == "both",
                    args.timeout, "both rosters reaching subscription 'both'")
        print("  rosters: A has B as 'both', B has A as 'both'")
        await wait_for_jid(a.online, args.jid_b, args.timeout, "A seeing B online")
        await wait_for_jid(b.online, args.jid_a, args.timeout, "B seeing A online")
        print("  presence: each sees the other online")

        a.send_message(mto=args.jid_b, mbody="hello, B", mtype="chat")
        msg = await bounded(b.messages.get(), args.timeout, "B receiving a chat")
        if msg["body"] != "hello, B" or msg["from"].full != a.boundjid.full:
            raise Failure(f"B got a wrong message: {msg}")
        print("  chat: B got A's message")

        await logout(b, args.timeout)
        await wait_for_jid(a.offline, args.jid_b, args.timeout, "A seeing B go offline")
        print("  presence: A saw B go offline")

        for body in ("while you were out 1", "while you were out 2"):
            a.send_message(mto=args.jid_b, mbody=body, mtype="chat")
        await asyncio.sleep(0.5)

        b2 = User("B", args.jid_b, args.password, args.cafile)
        await login(b2, args)
        got = []
        for _ in range(2):
            msg = await bounded(b2.messages.get(), args.timeout, "B receiving offline messages")
            if not msg["delay"]["stamp"]:
                raise Failure(f"offline message without a delay stamp: {msg}")
            got.append(msg["body"])
        if got != ["while you were out 1", "while you were out 2"]:
            raise Failure(f"offline messages wrong or out of order: {got}")
        print("  offline: B got both messages, in order, with delay stamps")
        await wait_for_jid(a.online, args.jid_b, args.timeout, "A seeing B come back")
        print("  presence: A saw B come back")
        await logout(b2, args.timeout)
        await logout(a, args.timeout)
    finally:
        for c in (a, b, b2):
            if c is not None and c.is_connected():
                c.abort()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5222)
    p.add_argument("--cafile", type=Path, required=True)
    p.add_argument("--jid-a", required=True)
    p.add_argument("--jid-b", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--timeout", type=float, default=20)
    args = p.parse_args()
    try:
        asyncio.run(scenario(args))
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
