/**
 * Consumers in several OS processes (`worker.ts`, run by Node as child
 * processes, each first connected to a node of its own), on a three-node
 * nats-server 2.9 cluster (NatsCluster) and PostgreSQL (TestDatabase):
 *
 * - three processes share one durable consumer, each with the Herald runner
 *   guarded by the inbox: 30,000 messages, one process SIGKILLed on the
 *   way; each message's effect applied exactly once, each process applied at
 *   least 20 %, and the killed process's in-flight messages were
 *   redelivered to the others;
 * - three processes in one core NATS queue group (at-most-once): one is
 *   SIGKILLed with messages in its buffer; what it lost is counted from the
 *   server's own count of what it sent that process (`/connz` of closed
 *   connections): sent = received + lost, exactly, and nothing sent after
 *   the kill is lost.
 *
 * Every wait is bounded.
 */
import { PgClient } from "@effect/sql-pg"
import { Fixtures, NatsCluster, Wait } from "@herald/testing"
import { TestDatabase } from "@herald/testing/pg"
import { InboxSql } from "@herald/inbox"
import { Bus, EventLog, Topology } from "@herald/transport"
import { assert, describe, it } from "@effect/vitest"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import * as Readline from "node:readline"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import { envelope, range, report, transportOn, unique } from "./helpers.ts"

const { bounded, until } = Wait
const workerFile = Path.join(import.meta.dirname, "worker.ts")

interface WorkerStats {
  readonly deliveries: number
  readonly redelivered: number
  readonly applied: number
  readonly duplicates: number
  readonly received: number
}

interface Worker {
  readonly name: string
  readonly child: ChildProcess.ChildProcess
  ready: boolean
  stats: WorkerStats | undefined
  stderr: string
  exited: boolean
}

const awaitExit = (w: Worker) =>
  w.exited ? Effect.void : Effect.callback<void>((resume) => {
    w.child.once("exit", () => resume(Effect.void))
    if (w.exited) resume(Effect.void)
  })

/** A worker process in the scope: SIGTERM (then SIGKILL after 15 s) when the scope closes. */
const spawnWorker = (name: string, settings: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync((): Worker => {
      const child = ChildProcess.spawn(
        process.execPath,
        ["--conditions=@herald/source", "--disable-warning=ExperimentalWarning", workerFile],
        { env: { ...process.env, ...settings, WORKER: name }, stdio: ["ignore", "pipe", "pipe"] }
      )
      const w: Worker = { name, child, ready: false, stats: undefined, stderr: "", exited: false }
      Readline.createInterface({ input: child.stdout! }).on("line", (line) => {
        if (line === "READY") w.ready = true
        else if (line.startsWith("STATS ")) w.stats = JSON.parse(line.slice(6)) as WorkerStats
      })
      child.stderr!.setEncoding("utf8")
      child.stderr!.on("data", (chunk: string) => {
        w.stderr = (w.stderr + chunk).slice(-4_000)
      })
      child.once("exit", () => {
        w.exited = true
      })
      return w
    }),
    (w) =>
      Effect.suspend(() => {
        if (w.exited) return Effect.void
        w.child.kill("SIGTERM")
        return awaitExit(w).pipe(
          Effect.timeoutOrElse({
            duration: "15 seconds",
            orElse: () => Effect.sync(() => void w.child.kill("SIGKILL")).pipe(Effect.andThen(awaitExit(w)))
          })
        )
      })
  )

const killWorker = (w: Worker) =>
  Effect.suspend(() => {
    w.child.kill("SIGKILL")
    return bounded(awaitExit(w), "10 seconds", `worker ${w.name} exits after SIGKILL`)
  })

const awaitReady = (workers: ReadonlyArray<Worker>) =>
  until(
    Effect.sync(() => workers.map((w) => ({ name: w.name, ready: w.ready, exited: w.exited, stderr: w.stderr.slice(-300) }))),
    (all) => all.every((w) => w.ready) || all.some((w) => w.exited),
    "every worker process consumes",
    { bound: "60 seconds", interval: "100 millis" }
  ).pipe(Effect.tap((all) =>
    Effect.sync(() => assert.deepStrictEqual(all.filter((w) => w.exited), [], "a worker exited while starting"))
  ))

/** Each worker starts on a node of its own (and learns the others from it). */
const natsUrlsFor = (cluster: NatsCluster.NatsCluster["Service"], i: number) => cluster.nodes[i % cluster.nodes.length]!.url

const Env = Layer.mergeAll(
  TestDatabase.layerPg({ maxConnections: 8 }),
  Layer.unwrap(NatsCluster.NatsCluster.useSync((cluster) => transportOn(cluster, "processes"))).pipe(
    Layer.provideMerge(NatsCluster.layer())
  )
)

