/**
 * A stalled consumer runner on nats-server: `/readyz` with
 * `MetricsHttp.consumers()` turns unready naming it, and ready again once
 * its handler stops.
 */
import { describe, layer } from "@effect/vitest"
import { NatsServer } from "@herald/testing"
import { NatsTransport } from "@herald/transport-nats"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import { Metrics, MetricsHttp } from "../src/index.ts"
import { stalledRunner } from "./readiness.ts"

const Nats = Layer.unwrap(
  Effect.map(Effect.service(NatsServer.NatsServer), (server) =>
    NatsTransport.layer({ servers: server.url, name: "readiness-test" }))
)

const env = MetricsHttp.layer({ port: 0, host: "127.0.0.1", checks: [MetricsHttp.consumers()] }).pipe(
  Layer.provideMerge(Metrics.layer({ refreshInterval: "none" })),
  Layer.provideMerge(Nats),
  Layer.provide(Layer.sync(Metric.MetricRegistry)(() => new Map())),
  Layer.provideMerge(NatsServer.layer())
)

describe("readiness on nats-server", () => {
  layer(env, { excludeTestServices: true, timeout: "90 seconds" })((it) => {
    it.effect("a stalled runner makes /readyz unready, naming it, until its handler stops", () =>
      stalledRunner({ stream: "JOBS", prefix: "", advance: Effect.sleep }), { timeout: 60_000 })
  })
})
