/**
 * Projections with SQLite checkpoints (`@herald/sql-sqlite`, a fresh
 * `:memory:` database per test) on the in-memory transport.
 */
import { describe, it } from "@effect/vitest"
import { SqliteClient } from "@herald/sql-sqlite"
import { MemoryTransport } from "@herald/testing"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { projectionSuite } from "./projectionSuite.ts"
import { sqlHarness } from "./sqlHarness.ts"

describe("Projections: memory transport, SQLite checkpoints", () => {
  projectionSuite(sqlHarness("sqlite", (name, self) =>
    it.live(name, () =>
      self().pipe(Effect.provide(Layer.merge(MemoryTransport.layer, SqliteClient.layer({ filename: ":memory:" })))))))
})
