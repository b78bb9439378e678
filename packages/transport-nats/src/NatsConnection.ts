/**
 * A scoped connection to NATS, with JetStream handles and the server's
 * version.
 *
 * The layer connects under a timeout (a typed `Timeout` or
 * `ConnectionError`, never a hang), reconnects with backoff while it lives,
 * publishes status events as a `Stream`, and on release drains the
 * connection under a deadline, closing it if the drain does not finish.
 * Credentials are `Redacted`.
 *
 * ```ts
 * const nats = NatsConnection.layer({ servers: "nats://127.0.0.1:4222", name: "orders" })
 * const fromEnv = NatsConnection.layerConfig() // NATS_URL, NATS_TOKEN, NATS_USER/NATS_PASSWORD, ...
 * ```
 *
 * @since 0.1.0
 */
import { Millis, TransportError } from "@herald/transport"
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream"
import {
  credsAuthenticator,
  type NatsConnection as Client,
  type NodeConnectionOptions,
  nkeyAuthenticator,
  type Status
} from "@nats-io/transport-node"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { connect } from "./internal/connect.ts"
import * as Errors from "./internal/errors.ts"
import * as fs from "node:fs"

/**
 * How the client proves who it is.
 *
 * @since 0.1.0
 * @category models
 */
export type Auth =
  | { readonly _tag: "Token"; readonly token: Redacted.Redacted<string> }
  | { readonly _tag: "UserPassword"; readonly user: string; readonly password: Redacted.Redacted<string> }
  | { readonly _tag: "NKey"; readonly seed: Redacted.Redacted<string> }
  | { readonly _tag: "Credentials"; readonly file: string }

/**
 * TLS settings. Files are paths; `ca` etc. are PEM text.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tls {
  readonly caFile?: string | undefined
  readonly certFile?: string | undefined
  readonly keyFile?: string | undefined
  readonly handshakeFirst?: boolean | undefined
}

/**
 * Connection options.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * One URL or several, e.g. `nats://127.0.0.1:4222`. Credentials in a URL
   * (`nats://user:password@host`, `nats://token@host`) are used as `auth`
   * and never shown.
   */
  readonly servers: string | ReadonlyArray<string>
  /** The client name the server shows. */
  readonly name?: string | undefined
  /** How long the first connection may take (default 5 seconds). */
  readonly connectTimeout?: Duration.Input | undefined
  /** How long releasing may drain before it closes (default 10 seconds). */
  readonly drainTimeout?: Duration.Input | undefined
  /** Reconnect after a lost connection (default true). */
  readonly reconnect?: boolean | undefined
  /** Attempts per server before giving up; -1 (default) never gives up. */
  readonly maxReconnectAttempts?: number | undefined
  /** Wait between attempts on one server (default 2 seconds, plus jitter). */
  readonly reconnectTimeWait?: Duration.Input | undefined
  readonly pingInterval?: Duration.Input | undefined
  readonly maxPingOut?: number | undefined
  readonly auth?: Auth | undefined
  readonly tls?: Tls | undefined
  /** The JetStream API request timeout (default 5 seconds). */
  readonly jetstreamTimeout?: Duration.Input | undefined
}

/**
 * A server version, as the server announced it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerVersion {
  readonly text: string
  readonly major: number
  readonly minor: number
  readonly patch: number
}

/**
 * What the server told the client when it connected.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerInfo {
  readonly id: string
  readonly name: string
  readonly version: ServerVersion
  readonly jetstream: boolean
  /** The largest message the server accepts, in bytes. */
  readonly maxPayload: number
}

/**
 * A connection event.
 *
 * @since 0.1.0
 * @category models
 */
export type ConnectionEvent =
  | { readonly _tag: "Disconnected"; readonly server: string }
  | { readonly _tag: "Reconnecting" }
  | { readonly _tag: "Reconnected"; readonly server: string }
  | { readonly _tag: "LameDuck"; readonly server: string }
  | { readonly _tag: "StaleConnection" }
  | { readonly _tag: "SlowConsumer"; readonly subject: string; readonly pending: number }
  | { readonly _tag: "ServerError"; readonly error: TransportError.TransportError }
  | { readonly _tag: "Closed" }

