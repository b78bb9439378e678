/**
 * The NATS consumer runner's state across an outage and a deleted stream
 * (its own nats-server, which the tests stop and start): `Recovering` with
 * why, then `Running` again or `Failed`.
 */
import { Fixtures, NatsServer, Wait } from "@herald/testing"
import { type ConsumerState, EventLog, Topology } from "@herald/transport"
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { NatsConnection, NatsEventLog, NatsTopology } from "../src/index.ts"

const Nats = Layer.unwrap(
  NatsServer.NatsServer.useSync((server) =>
    NatsConnection.layer({ servers: server.url, name: "consume-state-test", reconnectTimeWait: "250 millis" })
  )
).pipe(Layer.provideMerge(NatsServer.layer()))

const Live = Layer.mergeAll(NatsEventLog.layer, NatsTopology.layer).pipe(Layer.provideMerge(Nats))

let counter = 0
const unique = () => {
  const id = `${++counter}x${Math.random().toString(36).slice(2, 6)}`
  return { stream: `ST${id}`.toUpperCase(), prefix: `st${id}`, consumer: `C${id}`.toUpperCase() }
}

const envelope = (n: number) => Fixtures.envelope({ identity: n, payload: { n } })

/** Collects a handle's `changes` in the test's scope. */
const record = (handle: EventLog.ConsumerHandle) =>
  Effect.gen(function*() {
    const seen: Array<ConsumerState.ConsumerState> = []
    yield* Effect.forkScoped(Stream.runForEach(handle.changes, (s) => Effect.sync(() => void seen.push(s))))
    yield* Effect.yieldNow
    return seen
  })

const reasonOf = (s: ConsumerState.ConsumerState) => s._tag === "Recovering" ? s.reason : undefined

const outage = (how: "stop" | "kill") =>
  Effect.scoped(Effect.gen(function*() {
    const server = yield* NatsServer.NatsServer
    const { consumer, prefix, stream } = unique()
    yield* Topology.ensure({
      streams: [{ name: stream, subjects: [`${prefix}.>`], storage: "file" }],
      consumers: [{ stream, name: consumer, ackWait: "5 seconds" }]
    })
    const log = yield* EventLog.EventLog
    const handled: Array<number> = []
    const handle = yield* log.consume(stream, consumer, (d) => Effect.sync(() => void handled.push(d.streamSequence)))
    const changes = yield* record(handle)
    yield* log.append(`${prefix}.x`, envelope(1))
    yield* Wait.until(Effect.sync(() => handled.length), (k) => k === 1, "message 1 handled")
    assert.strictEqual((yield* handle.state)._tag, "Running")

    yield* how === "stop" ? server.stop : server.kill
    const down = yield* Wait.until(handle.state, (s) => s._tag === "Recovering", "recovering", { bound: "10 seconds" })
    assert.deepStrictEqual(
      down._tag === "Recovering" ? { reason: down.reason, detail: down.detail } : down,
      { reason: "Disconnected", detail: "the connection is lost; waiting for it to come back" }
    )
    yield* server.start
    yield* Wait.until(handle.state, (s) => s._tag === "Running", "running again", { bound: "30 seconds" })
    yield* log.append(`${prefix}.x`, envelope(2)).pipe(
      Effect.retry({ while: (e) => e.isRetryable, schedule: Schedule.spaced("250 millis"), times: 40 })
    )
    yield* Wait.until(Effect.sync(() => handled.length), (k) => k === 2, "message 2 handled", { bound: "30 seconds" })
    assert.deepStrictEqual(handled, [1, 2])
    const after = yield* handle.state
    assert.strictEqual(after._tag, "Running")

    // One recovery: it began when the connection was lost and ended when the consumer was found again.
    assert.strictEqual(changes[0]?._tag, "Running")
    assert.strictEqual(changes[changes.length - 1]?._tag, "Running")
    const recovery = changes.slice(1, -1)
    assert.deepStrictEqual(recovery.map((s) => s._tag), recovery.map(() => "Recovering"))
    assert.strictEqual(reasonOf(recovery[0]!), "Disconnected")
    assert.isTrue(recovery.some((s) => reasonOf(s) === "Reconnected"), `no Reconnected in ${recovery.map(reasonOf).join(", ")}`)
    const since = new Set(recovery.map((s) => (s._tag === "Recovering" ? s.since : -1)))
    assert.strictEqual(since.size, 1)
  }))

layer(Live, { excludeTestServices: true, timeout: "120 seconds" })("NatsEventLog consumer state", (it) => {
  it.effect("Recovering while the server is stopped (Disconnected, then Reconnected), Running again once it is back", () =>
    outage("stop"))

  it.effect("Recovering while the server is killed (kill -9), Running again once it is back", () => outage("kill"))

  it.effect("a deleted stream: Recovering with StreamNotFound during the grace period, then Failed with await's error", () =>
    Effect.scoped(Effect.gen(function*() {
      const { consumer, prefix, stream } = unique()
      yield* Topology.ensure({
        streams: [{ name: stream, subjects: [`${prefix}.>`], storage: "file" }],
        consumers: [{ stream, name: consumer }]
      })
      const log = yield* NatsEventLog.make({ missingGracePeriod: "3 seconds" })
      const handle = yield* log.consume(stream, consumer, () => Effect.void)
      const changes = yield* record(handle)
      yield* log.append(`${prefix}.x`, envelope(1))
      yield* Wait.until(handle.stats, (s) => s.acked === 1, "message 1 acked")
      yield* Topology.Topology.use((t) => t.deleteStream(stream))
      const missing = yield* Wait.until(handle.state, (s) => reasonOf(s) === "StreamNotFound", "stream missing", {
        bound: "10 seconds"
      })
      assert.strictEqual(missing._tag, "Recovering")
      if (missing._tag === "Recovering") {
        assert.strictEqual(
          missing.detail,
          `stream ${stream} not found; looked up again until 3000 ms have passed`
        )
      }
      const error = yield* Effect.flip(handle.await)
      assert.strictEqual(error.reason._tag, "StreamNotFound")
      const failed = yield* handle.state
      assert.strictEqual(failed._tag, "Failed")
      if (failed._tag === "Failed") assert.strictEqual(failed.error, error)
      assert.deepStrictEqual(
        [...new Set(changes.map((s) => s._tag))],
        ["Running", "Recovering", "Failed"]
      )
    })))
})
