import { NatsServer, Wait } from "@herald/testing"
import { Topology } from "@herald/transport"
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { Health, NatsConnection, NatsTopology } from "../src/index.ts"

const connectionTo = (name: string) =>
  Layer.unwrap(
    NatsServer.NatsServer.useSync((server) =>
      NatsConnection.layer({ servers: server.url, name, reconnectTimeWait: "100 millis", connectTimeout: "2 seconds" })
    )
  )

const Live = Layer.mergeAll(NatsTopology.layer).pipe(
  Layer.provideMerge(connectionTo("health-test")),
  Layer.provideMerge(NatsServer.layer())
)

const NoJetStream = connectionTo("health-test-core").pipe(Layer.provideMerge(NatsServer.layer({ jetstream: false })))

const Report = Schema.Struct({
  status: Schema.String,
  connection: Schema.Struct({ state: Schema.String, server: Schema.String, version: Schema.String }),
  jetstream: Schema.Struct({ ok: Schema.Boolean }),
  consumers: Schema.Array(Schema.Struct({ stream: Schema.String, consumer: Schema.String, pending: Schema.Number, ackPending: Schema.Number, ok: Schema.Boolean }))
})
const decodeReport = Schema.decodeUnknownSync(Schema.fromJsonString(Report))

layer(Live, { excludeTestServices: true, timeout: "60 seconds" })("Health", (it) => {
  it.effect("ok on a live server, with the lag of each consumer", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.NatsServer
      const { client } = yield* NatsConnection.NatsConnection
      yield* Topology.ensure({
        streams: [{ name: "HEALTH_ORDERS", subjects: ["health-test.orders.>"] }],
        consumers: [{ stream: "HEALTH_ORDERS", name: "billing" }]
      })
      for (let i = 0; i < 3; i++) client.publish("health-test.orders.created", `${i}`)
      yield* Effect.promise(() => client.flush())
      const report = yield* Health.check({
        consumers: [
          { stream: "HEALTH_ORDERS", consumer: "billing" },
          { stream: "HEALTH_ORDERS", consumer: "billing", maxPending: 2 },
          { stream: "HEALTH_ORDERS", consumer: "nobody" }
        ]
      })
      assert.strictEqual(report.status, "degraded")
      assert.deepStrictEqual(report.connection, { state: "connected", server: `127.0.0.1:${server.port}`, version: server.version })
      assert.deepStrictEqual(report.jetstream, { ok: true })
      assert.deepStrictEqual(report.consumers.slice(0, 2), [
        { stream: "HEALTH_ORDERS", consumer: "billing", pending: 3, ackPending: 0, ok: true },
        { stream: "HEALTH_ORDERS", consumer: "billing", pending: 3, ackPending: 0, ok: false, error: "3 messages pending, more than 2" }
      ])
      assert.deepStrictEqual(report.consumers[2], {
        stream: "HEALTH_ORDERS",
        consumer: "nobody",
        pending: -1,
        ackPending: -1,
        ok: false,
        error: "consumer nobody not found on stream HEALTH_ORDERS"
      })
      const healthy = yield* Health.check({ consumers: [{ stream: "HEALTH_ORDERS", consumer: "billing", maxPending: 3 }] })
      assert.strictEqual(healthy.status, "ok")
    }))

  it.effect("the responder answers health.<service> over plain core NATS request/reply", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.NatsServer
      const { client } = yield* NatsConnection.NatsConnection
      yield* Health.responder("orders", { consumers: [{ stream: "HEALTH_ORDERS", consumer: "billing" }] })
      const reply = yield* Effect.promise(() => client.request("health.orders", "", { timeout: 2_000 }))
      assert.strictEqual(reply.headers?.get("Content-Type"), "application/json")
      assert.deepStrictEqual(decodeReport(reply.string()), {
        status: "ok",
        connection: { state: "connected", server: `127.0.0.1:${server.port}`, version: server.version },
        jetstream: { ok: true },
        consumers: [{ stream: "HEALTH_ORDERS", consumer: "billing", pending: 3, ackPending: 0, ok: true }]
      })
      const invalid = yield* Effect.flip(Effect.scoped(Health.responder("bad service")))
      assert.strictEqual(invalid.reason._tag, "InvalidSubject")
    }))

  it.effect("down while the server is gone, ok again once it is back", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.NatsServer
      yield* server.kill
      const down = yield* Wait.until(Health.check(), (r) => r.status === "down", "health down")
      assert.strictEqual(down.status, "down")
      assert.include(["disconnected", "reconnecting"], down.connection.state)
      assert.deepStrictEqual(down.jetstream, { ok: false, error: `not connected (${down.connection.state})` })
      yield* server.start
      const up = yield* Wait.until(Health.check(), (r) => r.status === "ok", "health ok again")
      assert.strictEqual(up.status, "ok")
      assert.strictEqual(up.connection.state, "connected")
      assert.deepStrictEqual(up.jetstream, { ok: true })
    }))
})

layer(NoJetStream, { excludeTestServices: true, timeout: "60 seconds" })("Health without JetStream", (it) => {
  it.effect("reports JetStream as failing, and the service as degraded", () =>
    Effect.gen(function*() {
      const report = yield* Health.check()
      assert.strictEqual(report.status, "degraded")
      assert.strictEqual(report.connection.state, "connected")
      assert.isFalse(report.jetstream.ok)
      assert.strictEqual(report.jetstream.error, "connection: JetStream account info: JetStream is not available (jetstream is not enabled)")
      const coreOnly = yield* Health.check({ jetstream: false })
      assert.strictEqual(coreOnly.status, "ok")
    }))
})
