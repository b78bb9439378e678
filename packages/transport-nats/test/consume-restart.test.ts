/**
 * The NATS consumer runner across server restarts (its own nats-server, which
 * the tests stop and start): nothing is lost, a message may be handled twice,
 * and a runner whose memory stream vanished fails loudly instead of stalling.
 */
import { Fixtures, NatsServer, Wait } from "@herald/testing"
import { EventLog, Topology, TransportError } from "@herald/transport"
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import { NatsConnection, NatsEventLog, NatsTopology } from "../src/index.ts"

const Nats = Layer.unwrap(
  NatsServer.NatsServer.useSync((server) =>
    NatsConnection.layer({ servers: server.url, name: "consume-restart-test", reconnectTimeWait: "250 millis" })
  )
).pipe(Layer.provideMerge(NatsServer.layer()))

const Live = Layer.mergeAll(NatsEventLog.layer, NatsTopology.layer).pipe(Layer.provideMerge(Nats))

let counter = 0
const unique = () => {
  const id = `${++counter}x${Math.random().toString(36).slice(2, 6)}`
  return { stream: `RS${id}`.toUpperCase(), prefix: `rs${id}`, consumer: `C${id}`.toUpperCase() }
}

const envelope = (n: number) => Fixtures.envelope({ identity: n, payload: { n } })

/**
 * Appends with the same envelope until it is stored: an append that timed
 * out in a restart may have been stored, and the message id makes the retry
 * a duplicate then.
 */
const appendRetrying = (subject: string, n: number) =>
  EventLog.EventLog.use((log) =>
    log.append(subject, envelope(n), { timeout: "2 seconds" }).pipe(
      Effect.retry({ while: (e) => e.isRetryable, schedule: Schedule.spaced("250 millis"), times: 120 })
    )
  )

const survives = (crash: "restart" | "kill") =>
  Effect.scoped(Effect.gen(function*() {
    const server = yield* NatsServer.NatsServer
    const { consumer, prefix, stream } = unique()
    yield* Topology.ensure({
      streams: [{ name: stream, subjects: [`${prefix}.>`], storage: "file" }],
      consumers: [{ stream, name: consumer, ackWait: "3 seconds" }]
    })
    const log = yield* EventLog.EventLog
    const seen = new Map<string, number>()
    const handle = yield* log.consume(stream, consumer, (d) =>
      Effect.gen(function*() {
        const id = d.envelope.identity.messageId
        seen.set(id, (seen.get(id) ?? 0) + 1)
        yield* Effect.sleep("5 millis")
      }), { concurrency: 4 })
    for (let n = 1; n <= 40; n++) yield* appendRetrying(`${prefix}.x`, n)
    yield* crash === "restart" ? server.restart : Effect.andThen(server.kill, server.start)
    for (let n = 41; n <= 80; n++) yield* appendRetrying(`${prefix}.x`, n)
    yield* Wait.until(Effect.sync(() => seen.size), (k) => k === 80, "80 distinct messages handled", { bound: "40 seconds" })
    const expected = Array.from({ length: 80 }, (_, i) => envelope(i + 1).identity.messageId).sort()
    assert.deepStrictEqual([...seen.keys()].sort(), expected, "a message is missing")
    const lag = yield* Wait.until(
      log.lag(stream, consumer),
      (l) => l.pending === 0 && l.ackPending === 0 && l.ackFloor === 80,
      "everything acked",
      { bound: "40 seconds" }
    )
    assert.deepStrictEqual([lag.pending, lag.ackPending, lag.ackFloor], [0, 0, 80])
    // Each message stored once (retried appends were duplicates), handled at least once.
    assert.strictEqual((yield* log.info(stream)).messages, 80)
    const handledTimes = [...seen.values()].reduce((a, b) => a + b, 0)
    assert.isAtLeast(handledTimes, 80)
    assert.isAtLeast((yield* handle.stats).acked, 80)
  }))

layer(Live, { excludeTestServices: true, timeout: "120 seconds" })("NatsEventLog.consume across restarts", (it) => {
  it.effect("a graceful restart of the server during consume: every message is handled and acked, none is missing", () =>
    survives("restart"))

  it.effect("a kill -9 of the server during consume: every message is handled and acked, none is missing", () =>
    survives("kill"))

  it.effect("a memory stream lost in a restart: appends fail with NoStreamForSubject and the runner fails with StreamNotFound", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* NatsServer.NatsServer
      const { consumer, prefix, stream } = unique()
      yield* Topology.ensure({
        streams: [{ name: stream, subjects: [`${prefix}.>`], storage: "memory" }],
        consumers: [{ stream, name: consumer }]
      })
      const log = yield* NatsEventLog.make({ missingGracePeriod: "3 seconds" })
      const handled: Array<number> = []
      const handle = yield* log.consume(stream, consumer, (d) => Effect.sync(() => void handled.push(d.streamSequence)))
      yield* log.append(`${prefix}.x`, envelope(1))
      yield* Wait.until(Effect.sync(() => handled.length), (k) => k === 1, "message 1 handled")
      yield* server.restart
      const error = yield* Effect.flip(handle.await)
      assert.strictEqual(error.reason._tag, "StreamNotFound")
      if (error.reason._tag === "StreamNotFound") assert.strictEqual(error.reason.stream, stream)
      const append = yield* Effect.flip(
        log.append(`${prefix}.x`, envelope(2)).pipe(
          Effect.retry({ while: (e) => e.isRetryable, schedule: Schedule.spaced("250 millis"), times: 40 })
        )
      )
      assert.strictEqual(append.reason._tag, "NoStreamForSubject")
      assert.isFalse(TransportError.isRetryable(append))
      assert.deepStrictEqual(handled, [1])
    })))
})
