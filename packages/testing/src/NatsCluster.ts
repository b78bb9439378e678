/**
 * A real nats-server cluster for integration tests: `layer` starts three
 * nodes (by default) on 127.0.0.1, routed to each other, each with JetStream
 * in a temporary store of its own, waits until every node is healthy and the
 * JetStream meta group has a leader and counts every node, and stops them and removes their files
 * when the layer's scope closes. The `NatsCluster` service gives the client
 * URLs, kills (SIGKILL), stops and starts single nodes on the same ports and
 * stores, and says which node leads the meta group, a stream or a consumer,
 * so that a test can crash exactly the leader it means to.
 *
 * Nodes are numbered from 0; node `i` is named `n<i>` (its `server_name`,
 * which stream and consumer infos give as the leader). Works with Debian's
 * nats-server 2.9 (found as `NatsServer` finds it).
 *
 * ```ts
 * import { NatsCluster } from "@herald/testing"
 *
 * it.live("survives the stream leader's crash", () =>
 *   Effect.gen(function*() {
 *     const cluster = yield* NatsCluster.NatsCluster
 *     // connect a client to cluster.urls, create an R3 stream "ORDERS" ...
 *     yield* cluster.kill(yield* cluster.leaderOf("ORDERS"))
 *   }).pipe(Effect.provide(NatsCluster.layer())))
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Cluster from "./internal/natsServer/cluster.ts"
import type * as Errors from "./internal/natsServer/error.ts"

/**
 * Options of the cluster.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClusterOptions {
  /** The `nats-server` executable, a path or a name looked up on `PATH`. Tried first. */
  readonly binary?: string | undefined
  /**
   * Whether to look further than `binary`: `$NATS_SERVER_BIN`, `nats-server`
   * on `PATH`, `/usr/sbin/nats-server`. Default `true`.
   */
  readonly searchFallbacks?: boolean | undefined
  /** How many nodes, 2 to 9. Default 3. */
  readonly size?: number | undefined
  /** The cluster's name (letters, digits, `_`, `-`). Default `herald`. */
  readonly name?: string | undefined
  /** The servers' `max_payload`, in bytes (nats-server's default is 1 MiB). */
  readonly maxPayload?: number | undefined
  /**
   * How long the cluster may take to become healthy, and a node's `start` to
   * accept clients and catch up. Default 30 seconds.
   */
  readonly startTimeout?: Duration.Input | undefined
  /** How long `leaderOf`, `consumerLeaderOf` and `metaLeader` wait for a leader. Default 30 seconds. */
  readonly leaderTimeout?: Duration.Input | undefined
  /** Debug and trace logging in the servers, with every log line copied to this process's stderr. */
  readonly debug?: boolean | undefined
  /** How many of each server's last log lines are kept for error messages. Default 500. */
  readonly logLines?: number | undefined
}

/**
 * One node of the cluster. Its ports and store stay the same across `kill`,
 * `stop`, `start` and `restart`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClusterNode {
  /** 0 to size - 1: what `kill`, `stop`, `start` and `restart` take and the leader lookups return. */
  readonly index: number
  /** The `server_name`: `n<index>`. */
  readonly name: string
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string
  readonly host: string
  /** The client port. */
  readonly port: number
  /** The route port (`cluster.listen`). */
  readonly clusterPort: number
  /** The HTTP monitoring port (`/healthz`, `/jsz`, `/varz`, ...). */
  readonly monitorPort: number
  /** The JetStream store directory (`store_dir`). */
  readonly storeDir: string
  /** The node's directory: its configuration and its store. */
  readonly dir: string
}

/**
 * A running cluster (some of whose nodes may be stopped, between
 * `stop`/`kill` and `start`).
 *
 * @since 0.1.0
 * @category services
 */
export class NatsCluster extends Context.Service<NatsCluster, {
  /** The cluster's name (`cluster.name`). */
  readonly name: string
  readonly nodes: ReadonlyArray<ClusterNode>
  /** Every node's client URL, in node order: the `servers` of a client. */
  readonly urls: ReadonlyArray<string>
  /** The servers' version, as `nats-server --version` reports it: `"2.9.10"`. */
  readonly version: string
  /** The temporary directory holding every node's directory. */
  readonly dir: string
  /** The executable that runs. */
  readonly binary: string
  /** SIGKILL: the node's process is gone, without a graceful shutdown, when this returns. Its store stays. */
  readonly kill: (node: number) => Effect.Effect<void, Errors.NatsServerError>
  /** Graceful stop: SIGTERM, waiting up to 10 s for the exit, then SIGKILL. The store stays. */
  readonly stop: (node: number) => Effect.Effect<void, Errors.NatsServerError>
  /**
   * Starts a node again after `stop` or `kill` (or a crash), on the same
   * ports and store; a no-op while it runs. When the nodes running with it
   * make a quorum, it returns once the node's `/healthz` is ok (the meta
   * group and every replica it holds caught up); otherwise once it accepts
   * clients.
   */
  readonly start: (node: number) => Effect.Effect<void, Errors.NatsServerError>
  /** `stop`, then `start`. */
  readonly restart: (node: number) => Effect.Effect<void, Errors.NatsServerError>
  /** The nodes whose process runs. */
  readonly running: Effect.Effect<ReadonlyArray<number>>
  /** A node's process id while it runs. */
  readonly pid: (node: number) => Effect.Effect<number | undefined, Errors.NatsServerError>
  /** The last lines a node's current (or last) process wrote. */
  readonly logs: (node: number) => Effect.Effect<ReadonlyArray<string>, Errors.NatsServerError>
  /**
   * The node that leads the JetStream meta group: a running node whose own
   * `/jsz` names it the leader. Waits (at most `leaderTimeout`) while there
   * is none, e.g. during an election after the leader was killed.
   */
  readonly metaLeader: Effect.Effect<number, Errors.NatsServerError>
  /**
   * The node that leads a stream's replicas: a running node whose own view
   * of the stream's cluster info names it the leader (a node that was killed
   * is never answered, though the survivors may name it until they elect
   * another). Waits (at most `leaderTimeout`) while there is none.
   */
  readonly leaderOf: (stream: string) => Effect.Effect<number, Errors.NatsServerError>
  /** Like `leaderOf`, for a consumer of a stream. */
  readonly consumerLeaderOf: (stream: string, consumer: string) => Effect.Effect<number, Errors.NatsServerError>
  /**
   * Waits until a quorum of nodes runs, every running node's `/healthz` is
   * ok, and all agree on a meta leader that runs and count every node in the
   * meta group (at most `bound`, default `startTimeout`).
   */
  readonly awaitHealthy: (bound?: Duration.Input) => Effect.Effect<void, Errors.NatsServerError>
}>()("@herald/testing/NatsCluster") {}

/**
 * Starts a cluster in the current scope and waits until it is healthy:
 * closing the scope stops every node (SIGTERM, then SIGKILL after 10 s) and
 * removes the temporary directory.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: ClusterOptions) => Effect.Effect<NatsCluster["Service"], Errors.NatsServerError, Scope.Scope> =
  Cluster.make

/**
 * A cluster per build of the layer, stopped and removed with the layer's
 * scope.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: ClusterOptions): Layer.Layer<NatsCluster, Errors.NatsServerError> =>
  Layer.effect(NatsCluster, Cluster.make(options))
