/**
 * The correlation index on the in-memory transport, with each store: in
 * memory, SQLite (a fresh `:memory:` database per test) and PostgreSQL (one
 * database for the suite, a table per test).
 */
import { SqliteClient } from "@herald/sql-sqlite"
import { MemoryTransport } from "@herald/testing"
import { TestDatabase } from "@herald/testing/pg"
import * as Layer from "effect/Layer"
import { CorrelationIndexMemory, CorrelationIndexSql } from "../src/index.ts"
import { correlationSuite } from "./correlationSuite.ts"

correlationSuite("CorrelationIndexMemory on the memory transport", {
  shared: MemoryTransport.layer,
  fresh: () => CorrelationIndexMemory.layer,
  kind: "memory",
  appendConcurrency: 1,
  tag: "MM"
})

correlationSuite("CorrelationIndexSql on SQLite, on the memory transport", {
  shared: MemoryTransport.layer,
  fresh: () => CorrelationIndexSql.layer().pipe(Layer.provide(SqliteClient.layer({ filename: ":memory:" }))),
  kind: "sql:sqlite",
  appendConcurrency: 1,
  tag: "MS"
})

let tables = 0
correlationSuite("CorrelationIndexSql on PostgreSQL, on the memory transport", {
  shared: Layer.merge(MemoryTransport.layer, TestDatabase.layerPg()),
  fresh: () => CorrelationIndexSql.layer({ table: `corr_memory_${++tables}` }),
  kind: "sql:pg",
  appendConcurrency: 1,
  tag: "MP"
})
