import { NatsServer } from "@herald/testing"
import { EventLog, Topology } from "@herald/transport"
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { NatsAdmin, NatsTransport } from "../src/index.ts"

const Live = Layer.unwrap(
  NatsServer.NatsServer.useSync((server) => NatsTransport.layer({ servers: server.url, name: "admin-test" }))
).pipe(Layer.provideMerge(NatsServer.layer()))

const encoder = new TextEncoder()

layer(Live, { excludeTestServices: true, timeout: "60 seconds" })("NatsAdmin", (it) => {
  it.effect("consumers: every consumer of a stream, by name, with its lag and settings", () =>
    Effect.gen(function*() {
      yield* Topology.ensure({
        streams: [{ name: "ADMIN_ORDERS", subjects: ["admin.orders.>"] }],
        consumers: [
          { stream: "ADMIN_ORDERS", name: "shipping", filterSubject: "admin.orders.placed", ackWait: "10 seconds", maxDeliver: 4 },
          { stream: "ADMIN_ORDERS", name: "billing", deadLetterSubject: "admin.dead" }
        ]
      })
      const log = yield* EventLog.EventLog
      for (let i = 0; i < 3; i++) yield* log.appendRaw("admin.orders.placed", { headers: {}, body: encoder.encode(`${i}`) })
      yield* log.appendRaw("admin.orders.paid", { headers: {}, body: encoder.encode("p") })
      const [first] = yield* log.pull("ADMIN_ORDERS", "shipping", { batch: 1, expires: "2 seconds", foreign: {} })
      yield* first!.ack
      const reports = yield* NatsAdmin.consumers("ADMIN_ORDERS")
      assert.deepStrictEqual(reports.map((r) => r.consumer), ["billing", "shipping"])
      const [billing, shipping] = reports
      assert.deepStrictEqual({ ...billing!, lastActive: undefined }, {
        stream: "ADMIN_ORDERS",
        consumer: "billing",
        pending: 4,
        ackPending: 0,
        redelivered: 0,
        delivered: 0,
        ackFloor: 0,
        filterSubject: undefined,
        ackWait: 30_000,
        maxDeliver: 0,
        waiting: 0,
        lastActive: undefined,
        deadLetterSubject: "admin.dead"
      })
      assert.strictEqual(billing!.lastActive, undefined)
      assert.deepStrictEqual({ ...shipping!, lastActive: undefined, waiting: 0 }, {
        stream: "ADMIN_ORDERS",
        consumer: "shipping",
        pending: 2,
        ackPending: 0,
        redelivered: 0,
        delivered: 1,
        ackFloor: 1,
        filterSubject: "admin.orders.placed",
        ackWait: 10_000,
        maxDeliver: 4,
        waiting: 0,
        lastActive: undefined,
        deadLetterSubject: "herald.dlq.ADMIN_ORDERS.shipping"
      })
      assert.isTrue(typeof shipping!.lastActive === "number" && Math.abs(shipping!.lastActive - Date.now()) < 60_000)
      assert.deepStrictEqual(yield* NatsAdmin.consumers("ADMIN_EMPTY").pipe(Effect.flip, Effect.map((e) => e.reason._tag)), "StreamNotFound")
    }))

  it.effect("deleteMessage removes one message; false when nothing is stored there; bad input is typed", () =>
    Effect.gen(function*() {
      yield* Topology.ensure({ streams: [{ name: "ADMIN_DEL", subjects: ["admin.del.>"] }] })
      const log = yield* EventLog.EventLog
      for (let i = 0; i < 3; i++) yield* log.appendRaw("admin.del.x", { headers: {}, body: encoder.encode(`${i}`) })
      assert.isTrue(yield* NatsAdmin.deleteMessage("ADMIN_DEL", 2))
      assert.isFalse(yield* NatsAdmin.deleteMessage("ADMIN_DEL", 2))
      assert.isFalse(yield* NatsAdmin.deleteMessage("ADMIN_DEL", 99))
      assert.isTrue(Option.isNone(yield* log.getRaw("ADMIN_DEL", 2)))
      const info = yield* log.info("ADMIN_DEL")
      assert.deepStrictEqual([info.messages, info.firstSequence, info.lastSequence], [2, 1, 3])
      const tag = <R>(e: Effect.Effect<boolean, { readonly reason: { readonly _tag: string } }, R>) =>
        Effect.map(Effect.flip(e), (error) => error.reason._tag)
      assert.strictEqual(yield* tag(NatsAdmin.deleteMessage("ADMIN_NONE", 1)), "StreamNotFound")
      assert.strictEqual(yield* tag(NatsAdmin.deleteMessage("ADMIN_DEL", 0)), "InvalidConfig")
      assert.strictEqual(yield* tag(NatsAdmin.deleteMessage("ADMIN_DEL", 1.5)), "InvalidConfig")
      assert.strictEqual(yield* tag(NatsAdmin.deleteMessage("bad.name", 1)), "InvalidConfig")
    }))
})
