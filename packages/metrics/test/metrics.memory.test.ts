/**
 * Metrics on the in-memory transport under `TestClock`: a known workload,
 * then `/metrics` scraped over HTTP.
 */
import { assert, describe, it } from "@effect/vitest"
import { Fixtures, MemoryTransport, Wait } from "@herald/testing"
import { Bus, EventLog, Topology } from "@herald/transport"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServer from "effect/http/HttpServer"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as TestClock from "effect/testing/TestClock"
import { Metrics, MetricsError, MetricsHttp, Tracing } from "../src/index.ts"
import * as Net from "node:net"
import { checkWorkload, destinations, get, scrape, select, total, workload } from "./workload.ts"

/** Sends bytes as they are to the metrics server and reads the whole answer. */
const rawRequest = (bytes: string) =>
  Effect.flatMap(Effect.service(MetricsHttp.MetricsServer), (server) =>
    Effect.promise(() =>
      new Promise<string>((resolve, reject) => {
        const socket = Net.connect(server.port, "127.0.0.1", () => socket.end(bytes))
        let answer = ""
        socket.setEncoding("utf8")
        socket.on("data", (chunk: string) => {
          answer += chunk
        })
        socket.on("end", () => resolve(answer))
        socket.on("error", reject)
      })
    ))

/** The instrumented transport and the HTTP endpoints, on a fresh registry. */
const env = (checks: ReadonlyArray<MetricsHttp.Check> = []) =>
  Layer.mergeAll(
    MetricsHttp.layer({ port: 0, host: "127.0.0.1", checks }).pipe(
      Layer.provideMerge(Metrics.layer({ destinations: [...destinations], refreshInterval: "none" }))
    ),
    Layer.effect(Topology.Topology)(Effect.service(Topology.Topology))
  ).pipe(
    Layer.provide(MemoryTransport.layer),
    Layer.provide(Layer.sync(Metric.MetricRegistry)(() => new Map()))
  )

