/**
 * A real `nats-server` for integration tests: `layer` starts one per build on
 * a free port of 127.0.0.1, with JetStream in a temporary store directory, and
 * stops it and removes its files when the layer's scope closes. The
 * `NatsServer` service says where it listens and lets a test stop, kill and
 * start it again (on the same port, with the same store) to exercise
 * reconnection and recovery.
 *
 * The binary is `options.binary`, else `$NATS_SERVER_BIN`, else `nats-server`
 * on `PATH`, else `/usr/sbin/nats-server` (Debian's `apt-get install
 * nats-server`). Modelled on the launcher of the nats.js tests.
 *
 * ```ts
 * import { NatsServer } from "@herald/testing"
 *
 * it.live("reconnects", () =>
 *   Effect.gen(function*() {
 *     const server = yield* NatsServer.NatsServer
 *     // connect a client to server.url ...
 *     yield* server.restart
 *   }).pipe(Effect.provide(NatsServer.layer({ auth: { _tag: "Token", token: "s3cret" } }))))
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type * as Errors from "./internal/natsServer/error.ts"
import * as Server from "./internal/natsServer/server.ts"

/**
 * The error of the harness and its reasons: `BinaryNotFound`,
 * `StartTimeout`, `Exited` (the process died while starting), `SpawnFailed`,
 * `Io`, and for a `NatsCluster` `NoLeader`, `UnknownNode` and `InvalidOption`. The error's
 * `message` is its reason's.
 *
 * @since 0.1.0
 * @category errors
 */
export {
  BinaryNotFound,
  Exited,
  InvalidOption,
  Io,
  isNatsServerError,
  isNatsServerErrorReason,
  NatsServerError,
  NatsServerErrorReason,
  NoLeader,
  SpawnFailed,
  StartTimeout,
  UnknownNode
} from "./internal/natsServer/error.ts"

/**
 * A secret, plain or `Redacted`.
 *
 * @since 0.1.0
 * @category models
 */
export type Secret = string | Redacted.Redacted<string>

/**
 * The authorization the server requires: a token, a user and password, an
 * nkey (give the public key, `U...`; the client signs the server's nonce with
 * the seed), or several users with their permissions.
 *
 * @since 0.1.0
 * @category models
 */
export type Auth =
  | { readonly _tag: "Token"; readonly token: Secret }
  | { readonly _tag: "UserPassword"; readonly user: string; readonly password: Secret }
  | { readonly _tag: "NKey"; readonly publicKey: string }
  | { readonly _tag: "Users"; readonly users: ReadonlyArray<User> }

/**
 * Subjects a user may (`allow`) or may not (`deny`) use; nats-server's
 * rules: with `allow`, only those; `deny` wins over `allow`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SubjectPermission {
  readonly allow?: ReadonlyArray<string> | undefined
  readonly deny?: ReadonlyArray<string> | undefined
}

/**
 * A user of a server with several users, with its permissions (default: all
 * subjects).
 *
 * @since 0.1.0
 * @category models
 */
export interface User {
  readonly user: string
  readonly password: Secret
  readonly permissions?: {
    readonly publish?: SubjectPermission | undefined
    readonly subscribe?: SubjectPermission | undefined
  } | undefined
}

/**
 * A server certificate and key, and optionally the CA a client should trust
 * (default: the certificate itself, as for a self-signed one).
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsOptions {
  readonly certFile: string
  readonly keyFile: string
  readonly caFile?: string | undefined
}

/**
 * The TLS files of a server with TLS.
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsFiles {
  /** The certificate a client trusts. For `tls: "generate"`, the self-signed certificate itself. */
  readonly caFile: string
  readonly certFile: string
  readonly keyFile: string
}

