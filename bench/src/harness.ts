/**
 * Running the two sides of a case alternately and reducing the samples.
 */
import * as Effect from "effect/Effect"

/** One side's measurement of a run: named values (e.g. `{ rate }`, `{ p50, p99 }`). */
export type Sample = Readonly<Record<string, number>>

/** A case: the same work done by Herald and by raw nats.js. */
export interface Case {
  readonly title: string
  readonly raw: (run: number) => Effect.Effect<Sample, unknown>
  readonly herald: (run: number) => Effect.Effect<Sample, unknown>
  /**
   * Raw nats.js doing the same job without Herald's headers (a body only),
   * run between `raw` and `herald`; its rows are named `<metric> vs raw
   * without Herald headers`.
   */
  readonly bare?: ((run: number) => Effect.Effect<Sample, unknown>) | undefined
}

/**
 * The least time of a measurement (`BENCH_MIN_MS`, default 1,000 ms): the
 * time-bound cases repeat their work until it has passed.
 */
export const minMillis = Number(process.env["BENCH_MIN_MS"] ?? "1000")

/** How a metric of a case becomes a row of the table. */
export interface Metric {
  readonly name: string
  /** The key of the sample. */
  readonly key: string
  readonly unit: string
  /**
   * `throughput`: ratio = herald / raw; `latency`: ratio = raw / herald (higher is better either way);
   * `memory`: ratio = herald / raw, lower is better (its goal says so, e.g. `≤ 1.3`).
   */
  readonly kind: "throughput" | "latency" | "memory"
  /** The goal, printed beside the row (e.g. `ratio ≥ 0.8`, `≤ 3 µs`). */
  readonly goal?: string | undefined
}

export interface Row {
  readonly name: string
  readonly herald: number
  readonly raw: number
  readonly unit: string
  readonly ratio: number
  /** The lowest and highest of the runs of each side (the row is their median). */
  readonly heraldRange: readonly [number, number]
  readonly rawRange: readonly [number, number]
  readonly goal?: string | undefined
}

export interface Samples {
  readonly raw: ReadonlyArray<Sample>
  readonly herald: ReadonlyArray<Sample>
  /** The runs of the `bare` side, when the case has one. */
  readonly bare?: ReadonlyArray<Sample> | undefined
  /** Herald did not finish some run's work in time. */
  readonly incomplete: boolean
}

export const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** The `q` quantile (nearest rank) of the values. */
export const quantile = (xs: ArrayLike<number>, q: number): number => {
  const s = Array.from(xs).sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!
}

export const now = (): number => performance.now()

/** This process's CPU time (user + system) in µs since `from` (a `process.cpuUsage()`). */
export const cpuMicros = (from: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(from)
  return used.user + used.system
}

const fmt = (sample: Sample): string =>
  Object.entries(sample).map(([k, v]) => `${k}=${v >= 100 ? Math.round(v) : v.toFixed(3)}`).join(" ")

/**
 * Runs a case: one warm-up run of each side (not counted), then `runs` runs
 * of each side alternately (raw, herald, raw, herald, ...; with a `bare`
 * side: raw, bare, herald, ...).
 */
