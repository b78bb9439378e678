/**
 * Fault tests of the NATS transport against a real nats-server 2.9 (one per
 * test, so that a crash in one cannot disturb another): a SIGKILL of the
 * server under load, a consumer deleted under a running runner, poison
 * messages, and acknowledged appends across a SIGKILL.
 *
 * Every assertion is an exact count; no assertion is about timing. Every wait
 * is bounded and fails with what it was waiting for and what it last saw.
 *
 * (A memory stream lost in a restart — the runner fails with
 * `StreamNotFound` instead of stalling — is covered by
 * `consume-restart.test.ts`.)
 */
import { Fixtures, NatsServer, Wait } from "@herald/testing"
import { DeadLetter, EventLog, Topology, TransportError, Wire } from "@herald/transport"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { NatsConnection, NatsEventLog, NatsTransport } from "../src/index.ts"

// -----------------------------------------------------------------------------
// helpers
// -----------------------------------------------------------------------------

let counter = 0
const unique = () => {
  const id = `${++counter}x${Math.random().toString(36).slice(2, 6)}`
  return { stream: `FT${id}`.toUpperCase(), prefix: `ft${id}`, consumer: `C${id}`.toUpperCase() }
}

const decoder = new TextDecoder()
const envelope = (n: number) => Fixtures.envelope({ identity: n, payload: { n } })
const idOf = (n: number): string => Fixtures.id(n)
const nOf = (d: EventLog.Delivery): number => (JSON.parse(decoder.decode(d.envelope.body)) as { readonly n: number }).n
const range = (from: number, to: number): ReadonlyArray<number> => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** Runs `body` against a nats-server of its own, with the whole transport on it. */
const withServer = <A, E, R>(
  name: string,
  body: (server: NatsServer.NatsServer["Service"]) => Effect.Effect<A, E, R>
) =>
  Effect.gen(function*() {
    const server = yield* NatsServer.make()
    return yield* body(server).pipe(
      Effect.provide(NatsTransport.layer({ servers: server.url, name, reconnectTimeWait: "250 millis" }))
    )
  })

const { bounded, until, whileRunning } = Wait

/** What `append` failed with, by reason, on the way to an acknowledgement. */
type Failures = Record<string, number>

/**
 * Appends with the same envelope until the server acknowledges it, on every
 * retryable failure (an append that timed out in a crash may have been
 * stored: the same message id makes the retry a duplicate then). A
 * non-retryable failure fails.
 */
const appendUntilAcked = (
  log: EventLog.EventLog["Service"],
  subject: string,
  n: number,
  failures: Failures
) =>
  log.append(subject, envelope(n), { timeout: "2 seconds" }).pipe(
    Effect.tapError((e) => Effect.sync(() => void (failures[e.reason._tag] = (failures[e.reason._tag] ?? 0) + 1))),
    Effect.retry({ while: (e) => e.isRetryable, schedule: Schedule.spaced("100 millis") })
  )

/** Every settlement sent to a consumer's ack subjects (`$JS.ACK.<stream>.<consumer>.>`), in arrival order. */
const captureSettlements = (stream: string, consumer: string) =>
  Effect.gen(function*() {
    const { client } = yield* NatsConnection.NatsConnection
    const seen: Array<{ readonly sequence: number; readonly payload: string }> = []
    const sub = client.subscribe(`$JS.ACK.${stream}.${consumer}.>`, {
      callback: (_err, msg) => {
        seen.push({ sequence: Number(msg.subject.split(".")[5]), payload: decoder.decode(msg.data) })
      }
    })
    yield* Effect.addFinalizer(() => Effect.sync(() => sub.unsubscribe()))
    yield* Effect.promise(() => client.flush())
    return seen
  })

/**
 * Waits until the client is connected again (a PING answered). nats.js 3.4
 * discards what was written while it was disconnected (every dial resets its
 * outbound buffer), so a request sent before the reconnect only times out.
 */
const reconnected = () =>
  until(
    Effect.flatMap(NatsConnection.NatsConnection, ({ client }) => Effect.tryPromise(() => client.flush())),
    () => true,
    "the client reconnected"
  )

/** The dead letters of a stream, parsed. */
const deadLetters = (log: EventLog.EventLog["Service"], stream: string) =>
  Effect.map(Stream.runCollect(log.readRaw(stream)), (ms) =>
    ms.map((m) => {
      const info = DeadLetter.parse(m.raw)
      if (info === undefined) return assert.fail(`not a dead letter: ${JSON.stringify(m.raw.headers)}`)
      return { message: m, info }
    }))

