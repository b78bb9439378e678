/**
 * `pnpm bench`: Herald against raw nats.js on one nats-server started for the
 * run (`@herald/testing`'s `NatsServer.layer()`, stopped at the end).
 *
 * Environment:
 * - `BENCH_RUNS` counted runs per side (default 5, plus one warm-up each)
 * - `BENCH_SCALE` multiplies every message count (default 1)
 * - `BENCH_STORAGE` `file` (default) or `memory` for the JetStream streams
 * - `BENCH_MIN_MS` the least time of a time-bound measurement (default 1000)
 * - `BENCH_ONLY` a comma-separated list of case keys (envelope, pubsub, request,
 *   append-seq, append-pipe, consume-1, consume-16, consume-1-ackack,
 *   outbox-pg, outbox-pg-publish, outbox-pg-keyed, outbox-sqlite,
 *   outbox-sqlite-publish, outbox-sqlite-keyed, inbox-pg, saga-pg, replay-seq; saga-memory and
 *   replay-correlation, and observed-publish, observed-consume-1 and
 *   observed-consume-16 (the metrics and tracing layers off and on), and
 *   rss-consume (peak RSS, a child process per run), run only when named here)
 * - `BENCH_OUT` where to write the rows (default results/latest.json)
 */
import { SqliteClient } from "@herald/sql-sqlite"
import { NatsServer } from "@herald/testing"
import { TestDatabase } from "@herald/testing/pg"
import { Bus, EventLog } from "@herald/transport"
import { NatsBus, NatsConnection, NatsEventLog } from "@herald/transport-nats"
import { jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import type * as SqlClient from "effect/sql/SqlClient"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import * as Core from "./cases/core.ts"
import * as Inbox from "./cases/inbox.ts"
import * as JetStream from "./cases/jetstream.ts"
import * as Observed from "./cases/observability.ts"
import * as Outbox from "./cases/outbox.ts"
import * as ReplayCase from "./cases/replay.ts"
import * as Rss from "./cases/rss.ts"
import * as SagaCase from "./cases/saga.ts"
import type { BenchContext, Sizes } from "./context.ts"
import { bareRowOf, type Case, markdown, type Metric, now, type Row, rowOf, runCase, table } from "./harness.ts"

const env = (name: string): string | undefined => {
  const v = process.env[name]
  return v === undefined || v === "" ? undefined : v
}

const scale = Number(env("BENCH_SCALE") ?? "1")
const sized = (n: number) => Math.max(1, Math.round(n * scale))
const sizes: Sizes = {
  pubsub: sized(50_000),
  requests: sized(2_000),
  appendSequential: sized(4_000),
  appendPipelined: sized(20_000),
  window: 256,
  consume: sized(150_000),
  outbox: sized(10_000),
  outboxTx: Number(env("BENCH_OUTBOX_TX") ?? "100"),
  outboxKeys: Number(env("BENCH_OUTBOX_KEYS") ?? "1000"),
  outboxWriters: Number(env("BENCH_OUTBOX_WRITERS") ?? "4"),
  inbox: sized(4_000),
  inboxConcurrency: Number(env("BENCH_INBOX_CONCURRENCY") ?? "16"),
  inboxBatch: {
    size: Number(env("BENCH_INBOX_BATCH") ?? "100"),
    lingerMillis: Number(env("BENCH_INBOX_LINGER_MS") ?? "5"),
    transactions: Number(env("BENCH_INBOX_TRANSACTIONS") ?? "2"),
    concurrency: Number(env("BENCH_INBOX_BATCH_CONCURRENCY") ?? "300")
  },
  saga: sized(600),
  sagaConcurrency: Number(env("BENCH_SAGA_CONCURRENCY") ?? "16"),
  replay: sized(100_000),
  observedConsume: sized(80_000),
  rss: sized(50_000),
  runs: Number(env("BENCH_RUNS") ?? "5")
}
const storage = env("BENCH_STORAGE") === "memory" ? StorageType.Memory : StorageType.File
const only = env("BENCH_ONLY")?.split(",").map((s) => s.trim())
const here = dirname(fileURLToPath(import.meta.url))
const out = resolve(here, "..", env("BENCH_OUT") ?? "results/latest.json")

type Db = "pg" | "sqlite"

interface Entry {
  readonly key: string
  /** The database the case needs (built once, on first use). */
  readonly db?: Db
  readonly make: (ctx: BenchContext, sql: Context.Context<SqlClient.SqlClient>) => Case
  readonly metrics: ReadonlyArray<Metric>
  /** Runs only when `BENCH_ONLY` names it. */
  readonly optional?: boolean
}

const throughput = (name: string, goal?: string): Metric => ({
  name,
  key: "rate",
  unit: "msgs/s",
  kind: "throughput",
  goal
})

const entries: ReadonlyArray<Entry> = [
  {
    key: "envelope",
    make: Core.envelopeCreation,
    metrics: [{ name: "envelope creation (Message.root)", key: "us", unit: "µs/msg", kind: "latency", goal: "herald ≤ 3 µs" }]
  },
  { key: "pubsub", make: Core.pubsub, metrics: [throughput("core publish+subscribe", "≥ 0.8")] },
  {
    key: "request",
    make: Core.requestReply,
    metrics: [
      { name: "request/reply p50", key: "p50", unit: "ms", kind: "latency", goal: "≥ 0.9" },
      { name: "request/reply p99", key: "p99", unit: "ms", kind: "latency", goal: "≥ 0.8" }
    ]
  },
  {
    key: "append-seq",
    make: (ctx) => JetStream.append(ctx, "sequential"),
    metrics: [throughput("JetStream append sequential", "≥ 0.95")]
  },
  {
    key: "append-pipe",
    make: (ctx) => JetStream.append(ctx, "pipelined"),
    metrics: [throughput(`JetStream append pipelined (${sizes.window} in flight)`, "≥ 0.9")]
  },
  {
    key: "consume-1",
    make: (ctx) => JetStream.consume(ctx, {}, "ack"),
    metrics: [throughput("JetStream consume+ack (herald default options, raw m.ack)", "≥ 0.9")]
  },
  {
    key: "consume-16",
    make: (ctx) => JetStream.consume(ctx, { concurrency: 16 }, "ack"),
    metrics: [throughput("JetStream consume+ack (herald c=16, raw m.ack)")]
  },
  {
    key: "consume-1-bound10",
    make: (ctx) => JetStream.consume(ctx, { maxAckPending: 10 }, "ack"),
    metrics: [throughput("JetStream consume+ack (herald maxAckPending 10, the former default, raw m.ack)")],
    optional: true
  },
  {
    key: "consume-1-ackack",
    make: (ctx) => JetStream.consume(ctx, {}, "ackAck"),
    metrics: [throughput("JetStream consume+ack (herald default options, raw await m.ackAck)")]
  },
  {
    key: "outbox-pg",
    db: "pg",
    make: (ctx, sql) => Outbox.enqueueRelay(ctx, "pg", sql, "publishAll"),
    metrics: [throughput("outbox enqueue+relay, publishAll (PostgreSQL)", "≥ 0.8")]
  },
  {
    key: "outbox-pg-publish",
    db: "pg",
    make: (ctx, sql) => Outbox.enqueueRelay(ctx, "pg", sql, "publish"),
    metrics: [throughput("outbox enqueue+relay, publish per message (PostgreSQL)", "≥ 0.5")]
  },
  {
    key: "outbox-pg-keyed",
    db: "pg",
    make: (ctx, sql) => Outbox.enqueueRelay(ctx, "pg", sql, "keyed"),
    metrics: [throughput(`outbox per-key ordered relay, ${sizes.outboxKeys} keys (PostgreSQL)`, "≥ 0.5")]
  },
  {
    key: "outbox-sqlite",
    db: "sqlite",
    make: (ctx, sql) => Outbox.enqueueRelay(ctx, "sqlite", sql, "publishAll"),
    metrics: [throughput("outbox enqueue+relay, publishAll (SQLite)", "≥ 0.8")]
  },
  {
    key: "outbox-sqlite-publish",
    db: "sqlite",
    make: (ctx, sql) => Outbox.enqueueRelay(ctx, "sqlite", sql, "publish"),
    metrics: [throughput("outbox enqueue+relay, publish per message (SQLite)", "≥ 0.5")]
  },
  {
    key: "outbox-sqlite-keyed",
    db: "sqlite",
    make: (ctx, sql) => Outbox.enqueueRelay(ctx, "sqlite", sql, "keyed"),
    metrics: [throughput(`outbox per-key ordered relay, ${sizes.outboxKeys} keys (SQLite)`, "≥ 0.5")]
  },
  {
    key: "inbox-pg",
    db: "pg",
    make: (ctx, sql) => Inbox.inboxConsume(ctx, sizes.inboxConcurrency, sizes.inboxBatch, sql),
    metrics: [
      throughput("inbox-protected consume (PostgreSQL), one transaction per message"),
      { ...throughput("inbox-protected consume (PostgreSQL), batched commits", "≥ 0.5"), key: "batchRate" }
    ]
  },
  {
    key: "saga-pg",
    db: "pg",
    make: (ctx, sql) => SagaCase.sagaTransitions(ctx, "pg", sizes.sagaConcurrency, sql),
    metrics: [throughput("saga transitions (SagaSql, PostgreSQL) vs inbox+write (PostgreSQL)")]
  },
  {
    key: "saga-memory",
    db: "pg",
    make: (ctx, sql) => SagaCase.sagaTransitions(ctx, "memory", sizes.sagaConcurrency, sql),
    metrics: [throughput("saga transitions (memory store) vs inbox+write (PostgreSQL)")],
    optional: true
  },
  {
    key: "replay-seq",
    make: ReplayCase.replayBySequence,
    metrics: [throughput(`replay by sequence, ${sizes.replay / 2} of ${sizes.replay} (raw: ordered consumer)`)]
  },
  {
    key: "replay-correlation",
    make: ReplayCase.byCorrelation,
    metrics: [
      { name: `byCorrelation p50, 12 of ${sizes.replay}: index (memory) vs scan`, key: "p50", unit: "ms", kind: "latency" }
    ],
    optional: true
  },
  {
    key: "observed-publish",
    make: Observed.publish,
    metrics: [throughput("publish+subscribe, metrics+tracing on (herald) vs off (raw)")],
    optional: true
  },
  {
    key: "observed-consume-1",
    make: (ctx) => Observed.consume(ctx, 1),
    metrics: [throughput("consume+ack c=1, metrics+tracing on (herald) vs off (raw)")],
    optional: true
  },
  {
    key: "observed-consume-16",
    make: (ctx) => Observed.consume(ctx, 16),
    metrics: [throughput("consume+ack c=16, metrics+tracing on (herald) vs off (raw)")],
    optional: true
  },
  {
    key: "rss-consume",
    make: Rss.rssConsume,
    metrics: [{
      name: `peak RSS consuming ${sizes.rss} messages (herald default options${Rss.fromDist ? ", from dist" : ""}, raw m.ack), a process per run`,
      key: "maxRss",
      unit: "MiB",
      kind: "memory",
      goal: "≤ 1.3"
    }],
    optional: true
  }
]

/** A fresh PostgreSQL database (dropped at the end) or a SQLite file in a temp directory (removed at the end). */
const dbLayer = (db: Db) =>
  db === "pg"
    ? TestDatabase.layerPg({ prefix: "herald_bench", maxConnections: 40 })
    : Layer.unwrap(Effect.map(
      Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "herald-bench-"))),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      ),
      (dir) => SqliteClient.layer({ filename: join(dir, "bench.db") })
    ))

