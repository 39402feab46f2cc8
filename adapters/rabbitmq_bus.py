"""RabbitMQ bus: a durable reports queue with manual acks, a queue per worker, heartbeat fanout."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import uuid
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar
from uuid import UUID

import aio_pika
import orjson
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError, PublishError

from adapters.tls import TlsFiles
from application.bus import Received
from application.messages import Control, Delivery, Heartbeat, Report, inbox_message_from_dict

logger = logging.getLogger(__name__)

T = TypeVar("T")
# The inbox of a worker unused for an hour vanishes.
INBOX_ARGUMENTS: dict[str, Any] = {"x-expires": 3_600_000}
# Shipped log lines waiting for a dispatcher: the oldest go first past the limit.
LOGS_ARGUMENTS: dict[str, Any] = {"x-max-length": 10_000, "x-overflow": "drop-head"}
FANOUT = aio_pika.ExchangeType.FANOUT
RECLAIM_SECONDS = 30.0  # like the Redis bus: a report unacked this long goes back to the queue


class RabbitMQBus:
    """Every queue and exchange is named under `prefix`, so several runs can share a broker."""

    def __init__(
        self,
        url: str,
        prefix: str = "scheduler",
        prefetch: int = 100,
        timeout: float = 5.0,
        tls: TlsFiles | None = None,
    ) -> None:
        self.prefix = prefix
        self._url, self._prefetch, self._timeout = url, prefetch, timeout
        # amqps:// verifies the broker against the system's CAs unless given a CA file.
        secure = url.lower().startswith("amqps://")
        self._ssl_context = tls.context() if secure and tls is not None else None
        self._reports, self._heartbeats = f"{prefix}.reports", f"{prefix}.heartbeats"
        self._dead = f"{prefix}.dead"  # unreadable messages, kept for operators
        self._logs = f"{prefix}.logs"  # log lines of workers, for a dispatcher to store
        self._connection: AbstractRobustConnection | None = None
        self._channels: dict[str, AbstractRobustChannel] = {}
        self._setup = asyncio.Lock()
        self._declared: set[str] = set()  # queues published to; a returned message redeclares
        self._inboxes: set[str] = set()  # every inbox this bus declared, for delete_all
        self._feeds: dict[str, _Feed] = {}  # consumed queues by name
        self._pending: dict[str, tuple[float, AbstractIncomingMessage]] = {}  # unacked reports
        self._tokens = itertools.count(1)
        self._closed = False
        self._close_lock = threading.Lock()
        # Callers are plain threads: one loop in a daemon thread owns every AMQP object, so
        # the bus state above is only touched there and needs no thread lock.
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="rabbitmq-bus", daemon=True)
        self._thread.start()

    def inbox_key(self, worker_id: UUID) -> str:
        """The queue of one worker's deliveries and controls."""
        return f"{self.prefix}.worker.{worker_id}"

    def publish_delivery(self, delivery: Delivery) -> None:
        """Publish the delivery to its worker's queue."""
        self._run(self._publish(self.inbox_key(delivery.worker_id), delivery.to_dict()))

    def publish_control(self, control: Control) -> None:
        """Publish the control message to its worker's queue."""
        self._run(self._publish(self.inbox_key(control.worker_id), control.to_dict()))

    def publish_inbox_messages(self, messages: Sequence[Delivery | Control]) -> None:
        """Publish each message to its worker's queue, in order, in one hop to the loop."""
        self._run(self._publish_all([(self.inbox_key(m.worker_id), m.to_dict()) for m in messages]))

    def receive_inbox(
        self, worker_id: UUID, max_count: int, timeout: float
    ) -> list[Delivery | Control]:
        """Take the worker's next messages, acked as handed out (the worker deduplicates)."""
        queue = self.inbox_key(worker_id)
        messages = self._run(self._take(queue, max_count, timeout), timeout)
        parsed: list[Delivery | Control] = []
        for message in messages:
            try:
                parsed.append(inbox_message_from_dict(orjson.loads(message.body)))
            except Exception as error:  # one unreadable message must not stop the inbox
                self._run(self._bury(queue, message.body, error))
        return parsed

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """Unreadable messages taken out of the queues (read and put back; oldest first)."""
        return self._run(self._peek_dead(limit))

    def drop_inbox(self, worker_id: UUID) -> None:
        """Delete a gone worker's queue."""
        self._run(self._delete_queue(self.inbox_key(worker_id)))

    def publish_report(self, report: Report) -> None:
        """Publish the report to the shared reports queue."""
        self._run(self._publish(self._reports, report.to_dict()))

    def publish_reports(self, reports: Sequence[Report]) -> None:
        """Publish the reports to the shared reports queue, in order, in one hop to the loop."""
        self._run(self._publish_all([(self._reports, r.to_dict()) for r in reports]))

    def receive_reports(
        self, consumer: str, max_count: int, timeout: float
    ) -> list[Received[Report]]:
        """Take reports, unacked until ack_reports; RabbitMQ requeues those a dead bus held."""
        return self._run(self._receive_reports(max_count, timeout), timeout)

    def ack_reports(self, tokens: list[str]) -> None:
        """Acknowledge recorded reports."""
        self._run(self._settle(tokens, requeue=None))

    def publish_heartbeat(self, heartbeat: Heartbeat) -> None:
        """Publish to the fanout exchange every listener's queue is bound to."""
        self._run(self._publish_heartbeat(orjson.dumps(heartbeat.to_dict())))

    def heartbeat_listener(self) -> RabbitMQHeartbeatListener:
        """A queue of its own bound to the heartbeat exchange from now on."""
        return RabbitMQHeartbeatListener(self, self._run(self._listen()))

    def publish_logs(self, lines: Sequence[dict[str, Any]]) -> None:
        """Publish log lines, one message for the batch, to the shared logs queue."""
        if lines:
            self._run(self._publish(self._logs, {"lines": list(lines)}))

    def take_logs(self, max_count: int) -> list[dict[str, Any]]:
        """Take the log batches that have arrived (at most `max_count`), acked as taken."""
        lines: list[dict[str, Any]] = []
        for message in self._run(self._take(self._logs, max_count, 0.0)):
            try:
                lines.extend(orjson.loads(message.body)["lines"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                logger.warning("unreadable log batch on the bus skipped")
        return lines

    def ping(self) -> None:
        """Open and close a channel: a round trip to the broker."""
        self._run(self._ping())

    def close(self) -> None:
        """Close the connection, then stop the loop and its thread."""
        with self._close_lock:
            if self._closed:
                return
            try:
                if self._connection is not None:
                    self._run(self._connection.close())
            except Exception:
                logger.warning("cannot close the RabbitMQ connection cleanly", exc_info=True)
            finally:
                self._closed = True
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(self._timeout)

    def delete_all(self) -> None:
        """Delete the reports queue, the heartbeat exchange and this bus's inboxes (tests)."""
        self._run(self._delete_all())

    def _run(self, coroutine: Coroutine[Any, Any, T], wait: float = 0.0) -> T:
        try:
            if self._closed:
                raise RuntimeError("the RabbitMQ bus is closed")
            future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        except RuntimeError:
            coroutine.close()  # never scheduled: no "never awaited" warning
            raise
        try:
            return future.result(max(wait, 0.0) + self._timeout)
        except TimeoutError:
            future.cancel()
            raise

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            # Finish what close() left (reconnection tasks) so nothing outlives the loop.
            tasks = asyncio.all_tasks(self._loop)
            for task in tasks:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    async def _channel(self, name: str) -> AbstractRobustChannel:
        async with self._setup:
            if self._connection is None:
                self._connection = await aio_pika.connect_robust(
                    self._url, timeout=self._timeout, ssl_context=self._ssl_context
                )
            if name not in self._channels:
                # "publish" confirms and raises on unroutable messages; "consume" bounds
                # each consumer on it to `prefetch` unacked messages.
                channel = await self._connection.channel(on_return_raises=name == "publish")
                if name == "consume":
                    await channel.set_qos(prefetch_count=self._prefetch)
                self._channels[name] = channel
            return self._channels[name]

    async def _declare(
        self, channel: AbstractRobustChannel, queue: str, robust: bool
    ) -> AbstractQueue:
        inbox = queue not in (self._reports, self._dead, self._logs)
        if inbox:
            self._inboxes.add(queue)
        arguments = INBOX_ARGUMENTS if inbox else LOGS_ARGUMENTS if queue == self._logs else None
        # Robust (redeclared on reconnect) only when consumed: the channel keeps every robust
        # declaration for good, and publishers declare whenever a message comes back.
        declared = await channel.declare_queue(
            queue, durable=True, arguments=arguments, robust=robust
        )
        self._declared.add(queue)
        return declared

    async def _publish_all(self, messages: list[tuple[str, dict[str, Any]]]) -> None:
        for queue, data in messages:  # one by one: each waits for its confirm, order kept
            await self._publish(queue, data)

    async def _publish(self, queue: str, data: dict[str, Any]) -> None:
        channel, body = await self._channel("publish"), orjson.dumps(data)
        for attempt in range(2):
            if queue not in self._declared:
                await self._declare(channel, queue, robust=False)
            message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            try:
                await channel.default_exchange.publish(message, queue, mandatory=True)
                return
            except PublishError:
                # Returned as unroutable: the queue was deleted or expired since we declared it.
                self._declared.discard(queue)
                if attempt:
                    raise

    async def _take(self, queue: str, max_count: int, timeout: float) -> list[Any]:
        channel = await self._channel("consume")
        async with self._setup:  # one consumer per queue, however many threads ask at once
            if queue not in self._feeds:
                declared = await self._declare(channel, queue, robust=True)
                self._feeds[queue] = await _Feed(declared).start()
        messages = await self._feeds[queue].take(max_count, timeout)
        if queue != self._reports:
            await _settle_all(messages, requeue=None)  # inboxes and heartbeats: ack at once
        return messages

    async def _receive_reports(self, max_count: int, timeout: float) -> list[Received[Report]]:
        now = self._loop.time()
        # A report handed out long ago whose recording failed would hold a prefetch slot for
        # good: requeue it, as the Redis bus reclaims long-pending entries.
        await self._settle(
            [t for t, (at, _) in self._pending.items() if now - at > RECLAIM_SECONDS], requeue=True
        )
        received: list[Received[Report]] = []
        for message in await self._take(self._reports, max_count, timeout):
            try:
                report = Report.from_dict(orjson.loads(message.body))
            except Exception as error:  # moved aside and acked: it must not come back forever
                await self._bury(self._reports, message.body, error)
                await _settle_all([message], requeue=None)
                continue
            token = f"{next(self._tokens)}:{message.delivery_tag}"  # unique across reconnects
            self._pending[token] = (self._loop.time(), message)
            received.append(Received(report, token))
        return received

    async def _bury(self, source: str, body: bytes, error: Exception) -> None:
        reason = f"{type(error).__name__}: {error}"[:1000]
        logger.error("unreadable message in %s moved to %s: %s", source, self._dead, reason)
        channel = await self._channel("publish")
        if self._dead not in self._declared:
            await self._declare(channel, self._dead, robust=False)
            self._declared.add(self._dead)
        message = aio_pika.Message(
            body,
            headers={"source": source, "error": reason},
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await channel.default_exchange.publish(message, self._dead)

    async def _peek_dead(self, limit: int) -> list[dict[str, Any]]:
        channel = await self._channel("publish")
        queue = await self._declare(channel, self._dead, robust=False)
        seen: list[Any] = []
        while len(seen) < limit and (message := await queue.get(no_ack=False, fail=False)):
            seen.append(message)
        found = [
            {
                "source": str(m.headers.get("source", "")),
                "error": str(m.headers.get("error", "")),
                "m": m.body.decode(errors="replace"),
            }
            for m in seen
        ]
        for message in seen:
            await message.nack(requeue=True)
        return found

    async def _settle(self, tokens: list[str], requeue: bool | None) -> None:
        entries = [entry for token in tokens if (entry := self._pending.pop(token, None))]
        await _settle_all([message for _at, message in entries], requeue)

    async def _publish_heartbeat(self, body: bytes) -> None:
        # Declared every time: heartbeats are rare and the exchange may have been deleted.
        channel = await self._channel("publish")
        exchange = await channel.declare_exchange(
            self._heartbeats, FANOUT, durable=True, robust=False
        )
        await exchange.publish(aio_pika.Message(body), "", mandatory=False)  # no listener: fine

    async def _listen(self) -> str:
        channel = await self._channel("consume")
        exchange = await channel.declare_exchange(self._heartbeats, FANOUT, durable=True)
        # Named under the prefix: aio-pika's robust queues name themselves client-side anyway.
        name = f"{self._heartbeats}.{uuid.uuid4().hex[:12]}"
        queue = await channel.declare_queue(name, exclusive=True, auto_delete=True)
        await queue.bind(exchange)
        self._feeds[name] = await _Feed(queue).start()
        return name

    async def _ping(self) -> None:
        await self._channel("publish")  # connects on first use
        assert self._connection is not None
        await self._connection.ready()  # a robust connection may be reconnecting
        async with self._connection.channel(publisher_confirms=False):
            pass  # opening and closing a channel is a round trip

    async def _delete_queue(self, queue: str) -> None:
        channel = await self._channel("consume")
        if feed := self._feeds.pop(queue, None):
            await feed.queue.cancel(feed.tag)
        self._declared.discard(queue)
        # Through the consume channel, which then stops restoring it; absent queues are fine.
        await channel.queue_delete(queue)

    async def _delete_all(self) -> None:
        self._pending.clear()
        for queue in [self._reports, self._dead, self._logs, *sorted(self._inboxes)]:
            await self._delete_queue(queue)
        await (await self._channel("publish")).exchange_delete(self._heartbeats)


class _Feed:
    """A consumer that fills a local buffer, which the channel's prefetch bounds."""

    def __init__(self, queue: AbstractQueue) -> None:
        self.queue, self.tag = queue, ""
        self.buffer: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()

    async def start(self) -> _Feed:
        """Start consuming."""
        self.tag = await self.queue.consume(self._arrived)
        return self

    async def _arrived(self, message: AbstractIncomingMessage) -> None:
        self.buffer.put_nowait(message)

    async def take(self, max_count: int, timeout: float) -> list[AbstractIncomingMessage]:
        """Wait up to `timeout` for the first message, then drain what is already here."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        taken: list[AbstractIncomingMessage] = []
        while len(taken) < max_count:
            remaining = deadline - loop.time()
            try:
                if taken or remaining <= 0:
                    message = self.buffer.get_nowait()
                else:
                    message = await asyncio.wait_for(self.buffer.get(), remaining)
            except (asyncio.QueueEmpty, TimeoutError):
                break
            try:
                message.channel  # noqa: B018 - raises once its channel closed
            except ChannelInvalidStateError:
                continue  # RabbitMQ has requeued it for the next consumer
            taken.append(message)
        return taken


class RabbitMQHeartbeatListener:
    """Reads its own queue bound to the heartbeat exchange."""

    def __init__(self, bus: RabbitMQBus, queue: str) -> None:
        self._bus = bus
        self._queue = queue

    def receive(self, max_count: int, timeout: float) -> list[Heartbeat]:
        """Heartbeats since the last call (waiting up to `timeout` for the first)."""
        take = self._bus._take(self._queue, max_count, timeout)
        beats = []
        for message in self._bus._run(take, timeout):
            try:
                beats.append(Heartbeat.from_dict(orjson.loads(message.body)))
            except Exception as error:  # a heartbeat is a hint: skip it, say so
                logger.warning("unreadable heartbeat skipped: %s", error)
        return beats

    def close(self) -> None:
        """Cancel the consumer and delete the queue."""
        self._bus._run(self._bus._delete_queue(self._queue))


async def _settle_all(messages: list[AbstractIncomingMessage], requeue: bool | None) -> None:
    """Ack (requeue None) or nack each message; a closed channel already gave it back."""
    for message in messages:
        try:
            await (message.ack() if requeue is None else message.nack(requeue=requeue))
        except (AMQPError, ChannelInvalidStateError, ConnectionError):
            logger.debug("cannot settle a message; RabbitMQ redelivers it", exc_info=True)
