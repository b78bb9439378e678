/**
 * `/metrics`, `/healthz` and `/readyz` over HTTP.
 *
 * - `GET /metrics`: every metric of the registry in the Prometheus text
 *   format (effect's `PrometheusMetrics`), after a `Metrics.refresh` so that
 *   the counts read from consumers are exact at scrape time, and after the
 *   `refresh` option's effects (gauges read from elsewhere, such as
 *   `SagaMetrics.refresh` of `@herald/saga`);
 * - `GET /healthz`: `200 ok` while the server runs (liveness);
 * - `GET /readyz`: runs the named readiness checks at once, each under a
 *   deadline; `200` when all pass, else `503`; the body is JSON:
 *   `{ "status": "ready" | "unready", "checks": [{ "name", "ok", "detail"? }] }`.
 *
 * {@link layer} serves them on its own Node HTTP server (`node:http`, no
 * other dependency); {@link routes} adds them to an effect `HttpRouter`, for
 * an application that runs its own HTTP server (`@effect/platform-node`'s
 * `NodeHttpServer`, say).
 *
 * A readiness check is a name and an effect ({@link check}); for the NATS
 * connection, {@link fromHealthReport} over `Health.check` of
 * `@herald/transport-nats`:
 *
 * ```ts
 * import { MetricsHttp } from "@herald/metrics"
 * import { Health } from "@herald/transport-nats"
 *
 * const server = MetricsHttp.layer({
 *   port: 9464,
 *   checks: [MetricsHttp.fromHealthReport("nats", Health.check({ jetstream: false }))]
 * })
 * ```
 *
 * @since 0.1.0
 */
import { type EventLog, TransportError } from "@herald/transport"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as PrometheusMetrics from "effect/observability/PrometheusMetrics"
import * as Http from "node:http"
import type * as Net from "node:net"
import * as LagMonitor from "./LagMonitor.ts"
import * as Metrics from "./Metrics.ts"
import * as MetricsError from "./MetricsError.ts"

/**
 * What a readiness check found.
 *
 * @since 0.1.0
 * @category models
 */
export interface CheckResult {
  readonly name: string
  readonly ok: boolean
  /** Why it is not ok (or what it saw). */
  readonly detail?: string | undefined
}

/**
 * A named readiness check. Never fails: a failure of its effect, a defect
 * or passing its deadline is a check that is not ok.
 *
 * @since 0.1.0
 * @category models
 */
export interface Check<R = never> {
  readonly name: string
  readonly run: Effect.Effect<{ readonly ok: boolean; readonly detail?: string | undefined }, unknown, R>
}

/**
 * A readiness check from an effect that answers `true` (ready), `false`, or
 * `{ ok, detail }`. A failure is not ready, with the failure as detail.
 *
 * @since 0.1.0
 * @category checks
 */
export const check = <E, R>(
  name: string,
  run: Effect.Effect<boolean | { readonly ok: boolean; readonly detail?: string | undefined }, E, R>
): Check<R> => ({
  name,
  run: Effect.map(run, (r) => typeof r === "boolean" ? { ok: r } : r)
})

/**
 * A readiness check over a health report such as `Health.check` of
 * `@herald/transport-nats` gives: not ready when its `status` is `down` (the
 * connection is not connected), or also when it is `degraded` with
 * `degradedIsReady: false`.
 *
 * @since 0.1.0
 * @category checks
 */
export const fromHealthReport = <E, R>(
  name: string,
  report: Effect.Effect<{ readonly status: "ok" | "degraded" | "down" }, E, R>,
  options?: { readonly degradedIsReady?: boolean | undefined }
): Check<R> =>
  check(
    name,
    Effect.map(report, (r) => {
      const ok = r.status === "ok" || (r.status === "degraded" && options?.degradedIsReady !== false)
      return { ok, detail: r.status }
    })
  )

const seconds = (millis: number): string => `${Math.round(millis / 100) / 10} s`

/**
 * Options of {@link consumers} and {@link consumerHandles}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsumerCheckOptions {
  /** The check's name (default `consumers`). */
  readonly name?: string | undefined
  /**
   * How long a runner may be `Recovering` and still count as ready (default
   * 0: a recovering runner is not ready). A short grace keeps a reconnect
   * or a consumer lookup from flapping `/readyz`.
   */
  readonly recoveringGrace?: Duration.Input | undefined
}

