/**
 * Inbox-protected consume against plain consume + ack, on a real nats-server
 * (NatsServer) and a real PostgreSQL (TestDatabase) or a SQLite file.
 *
 *   node --conditions=@herald/source packages/inbox/bench/throughput.ts
 *   N=5000 CONCURRENCY=16 RUNS=3 DB=pg|sqlite ...
 *
 * Cases, each on a fresh durable consumer over the same N stored messages:
 * - `raw`: `EventLog.consume` with a handler that does nothing (ack only);
 * - `raw+write`: the handler writes one row in its own transaction;
 * - `inbox`: `Inbox.middleware` around a handler that does nothing (the
 *   inbox's transaction: BEGIN, INSERT ... RETURNING, COMMIT);
 * - `inbox+write`: `Inbox.middleware` around the handler that writes one row
 *   (BEGIN, INSERT inbox, INSERT row, COMMIT).
 *
 * Prints messages per second (the median of the runs) and this process's
 * CPU time per message.
 */
import { SqliteClient } from "@herald/sql-sqlite"
import { NatsServer } from "@herald/testing"
import { TestDatabase } from "@herald/testing/pg"
import { EventLog, Topology } from "@herald/transport"
import { NatsTransport } from "@herald/transport-nats"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import * as SqlClient from "effect/sql/SqlClient"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Inbox, InboxSql, InboxStore } from "../src/index.ts"
import { envelope } from "../test/helpers.ts"

const N = Number(process.env["N"] ?? "5000")
const concurrency = Number(process.env["CONCURRENCY"] ?? "16")
const runs = Number(process.env["RUNS"] ?? "3")
const db = process.env["DB"] ?? "pg"

const Nats = Layer.unwrap(
  NatsServer.NatsServer.useSync((server) => NatsTransport.layer({ servers: server.url, name: "inbox-bench" }))
).pipe(Layer.provideMerge(NatsServer.layer()))

const sqliteFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "inbox-bench-")), "bench.db")
const Database = db === "sqlite"
  ? SqliteClient.layer({ filename: sqliteFile })
  : TestDatabase.layerPg({ maxConnections: Math.max(10, concurrency + 4) })

const program = Effect.gen(function*() {
  const log = yield* EventLog.EventLog
  const sql = yield* SqlClient.SqlClient
  yield* Topology.ensure({ streams: [{ name: "BENCH", subjects: ["bench.>"] }], consumers: [] })
  yield* Effect.forEach(Array.from({ length: N }, (_, i) => i + 1), (n) => log.append("bench.x", envelope(n)), {
    concurrency: 256,
    discard: true
  })
  yield* sql`CREATE TABLE bench_rows (message_id TEXT PRIMARY KEY, n INTEGER NOT NULL)`
  const write = (d: EventLog.Delivery) =>
    sql`INSERT INTO bench_rows (message_id, n) VALUES (${d.envelope.identity.messageId}, 1)
        ON CONFLICT (message_id) DO UPDATE SET n = bench_rows.n + 1`
  let k = 0
  const measure = (
    name: string,
    handler: (d: EventLog.Delivery) => Effect.Effect<void, unknown, InboxStore.InboxStore>,
    table?: string
  ) =>
    Effect.scoped(Effect.gen(function*() {
      const consumer = `c${++k}`
      yield* Topology.ensure({ streams: [], consumers: [{ stream: "BENCH", name: consumer, maxAckPending: 1000 }] })
      yield* sql`DELETE FROM bench_rows`
      const store = yield* InboxSql.make({ table: table ?? `bench_inbox_${k}` })
      const c0 = process.cpuUsage()
      const t0 = performance.now()
      const handle = yield* log.consume("BENCH", consumer, handler, { concurrency }).pipe(
        Effect.provideService(InboxStore.InboxStore, store)
      )
      while ((yield* handle.stats).acked < N) yield* Effect.sleep(2)
      const seconds = (performance.now() - t0) / 1000
      const cpu = process.cpuUsage(c0)
      return { name, rate: Math.round(N / seconds), cpu: Math.round((cpu.user + cpu.system) / N) }
    }))

  const results: Record<string, Array<number>> = {}
  const cpus: Record<string, Array<number>> = {}
  for (let r = 0; r < runs; r++) {
    for (
      const [name, handler] of [
        ["raw", () => Effect.void],
        ["inbox", Inbox.middleware()(() => Effect.void)],
        ["raw+write", (d: EventLog.Delivery) => sql.withTransaction(write(d))],
        ["inbox+write", Inbox.middleware()(write)]
      ] as const
    ) {
      const { cpu, rate } = yield* measure(name, handler)
      ;(results[name] ??= []).push(rate)
      ;(cpus[name] ??= []).push(cpu)
    }
  }
  const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)]))
  const cpu = Object.fromEntries(Object.entries(cpus).map(([k, v]) => [k, median(v)]))
  console.log(JSON.stringify({ db, N, concurrency, runs, samples: results, median: m, cpuMicrosPerMessage: cpu }))
  console.log(`inbox / raw             = ${(m["inbox"]! / m["raw"]!).toFixed(2)}`)
  console.log(`inbox+write / raw       = ${(m["inbox+write"]! / m["raw"]!).toFixed(2)}`)
  console.log(`inbox+write / raw+write = ${(m["inbox+write"]! / m["raw+write"]!).toFixed(2)}`)
})

await Effect.runPromise(
  program.pipe(
    Effect.provide(Layer.mergeAll(Nats, Database)),
    Effect.provideService(References.MinimumLogLevel, "Warn")
  )
)
