/**
 * Projections with SQLite checkpoints (`@herald/sql-sqlite`, a fresh
 * `:memory:` database per test) on the in-memory transport.
 */
import { describe, it } from "@effect/vitest"
import { SqliteClient } from "@herald/sql-sqlite"
import { MemoryTransport } from "@herald/testing"
import type { EventLog, Topology } from "@herald/transport"
import * as Effect from "effect/Effect"
import type * as SqlClient from "effect/sql/SqlClient"
import * as Layer from "effect/Layer"
import { projectionSuite } from "./projectionSuite.ts"
import { sqlExtras, sqlHarness } from "./sqlHarness.ts"

const run = (name: string, self: () => Effect.Effect<void, unknown, EventLog.EventLog | Topology.Topology | SqlClient.SqlClient>) =>
  it.live(name, () =>
    self().pipe(Effect.provide(Layer.merge(MemoryTransport.layer, SqliteClient.layer({ filename: ":memory:" })))))

describe("Projections: memory transport, SQLite checkpoints", () => {
  projectionSuite(sqlHarness("sqlite", run))
  sqlExtras("sqlite", run)
})