/**
 * The connection's current state.
 *
 * @since 0.1.0
 * @category models
 */
export type ConnectionState = "connected" | "reconnecting" | "disconnected" | "closed"

/**
 * The connection service.
 *
 * @since 0.1.0
 * @category services
 */
export class NatsConnection extends Context.Service<NatsConnection, {
  /** The nats.js connection, for what Herald does not wrap. */
  readonly client: Client
  readonly jetstream: JetStreamClient
  readonly manager: JetStreamManager
  readonly server: ServerInfo
  /** Connection events from now on; each run of the stream is its own subscription. */
  readonly events: Stream.Stream<ConnectionEvent>
  readonly state: Effect.Effect<ConnectionState>
  /** Fails with `Unsupported` unless the server is at least `minimum` (e.g. "2.10.0"). */
  readonly requireVersion: (feature: string, minimum: string) => Effect.Effect<void, TransportError.TransportError>
  /** The JetStream API timeout, in milliseconds. */
  readonly jetstreamTimeoutMillis: number
}>()("@herald/transport-nats/NatsConnection") {}

/**
 * Parses `major.minor.patch` (a leading `v` and a suffix are ignored).
 *
 * @since 0.1.0
 * @category versions
 */
export const parseVersion = (text: string): ServerVersion => {
  const m = /(\d+)\.(\d+)\.(\d+)/.exec(text)
  return m === null
    ? { text, major: 0, minor: 0, patch: 0 }
    : { text, major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) }
}

/**
 * Whether `version` is at least `minimum`.
 *
 * @since 0.1.0
 * @category versions
 */
export const atLeast = (version: ServerVersion, minimum: string): boolean => {
  const min = parseVersion(minimum)
  if (version.major !== min.major) return version.major > min.major
  if (version.minor !== min.minor) return version.minor > min.minor
  return version.patch >= min.patch
}

const invalid = (detail: string) => TransportError.make(new TransportError.InvalidConfig({ detail }))

/** A duration option in milliseconds; an infinite, negative or unreadable one is an `InvalidConfig`. */
const millis = (name: string, d: Duration.Input | undefined, fallback: number, min = 1) =>
  d === undefined
    ? Effect.succeed(fallback)
    : Result.match(Millis.decode(d, { min }), {
      onFailure: (p) => Effect.fail(invalid(`${name}: ${p.message}`)),
      onSuccess: Effect.succeed
    })

const readFile = (path: string, what: string) =>
  Effect.try({
    try: () => fs.readFileSync(path),
    catch: (e) => invalid(`${what} ${path} cannot be read: ${e instanceof Error ? e.message : String(e)}`)
  })

