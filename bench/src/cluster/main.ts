/**
 * `pnpm bench:cluster`: consume throughput with 1, 2 and 3 OS processes on
 * one durable consumer of an R3 stream, on a three-node nats-server cluster
 * started for the run (`@herald/testing`'s `NatsCluster`), Herald's runner
 * against nats.js `consume()` in the same run.
 *
 * The stream is filled once with `BENCH_CLUSTER_MESSAGES` (default 30,000)
 * messages. Each run makes a fresh durable consumer (R3, like its stream),
 * starts the processes (process i first connected to node i), and once all
 * are connected tells them to go; the run's time is from then until the
 * consumer has delivered every message and has nothing pending acks. Rows:
 * the median of `BENCH_RUNS` (default 3) runs and their range; written to
 * `results/cluster.json` (`BENCH_OUT` overrides).
 *
 * The processes, the servers and the benchmark share the machine's cores:
 * on the 2-core machine the curve is for the record, not a target.
 */
import { NatsCluster } from "@herald/testing"

import { IdGenerator, MessageIdentity } from "@herald/identity"
import { NatsEventLog, NatsConnection, NatsTopology } from "@herald/transport-nats"
import { Envelope, EventLog, Topology } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ChildProcess from "node:child_process"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Readline from "node:readline"

const envNumber = (name: string, fallback: number): number => {
  const v = process.env[name]
  return v === undefined || v === "" ? fallback : Number(v)
}

const messages = envNumber("BENCH_CLUSTER_MESSAGES", 30_000)
const runs = envNumber("BENCH_RUNS", 3)
const out = process.env["BENCH_OUT"] ?? join(import.meta.dirname, "..", "..", "results", "cluster.json")
const workerFile = join(import.meta.dirname, "worker.ts")
const stream = "BENCHCLUSTER"
const body = new TextEncoder().encode(JSON.stringify({ n: 1, pad: "x".repeat(64) }))

interface Proc {
  readonly child: ChildProcess.ChildProcess
  connected: boolean
  count: number
  stderr: string
}

const spawn = (side: string, urls: string, consumer: string): Proc => {
  const child = ChildProcess.spawn(
    process.execPath,
    ["--conditions=@herald/source", "--disable-warning=ExperimentalWarning", workerFile],
    { env: { ...process.env, SIDE: side, NATS_URLS: urls, STREAM: stream, CONSUMER: consumer }, stdio: ["pipe", "pipe", "pipe"] }
  )
  const p: Proc = { child, connected: false, count: 0, stderr: "" }
  Readline.createInterface({ input: child.stdout! }).on("line", (line) => {
    if (line === "CONNECTED") p.connected = true
    else if (line.startsWith("COUNT ")) p.count = Number(line.slice(6))
  })
  child.stderr!.setEncoding("utf8")
  child.stderr!.on("data", (chunk: string) => {
    p.stderr = (p.stderr + chunk).slice(-2_000)
  })
  return p
}

const stopAll = (procs: ReadonlyArray<Proc>) =>
  Effect.forEach(procs, (p) =>
    Effect.callback<void>((resume) => {
      if (p.child.exitCode !== null || p.child.signalCode !== null) return resume(Effect.void)
      const timer = setTimeout(() => p.child.kill("SIGKILL"), 10_000)
      p.child.once("exit", () => {
        clearTimeout(timer)
        resume(Effect.void)
      })
      p.child.kill("SIGTERM")
    }), { concurrency: "unbounded", discard: true })

const waitFor = (what: string, bound: number, done: () => boolean) =>
  Effect.gen(function*() {
    const until = Date.now() + bound
    while (!done()) {
      if (Date.now() > until) return yield* Effect.die(new Error(`${what}: not done within ${bound} ms`))
      yield* Effect.sleep("20 millis")
    }
  })