/**
 * Why one runner is not ready, or `undefined` when it is: `Failed`,
 * `Stalled`, and `Recovering` for longer than `graceMillis`.
 */
const unready = (
  c: Metrics.RunningConsumer,
  state: EventLog.ConsumerState,
  now: number,
  graceMillis: number
): string | undefined => {
  const who = `${c.stream}/${c.consumer}`
  switch (state._tag) {
    case "Running":
      return undefined
    case "Recovering":
      return now - state.since < graceMillis
        ? undefined
        : `${who} recovering for ${seconds(now - state.since)} (${state.reason}: ${state.detail})`
    case "Stalled":
      return `${who} stalled for ${seconds(now - state.since)}: ${state.detail}` +
        (state.overdue > 1 ? ` (${state.overdue} handlers past their deadline)` : "")
    case "Failed":
      return `${who} failed: ${TransportError.describe(state.error)}`
  }
}

const consumersCheck = <E, R>(
  running: Effect.Effect<ReadonlyArray<Metrics.RunningConsumer>, E, R>,
  options: ConsumerCheckOptions | undefined
): Check<R> => {
  const graceMillis = Duration.toMillis(Duration.fromInputUnsafe(options?.recoveringGrace ?? 0))
  return check(
    options?.name ?? "consumers",
    Effect.gen(function*() {
      const all = yield* running
      const now = yield* Clock.currentTimeMillis
      const problems: Array<string> = []
      for (const c of all) {
        const why = unready(c, yield* c.handle.state, now, graceMillis)
        if (why !== undefined) problems.push(why)
      }
      return problems.length === 0
        ? { ok: true, detail: `${all.length} running` }
        : { ok: false, detail: problems.join("; ") }
    })
  )
}

/**
 * A readiness check over every consumer runner started through the
 * instrumented `EventLog` of `Metrics.layer` (its `Collector`): not ready
 * while one of them is `Stalled` (a handler past its deadline has not
 * stopped), `Failed`, or `Recovering` (for longer than `recoveringGrace`).
 * The detail names each such consumer (`stream/consumer`) and says why;
 * when all run, it is their number (`2 running`). Idle runners are ready:
 * idle is a warning, not a fault.
 *
 * ```ts
 * const server = MetricsHttp.layer({ port: 9464, checks: [MetricsHttp.consumers({ recoveringGrace: "10 seconds" })] })
 * ```
 *
 * @since 0.1.0
 * @category checks
 */
export const consumers = (options?: ConsumerCheckOptions): Check<Metrics.Collector> =>
  consumersCheck(Effect.flatMap(Metrics.Collector, (c) => c.consumers), options)

/**
 * The check of {@link consumers} over handles the application keeps itself
 * (without `Metrics.layer`), or any effect listing them.
 *
 * @since 0.1.0
 * @category checks
 */
export const consumerHandles = <E = never, R = never>(
  handles: ReadonlyArray<Metrics.RunningConsumer> | Effect.Effect<ReadonlyArray<Metrics.RunningConsumer>, E, R>,
  options?: ConsumerCheckOptions
): Check<R> => consumersCheck(Effect.isEffect(handles) ? handles : Effect.succeed(handles), options)

/**
 * Options of {@link outbox}.
 *
 * @since 0.1.0
 * @category models
 */
export interface OutboxCheckOptions<E, R> {
  /** The check's name (default `outbox`). */
  readonly name?: string | undefined
  /** The status to read, such as `Outbox.status` of `@herald/outbox`. */
  readonly status: Effect.Effect<Metrics.OutboxStatus, E, R>
  /**
   * The longest the oldest pending message may wait before the relay counts
   * as stuck (not ready).
   */
  readonly maxOldestAge: Duration.Input
}

/**
 * A readiness check of an outbox relay: not ready when the oldest message
 * not yet sent has waited longer than `maxOldestAge` (the relay is stuck,
 * down, or cannot append), or when the status cannot be read. The detail
 * gives the pending count and the oldest age.
 *
 * ```ts
 * import { Outbox } from "@herald/outbox"
 *
 * const relay = MetricsHttp.outbox({ status: Outbox.status, maxOldestAge: "1 minute" })
 * ```
 *
 * @since 0.1.0
 * @category checks
 */