/**
 * Options of the server.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The `nats-server` executable, a path or a name looked up on `PATH`. Tried first. */
  readonly binary?: string | undefined
  /**
   * Whether to look further than `binary`: `$NATS_SERVER_BIN`, `nats-server`
   * on `PATH`, `/usr/sbin/nats-server`. Default `true`.
   */
  readonly searchFallbacks?: boolean | undefined
  /** Enable JetStream (file store in the temporary directory, 256 MiB memory, 1 GiB file). Default `true`. */
  readonly jetstream?: boolean | undefined
  /** The server's `max_payload`, in bytes (nats-server's default is 1 MiB). */
  readonly maxPayload?: number | undefined
  /** The authorization clients need. Default: none. */
  readonly auth?: Auth | undefined
  /**
   * Serve TLS with these files, or `"generate"` a self-signed certificate for
   * `127.0.0.1` and `localhost` with `openssl` (exposed as `tls` on the
   * service). Default: no TLS.
   */
  readonly tls?: TlsOptions | "generate" | undefined
  /** How long a start may take to accept connections. Default 10 seconds. */
  readonly startTimeout?: Duration.Input | undefined
  /** Debug and trace logging in the server, with every log line copied to this process's stderr. */
  readonly debug?: boolean | undefined
  /** How many of the server's last log lines are kept for error messages. Default 500. */
  readonly logLines?: number | undefined
}

/**
 * The configuration a server runs with.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerConfig {
  /** The configuration file (it names the server's process: `nats-server -c <file>`). */
  readonly file: string
  /** The temporary directory holding the configuration, the store and any generated certificate. */
  readonly dir: string
  /** The executable that runs. */
  readonly binary: string
  readonly jetstream: boolean
  readonly maxPayload: number | undefined
  readonly auth: Auth | undefined
  readonly debug: boolean
}

/**
 * A running (or stopped, between `stop`/`kill` and `start`) nats-server.
 *
 * @since 0.1.0
 * @category services
 */
export class NatsServer extends Context.Service<NatsServer, {
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string
  /** `127.0.0.1`. */
  readonly host: string
  /** The client port; it stays the same across `restart`, `stop`/`kill` and `start`. */
  readonly port: number
  /** The JetStream store directory (`store_dir`); it survives `restart`, `stop` and `kill`. */
  readonly storeDir: string
  /** The server's version, as `nats-server --version` reports it: `"2.9.10"`. */
  readonly version: string
  readonly config: ServerConfig
  /** The TLS files, when the server serves TLS. */
  readonly tls: TlsFiles | undefined
  /** Graceful stop (SIGTERM, SIGKILL after 5 s), then start again on the same port and store. */
  readonly restart: Effect.Effect<void, Errors.NatsServerError>
  /** SIGKILL: the process is gone, without a graceful shutdown, when this returns. The store stays. */
  readonly kill: Effect.Effect<void, Errors.NatsServerError>
  /** Graceful stop: SIGTERM, waiting up to 5 s for the exit, then SIGKILL. The store stays. */
  readonly stop: Effect.Effect<void, Errors.NatsServerError>
  /** Starts the server again after `stop` or `kill` (or a crash), on the same port and store; a no-op while it runs. */
  readonly start: Effect.Effect<void, Errors.NatsServerError>
  /**
   * SIGSTOP, returning once every thread of the server is stopped (read from
   * `/proc` on Linux): the server holds its connections open but answers
   * nothing, as a server frozen by a long pause would. Fails when the server
   * is not running.
   */
  readonly pause: Effect.Effect<void, Errors.NatsServerError>
  /** SIGCONT: a paused server runs again (a no-op when it is not running). */
  readonly resume: Effect.Effect<void>
  /** The process id while the server runs. */
  readonly pid: Effect.Effect<number | undefined>
  /** The last lines the current (or last) process wrote. */
  readonly logs: Effect.Effect<ReadonlyArray<string>>
}>()("@herald/testing/NatsServer") {}

/**
 * Starts a nats-server in the current scope: closing the scope stops it
 * (SIGTERM, then SIGKILL after 5 s) and removes its temporary directory.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: Options) => Effect.Effect<NatsServer["Service"], Errors.NatsServerError, Scope.Scope> =
  Server.make

/**
 * A nats-server per build of the layer, stopped and removed with the layer's
 * scope.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<NatsServer, Errors.NatsServerError> =>
  Layer.effect(NatsServer, Server.make(options))