describe("Metrics on the memory transport", () => {
  it.effect("a known workload: exact counters and histogram counts per destination at the scrape", () =>
    Effect.gen(function*() {
      yield* workload({ stream: "LEDGER", prefix: "", advance: TestClock.adjust })
      const { samples, text } = yield* scrape
      checkWorkload(samples, text, "LEDGER")
      // A second scrape reads the same counts: a refresh adds only what grew.
      const again = yield* scrape
      assert.strictEqual(total(again.samples, "herald_dead_letters"), 3)
      assert.strictEqual(total(again.samples, "herald_handler_deadline_exceeded"), 1)
    }).pipe(Effect.provide(env())))

  it.effect("a refresh adds only what the runner's counts grew by; the counts stay after the consumer stops", () =>
    Effect.gen(function*() {
      yield* Effect.scoped(Effect.gen(function*() {
        const handle = yield* workload({ stream: "LEDGER", prefix: "", advance: TestClock.adjust })
        const before = yield* scrape
        assert.strictEqual(total(before.samples, "herald_dead_letters"), 3)
        // One more rejected message (sequence 12): dead-lettered after the first scrape.
        const log = yield* EventLog.EventLog
        yield* log.append("ledger.12.entry", Fixtures.envelope({ identity: 412 }))
        yield* Wait.until(handle.stats, (s) => s.deadLettered === 4, "the fourth dead letter", { advance: TestClock.adjust })
        const after = yield* scrape
        assert.deepStrictEqual(
          ["non_retryable", "max_deliver", "other"].map((reason) =>
            total(after.samples, "herald_dead_letters", { herald_dead_letter_reason: reason })
          ),
          [2, 1, 1]
        )
      }))
      // The consumer's scope closed: its counts stay; it is no longer read.
      const closed = yield* scrape
      assert.strictEqual(total(closed.samples, "herald_dead_letters"), 4)
      assert.strictEqual(total(closed.samples, "messaging_client_consumed_messages", { messaging_operation_name: "consume" }), 15)
    }).pipe(Effect.provide(env())))

  it.effect("failures are counted with error.type; a failed append falls back to the destinations", () =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const log = yield* EventLog.EventLog
      const noResponders = yield* Effect.flip(bus.request("rpc.7", Fixtures.envelope({ identity: 1 })))
      assert.strictEqual(noResponders.reason._tag, "NoResponders")
      // No stream captures these subjects.
      yield* Effect.flip(log.append("orders.7.placed", Fixtures.envelope({ identity: 2 })))
      yield* Effect.flip(log.append("nowhere.7", Fixtures.envelope({ identity: 3 })))
      const { samples, text } = yield* scrape
      const sent = select(samples, "messaging_client_sent_messages").map((s) => [
        s.labels.messaging_operation_name,
        s.labels.messaging_destination_name,
        s.labels.error_type,
        s.value
      ])
      assert.deepStrictEqual(sent, [
        ["request", "rpc.*", "NoResponders", 1],
        ["append", "orders.*.placed", "NoStreamForSubject", 1],
        ["append", "(other)", "NoStreamForSubject", 1]
      ])
      assert.isFalse(text.includes("nowhere.7"))
    }).pipe(Effect.provide(env())))

  it.effect("/healthz, /readyz with named checks, unknown paths and methods", () =>
    Effect.gen(function*() {
      const health = yield* get("/healthz")
      assert.deepStrictEqual([health.status, health.body], [200, "ok\n"])
      const ready = yield* get("/readyz")
      assert.strictEqual(ready.status, 503)
      assert.deepStrictEqual(JSON.parse(ready.body), {
        status: "unready",
        checks: [
          { name: "up", ok: true },
          { name: "down", ok: false, detail: "degraded" },
          { name: "broken", ok: false, detail: "NoResponders: no responders for health.x" }
        ]
      })
      assert.strictEqual((yield* get("/nowhere")).status, 404)
      assert.strictEqual((yield* get("/healthz?verbose=1")).status, 200)
      // A malformed request target is answered, not thrown on.
      const raw = yield* rawRequest("GET //[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
      assert.match(raw, /^HTTP\/1\.1 404 /)
      assert.strictEqual((yield* get("/metrics", { method: "POST" })).status, 405)
    }).pipe(Effect.provide(env([
      MetricsHttp.check("up", Effect.succeed(true)),
      MetricsHttp.fromHealthReport("down", Effect.succeed({ status: "degraded" as const }), { degradedIsReady: false }),
      MetricsHttp.check(
        "broken",
        Effect.fail(
          new (class extends Error {
            readonly _tag = "NoResponders"
            constructor() {
              super("no responders for health.x")
            }
          })()
        )
      )
    ]))))

  it.effect("/readyz is ready when every check passes (a degraded report counts as ready by default)", () =>
    Effect.gen(function*() {
      const ready = yield* get("/readyz")
      assert.strictEqual(ready.status, 200)
      assert.deepStrictEqual(JSON.parse(ready.body), {
        status: "ready",
        checks: [{ name: "nats", ok: true, detail: "degraded" }]
      })
    }).pipe(Effect.provide(env([MetricsHttp.fromHealthReport("nats", Effect.succeed({ status: "degraded" as const }))]))))

  it.effect("bad options are typed errors", () =>
    Effect.gen(function*() {
      const port = yield* Effect.flip(Layer.build(MetricsHttp.layer({ port: 70_000 })))
      assert.strictEqual(port.reason._tag, "InvalidOptions")
      assert.isTrue(MetricsError.isMetricsError(port))
      const pattern = yield* Effect.flip(
        Layer.build(Metrics.layer({ destinations: ["orders..placed"] }).pipe(Layer.provide(MemoryTransport.layer)))
      )
      assert.isTrue(MetricsError.isMetricsError(pattern))
      assert.strictEqual(pattern.reason._tag, "InvalidOptions")
      assert.match(pattern.message, /^invalid metrics options: destinations: "orders\.\.placed" is not a valid subject pattern: /)
      const traced = yield* Effect.flip(
        Layer.build(Tracing.layer({ destinations: ["orders.>", "orders.>.x"] }).pipe(Layer.provide(MemoryTransport.layer)))
      )
      assert.isTrue(MetricsError.isMetricsError(traced))
      assert.strictEqual(traced.reason._tag, "InvalidOptions")
      assert.match(traced.message, /^invalid metrics options: destinations: "orders\.>\.x" is not a valid subject pattern: /)
    }).pipe(Effect.scoped))

  it.effect("a port in use is ListenFailed", () =>
    Effect.gen(function*() {
      const first = yield* Layer.build(MetricsHttp.layer({ port: 0, host: "127.0.0.1" }))
      const { port } = Context.get(first, MetricsHttp.MetricsServer)
      const error = yield* Effect.flip(Layer.build(MetricsHttp.layer({ port, host: "127.0.0.1" })))
      assert.strictEqual(error.reason._tag, "ListenFailed")
    }).pipe(Effect.scoped))

  it.effect("routes: the same endpoints on an application's own HttpRouter", () =>
    Effect.gen(function*() {
      const registry: Metric.MetricRegistry = new Map()
      const app = HttpRouter.toWebHandler(
        MetricsHttp.routes({ checks: [MetricsHttp.check("no", Effect.succeed(false))] }).pipe(
          Layer.provide(Layer.succeed(Metric.MetricRegistry)(registry)),
          Layer.provide(HttpServer.layerServices)
        ),
        { disableLogger: true }
      )
      yield* Effect.addFinalizer(() => Effect.promise(() => app.dispose()))
      Metric.withAttributes(Metrics.metrics.sentMessages, { "messaging.system": "nats" }).updateUnsafe(
        2,
        Context.make(Metric.MetricRegistry, registry)
      )
      const call = (path: string) =>
        Effect.promise(async () => {
          const res = await app.handler(new Request(`http://localhost${path}`))
          return { status: res.status, body: await res.text() }
        })
      const metrics = yield* call("/metrics")
      assert.strictEqual(metrics.status, 200)
      assert.include(metrics.body, "messaging_client_sent_messages{messaging_system=\"nats\"} 2\n")
      assert.deepStrictEqual(yield* call("/healthz"), { status: 200, body: "ok\n" })
      const ready = yield* call("/readyz")
      assert.deepStrictEqual([ready.status, JSON.parse(ready.body)], [503, { status: "unready", checks: [{ name: "no", ok: false }] }])
    }).pipe(Effect.scoped))
})