const userInfo = /^([a-z]+:\/\/)([^@/?#]*)@(.*)$/i

/**
 * A server URL with its credentials (`nats://user:password@host`,
 * `nats://token@host`) replaced by `***`, fit for a message or a log line.
 *
 * @since 0.1.0
 * @category utils
 */
export const redactUrl = (url: string): string => {
  const m = userInfo.exec(url)
  return m === null ? url : `${m[1]}***@${m[3]}`
}

const decodePart = (part: string): string | undefined => {
  try {
    return decodeURIComponent(part)
  } catch {
    return undefined
  }
}

/** Splits the credentials out of a server URL: nats.js would ignore them and keep them in its URL. */
const splitCredentials = (url: string): { readonly server: string; readonly auth: Auth | undefined } | undefined => {
  const m = userInfo.exec(url)
  if (m === null) return { server: url, auth: undefined }
  const info = m[2]!
  const colon = info.indexOf(":")
  const server = `${m[1]}${m[3]}`
  if (colon < 0) {
    const token = decodePart(info)
    return token === undefined || token === "" ? undefined : { server, auth: { _tag: "Token", token: Redacted.make(token) } }
  }
  const user = decodePart(info.slice(0, colon))
  const password = decodePart(info.slice(colon + 1))
  return user === undefined || password === undefined || user === ""
    ? undefined
    : { server, auth: { _tag: "UserPassword", user, password: Redacted.make(password) } }
}

const sameAuth = (a: Auth, b: Auth): boolean => {
  switch (a._tag) {
    case "Token":
      return b._tag === "Token" && Redacted.value(a.token) === Redacted.value(b.token)
    case "UserPassword":
      return b._tag === "UserPassword" && a.user === b.user && Redacted.value(a.password) === Redacted.value(b.password)
    default:
      return false
  }
}

const clientOptions = Effect.fnUntraced(function*(options: Options) {
  const given = typeof options.servers === "string" ? [options.servers] : [...options.servers]
  if (given.length === 0) return yield* Effect.fail(invalid("no NATS server given"))
  const servers: Array<string> = []
  let urlAuth: Auth | undefined
  for (const s of given) {
    if (typeof s !== "string" || !/^(nats|tls|ws|wss):\/\/[^\s]+$|^[^\s:/]+(:\d+)?$/.test(s)) {
      const shown = typeof s === "string" ? JSON.stringify(redactUrl(s)) : typeof s
      return yield* Effect.fail(invalid(`server ${shown} is not a NATS URL (nats://host:port)`))
    }
    const split = splitCredentials(s)
    if (split === undefined) {
      return yield* Effect.fail(invalid(`server ${JSON.stringify(redactUrl(s))} has malformed credentials`))
    }
    if (split.auth !== undefined) {
      if (urlAuth !== undefined && !sameAuth(urlAuth, split.auth)) {
        return yield* Effect.fail(invalid("the server URLs carry different credentials"))
      }
      urlAuth = split.auth
    }
    servers.push(split.server)
  }
  if (urlAuth !== undefined && options.auth !== undefined) {
    return yield* Effect.fail(invalid("credentials are given both in a server URL and in auth: give them once"))
  }
  const out: NodeConnectionOptions = {
    servers,
    timeout: yield* millis("connectTimeout", options.connectTimeout, 5_000),
    reconnect: options.reconnect ?? true,
    maxReconnectAttempts: options.maxReconnectAttempts ?? -1,
    reconnectTimeWait: yield* millis("reconnectTimeWait", options.reconnectTimeWait, 2_000, 0),
    waitOnFirstConnect: false,
    // nats.js otherwise builds two errors with stack traces for every request
    // (each JetStream publish, `Bus.request`, confirmed ack), whether it fails
    // or not: a third of the CPU of pipelined appends. Herald turns every
    // failure into a `TransportError` naming the operation; the nats.js async
    // stack is never shown.
    noAsyncTraces: true,
    ...(options.name === undefined ? {} : { name: options.name }),
    ...(options.pingInterval === undefined ? {} : { pingInterval: yield* millis("pingInterval", options.pingInterval, 120_000) }),
    ...(options.maxPingOut === undefined ? {} : { maxPingOut: options.maxPingOut })
  }
  const auth = options.auth ?? urlAuth
  if (auth !== undefined) {
    switch (auth._tag) {
      case "Token":
        out.token = Redacted.value(auth.token)
        break
      case "UserPassword":
        out.user = auth.user
        out.pass = Redacted.value(auth.password)
        break
      case "NKey": {
        const seed = Redacted.value(auth.seed)
        if (!/^SU[A-Z2-7]+$/.test(seed)) return yield* Effect.fail(invalid("the nkey seed is not a user seed (SU...)"))
        out.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed))
        break
      }
      case "Credentials": {
        const creds = yield* readFile(auth.file, "credentials file")
        out.authenticator = credsAuthenticator(new Uint8Array(creds))
        break
      }
    }
  }
  if (options.tls !== undefined) {
    const t = options.tls
    for (const [what, path] of [["CA file", t.caFile], ["certificate file", t.certFile], ["key file", t.keyFile]] as const) {
      if (path !== undefined && !fs.existsSync(path)) return yield* Effect.fail(invalid(`TLS ${what} ${path} does not exist`))
    }
    out.tls = {
      ...(t.caFile === undefined ? {} : { caFile: t.caFile }),
      ...(t.certFile === undefined ? {} : { certFile: t.certFile }),
      ...(t.keyFile === undefined ? {} : { keyFile: t.keyFile }),
      ...(t.handshakeFirst === undefined ? {} : { handshakeFirst: t.handshakeFirst })
    }
  }
  return out
})