describe("consumers in three OS processes", () => {
  it.live(
    "one durable consumer, inbox on PostgreSQL: 30,000 messages each applied once, each process ≥ 20 %, a killed process's in-flight messages redelivered to the others",
    () => {
      const t = unique("proc")
      return Effect.scoped(Effect.gen(function*() {
        const N = 30_000
        const started = Date.now()
        const cluster = yield* NatsCluster.NatsCluster
        const sql = yield* SqlClient.SqlClient
        const database = (yield* PgClient.PgClient).config.database!
        const log = yield* EventLog.EventLog
        yield* Topology.ensure({
          streams: [{ name: t.stream, subjects: [`${t.subject}.>`], replicas: 3 }, Topology.deadLetterStream()],
          consumers: [{ stream: t.stream, name: t.consumer, ackWait: "3 seconds" }]
        })
        yield* sql`CREATE TABLE ${sql(t.counter)} (message_id TEXT PRIMARY KEY, n INTEGER NOT NULL, worker TEXT NOT NULL)`
        yield* InboxSql.make({ table: t.inbox }) // the table, created once before the workers use it

        const workers = yield* Effect.forEach(["w0", "w1", "w2"], (name, i) =>
          spawnWorker(name, {
            MODE: "durable",
            NATS_URLS: natsUrlsFor(cluster, i),
            PG_DATABASE: database,
            STREAM: t.stream,
            CONSUMER: t.consumer,
            INBOX: t.inbox,
            APPLIED: t.counter
          }))
        yield* awaitReady(workers)

        const appending = yield* Effect.forkChild(
          Effect.forEach(range(1, N), (n) => log.append(`${t.subject}.m`, envelope(n)), { concurrency: 64, discard: true })
        )
        const byWorker = Effect.map(
          sql<{ readonly worker: string; readonly rows: number; readonly total: number }>`
            SELECT worker, count(*)::int AS rows, sum(n)::int AS total FROM ${sql(t.counter)} GROUP BY worker ORDER BY worker`,
          (rows) => Object.fromEntries(rows.map((r) => [r.worker, { rows: r.rows, total: r.total }]))
        )
        const appliedCount = Effect.map(sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM ${sql(t.counter)}`, (r) => r[0]!.n)

        // The third process is SIGKILLed three quarters of the way, while it holds deliveries.
        const killAt = Math.floor(N * 0.75)
        yield* until(appliedCount, (k) => k >= killAt, `${killAt} applied`, { bound: "150 seconds", interval: "100 millis" })
        const victim = workers[2]!
        yield* killWorker(victim)
        const atKill = yield* byWorker

        yield* bounded(Fiber.join(appending), "60 seconds", "the appends")
        yield* until(
          Effect.zip(appliedCount, log.lag(t.stream, t.consumer)),
          ([k, lag]) => k === N && lag.pending === 0 && lag.ackPending === 0,
          "every message applied and acked",
          { bound: "120 seconds", interval: "200 millis" }
        )
        // The survivors' last stats line, once they have seen everything.
        yield* Effect.sleep("500 millis")
        const final = yield* byWorker
        const totals = yield* sql<{ readonly rows: number; readonly total: number; readonly twice: number }>`
          SELECT count(*)::int AS rows, sum(n)::int AS total, count(*) FILTER (WHERE n > 1)::int AS twice FROM ${sql(t.counter)}`
        const survivors = workers.slice(0, 2).map((w) => w.stats!)
        const redeliveredToSurvivors = survivors.reduce((sum, s) => sum + s.redelivered, 0)
        yield* report(
          "processes/durable",
          `applied by worker at the kill of w2 ${JSON.stringify(atKill)}; final ${JSON.stringify(final)}; ` +
            `survivors' stats ${JSON.stringify(survivors)}; ${Date.now() - started} ms`
        )

        assert.deepStrictEqual(totals[0], { rows: N, total: N, twice: 0 }, "each message applied exactly once")
        for (const name of ["w0", "w1", "w2"]) {
          assert.isAtLeast(final[name]?.rows ?? 0, N * 0.2, `${name} applied at least 20 %`)
        }
        assert.strictEqual(final["w2"]!.rows, atKill["w2"]!.rows, "nothing applied by the killed process after its kill")
        assert.isAbove(redeliveredToSurvivors, 0, "the killed process's in-flight messages came back to the others")
        assert.deepStrictEqual(workers.slice(0, 2).map((w) => w.exited), [false, false], "the survivors still run")
      })).pipe(Effect.provide(Env))
    },
    240_000
  )

  it.live(
    "one core NATS queue group: a process SIGKILLed with messages in its buffer; sent = received + lost, exactly",
    () => {
      const t = unique("procq")
      return Effect.scoped(Effect.gen(function*() {
        const half = 15_000
        const cluster = yield* NatsCluster.NatsCluster
        const sql = yield* SqlClient.SqlClient
        const database = (yield* PgClient.PgClient).config.database!
        const bus = yield* Bus.Bus
        const received = `${t.counter}_q`
        yield* sql`CREATE TABLE ${sql(received)} (n INTEGER PRIMARY KEY, worker TEXT NOT NULL, copies INTEGER NOT NULL)`

        const workers = yield* Effect.forEach(["q0", "q1", "q2"], (name, i) =>
          spawnWorker(name, {
            MODE: "queue",
            NATS_URLS: natsUrlsFor(cluster, i),
            PG_DATABASE: database,
            SUBJECT: `${t.subject}.q`,
            QUEUE: "q",
            RECEIVED: received
          }))
        yield* awaitReady(workers)
        const rowsBy = Effect.map(
          sql<{ readonly worker: string; readonly rows: number }>`SELECT worker, count(*)::int AS rows FROM ${sql(received)} GROUP BY worker`,
          (rows) => Object.fromEntries(rows.map((r) => [r.worker, r.rows])) as Record<string, number>
        )
        const publish = (n: number) => bus.publish(`${t.subject}.q`, Fixtures.envelope({ identity: n, payload: { n } }))

        // Interest travels over the routes: probe (negative numbers) until every member received one.
        let sent = 0
        let probe = 0
        yield* until(
          Effect.gen(function*() {
            for (let i = 0; i < 30; i++) {
              yield* publish(--probe)
              sent++
            }
            yield* Effect.sleep("100 millis")
            const rows = yield* rowsBy
            return ["q0", "q1", "q2"].every((w) => (rows[w] ?? 0) > 0)
          }),
          (ok) => ok,
          "every queue member reachable",
          { bound: "30 seconds", interval: "100 millis" }
        )

        // The first half as fast as it goes: the members buffer what they have not recorded yet.
        for (const n of range(1, half)) yield* publish(n)
        sent += half
        const victim = workers[2]!
        yield* killWorker(victim)
        // The server's count of the messages it sent the killed process's connection.
        const closed = until(
          Effect.forEach(cluster.nodes, (node) =>
            Effect.tryPromise(async () => {
              const response = await fetch(`http://${node.host}:${node.monitorPort}/connz?state=closed&limit=1000`)
              const json = await response.json() as { readonly connections?: ReadonlyArray<{ readonly name?: string; readonly out_msgs: number }> }
              return (json.connections ?? []).filter((c) => c.name === "queue-worker-q2")
            })),
          (found) => found.flat().length > 0,
          "the server closed the killed process's connection",
          { bound: "20 seconds", interval: "100 millis" }
        )
        const outMsgs = (yield* closed).flat().reduce((sum, c) => sum + c.out_msgs, 0)

        // The second half, after the kill: every message goes to a live member.
        for (const n of range(half + 1, 2 * half)) yield* publish(n)
        sent += half
        const survivorsDone = Effect.gen(function*() {
          const rows = yield* rowsBy
          const secondHalf = (yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM ${sql(received)} WHERE n > ${half}`)[0]!.n
          return {
            secondHalf,
            settled: workers.slice(0, 2).every((w) => w.stats !== undefined && w.stats.received === (rows[w.name] ?? 0)),
            rows
          }
        })
        const done = yield* until(
          survivorsDone,
          (d) => d.secondHalf === half && d.settled,
          "the survivors recorded everything they received",
          { bound: "120 seconds", interval: "250 millis" }
        )
        const totals = (yield* sql<{ readonly rows: number; readonly twice: number }>`
          SELECT count(*)::int AS rows, count(*) FILTER (WHERE copies > 1)::int AS twice FROM ${sql(received)}`)[0]!
        const recordedByVictim = done.rows["q2"] ?? 0
        const lost = outMsgs - recordedByVictim
        yield* report(
          "processes/queue",
          `sent ${sent} (${-probe} probes), received ${totals.rows} (by member ${JSON.stringify(done.rows)}); ` +
            `the server sent the killed member ${outMsgs}, it recorded ${recordedByVictim}: lost ${lost}`
        )

        assert.strictEqual(totals.twice, 0, "no message received twice")
        assert.strictEqual(done.secondHalf, half, "nothing sent after the kill was lost")
        assert.isAtLeast(lost, 0)
        assert.strictEqual(sent, totals.rows + lost, "sent = received + lost")
      })).pipe(Effect.provide(Env))
    },
    240_000
  )
})