/** One run: `processes` processes of `side` on a fresh consumer; messages per second. */
const run = (cluster: NatsCluster.NatsCluster["Service"], side: string, processes: number, index: number) =>
  Effect.gen(function*() {
    const consumer = `${side}_${processes}_${index}`
    yield* Topology.ensure({ consumers: [{ stream, name: consumer, ackWait: "30 seconds", maxAckPending: 10_000 }] })
    const log = yield* EventLog.EventLog
    const procs = Array.from({ length: processes }, (_, i) => spawn(side, cluster.urls[i % cluster.urls.length]!, consumer))
    return yield* Effect.gen(function*() {
      yield* waitFor("the processes connect", 60_000, () => procs.every((p) => p.connected) || procs.some((p) => p.child.exitCode !== null))
      const dead = procs.filter((p) => p.child.exitCode !== null)
      if (dead.length > 0) return yield* Effect.die(new Error(`a worker exited: ${dead.map((p) => p.stderr).join("\n")}`))
      const started = performance.now()
      for (const p of procs) p.child.stdin!.write("GO\n")
      let lag = yield* log.lag(stream, consumer)
      while (lag.pending > 0 || lag.ackPending > 0) {
        yield* Effect.sleep("20 millis")
        lag = yield* log.lag(stream, consumer)
      }
      const seconds = (performance.now() - started) / 1_000
      return { rate: messages / seconds, shares: procs.map((p) => p.count) }
    }).pipe(Effect.ensuring(stopAll(procs)))
  })

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

const program = Effect.gen(function*() {
  const startedAt = Date.now()
  const cluster = yield* NatsCluster.NatsCluster
  yield* Topology.ensure({ streams: [{ name: stream, subjects: ["benchcluster.>"], replicas: 3 }] })
  const log = yield* EventLog.EventLog
  yield* Effect.forEach(Array.from({ length: messages }, (_, i) => i + 1), (n) =>
    log.append("benchcluster.m", Envelope.make({
      identity: MessageIdentity.root(IdGenerator.testId(n)),
      type: "bench.Message",
      kind: "event",
      occurredAt: 1_700_000_000_000,
      body
    })), { concurrency: 128, discard: true })
  const rows: Array<Record<string, unknown>> = []
  for (const processes of [1, 2, 3]) {
    for (const side of ["herald", "raw"]) {
      const results: Array<{ readonly rate: number; readonly shares: ReadonlyArray<number> }> = []
      // One warm-up run, then the counted ones.
      yield* run(cluster, side, processes, 0)
      for (let i = 1; i <= runs; i++) results.push(yield* run(cluster, side, processes, i))
      const rates = results.map((r) => Math.round(r.rate))
      const row = {
        name: `consume, ${processes} process${processes === 1 ? "" : "es"}, one durable consumer (R3)`,
        side,
        processes,
        rate: median(rates),
        range: [Math.min(...rates), Math.max(...rates)],
        unit: "msgs/s",
        shares: results.map((r) => r.shares)
      }
      rows.push(row)
      console.log(`${row.name.padEnd(56)} ${side.padEnd(6)} ${String(row.rate).padStart(7)} msgs/s  (${row.range.join("–")})  shares ${JSON.stringify(row.shares)}`)
    }
  }
  const herald = (k: number) => rows.find((r) => r["side"] === "herald" && r["processes"] === k)!["rate"] as number
  const raw = (k: number) => rows.find((r) => r["side"] === "raw" && r["processes"] === k)!["rate"] as number
  for (const k of [1, 2, 3]) {
    console.log(`${k} process(es): herald/raw ${(herald(k) / raw(k)).toFixed(3)}; herald ×${(herald(k) / herald(1)).toFixed(2)} of 1 process, raw ×${(raw(k) / raw(1)).toFixed(2)}`)
  }
  writeFileSync(out, JSON.stringify({ messages, runs, server: cluster.version, rows }, null, 2) + "\n")
  console.log(`wrote ${out}; total ${((Date.now() - startedAt) / 1_000).toFixed(1)} s`)
})

const services = Layer.unwrap(
  NatsCluster.NatsCluster.useSync((cluster) =>
    Layer.mergeAll(NatsEventLog.layer, NatsTopology.layer).pipe(
      Layer.provideMerge(NatsConnection.layer({ servers: cluster.urls, name: "bench-cluster" }))
    ))
).pipe(Layer.provideMerge(NatsCluster.layer()))

Effect.runPromise(program.pipe(Effect.provide(services))).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