const toEvent = (status: Status): ConnectionEvent | undefined => {
  switch (status.type) {
    case "disconnect":
      return { _tag: "Disconnected", server: status.server }
    case "reconnecting":
      return { _tag: "Reconnecting" }
    case "reconnect":
      return { _tag: "Reconnected", server: status.server }
    case "ldm":
      return { _tag: "LameDuck", server: status.server }
    case "staleConnection":
      return { _tag: "StaleConnection" }
    case "slowConsumer":
      return { _tag: "SlowConsumer", subject: status.sub.getSubject(), pending: status.pending }
    case "error":
      return { _tag: "ServerError", error: Errors.fromUnknown(status.error, { operation: "connection" }) }
    case "close":
      return { _tag: "Closed" }
    default:
      return undefined
  }
}

/**
 * Connects with the given options; the connection lives as long as the
 * layer's scope.
 *
 * @since 0.1.0
 * @category layers
 */
export const make: (
  options: Options
) => Effect.Effect<NatsConnection["Service"], TransportError.TransportError, Scope.Scope> =
  Effect.fnUntraced(function*(options: Options) {
  const opts = yield* clientOptions(options)
  const drainMillis = yield* millis("drainTimeout", options.drainTimeout, 10_000)
  const jetstreamTimeoutMillis = yield* millis("jetstreamTimeout", options.jetstreamTimeout, 5_000)
  const connectMillis = opts.timeout ?? 5_000
  const operation = `connect to ${opts.servers}`
  const client = yield* Effect.acquireRelease(
    Effect.callback<Client, TransportError.TransportError>((resume) => {
      let abandoned = false
      connect(opts).then(
        (client) => {
          // Interrupted while connecting: nobody will release this one.
          if (abandoned) void client.close().catch(() => undefined)
          else resume(Effect.succeed(client))
        },
        (e) => {
          if (!abandoned) resume(Effect.fail(Errors.fromUnknown(e, { operation, timeoutMillis: connectMillis })))
        }
      )
      return Effect.sync(() => {
        abandoned = true
      })
    }).pipe(
      // nats.js enforces `timeout` itself; this is the backstop.
      Effect.timeoutOrElse({
        duration: connectMillis + 1_000,
        orElse: () =>
          Effect.fail(
            TransportError.make(new TransportError.Timeout({ operation, millis: connectMillis }))
          )
      })
    ),
    (client) => drainOrClose(client, drainMillis)
  )
  const info = client.info
  const server: ServerInfo = {
    id: info?.server_id ?? "",
    name: info?.server_name ?? "",
    version: parseVersion(info?.version ?? "0.0.0"),
    jetstream: info?.jetstream === true,
    maxPayload: info?.max_payload ?? 1024 * 1024
  }
  const js = jetstream(client, { timeout: jetstreamTimeoutMillis })
  const manager = yield* Effect.tryPromise({
    try: () => jetstreamManager(client, { timeout: jetstreamTimeoutMillis, checkAPI: false }),
    catch: (e) => Errors.fromUnknown(e, { operation: "JetStream manager" })
  })

  const state = yield* Ref.make<ConnectionState>("connected")
  const events = yield* PubSub.unbounded<ConnectionEvent>()
  const statusIterator = client.status()
  yield* Stream.fromAsyncIterable(statusIterator, (e) => e).pipe(
    Stream.runForEach((status) => {
      const event = toEvent(status)
      if (event === undefined) return Effect.void
      const next: ConnectionState | undefined = event._tag === "Disconnected"
        ? "disconnected"
        : event._tag === "Reconnecting"
        ? "reconnecting"
        : event._tag === "Reconnected"
        ? "connected"
        : event._tag === "Closed"
        ? "closed"
        : undefined
      return Effect.andThen(
        next === undefined ? Effect.void : Ref.set(state, next),
        Effect.andThen(
          // An asynchronous error from the server (a refused publish or
          // subscription, say) has no caller of its own to fail.
          event._tag === "ServerError"
            ? Effect.logWarning(`NatsConnection: the server reported: ${event.error.message}`)
            : Effect.void,
          PubSub.publish(events, event)
        )
      )
    }),
    Effect.ignore,
    Effect.forkScoped
  )

  return NatsConnection.of({
    client,
    jetstream: js,
    manager,
    server,
    events: Stream.fromPubSub(events),
    state: Effect.map(Ref.get(state), (s) => (client.isClosed() ? "closed" : s)),
    requireVersion: (feature, minimum) =>
      atLeast(server.version, minimum)
        ? Effect.void
        : Effect.fail(
          TransportError.make(
            new TransportError.Unsupported({ feature, requires: `nats-server ${minimum} or newer`, server: server.version.text })
          )
        ),
    jetstreamTimeoutMillis
  })
})

