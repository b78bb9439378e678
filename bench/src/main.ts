/**
 * `pnpm bench`: Herald against raw nats.js on one nats-server started for the
 * run (`@herald/testing`'s `NatsServer.layer()`, stopped at the end).
 *
 * Environment:
 * - `BENCH_RUNS` counted runs per side (default 5, plus one warm-up each)
 * - `BENCH_SCALE` multiplies every message count (default 1)
 * - `BENCH_STORAGE` `file` (default) or `memory` for the JetStream streams
 * - `BENCH_ONLY` a comma-separated list of case keys (pubsub, request,
 *   append-seq, append-pipe, consume-1, consume-16, consume-1-ackack)
 * - `BENCH_OUT` where to write the rows (default results/latest.json)
 */
import { NatsServer } from "@herald/testing"
import { Bus, EventLog } from "@herald/transport"
import { NatsBus, NatsConnection, NatsEventLog } from "@herald/transport-nats"
import { jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import * as Core from "./cases/core.ts"
import * as JetStream from "./cases/jetstream.ts"
import type { BenchContext, Sizes } from "./context.ts"
import { type Case, markdown, type Metric, now, type Row, rowOf, runCase, table } from "./harness.ts"

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
  consume: sized(10_000),
  runs: Number(env("BENCH_RUNS") ?? "5")
}
const storage = env("BENCH_STORAGE") === "memory" ? StorageType.Memory : StorageType.File
const only = env("BENCH_ONLY")?.split(",").map((s) => s.trim())
const here = dirname(fileURLToPath(import.meta.url))
const out = resolve(here, "..", env("BENCH_OUT") ?? "results/latest.json")

interface Entry {
  readonly key: string
  readonly make: (ctx: BenchContext) => Case
  readonly metrics: ReadonlyArray<Metric>
}

const throughput = (name: string): Metric => ({ name, key: "rate", unit: "msgs/s", kind: "throughput" })

const entries: ReadonlyArray<Entry> = [
  { key: "pubsub", make: Core.pubsub, metrics: [throughput("core publish+subscribe")] },
  {
    key: "request",
    make: Core.requestReply,
    metrics: [
      { name: "request/reply p50", key: "p50", unit: "ms", kind: "latency" },
      { name: "request/reply p99", key: "p99", unit: "ms", kind: "latency" }
    ]
  },
  {
    key: "append-seq",
    make: (ctx) => JetStream.append(ctx, "sequential"),
    metrics: [throughput("JetStream append sequential")]
  },
  {
    key: "append-pipe",
    make: (ctx) => JetStream.append(ctx, "pipelined"),
    metrics: [throughput(`JetStream append pipelined (${sizes.window} in flight)`)]
  },
  {
    key: "consume-1",
    make: (ctx) => JetStream.consume(ctx, 1, "ack"),
    metrics: [throughput("JetStream consume+ack (herald c=1, raw m.ack)")]
  },
  {
    key: "consume-16",
    make: (ctx) => JetStream.consume(ctx, 16, "ack"),
    metrics: [throughput("JetStream consume+ack (herald c=16, raw m.ack)")]
  },
  {
    key: "consume-1-ackack",
    make: (ctx) => JetStream.consume(ctx, 1, "ackAck"),
    metrics: [throughput("JetStream consume+ack (herald c=1, raw await m.ackAck)")]
  }
]

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
    Effect.promise(() => connect({ servers: server.url, name: "bench-raw" })),
    (nc) => Effect.promise(() => nc.close())
  )
  const jsm = yield* Effect.promise(() => jetstreamManager(nc))
  const ctx: BenchContext = {
    bus: Context.get(herald, Bus.Bus),
    eventLog: Context.get(herald, EventLog.EventLog),
    nc,
    js: jetstream(nc),
    jsm,
    storage,
    sizes
  }

  const rows: Array<Row> = []
  const notes: Array<string> = []
  let filled = false
  for (const entry of entries) {
    if (only !== undefined && !only.includes(entry.key)) continue
    if (entry.key.startsWith("consume") && !filled) {
      yield* JetStream.fillConsumeStream(ctx)
      filled = true
    }
    const samples = yield* runCase(entry.make(ctx), sizes.runs)
    for (const metric of entry.metrics) {
      rows.push(rowOf(samples, metric))
      if (samples.incomplete) notes.push(`${metric.name}: herald did not finish in time; rate = acked / elapsed`)
    }
  }

  const seconds = (now() - started) / 1000
  console.log("")
  console.log(table(rows))
  console.log("")
  console.log(`ratio: herald/raw for throughputs, raw/herald for latencies (higher is better); medians of ${sizes.runs} runs`)
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