/** A line of the run's counts in the test output. */
const report = (line: string) => Effect.sync(() => console.log(`[fault] ${line}`))

// -----------------------------------------------------------------------------
// tests
// -----------------------------------------------------------------------------

describe("transport-nats faults", () => {
  it.live(
    "SIGKILL of the server under load: every append acknowledged and stored once, every message handled, none lost",
    () =>
      withServer("fault-kill-under-load", (server) =>
        Effect.gen(function*() {
          const N = 10_000
          const KILL_AFTER = 3_000
          const started = Date.now()
          const { consumer, prefix, stream } = unique()
          const subject = `${prefix}.x`
          // A short ack wait: a settlement lost in the crash is redelivered within the test.
          yield* Topology.ensure({
            streams: [{ name: stream, subjects: [`${prefix}.>`], storage: "file" }],
            consumers: [{ stream, name: consumer, ackWait: "5 seconds" }]
          })
          const log = yield* EventLog.EventLog

          // The consumer: every handled id, and every handler call.
          const handled = new Map<string, number>()
          let calls = 0
          const handle = yield* log.consume(stream, consumer, (d) =>
            Effect.sync(() => {
              calls++
              const id = d.envelope.identity.messageId
              handled.set(id, (handled.get(id) ?? 0) + 1)
            }), { concurrency: 8 })

          // The appender: 64 appends in flight, each retried with its own envelope until acknowledged.
          const acked = new Map<string, number>()
          let duplicates = 0
          const failures: Failures = {}
          const appender = yield* Effect.forkChild(
            Effect.forEach(
              range(1, N),
              (n) =>
                Effect.tap(appendUntilAcked(log, subject, n, failures), (r) =>
                  Effect.sync(() => {
                    acked.set(idOf(n), r.sequence)
                    if (r.duplicate) duplicates++
                  })),
              { concurrency: 64, discard: true }
            )
          )

          yield* whileRunning(
            handle,
            until(Effect.sync(() => acked.size), (k) => k >= KILL_AFTER, `${KILL_AFTER} appends acknowledged`)
          )
          const atKill = { acked: acked.size, handled: handled.size, calls }
          yield* server.kill
          yield* Effect.sleep("1500 millis")
          yield* server.start
          const restartedAt = Date.now()

          // Both must resume on their own: the appender finishes, the runner handles everything.
          yield* whileRunning(
            handle,
            bounded(Fiber.join(appender), "60 seconds", () => `the appender (${acked.size} of ${N} acknowledged)`)
          )
          const appendedAt = Date.now()
          yield* whileRunning(
            handle,
            until(Effect.sync(() => handled.size), (k) => k === N, `${N} distinct messages handled`, { bound: "60 seconds" })
          )
          const lag = yield* whileRunning(
            handle,
            until(
              log.lag(stream, consumer),
              (l) => l.pending === 0 && l.ackPending === 0 && l.ackFloor === N,
              "everything acknowledged by the consumer"
            )
          )
          const info = yield* log.info(stream)
          const stats = yield* handle.stats

          yield* report(
            `kill under load: killed at ${atKill.acked} acked appends / ${atKill.handled} handled (${atKill.calls} calls); ` +
              `append failures retried ${JSON.stringify(failures)}, duplicates answered ${duplicates}; ` +
              `handler calls ${calls}, redeliveries ${calls - N}; stats ${JSON.stringify(stats)}; ` +
              `appends done ${appendedAt - restartedAt} ms after the restart; total ${Date.now() - started} ms`
          )

          assert.strictEqual(acked.size, N, "acknowledged appends")
          assert.strictEqual(info.messages, N, "stored messages: the retried appends must be duplicates")
          assert.strictEqual(info.lastSequence, N, "no sequence was used by a second copy")
          assert.deepStrictEqual(
            [...new Set(acked.values())].length,
            N,
            "each acknowledged append has a sequence of its own"
          )
          assert.strictEqual(handled.size, N, "distinct messages handled")
          const lost = [...acked.keys()].filter((id) => !handled.has(id))
          assert.deepStrictEqual(lost, [], "acknowledged appends never handled")
          assert.isAtLeast(calls, N)
          assert.deepStrictEqual([lag.pending, lag.ackPending, lag.ackFloor], [0, 0, N])
          assert.isTrue(Option.isNone(yield* Effect.timeoutOption(handle.await, "1 millis")), "the runner is running")
        })),
    { timeout: 150_000 }
  )

  it.live(
    "acknowledged appends survive a SIGKILL without load: all 1,000 stored, in the order of their sequences",
    () =>
      withServer("fault-kill-idle", (server) =>
        Effect.gen(function*() {
          const N = 1_000
          const { prefix, stream } = unique()
          yield* Topology.ensure({
            streams: [{ name: stream, subjects: [`${prefix}.>`], storage: "file" }],
            consumers: []
          })
          const log = yield* EventLog.EventLog
          const bySequence = new Map<number, string>()
          const failures: Failures = {}
          yield* bounded(
            Effect.forEach(
              range(1, N),
              (n) =>
                Effect.tap(log.append(`${prefix}.x`, envelope(n)), (r) =>
                  Effect.sync(() => {
                    assert.isFalse(r.duplicate, `append ${n} answered duplicate`)
                    bySequence.set(r.sequence, idOf(n))
                  })),
              { concurrency: 64, discard: true }
            ),
            "30 seconds",
            "1,000 appends"
          )
          assert.deepStrictEqual([...bySequence.keys()].sort((a, b) => a - b), range(1, N))

          yield* server.kill
          yield* server.start
          yield* reconnected()

          const read = yield* until(
            Stream.runCollect(log.read(stream)),
            () => true,
            "reading the stream after the restart"
          )
          assert.strictEqual(read.length, N, "messages read back")
          assert.deepStrictEqual(read.map((m) => m.sequence), range(1, N), "sequences, in order")
          assert.deepStrictEqual(
            read.map((m) => m.envelope.identity.messageId),
            range(1, N).map((s) => bySequence.get(s)!),
            "each sequence holds the message acknowledged with it"
          )
          const info = yield* log.info(stream)
          assert.deepStrictEqual([info.messages, info.firstSequence, info.lastSequence], [N, 1, N])
          // The stream takes appends again, after the last acknowledged one.
          const next = yield* appendUntilAcked(log, `${prefix}.x`, N + 1, failures)
          assert.deepStrictEqual([next.sequence, next.duplicate], [N + 1, false])
        })),
    { timeout: 60_000 }
  )

  it.live(
    "poison messages: each dead-lettered once after maxDeliver attempts with its reason; every good message handled once; the flow goes on",
    () =>
      withServer("fault-poison", () =>
        Effect.gen(function*() {
          const { consumer, prefix, stream } = unique()
          const dlq = { stream: `${stream}_DLQ`, subject: `${prefix}dlq` }
          yield* Topology.ensure({
            streams: [
              { name: stream, subjects: [`${prefix}.>`], storage: "file" },
              { name: dlq.stream, subjects: [dlq.subject], storage: "file" }
            ],
            consumers: [{ stream, name: consumer, maxDeliver: 3, deadLetterSubject: dlq.subject }]
          })
          const log = yield* EventLog.EventLog
          const FIRST = 300
          const LATER = 100
          const poison = new Set([50, 150, 250])
          const good = FIRST + LATER - poison.size
          const handled = new Map<number, number>()
          const poisonAttempts = new Map<number, Array<number>>()
          let calls = 0
          const handle = yield* log.consume(stream, consumer, (d) =>
            Effect.suspend(() => {
              calls++
              const n = nOf(d)
              if (poison.has(n)) {
                poisonAttempts.set(n, [...(poisonAttempts.get(n) ?? []), d.deliveryCount])
                return Effect.fail(
                  TransportError.make(new TransportError.HandlerFailed({ detail: `poison ${n}`, retryable: true }))
                )
              }
              handled.set(n, (handled.get(n) ?? 0) + 1)
              return Effect.void
            }), { concurrency: 4, nakDelay: () => "100 millis" })

          const sequenceOf = new Map<number, number>()
          const appendAll = (ns: ReadonlyArray<number>) =>
            Effect.forEach(ns, (n) =>
              Effect.map(log.append(`${prefix}.x`, envelope(n)), (r) => void sequenceOf.set(n, r.sequence)), {
              concurrency: 16,
              discard: true
            })
          yield* bounded(appendAll(range(1, FIRST)), "30 seconds", `${FIRST} appends`)
          yield* whileRunning(
            handle,
            until(deadLetters(log, dlq.stream), (ls) => ls.length >= poison.size, "the poison messages dead-lettered")
          )
          // The flow goes on after the dead letters.
          yield* bounded(appendAll(range(FIRST + 1, FIRST + LATER)), "30 seconds", `${LATER} more appends`)
          yield* whileRunning(
            handle,
            until(handle.stats, (s) => s.acked === good && s.inFlight === 0, "every good message acknowledged")
          )
          const lag = yield* until(
            log.lag(stream, consumer),
            (l) => l.pending === 0 && l.ackPending === 0,
            "nothing pending"
          )
          const letters = yield* deadLetters(log, dlq.stream)
          const stats = yield* handle.stats
          yield* report(`poison: handler calls ${calls}; stats ${JSON.stringify(stats)}`)

          assert.strictEqual(letters.length, poison.size, "dead letters")
          assert.strictEqual((yield* log.info(dlq.stream)).messages, poison.size, "messages in the dead-letter stream")
          assert.deepStrictEqual(
            letters.map((l) => l.message.raw.headers[Wire.HeaderNames.messageId]).sort(),
            [...poison].map(idOf).sort(),
            "the dead letters are the poison messages"
          )
          for (const { info, message } of letters) {
            const n = (JSON.parse(decoder.decode(message.raw.body)) as { readonly n: number }).n
            assert.match(info.reason, new RegExp(`^failed on delivery 3 of 3: .*poison ${n}$`))
            assert.deepStrictEqual(
              [info.deliveryCount, info.stream, info.consumer, info.sequence, info.subject],
              [3, stream, consumer, sequenceOf.get(n)!, `${prefix}.x`]
            )
          }
          assert.deepStrictEqual(
            [...poisonAttempts.entries()].sort((a, b) => a[0] - b[0]),
            [...poison].map((n) => [n, [1, 2, 3]]),
            "each poison message tried on deliveries 1, 2, 3"
          )
          assert.strictEqual(handled.size, good, "good messages handled")
          assert.deepStrictEqual(
            [...handled.entries()].filter(([, k]) => k !== 1),
            [],
            "good messages handled more than once"
          )
          assert.strictEqual(calls, good + 3 * poison.size, "handler calls")
          assert.deepStrictEqual(
            { ...stats },
            { acked: good, naked: 2 * poison.size, termed: poison.size, deadLettered: poison.size, inFlight: 0, timedOut: 0 }
          )
          assert.deepStrictEqual([lag.pending, lag.ackPending], [0, 0])
        })),
    { timeout: 60_000 }
  )

  it.live(
    "a consumer deleted under a running runner and recreated within the grace period: the runner finds it and goes on",
    () =>
      withServer("fault-consumer-recreated", () =>
        Effect.gen(function*() {
          const { consumer, prefix, stream } = unique()
          const consumerConfig: Topology.ConsumerConfig = { stream, name: consumer, ackWait: "5 seconds" }
          yield* Topology.ensure({
            streams: [{ name: stream, subjects: [`${prefix}.>`], storage: "file" }],
            consumers: [consumerConfig]
          })
          const log = yield* NatsEventLog.make({ missingGracePeriod: "15 seconds" })
          const topology = yield* Topology.Topology
          const handled = new Map<number, number>()
          const handle = yield* log.consume(stream, consumer, (d) =>
            Effect.andThen(
              Effect.sleep("1 millis"),
              Effect.sync(() => void handled.set(nOf(d), (handled.get(nOf(d)) ?? 0) + 1))
            ), { concurrency: 4 })
          const failures: Failures = {}
          const appendAll = (ns: ReadonlyArray<number>) =>
            Effect.forEach(ns, (n) => appendUntilAcked(log, `${prefix}.x`, n, failures), { concurrency: 16, discard: true })

          yield* bounded(appendAll(range(1, 200)), "30 seconds", "200 appends")
          yield* whileRunning(handle, until(Effect.sync(() => handled.size), (k) => k >= 50, "50 messages handled"))
          yield* topology.deleteConsumer(stream, consumer)
          yield* Effect.sleep("1 second")
          // Recreated: a new consumer, with no state, that starts again at the first message.
          const change = yield* topology.ensureConsumer(consumerConfig)
          assert.strictEqual(change.action, "created")
          yield* bounded(appendAll(range(201, 300)), "30 seconds", "100 appends after the recreation")
          yield* whileRunning(
            handle,
            until(Effect.sync(() => handled.size), (k) => k === 300, "300 distinct messages handled")
          )
          const lag = yield* whileRunning(
            handle,
            until(log.lag(stream, consumer), (l) => l.pending === 0 && l.ackPending === 0 && l.ackFloor === 300, "all acknowledged")
          )
          yield* report(
            `consumer recreated: handler calls ${[...handled.values()].reduce((a, b) => a + b, 0)}; ` +
              `stats ${JSON.stringify(yield* handle.stats)}`
          )
          assert.deepStrictEqual([...handled.keys()].sort((a, b) => a - b), range(1, 300))
          // Appended after the recreation: delivered by the new consumer only, handled exactly once.
          assert.deepStrictEqual(range(201, 300).filter((n) => handled.get(n) !== 1), [])
          assert.deepStrictEqual([lag.pending, lag.ackPending, lag.ackFloor, lag.delivered], [0, 0, 300, 300])
          assert.isTrue(Option.isNone(yield* Effect.timeoutOption(handle.await, "1 millis")), "the runner is running")
        })),
    { timeout: 60_000 }
  )

  it.live(
    "a consumer deleted under a running runner and not recreated: await fails with ConsumerNotFound; nothing is handled, pulled nor acked after",
    () =>
      withServer("fault-consumer-gone", () =>
        Effect.gen(function*() {
          const { consumer, prefix, stream } = unique()
          const consumerConfig: Topology.ConsumerConfig = { stream, name: consumer }
          yield* Topology.ensure({
            streams: [{ name: stream, subjects: [`${prefix}.>`], storage: "file" }],
            consumers: [consumerConfig]
          })
          const log = yield* NatsEventLog.make({ missingGracePeriod: "2 seconds" })
          const topology = yield* Topology.Topology
          // Slow handlers (2 at a time, 500 ms each, up to 100 held): the runner still holds
          // deliveries when it gives up, several seconds after the deletion.
          let failed = false
          // By stream sequence, as settlements are.
          const started: Array<{ readonly sequence: number; readonly afterFailure: boolean }> = []
          const finished = new Set<number>()
          const handle = yield* log.consume(stream, consumer, (d) =>
            Effect.gen(function*() {
              started.push({ sequence: d.streamSequence, afterFailure: failed })
              yield* Effect.sleep("500 millis")
              finished.add(d.streamSequence)
            }), { concurrency: 2, maxAckPending: 100 })
          const failures: Failures = {}
          const appendAll = (ns: ReadonlyArray<number>) =>
            Effect.forEach(ns, (n) => appendUntilAcked(log, `${prefix}.x`, n, failures), { concurrency: 16, discard: true })

          yield* bounded(appendAll(range(1, 150)), "30 seconds", "150 appends")
          yield* until(Effect.sync(() => started.length), (k) => k >= 4, "4 handlers started")
          yield* topology.deleteConsumer(stream, consumer)

          const error = yield* bounded(
            Effect.flip(handle.await),
            // (The runner notices the deletion on its next pull request, which waits for room:
            // with slow handlers that can take a while, then the grace period runs.)
            "30 seconds",
            "await failing after the grace period"
          )
          assert.strictEqual(error.reason._tag, "ConsumerNotFound")
          if (error.reason._tag === "ConsumerNotFound") {
            assert.deepStrictEqual([error.reason.stream, error.reason.consumer], [stream, consumer])
          }
          assert.isFalse(TransportError.isRetryable(error))
          // (A handler the runner began just as it failed may start a moment later.)
          yield* Effect.sleep("50 millis")
          failed = true
          const inFlightAtFailure = new Set(started.filter((s) => !finished.has(s.sequence)).map((s) => s.sequence))
          const settlements = yield* captureSettlements(stream, consumer)

          // The consumer comes back (recreated by someone else) and more is appended: the stopped
          // runner must neither start a handler, nor pull, nor ack anything but what was in flight.
          yield* topology.ensureConsumer(consumerConfig)
          yield* bounded(appendAll(range(151, 160)), "30 seconds", "10 appends after the failure")
          yield* Effect.sleep("2 seconds")
          const lag = yield* log.lag(stream, consumer)
          const stats = yield* handle.stats
          const startedAfter = started.filter((s) => s.afterFailure).map((s) => s.sequence)
          yield* report(
            `consumer gone: ${started.length - startedAfter.length} handlers started before the failure, ` +
              `${startedAfter.length} after; in flight at the failure ${JSON.stringify([...inFlightAtFailure])}; ` +
              `settlements after ${JSON.stringify(settlements)}; stats ${JSON.stringify(stats)}; ` +
              `recreated consumer's lag ${JSON.stringify(lag)}`
          )
          assert.deepStrictEqual(startedAfter, [], "handlers started after the runner failed")
          // Giving back what it held (a nak) is fine; an ack or a term is not, but of a handler in flight.
          assert.deepStrictEqual(
            settlements.filter((s) => !s.payload.startsWith("-NAK") && !inFlightAtFailure.has(s.sequence)),
            [],
            "acks or terms sent after the runner failed, other than of the handlers in flight then"
          )
          assert.deepStrictEqual(
            [lag.pending, lag.delivered, lag.ackPending],
            [160, 0, 0],
            "the recreated consumer is untouched"
          )
        })),
    { timeout: 60_000 }
  )
})
