/**
 * Peak RSS of a process consuming `sizes.rss` messages (50,000): Herald's
 * `EventLog.consume` with default options against raw nats.js `consume()` +
 * `m.ack()`, each run in a fresh Node process of its own (`rss/herald.ts`,
 * `rss/raw.ts`: peak RSS is per process), over a fresh durable consumer of a
 * stream filled once before (untimed). The sample is the child's
 * `process.resourceUsage().maxRSS` in MiB.
 */
import { headers as natsHeaders } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"
import { join } from "node:path"
import { type BenchContext, runTimeoutMillis } from "../context.ts"
import { OrderPlaced, payloadOf, rawOf, withIds } from "../fixtures.ts"
import type { Case, Sample } from "../harness.ts"
import { pipelined, withConsumer } from "./jetstream.ts"

/** The stream of the peak RSS row. */
export const RSS_STREAM = "BENCH_RSS"

/** Fills the stream (untimed) with `sizes.rss` envelopes made by `OrderPlaced.root`, as the consume stream is. */
export const fillRssStream = (ctx: BenchContext) =>
  Effect.gen(function*() {
    const n = ctx.sizes.rss
    const envelopes = yield* Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) => OrderPlaced.root(payloadOf(i)))
      .pipe(withIds)
    yield* Effect.promise(async () => {
      await ctx.jsm.streams.add({ name: RSS_STREAM, subjects: ["bench.rss.>"], storage: ctx.storage })
      await pipelined(n, ctx.sizes.window, (i) => {
        const raw = rawOf(envelopes[i]!)
        const h = natsHeaders()
        for (const name in raw.headers) h.set(name, raw.headers[name]!)
        return ctx.js.publish("bench.rss.orders", raw.body, { headers: h })
      })
      const info = await ctx.jsm.streams.info(RSS_STREAM)
      if (info.state.messages !== n) throw new Error(`${RSS_STREAM}: ${info.state.messages} stored, expected ${n}`)
    })
  })

const MiB = 1024 * 1024

/**
 * `BENCH_RSS_FROM=dist`: the processes load Herald's packages from their
 * built `dist/` (run `pnpm build` first), as an application installed from
 * npm does; by default they load the TypeScript sources (`--conditions=@herald/source`,
 * as the rest of the bench), which Node strips of their types when loading.
 */
export const fromDist = process.env["BENCH_RSS_FROM"] === "dist"

/** Runs one side's process to its end; its last line of stdout is its report. */
const child = (side: "herald" | "raw", ctx: BenchContext, consumer: string) =>
  Effect.callback<Sample, Error>((resume) => {
    const p = ChildProcess.spawn(
      process.execPath,
      [...(fromDist ? [] : ["--conditions=@herald/source"]), "--disable-warning=ExperimentalWarning", join(import.meta.dirname, "..", "rss", `${side}.ts`)],
      {
        env: { ...process.env, NATS_URL: ctx.serverUrl, STREAM: RSS_STREAM, CONSUMER: consumer, MESSAGES: String(ctx.sizes.rss) },
        stdio: ["ignore", "pipe", "pipe"]
      }
    )
    let stdout = ""
    let stderr = ""
    p.stdout.setEncoding("utf8").on("data", (chunk: string) => void (stdout += chunk))
    p.stderr.setEncoding("utf8").on("data", (chunk: string) => void (stderr = (stderr + chunk).slice(-2_000)))
    const timer = setTimeout(() => p.kill("SIGKILL"), runTimeoutMillis)
    p.once("exit", (code, signal) => {
      clearTimeout(timer)
      const last = stdout.trim().split("\n").at(-1) ?? ""
      if (code !== 0 || !last.startsWith("{")) {
        return resume(Effect.fail(new Error(`rss ${side} process: exit ${code ?? signal}\n${stderr}`)))
      }
      const r = JSON.parse(last) as { count: number; maxRssKb: number; rssBefore: number; millis: number }
      if (r.count !== ctx.sizes.rss) {
        return resume(Effect.fail(new Error(`rss ${side} process: ${r.count} acked, expected ${ctx.sizes.rss}`)))
      }
      resume(Effect.succeed({ maxRss: r.maxRssKb / 1024, rssBefore: r.rssBefore / MiB, ms: r.millis }))
    })
    return Effect.sync(() => void p.kill("SIGKILL"))
  })

/** The peak RSS case: each run of each side a fresh process over a fresh consumer. */
export const rssConsume = (ctx: BenchContext): Case => ({
  title: `peak RSS consuming ${ctx.sizes.rss} messages, herald default options vs raw consume() + m.ack(), a process per run, herald from ${fromDist ? "dist" : "sources"}`,
  raw: (run) => withConsumer(ctx, `rss_raw_${run}`, child("raw", ctx, `rss_raw_${run}`), RSS_STREAM),
  herald: (run) => withConsumer(ctx, `rss_herald_${run}`, child("herald", ctx, `rss_herald_${run}`), RSS_STREAM)
})
