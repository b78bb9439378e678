/**
 * Metrics on nats-server (one per suite): the known workload with short nak
 * delays, then `/metrics` scraped over HTTP; `/readyz` over the connection's
 * health.
 */
import { assert, describe, layer } from "@effect/vitest"
import { NatsServer, Wait } from "@herald/testing"
import { Topology } from "@herald/transport"
import { Health, NatsTransport } from "@herald/transport-nats"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import { Metrics, MetricsHttp } from "../src/index.ts"
import { checkWorkload, destinations, get, scrape, workload } from "./workload.ts"

const Nats = Layer.unwrap(
  Effect.map(Effect.service(NatsServer.NatsServer), (server) =>
    NatsTransport.layer({ servers: server.url, name: "metrics-test" }))
)

/** The instrumented NATS transport and the HTTP endpoints, on a fresh registry. */
const env = Layer.mergeAll(
  MetricsHttp.layer({
    port: 0,
    host: "127.0.0.1",
    checks: [MetricsHttp.fromHealthReport("nats", Health.check({ jetstream: false, timeout: "1 second" }))]
  }).pipe(
    Layer.provideMerge(Metrics.layer({ destinations: [...destinations], refreshInterval: "none" }))
  ),
  Layer.effect(Topology.Topology)(Effect.service(Topology.Topology))
).pipe(
  Layer.provide(Nats),
  Layer.provide(Layer.sync(Metric.MetricRegistry)(() => new Map())),
  Layer.provideMerge(NatsServer.layer())
)

describe("Metrics on nats-server", () => {
  layer(env, { excludeTestServices: true, timeout: "90 seconds" })((it) => {
    it.effect("a known workload: exact counters and histogram counts per destination at the scrape", () =>
      Effect.gen(function*() {
        yield* workload({ stream: "LEDGER", prefix: "", advance: Effect.sleep })
        const { samples, text } = yield* scrape
        checkWorkload(samples, text, "LEDGER")
      }), { timeout: 60_000 })

    it.effect("/readyz follows the connection: unready while the server is down, ready again after it returns", () =>
      Effect.gen(function*() {
        const server = yield* NatsServer.NatsServer
        const status = Effect.map(get("/readyz"), (r) => ({ status: r.status, body: JSON.parse(r.body) }))
        const up = yield* status
        assert.deepStrictEqual(up, { status: 200, body: { status: "ready", checks: [{ name: "nats", ok: true, detail: "ok" }] } })
        yield* server.kill
        const down = yield* Wait.until(status, (r) => r.status === 503, "/readyz unready", { bound: "20 seconds" })
        assert.deepStrictEqual(down.body, { status: "unready", checks: [{ name: "nats", ok: false, detail: "down" }] })
        assert.strictEqual((yield* get("/healthz")).status, 200)
        yield* server.start
        yield* Wait.until(status, (r) => r.status === 200, "/readyz ready again", { bound: "30 seconds" })
      }), { timeout: 60_000 })
  })
})