export const runCase = (c0: Case, runs: number) =>
  Effect.gen(function*() {
    // `BENCH_SIDE=herald` (or `raw`) runs one side only, for profiling.
    const side = process.env["BENCH_SIDE"]
    const skip = (): Effect.Effect<Sample> => Effect.succeed({ rate: Number.NaN, p50: Number.NaN, p99: Number.NaN })
    const c: Case = {
      title: c0.title,
      raw: side === "herald" ? skip : c0.raw,
      herald: side === "raw" ? skip : c0.herald,
      bare: c0.bare === undefined ? undefined : side === "herald" ? skip : c0.bare
    }
    const started = now()
    const raw: Array<Sample> = []
    const herald: Array<Sample> = []
    const bare: Array<Sample> = []
    yield* c.raw(0)
    if (c.bare !== undefined) yield* c.bare(0)
    const warm = yield* c.herald(0)
    // A side that cannot finish its work in time (it reports `complete: 0`)
    // gets one counted run instead of `runs`: the bench must stay short.
    const counted = warm["complete"] === 0 ? 1 : runs
    for (let i = 1; i <= counted; i++) {
      raw.push(yield* c.raw(i))
      if (c.bare !== undefined) bare.push(yield* c.bare(i))
      herald.push(yield* c.herald(i))
    }
    const seconds = ((now() - started) / 1000).toFixed(1)
    console.log(`  ${c.title} (${seconds} s)`)
    for (let i = 0; i < counted; i++) {
      const b = c.bare === undefined ? "" : ` | raw without Herald headers ${fmt(bare[i]!)}`
      console.log(`    run ${i + 1}: raw ${fmt(raw[i]!)}${b} | herald ${fmt(herald[i]!)}`)
    }
    const incomplete = [warm, ...herald].some((s) => s["complete"] === 0)
    if (incomplete) console.log(`    INCOMPLETE: herald did not finish within the deadline; its rate is acked / elapsed`)
    return { raw, herald, bare: c.bare === undefined ? undefined : bare, incomplete } satisfies Samples
  })

/** The row of a metric: the median over the runs of each side. */
export const rowOf = (samples: Samples, metric: Metric): Row => {
  const raws = samples.raw.map((s) => s[metric.key]!)
  const heralds = samples.herald.map((s) => s[metric.key]!)
  const raw = median(raws)
  const herald = median(heralds)
  const ratio = metric.kind === "latency" ? raw / herald : herald / raw
  return {
    name: metric.name,
    herald: round(herald),
    raw: round(raw),
    unit: metric.unit,
    ratio: round(ratio, 3),
    heraldRange: [round(Math.min(...heralds)), round(Math.max(...heralds))],
    rawRange: [round(Math.min(...raws)), round(Math.max(...raws))],
    goal: metric.goal
  }
}

/** The row of a metric against the `bare` side (raw without Herald's headers), when the case has one. */
export const bareRowOf = (samples: Samples, metric: Metric): Row | undefined =>
  samples.bare === undefined ? undefined : {
    ...rowOf({ ...samples, raw: samples.bare }, metric),
    name: `${metric.name} vs raw without Herald headers`,
    goal: undefined
  }

const range = (r: readonly [number, number]): string => `${r[0]}–${r[1]}`

const round = (x: number, digits?: number): number => {
  const d = digits ?? (Math.abs(x) >= 100 ? 0 : 3)
  const f = 10 ** d
  return Math.round(x * f) / f
}

const pad = (s: string, n: number, right = false) => (right ? s.padStart(n) : s.padEnd(n))

/** The table printed at the end. */
export const table = (rows: ReadonlyArray<Row>): string => {
  const head = ["name", "herald", "raw", "unit", "ratio", "goal", "herald min–max", "raw min–max"]
  const cells = rows.map((r) => [
    r.name,
    String(r.herald),
    String(r.raw),
    r.unit,
    r.ratio.toFixed(3),
    r.goal ?? "",
    range(r.heraldRange),
    range(r.rawRange)
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)))
  const line = (c: ReadonlyArray<string>) =>
    c.map((x, i) => pad(x, widths[i]!, i >= 1 && i !== 3 && i !== 5)).join("  ")
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...cells.map(line)].join("\n")
}

/** A markdown version of the table, for the README. */
export const markdown = (rows: ReadonlyArray<Row>): string =>
  [
    "| name | herald | raw | unit | ratio | goal | herald min–max | raw min–max |",
    "|---|---:|---:|---|---:|---|---:|---:|",
    ...rows.map((r) =>
      `| ${r.name} | ${r.herald} | ${r.raw} | ${r.unit} | ${r.ratio.toFixed(3)} | ${r.goal ?? ""} | ${range(r.heraldRange)} | ${range(r.rawRange)} |`
    )
  ].join("\n")