export const outbox = <E, R>(options: OutboxCheckOptions<E, R>): Check<R> => {
  const limit = Duration.toMillis(Duration.fromInputUnsafe(options.maxOldestAge))
  return check(
    options.name ?? "outbox",
    Effect.map(options.status, (s) => {
      const detail = s.pending === 0
        ? "0 pending"
        : `${s.pending} pending, the oldest for ${seconds(s.oldestPendingAgeMillis)} (limit ${seconds(limit)})`
      return { ok: s.pending === 0 || s.oldestPendingAgeMillis <= limit, detail }
    })
  )
}

/**
 * Options of {@link lag}.
 *
 * @since 0.1.0
 * @category models
 */
export interface LagCheckOptions {
  /** The check's name (default `lag`). */
  readonly name?: string | undefined
  /**
   * `alerting` (default): not ready while the monitor alerts for a consumer
   * (above its threshold for its `for`, not cleared yet). `above`: not ready
   * as soon as the last read is above a threshold.
   */
  readonly when?: "alerting" | "above" | undefined
}

/**
 * A readiness check over the `LagMonitor` of the context: not ready while a
 * watched consumer's lag is over its threshold (see `when`). The detail names
 * each such consumer with its last lag read. A consumer whose lag could not
 * be read neither fails nor passes the check (the monitor logs and counts
 * the failed reads).
 *
 * @since 0.1.0
 * @category checks
 */
export const lag = (options?: LagCheckOptions): Check<LagMonitor.LagMonitor> =>
  check(
    options?.name ?? "lag",
    Effect.map(LagMonitor.state, (states) => {
      const above = states.filter((s) =>
        options?.when === "above" ? s.aboveSince !== undefined : s.alerting
      )
      if (above.length === 0) return { ok: true, detail: `${states.length} under threshold` }
      return {
        ok: false,
        detail: above.map((s) => {
          const limits = [
            s.threshold.pending === undefined ? undefined : `pending ${s.lag?.pending ?? "?"} (limit ${s.threshold.pending})`,
            s.threshold.ackPending === undefined
              ? undefined
              : `ack pending ${s.lag?.ackPending ?? "?"} (limit ${s.threshold.ackPending})`
          ].filter((x) => x !== undefined)
          return `${s.stream}/${s.consumer} lagging: ${limits.join(", ")}`
        }).join("; ")
      }
    })
  )

/**
 * What `/readyz` answers.
 *
 * @since 0.1.0
 * @category models
 */
export interface Readiness {
  readonly status: "ready" | "unready"
  readonly checks: ReadonlyArray<CheckResult>
}

const defaultCheckTimeout = Duration.seconds(2)

/**
 * Runs the checks at once, each under `timeout` (default 2 seconds).
 *
 * @since 0.1.0
 * @category checks
 */
export const readiness = <C extends Check<any>>(
  checks: ReadonlyArray<C>,
  timeout?: Duration.Input
): Effect.Effect<Readiness, never, Requirements<C>> => {
  // Each check of C needs a part of Requirements<C>.
  const all = checks as ReadonlyArray<Check<Requirements<C>>>
  const deadline = timeout === undefined ? defaultCheckTimeout : Duration.fromInputUnsafe(timeout)
  return Effect.map(
    Effect.forEach(all, (c) =>
      c.run.pipe(
        Effect.timeoutOption(deadline),
        Effect.exit,
        Effect.map((exit): CheckResult => {
          if (Exit.isFailure(exit)) {
            return { name: c.name, ok: false, detail: TransportError.describe(Cause.squash(exit.cause)) }
          }
          if (exit.value._tag === "None") {
            return { name: c.name, ok: false, detail: `no answer within ${Duration.format(deadline)}` }
          }
          const r = exit.value.value
          return r.detail === undefined ? { name: c.name, ok: r.ok } : { name: c.name, ok: r.ok, detail: r.detail }
        })
      ), { concurrency: "unbounded" }),
    (results) => ({ status: results.every((r) => r.ok) ? "ready" : "unready", checks: results })
  )
}

/**
 * The Prometheus text of the registry, after a `Metrics.refresh`.
 *
 * @since 0.1.0
 * @category endpoints
 */
export const metricsText = (options?: PrometheusMetrics.FormatOptions): Effect.Effect<string> =>
  Effect.andThen(Metrics.refresh, PrometheusMetrics.format(options))

