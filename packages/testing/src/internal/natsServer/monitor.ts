/**
 * The HTTP monitoring endpoints of a nats-server (`http: host:port` in its
 * configuration), read by the NatsCluster harness: `/healthz` (is this node's
 * JetStream current) and `/jsz` (the meta group's leader, and the leader of
 * each stream and consumer as this node sees it).
 *
 * @since 0.1.0
 */
import * as Http from "node:http"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import { ProbeFailed } from "./system.ts"

const parseJson = Schema.decodeUnknownOption(Schema.fromJsonString(Schema.Unknown))

/**
 * A response of a monitoring endpoint.
 *
 * @since 0.1.0
 */
export interface Response {
  readonly status: number
  readonly body: string
}

/**
 * `GET http://host:port<path>`, within `timeoutMillis`.
 *
 * @since 0.1.0
 */
export const get = (host: string, port: number, path: string, timeoutMillis: number): Effect.Effect<Response, ProbeFailed> =>
  Effect.callback<Response, ProbeFailed>((resume) => {
    const request = Http.get({ host, port, path, timeout: timeoutMillis, agent: false }, (response) => {
      response.setEncoding("utf8")
      let body = ""
      response.on("data", (chunk: string) => {
        body += chunk
      })
      response.on("end", () => resume(Effect.succeed({ status: response.statusCode ?? 0, body })))
      response.on("error", (cause) => resume(Effect.fail(new ProbeFailed({ detail: `GET ${path}: ${cause.message}` }))))
    })
    request.on("timeout", () => request.destroy(new Error(`no answer within ${timeoutMillis} ms`)))
    request.on("error", (cause) => resume(Effect.fail(new ProbeFailed({ detail: `GET ${path}: ${cause.message}` }))))
    return Effect.sync(() => {
      request.destroy()
    })
  })

/**
 * What `/healthz` says: `undefined` when healthy (HTTP 200), else the
 * server's reason ("JetStream stream '$G > ORDERS' is not current").
 *
 * @since 0.1.0
 */
export const health = (host: string, port: number, timeoutMillis: number): Effect.Effect<string | undefined, ProbeFailed> =>
  Effect.map(get(host, port, "/healthz", timeoutMillis), (response) => {
    if (response.status === 200) return undefined
    const json = Option.getOrUndefined(parseJson(response.body))
    const error = Predicate.hasProperty(json, "error") && typeof json.error === "string" ? json.error : response.body.trim()
    return `HTTP ${response.status}: ${error}`
  })

/**
 * The leader of a stream and of each of its consumers, as one node sees it.
 *
 * @since 0.1.0
 */
export interface StreamView {
  readonly leader: string | undefined
  readonly consumers: ReadonlyMap<string, string | undefined>
}

/**
 * What `/jsz` says about the cluster, as one node sees it.
 *
 * @since 0.1.0
 */
export interface JetStreamView {
  /** The meta group's leader (a server name), `undefined` while there is none. */
  readonly metaLeader: string | undefined
  /** How many servers the meta group counts (it grows as the nodes find each other). */
  readonly clusterSize: number
  /** The streams this node holds a replica of, by name (every account). */
  readonly streams: ReadonlyMap<string, StreamView>
}

const field = (u: unknown, key: string): unknown => Predicate.hasProperty(u, key) ? u[key] : undefined
const array = (u: unknown): ReadonlyArray<unknown> => Array.isArray(u) ? u : []
const text = (u: unknown): string | undefined => typeof u === "string" && u.length > 0 ? u : undefined

const toView = (json: unknown): JetStreamView => {
  const streams = new Map<string, StreamView>()
  for (const account of array(field(json, "account_details"))) {
    for (const stream of array(field(account, "stream_detail"))) {
      const name = text(field(stream, "name"))
      if (name === undefined) continue
      const consumers = new Map<string, string | undefined>()
      for (const consumer of array(field(stream, "consumer_detail"))) {
        const consumerName = text(field(consumer, "name"))
        if (consumerName !== undefined) consumers.set(consumerName, text(field(field(consumer, "cluster"), "leader")))
      }
      streams.set(name, { leader: text(field(field(stream, "cluster"), "leader")), consumers })
    }
  }
  const meta = field(json, "meta_cluster")
  const clusterSize = field(meta, "cluster_size")
  return {
    metaLeader: text(field(meta, "leader")),
    clusterSize: typeof clusterSize === "number" ? clusterSize : 0,
    streams
  }
}

/**
 * Reads `/jsz`, with the streams and consumers of every account when
 * `details` is set.
 *
 * @since 0.1.0
 */
export const jetstream = (
  host: string,
  port: number,
  timeoutMillis: number,
  details: boolean
): Effect.Effect<JetStreamView, ProbeFailed> =>
  get(host, port, details ? "/jsz?accounts=true&streams=true&consumers=true" : "/jsz", timeoutMillis).pipe(
    Effect.flatMap((response) => {
      if (response.status !== 200) {
        return Effect.fail(new ProbeFailed({ detail: `GET /jsz: HTTP ${response.status}: ${response.body.slice(0, 200)}` }))
      }
      const json = parseJson(response.body)
      return Option.isSome(json)
        ? Effect.succeed(toView(json.value))
        : Effect.fail(new ProbeFailed({ detail: `GET /jsz: malformed JSON: ${response.body.slice(0, 200)}` }))
    })
  )