const drainOrClose = (client: Client, drainMillis: number) =>
  Effect.suspend(() =>
    client.isClosed()
      ? Effect.void
      : Effect.tryPromise(() => client.drain()).pipe(
        Effect.timeout(drainMillis),
        Effect.catch(() => Effect.tryPromise(() => client.close()).pipe(Effect.ignore))
      )
  )

/**
 * A connection layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<NatsConnection, TransportError.TransportError> =>
  Layer.effect(NatsConnection, make(options))

/**
 * A connection layer read from configuration: `NATS_URL` (required, commas
 * separate several), `NATS_NAME`, `NATS_TOKEN`, `NATS_USER` with
 * `NATS_PASSWORD`, `NATS_NKEY_SEED`, `NATS_CREDS` (a file),
 * `NATS_TLS_CA`, `NATS_TLS_CERT`, `NATS_TLS_KEY` (files). Secrets are read as
 * `Redacted`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  overrides?: Partial<Omit<Options, "servers" | "auth" | "tls">>
): Layer.Layer<NatsConnection, TransportError.TransportError> =>
  Layer.effect(
    NatsConnection,
    Effect.gen(function*() {
      const config = yield* Config.all({
        url: Config.String("NATS_URL"),
        name: Config.option(Config.String("NATS_NAME")),
        token: Config.option(Config.Redacted("NATS_TOKEN")),
        user: Config.option(Config.String("NATS_USER")),
        password: Config.option(Config.Redacted("NATS_PASSWORD")),
        seed: Config.option(Config.Redacted("NATS_NKEY_SEED")),
        creds: Config.option(Config.String("NATS_CREDS")),
        ca: Config.option(Config.String("NATS_TLS_CA")),
        cert: Config.option(Config.String("NATS_TLS_CERT")),
        key: Config.option(Config.String("NATS_TLS_KEY"))
      }).pipe(Effect.mapError((e) => invalid(`NATS configuration: ${e.message}`)))
      const auths = [
        Option.map(config.token, (token): Auth => ({ _tag: "Token", token })),
        Option.isSome(config.user) || Option.isSome(config.password)
          ? Option.some<Auth>({
            _tag: "UserPassword",
            user: Option.getOrElse(config.user, () => ""),
            password: Option.getOrElse(config.password, () => Redacted.make(""))
          })
          : Option.none(),
        Option.map(config.seed, (seed): Auth => ({ _tag: "NKey", seed })),
        Option.map(config.creds, (file): Auth => ({ _tag: "Credentials", file }))
      ].filter(Option.isSome).map((o) => o.value)
      if (auths.length > 1) {
        return yield* Effect.fail(invalid(`NATS configuration: set one of NATS_TOKEN, NATS_USER/NATS_PASSWORD, NATS_NKEY_SEED, NATS_CREDS, not ${auths.length}`))
      }
      const tls = Option.isSome(config.ca) || Option.isSome(config.cert) || Option.isSome(config.key)
        ? {
          caFile: Option.getOrUndefined(config.ca),
          certFile: Option.getOrUndefined(config.cert),
          keyFile: Option.getOrUndefined(config.key)
        }
        : undefined
      return yield* make({
        ...overrides,
        servers: config.url.split(",").map((s) => s.trim()).filter((s) => s.length > 0),
        name: Option.getOrUndefined(config.name) ?? overrides?.name,
        auth: auths[0],
        tls
      })
    })
  )

/**
 * Maps a nats.js failure to a `TransportError`; exposed for code that calls
 * the raw client.
 *
 * @since 0.1.0
 * @category errors
 */
export const mapError = (cause: unknown, operation: string): TransportError.TransportError =>
  Errors.fromUnknown(cause, { operation })