const program = Effect.gen(function*() {
  const started = now()
  const server = yield* NatsServer.NatsServer
  console.log(`nats-server ${server.version} at ${server.url} (JetStream ${storage} storage)`)
  console.log(`sizes: ${JSON.stringify(sizes)}; node ${process.version}`)

  const herald = yield* Layer.build(
    Layer.mergeAll(NatsBus.layer, NatsEventLog.layer).pipe(
      Layer.provide(NatsConnection.layer({ servers: server.url, name: "bench-herald" }))
    )
  )
  const nc = yield* Effect.acquireRelease(
    // Tuned as Herald's `NatsConnection` is: no async stack traces per request.
    Effect.promise(() => connect({ servers: server.url, name: "bench-raw", noAsyncTraces: true })),
    (nc) => Effect.promise(() => nc.close())
  )
  const jsm = yield* Effect.promise(() => jetstreamManager(nc))
  const ctx: BenchContext = {
    bus: Context.get(herald, Bus.Bus),
    eventLog: Context.get(herald, EventLog.EventLog),
    serverUrl: server.url,
    nc,
    js: jetstream(nc),
    jsm,
    storage,
    sizes
  }

  const rows: Array<Row> = []
  const notes: Array<string> = []
  let filled = false
  let sagaFilled = false
  let replayFilled = false
  const dbs = new Map<Db, Context.Context<SqlClient.SqlClient>>()
  for (const entry of entries) {
    if (only === undefined ? entry.optional === true : !only.includes(entry.key)) continue
    let sql = Context.empty() as Context.Context<SqlClient.SqlClient>
    if (entry.db !== undefined) {
      const built = dbs.get(entry.db) ?? (yield* Layer.build(dbLayer(entry.db)))
      dbs.set(entry.db, built)
      sql = built
    }
    if ((entry.key.startsWith("consume") || entry.key.startsWith("inbox")) && !filled) {
      yield* JetStream.fillConsumeStream(ctx)
      filled = true
    }
    if (entry.key.startsWith("saga") && !sagaFilled) {
      yield* SagaCase.fillSagaStream(ctx)
      sagaFilled = true
    }
    if (entry.key.startsWith("replay") && !replayFilled) {
      yield* ReplayCase.fillReplayStream(ctx)
      replayFilled = true
    }
    if (entry.key === "replay-correlation") yield* ReplayCase.buildIndex(ctx)
    if (entry.key === "rss-consume") yield* Rss.fillRssStream(ctx)
    const samples = yield* runCase(entry.make(ctx, sql), sizes.runs)
    for (const metric of entry.metrics) {
      rows.push(rowOf(samples, metric))
      const bare = bareRowOf(samples, metric)
      if (bare !== undefined) rows.push(bare)
      if (samples.incomplete) notes.push(`${metric.name}: herald did not finish in time; rate = acked / elapsed`)
    }
  }

  const seconds = (now() - started) / 1000
  console.log("")
  console.log(table(rows))
  console.log("")
  console.log(`ratio: herald/raw for throughputs and memory, raw/herald for latencies (higher is better, except memory: lower); medians of ${sizes.runs} runs`)
  for (const note of notes) console.log(`INCOMPLETE ${note}`)
  console.log(`measured in ${seconds.toFixed(1)} s`)
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, JSON.stringify(rows, null, 2) + "\n")
  if (env("BENCH_MARKDOWN") !== undefined) console.log("\n" + markdown(rows))
  console.log(`wrote ${out}`)
})

const t0 = now()
await Effect.runPromise(
  program.pipe(
    Effect.scoped,
    Effect.provide(NatsServer.layer()),
    Effect.provideService(References.MinimumLogLevel, "Warn")
  )
)
console.log(`total ${((now() - t0) / 1000).toFixed(1)} s (server start and stop included)`)