/**
 * The services a union of checks needs: checks that need different services
 * can be listed together, and the layer needs all of them.
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements<C> = C extends Check<infer R> ? R : never

/**
 * An effect run before each scrape that sets gauges read from elsewhere
 * (`SagaMetrics.refresh` of `@herald/saga`, say).
 *
 * @since 0.1.0
 * @category models
 */
export type Refresher<R = never> = Effect.Effect<void, unknown, R>

/**
 * The services a union of refreshers needs.
 *
 * @since 0.1.0
 * @category models
 */
export type RefreshRequirements<F> = F extends Effect.Effect<any, any, infer R> ? R : never

/** How long a refresher may run before a scrape goes on without it. */
const defaultRefreshTimeout = Duration.seconds(2)

/**
 * Runs refreshers at once, each under a deadline; one that fails, or does
 * not finish in time (a store that hangs), is logged and interrupted, its
 * gauges left as they were, and the scrape goes on.
 */
const runRefreshers = <R>(
  refreshers: ReadonlyArray<Refresher<R>>,
  timeout: Duration.Input | undefined
): Effect.Effect<void, never, R> => {
  const deadline = timeout === undefined ? defaultRefreshTimeout : Duration.fromInputUnsafe(timeout)
  return Effect.forEach(
    refreshers,
    (r) =>
      r.pipe(
        Effect.timeoutOrElse({
          duration: deadline,
          orElse: () =>
            Effect.logWarning(
              `metrics: a refresh before the scrape did not finish within ${Duration.format(deadline)}; its gauges are left as they were`
            )
        }),
        Effect.catchCause((cause) => Effect.logWarning("metrics: a refresh before the scrape failed", cause))
      ),
    { concurrency: "unbounded", discard: true }
  )
}

/**
 * Options of {@link routes} and {@link layer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface RouteOptions<R = never, C extends Check<any> = Check<R>, F extends Refresher<any> = Refresher<R>> {
  /**
   * Effects run before each scrape of `/metrics`, at once, to set gauges
   * read from elsewhere (default: none); a failed one is logged and the
   * scrape goes on with its gauges as they were.
   */
  readonly refresh?: ReadonlyArray<F> | undefined
  /** The deadline of each refresher; one past it is interrupted and the scrape goes on (default 2 seconds). */
  readonly refreshTimeout?: Duration.Input | undefined
  /** Readiness checks of `/readyz` (default: none: ready while the server runs). */
  readonly checks?: ReadonlyArray<C> | undefined
  /** The deadline of each readiness check (default 2 seconds). */
  readonly checkTimeout?: Duration.Input | undefined
  /** Passed to `PrometheusMetrics.format` (a prefix, a name mapper). */
  readonly format?: PrometheusMetrics.FormatOptions | undefined
}

/**
 * Options of {@link layer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<R = never, C extends Check<any> = Check<R>, F extends Refresher<any> = Refresher<R>>
  extends RouteOptions<R, C, F>
{
  /** The port (0: a free one, see `MetricsServer`). */
  readonly port: number
  /** The address to listen on (default: every interface). */
  readonly host?: string | undefined
}

interface Answer {
  readonly status: number
  readonly contentType: string
  readonly body: string
}

const prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

const answer = <R>(path: string, options: RouteOptions<R>): Effect.Effect<Answer, never, R> => {
  switch (path) {
    case "/metrics":
      return Effect.map(Effect.andThen(runRefreshers(options.refresh ?? [], options.refreshTimeout), metricsText(options.format)), (body) => ({ status: 200, contentType: prometheusContentType, body }))
    case "/healthz":
      return Effect.succeed({ status: 200, contentType: "text/plain; charset=utf-8", body: "ok\n" })
    case "/readyz":
      return Effect.map(readiness(options.checks ?? [], options.checkTimeout), (r) => ({
        status: r.status === "ready" ? 200 : 503,
        contentType: "application/json",
        body: JSON.stringify(r)
      }))
    default:
      return Effect.succeed({ status: 404, contentType: "text/plain; charset=utf-8", body: "not found\n" })
  }
}

const toResponse = (a: Answer) =>
  HttpServerResponse.text(a.body, { status: a.status, contentType: a.contentType })

/**
 * Adds `GET /metrics`, `/healthz` and `/readyz` to the context's
 * `HttpRouter`, for an application that serves its own routes.
 *
 * @since 0.1.0
 * @category layers
 */
