import { describe, expect, it } from "@effect/vitest"
import { IdGenerator } from "@herald/identity"
import { SqliteClient } from "@herald/sql-sqlite"
import { MemoryTransport, Wait } from "@herald/testing"
import { Outbox } from "@herald/outbox"
import { EventLog } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { SqlClient } from "effect/sql/SqlClient"
import * as Stream from "effect/Stream"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as App from "../src/App.ts"
import { stream } from "../src/Messages.ts"
import { OrderService } from "../src/OrderService.ts"
import { provide, verify } from "./Scenario.ts"

/** A SQLite file in a folder of its own, removed with the layer. */
const sqliteFile = Layer.unwrap(Effect.gen(function*() {
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "herald-orders-test-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )
  return SqliteClient.layer({ filename: path.join(dir, "orders.db") })
}))

describe("orders on the in-memory transport and SQLite", () => {
  it.live("five orders: two shipped, three cancelled, one of them compensated; every effect once", () =>
    verify.pipe(Effect.provide(provide(Layer.mergeAll(MemoryTransport.layer, sqliteFile, IdGenerator.layer)))), 90_000)

  it.live("an order whose transaction rolls back leaves neither the order nor its OrderPlaced", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient
      const service = yield* OrderService
      // The caller's transaction places the order, then fails: both writes go.
      const exit = yield* sql.withTransaction(Effect.andThen(service.place(App.orders[0]!), Effect.fail("abandoned"))).pipe(
        Effect.exit
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(yield* service.orders).toEqual([])
      expect((yield* Outbox.status).pending).toBe(0)
      // The next order commits both, and its event reaches the stream.
      const placed = yield* service.place(App.orders[1]!)
      expect((yield* service.orders).map((o) => o.orderId)).toEqual([placed.orderId])
      const log = yield* EventLog.EventLog
      const placedEvents = log.read(stream).pipe(
        Stream.filter((m) => m.envelope.type === "OrderPlaced"),
        Stream.runCollect,
        Effect.map((all) => Array.from(all, (m) => m.envelope.identity.messageId))
      )
      const relayed = yield* Wait.until(placedEvents, (ids) => ids.length > 0, "the relay appends OrderPlaced")
      expect(relayed).toEqual([placed.correlationId])
    }).pipe(Effect.provide(provide(Layer.mergeAll(MemoryTransport.layer, sqliteFile, IdGenerator.layer)))), 60_000)
})
