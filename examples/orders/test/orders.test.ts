import { describe, it } from "@effect/vitest"
import { IdGenerator } from "@herald/identity"
import { SqliteClient } from "@herald/sql-sqlite"
import { MemoryTransport } from "@herald/testing"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
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
})