export const routes = <C extends Check<any> = Check<never>, F extends Refresher<any> = Refresher<never>>(
  options?: RouteOptions<never, C, F>
): Layer.Layer<never, never, HttpRouter.HttpRouter | Requirements<C> | RefreshRequirements<F>> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const router = yield* HttpRouter.HttpRouter
    const context = yield* Effect.context<Requirements<C> | RefreshRequirements<F>>()
    // Each check of C and each refresher of F needs a part of the requirements.
    const opts = (options ?? {}) as RouteOptions<Requirements<C> | RefreshRequirements<F>>
    for (const path of ["/metrics", "/healthz", "/readyz"] as const) {
      const handler: Effect.Effect<HttpServerResponse.HttpServerResponse> = Effect.map(
        Effect.provideContext(answer(path, opts), context),
        toResponse
      )
      yield* router.add("GET", path, handler)
    }
  }))

/**
 * The address the server of {@link layer} listens on.
 *
 * @since 0.1.0
 * @category services
 */
export class MetricsServer extends Context.Service<MetricsServer, {
  readonly host: string
  /** The bound port (the one chosen by the system when `port` was 0). */
  readonly port: number
  /** `http://host:port`, with a bracketed IPv6 host. */
  readonly url: string
}>()("@herald/metrics/MetricsServer") {}

const invalid = (detail: string) => MetricsError.make(new MetricsError.InvalidOptions({ detail }))

/**
 * Serves `/metrics`, `/healthz` and `/readyz` on a Node HTTP server until
 * the scope closes. Only `GET` (and `HEAD`) are answered (`405` otherwise);
 * an unknown path is `404`. The layer is built once the server listens;
 * closing its scope stops listening, ends the open connections and
 * interrupts the requests being answered.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <C extends Check<any> = Check<never>, F extends Refresher<any> = Refresher<never>>(
  options: Options<never, C, F>
): Layer.Layer<MetricsServer, MetricsError.MetricsError, Requirements<C> | RefreshRequirements<F>> =>
  Layer.effect(MetricsServer)(Effect.gen(function*() {
    type R = Requirements<C> | RefreshRequirements<F>
    // Each check of C and each refresher of F needs a part of R.
    const opts = options as Options<R>
    const port = options.port
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      return yield* Effect.fail(invalid(`port must be an integer from 0 to 65535, not ${String(port)}`))
    }
    const run = yield* FiberSet.makeRuntime<R, Answer, never>()
    const server = Http.createServer((req, res) => {
      const method = req.method ?? "GET"
      if (method !== "GET" && method !== "HEAD") {
        res.writeHead(405, { "content-type": "text/plain; charset=utf-8", allow: "GET, HEAD" })
        res.end("method not allowed\n")
        return
      }
      // The path of the request target, without its query (never parsed as a URL: a malformed target must not throw).
      const target = req.url ?? "/"
      const end = target.search(/[?#]/)
      const path = end === -1 ? target : target.slice(0, end)
      const fiber = run(answer(path, opts))
      const onClose = () => {
        if (!res.writableEnded) fiber.interruptUnsafe()
      }
      res.once("close", onClose)
      fiber.addObserver((exit) => {
        if (res.headersSent || res.writableEnded || res.destroyed) return
        if (Exit.isSuccess(exit)) {
          const a = exit.value
          res.writeHead(a.status, {
            "content-type": a.contentType,
            "content-length": Buffer.byteLength(a.body),
            "cache-control": "no-store"
          })
          res.end(method === "HEAD" ? undefined : a.body)
        } else {
          res.writeHead(500, { "content-type": "text/plain; charset=utf-8" })
          res.end("internal error\n")
        }
      })
    })
    yield* Effect.addFinalizer(() =>
      Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
    )
    yield* Effect.callback<void, MetricsError.MetricsError>((resume) => {
      const onError = (e: Error) =>
        resume(Effect.fail(MetricsError.make(
          new MetricsError.ListenFailed({ host: options.host ?? "*", port, detail: e.message, cause: e })
        )))
      server.once("error", onError)
      server.listen(port, options.host, () => {
        server.off("error", onError)
        resume(Effect.void)
      })
    })
    server.on("error", () => {})
    const address = server.address() as Net.AddressInfo
    const host = options.host ?? address.address
    const urlHost = host.includes(":") ? `[${host}]` : host
    return MetricsServer.of({ host, port: address.port, url: `http://${urlHost}:${address.port}` })
  }))
