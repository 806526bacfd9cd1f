"""Session state shared by the gateway processes of one deployment (scaled mode), in Redis.

Each gateway process keeps its connections and sessions in memory. A device that reconnects may land on
another process (`linli ingest --processes N` lets the kernel spread connections; a load balancer may move it
too), so two things MQTT promises across connections of one client id must be shared:

- **Session takeover** (MQTT 3.1.1 §3.1.4-2, MQTT 5 §3.1.4): a client id connecting anywhere closes its older
  connection wherever it is. Every process announces the client ids it accepts on one Redis channel; a process
  holding another connection with that id closes it (reason 0x8E, session taken over) and forgets the session.
- **Persistent sessions**: the subscriptions of a client with clean session off (3.1.1) or a session expiry
  (5) are written to Redis when they change, so a device that comes back to another process finds its
  session present and need not subscribe again. They expire with the session's expiry once it is away.

Downlink waiting for a device lives in PostgreSQL (the downlink table), whichever process delivers it.
Without `LINLI_REDIS_URL` nothing is shared: right for the embedded mode and for a single gateway process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import time

log = logging.getLogger("linli.ingest.shared")

CONNECTED_TTL = 86_400  # while connected: kept a day past the last change (a crashed process leaves no key)


class SharedSessions:
    def __init__(self, url: str, on_takeover, prefix: str | None = None):
        import redis.asyncio

        self.redis = redis.asyncio.from_url(url)
        self.prefix = prefix if prefix is not None else os.environ.get("LINLI_REDIS_PREFIX", "linli:ingest:")
        self.channel = self.prefix + "takeover"
        self.owner = f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"
        self.on_takeover = on_takeover  # fn(client_id, at): another process accepted this client id at `at`
        self._pubsub = None
        self._task = None

    @classmethod
    def from_environment(cls, on_takeover) -> SharedSessions | None:
        url = os.environ.get("LINLI_REDIS_URL", "")
        return cls(url, on_takeover) if url else None

    def _key(self, client_id: str) -> str:
        return f"{self.prefix}session:{client_id}"

    async def start(self) -> None:
        self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(self.channel)
        self._task = asyncio.get_running_loop().create_task(self._listen())
        log.info("sharing sessions through Redis as %s", self.owner)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._pubsub is not None:
            await self._pubsub.aclose()
        await self.redis.aclose()

    async def _listen(self) -> None:
        while True:
            try:
                async for message in self._pubsub.listen():
                    owner, at, client_id = message["data"].decode().split(" ", 2)
                    if owner != self.owner:
                        self.on_takeover(client_id, float(at))
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis restarted: subscribe again; takeovers meanwhile fall back to keep-alive
                log.exception("session takeover channel lost; subscribing again")
                await asyncio.sleep(1.0)
                try:
                    await self._pubsub.subscribe(self.channel)
                except Exception:  # noqa: BLE001 — tried again on the next turn
                    pass

    async def claim(self, client_id: str, clean: bool) -> dict | None:
        """This process now holds the client id: other processes close their connection with it. Returns the
        stored persistent session ({"device": id, "subscriptions": {filter: qos}}) unless `clean`."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.publish(self.channel, f"{self.owner} {time.time()} {client_id}")
            if clean:
                pipe.delete(self._key(client_id))
            else:
                pipe.get(self._key(client_id))
            results = await pipe.execute()
        if clean or not results[1]:
            return None
        try:
            return json.loads(results[1])
        except ValueError:
            return None

    async def save(self, client_id: str, device_id: int, subscriptions: dict, ttl: int) -> None:
        data = json.dumps({"device": device_id, "subscriptions": subscriptions})
        await self.redis.set(self._key(client_id), data, ex=max(1, ttl))

    async def away(self, client_id: str, expiry: int) -> None:
        """The device disconnected: its persistent session lasts `expiry` seconds more."""
        await self.redis.expire(self._key(client_id), max(1, expiry))
