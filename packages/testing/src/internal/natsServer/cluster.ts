/**
 * The life cycle of a nats-server cluster for tests: every node on loopback
 * with its client, route and monitoring ports, JetStream in a store of its
 * own, routes to every other node; start all, wait for the JetStream meta
 * leader, stop, kill and start single nodes again, find the leaders, clean
 * up.
 *
 * @since 0.1.0
 */
import * as Path from "node:path"
import { Millis } from "@herald/transport"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import type { ClusterNode, ClusterOptions, NatsCluster } from "../../NatsCluster.ts"
import * as Config from "./config.ts"
import * as Errors from "./error.ts"
import * as Monitor from "./monitor.ts"
import * as Proc from "./process.ts"
import { candidates, parseVersion } from "./server.ts"
import * as System from "./system.ts"

const host = "127.0.0.1"
const defaultSize = 3
const defaultStartTimeoutMillis = 30_000
const defaultLeaderTimeoutMillis = 30_000
/** How long a graceful stop (SIGTERM) may take before SIGKILL. */
const gracefulStopMillis = 10_000
const pollInterval = "100 millis"
/** A deadline for one probe (INFO, `/healthz`, `/jsz`). */
const probeMillis = 2_000
const maxMemoryStore = 256 * 1024 * 1024
const maxFileStore = 1024 * 1024 * 1024
const defaultLogLines = 500
/** Fresh port sets tried at the first start when a chosen port was taken meanwhile. */
const firstStartAttempts = 5
/** Attempts to start a node again on its ports when one is still in use. */
const samePortAttempts = 20

interface Node {
  readonly info: ClusterNode
  readonly configFile: string
  readonly lock: Semaphore.Semaphore
  proc: Proc.Proc | undefined
  /** The log of the last process, once it is gone. */
  log: ReadonlyArray<string>
}

interface Ports {
  readonly client: number
  readonly route: number
  readonly monitor: number
}

const isPortInUse = (error: Errors.NatsServerError): boolean =>
  error.reason._tag === "Exited" && error.reason.log.some((line) => /address already in use/i.test(line))

const invalid = (detail: string) => Errors.make(new Errors.InvalidOption({ detail }))

/** `count` distinct ports that were free a moment ago. */
const freePorts = (count: number): Effect.Effect<Array<number>, Errors.NatsServerError> =>
  Effect.gen(function*() {
    const ports = new Set<number>()
    while (ports.size < count) ports.add(yield* System.freePort(host))
    return [...ports]
  })

/**
 * Starts a cluster in the current scope; closing the scope stops every node
 * (SIGTERM, then SIGKILL) and removes the directory.
 *
 * @since 0.1.0
 */
export const make = (
  options: ClusterOptions = {}
): Effect.Effect<NatsCluster["Service"], Errors.NatsServerError, Scope.Scope> =>
  Effect.gen(function*() {
    const size = options.size ?? defaultSize
    if (!Number.isInteger(size) || size < 2 || size > 9) {
      return yield* Effect.fail(invalid(`size: ${size} is not a whole number of nodes from 2 to 9`))
    }
    const clusterName = options.name ?? "herald"
    if (!/^[A-Za-z0-9_-]+$/.test(clusterName)) {
      return yield* Effect.fail(invalid(`name: ${JSON.stringify(clusterName)} is not a cluster name (letters, digits, _ and -)`))
    }
    const startTimeoutMillis = Millis.orElse(options.startTimeout, defaultStartTimeoutMillis, { min: 1 })
    const leaderTimeoutMillis = Millis.orElse(options.leaderTimeout, defaultLeaderTimeoutMillis, { min: 1 })
    const debug = options.debug ?? false
    const logLines = Math.max(1, options.logLines ?? defaultLogLines)
    const quorum = Math.floor(size / 2) + 1

    const binary = yield* System.findExecutable("nats-server", yield* candidates(options))
    const versionOutput = yield* System.exec(binary, ["--version"], 10_000)
    const version = parseVersion(`${versionOutput.stdout}${versionOutput.stderr}`) ?? "unknown"

    const dir = yield* Effect.acquireRelease(
      System.makeTempDir("herald-nats-cluster-"),
      (dir) => System.removeRecursive(dir).pipe(Effect.catch((error) => Effect.logWarning(error.message)))
    )

    const state = { closed: false }
    const nodes: Array<Node> = []

    // Registered after the directory, so it runs before the directory is
    // removed. It takes no lock: a stuck operation must not keep a process
    // alive; `closed` stops any later spawn.
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        state.closed = true
        return Effect.forEach(nodes, (node) => stopProc(node, "terminate"), { concurrency: "unbounded", discard: true })
      })
    )

    const forget = (node: Node, proc: Proc.Proc): void => {
      if (node.proc === proc) {
        node.log = proc.log.lines()
        node.proc = undefined
      }
    }

    const running = (node: Node): Proc.Proc | undefined => {
      const proc = node.proc
      return proc !== undefined && !Deferred.isDoneUnsafe(proc.exited) ? proc : undefined
    }

    const stopProc = (node: Node, how: "terminate" | "kill") =>
      Effect.suspend(() => {
        const proc = node.proc
        if (proc === undefined) return Effect.void
        const ended = how === "terminate" ? Proc.terminate(proc, gracefulStopMillis) : Proc.kill(proc)
        return ended.pipe(
          Effect.catch((error) => Effect.logWarning(error.message)),
          Effect.andThen(Effect.sync(() => forget(node, proc)))
        )
      })

    const spawn = (node: Node) =>
      Effect.uninterruptible(Effect.suspend(() => {
        if (state.closed) return Effect.fail(Errors.io("the NatsCluster scope is closed"))
        const label = `[nats-server ${node.info.name} :${node.info.port}]`
        return Proc.spawn(binary, ["-c", node.configFile], {
          logLines,
          onLine: debug ? (line) => void process.stderr.write(`${label} ${line}\n`) : undefined
        }).pipe(Effect.tap((proc) => Effect.sync(() => void (node.proc = proc))))
      }))

    const timeout = (proc: Proc.Proc, what: string, millis: number) =>
      Errors.make(new Errors.StartTimeout({ millis, log: [`(${what})`, ...proc.log.lines()] }))

    /** Fails when the process exits. */
    const died = (proc: Proc.Proc) =>
      Proc.awaitExit(proc).pipe(
        Effect.flatMap((exit) =>
          Effect.fail(Errors.make(
            exit.spawnError !== undefined
              ? new Errors.SpawnFailed({ command: proc.command, cause: exit.spawnError })
              : new Errors.Exited({ code: exit.code, signal: exit.signal, log: proc.log.lines() })
          ))
        )
      )

    /** Polls `probe` until it succeeds (retrying its failures), racing the process's exit, within `millis`. */
    const pollUntil = <A>(proc: Proc.Proc, probe: Effect.Effect<A, System.ProbeFailed>, what: string, millis: number) =>
      Effect.raceFirst(
        probe.pipe(
          Effect.retry(Schedule.spaced(pollInterval)),
          Effect.mapError(() => timeout(proc, what, millis))
        ),
        died(proc)
      ).pipe(Effect.timeoutOrElse({ duration: millis, orElse: () => Effect.fail(timeout(proc, what, millis)) }))

    /** The client port answers with an INFO that says JetStream is on. */
    const infoProbe = (node: Node) =>
      System.readInfo(host, node.info.port).pipe(
        Effect.timeoutOrElse({
          duration: probeMillis,
          orElse: () => Effect.fail(new System.ProbeFailed({ detail: "no INFO in time" }))
        }),
        Effect.flatMap((info) =>
          info.jetstream ? Effect.void : Effect.fail(new System.ProbeFailed({ detail: "JetStream not enabled yet" }))
        )
      )

    /** `/healthz` says this node's JetStream is current (the meta group and every replica it holds). */
    const healthProbe = (node: Node) =>
      Monitor.health(host, node.info.monitorPort, probeMillis).pipe(
        Effect.flatMap((problem) =>
          problem === undefined ? Effect.void : Effect.fail(new System.ProbeFailed({ detail: problem }))
        )
      )

    // One launch of a node: spawned, then polled until it answers; a launch
    // that fails or is interrupted leaves no process behind.
    const launch = (node: Node, healthy: boolean) =>
      Effect.gen(function*() {
        const proc = yield* spawn(node)
        return yield* Effect.gen(function*() {
          yield* pollUntil(proc, infoProbe(node), `${node.info.name}: accepting clients with JetStream`, startTimeoutMillis)
          if (healthy) {
            yield* pollUntil(proc, healthProbe(node), `${node.info.name}: /healthz ok`, startTimeoutMillis)
          }
        }).pipe(
          Effect.onExit((exit) =>
            Exit.isSuccess(exit) ? Effect.void : Proc.kill(proc).pipe(
              Effect.ignore,
              Effect.andThen(Effect.sync(() => forget(node, proc)))
            )
          )
        )
      })

    const writeConfig = (node: Node, ports: Ports, routes: ReadonlyArray<number>) =>
      System.writeFile(
        node.configFile,
        Config.render({
          host,
          port: ports.client,
          storeDir: node.info.storeDir,
          jetstream: true,
          maxMemoryStore,
          maxFileStore,
          maxPayload: options.maxPayload,
          auth: undefined,
          tls: undefined,
          debug,
          serverName: node.info.name,
          monitorPort: ports.monitor,
          cluster: { name: clusterName, port: ports.route, routes }
        })
      )

    const makeNodes = (portList: ReadonlyArray<number>) =>
      Effect.gen(function*() {
        const ports: Array<Ports> = Array.from({ length: size }, (_, i) => ({
          client: portList[3 * i]!,
          route: portList[3 * i + 1]!,
          monitor: portList[3 * i + 2]!
        }))
        const routes = ports.map((p) => p.route)
        const made: Array<Node> = []
        for (let index = 0; index < size; index++) {
          const name = `n${index}`
          const nodeDir = Path.join(dir, name)
          const storeDir = Path.join(nodeDir, "store")
          yield* System.makeDir(storeDir)
          const p = ports[index]!
          const node: Node = {
            info: {
              index,
              name,
              url: `nats://${host}:${p.client}`,
              host,
              port: p.client,
              clusterPort: p.route,
              monitorPort: p.monitor,
              storeDir,
              dir: nodeDir
            },
            configFile: Path.join(nodeDir, "nats-server.conf"),
            lock: yield* Semaphore.make(1),
            proc: undefined,
            log: []
          }
          yield* writeConfig(node, p, routes)
          made.push(node)
        }
        return made
      })

    // The first start picks free ports for every node; if one is taken
    // between the probe and a server's bind, every node is stopped and the
    // cluster starts over on fresh ports.
    const firstStart = (attempt: number): Effect.Effect<void, Errors.NatsServerError> =>
      Effect.gen(function*() {
        nodes.splice(0, nodes.length, ...(yield* makeNodes(yield* freePorts(3 * size))))
        // Each node accepts clients before the cluster has formed; the
        // health of every node is awaited together below.
        yield* Effect.forEach(nodes, (node) => launch(node, false), { concurrency: "unbounded", discard: true })
      }).pipe(
        Effect.onError(() =>
          Effect.forEach(nodes, (node) => stopProc(node, "kill"), { concurrency: "unbounded", discard: true })
        ),
        Effect.catch((error) =>
          isPortInUse(error) && attempt + 1 < firstStartAttempts ? firstStart(attempt + 1) : Effect.fail(error)
        )
      )

    const nodeOf = (index: number): Effect.Effect<Node, Errors.NatsServerError> =>
      Effect.suspend(() => {
        const node = Number.isInteger(index) ? nodes[index] : undefined
        return node === undefined
          ? Effect.fail(Errors.make(new Errors.UnknownNode({ node: index, size })))
          : Effect.succeed(node)
      })

    const runningNodes = () => nodes.filter((node) => running(node) !== undefined)

    /** Every running node's view of JetStream; a node that does not answer is left out. */
    const views = (details: boolean) =>
      Effect.forEach(
        runningNodes(),
        (node) =>
          Monitor.jetstream(host, node.info.monitorPort, probeMillis, details).pipe(
            Effect.map((view) => ({ node, view, error: undefined as string | undefined })),
            Effect.catch((error) => Effect.succeed({ node, view: undefined, error: error.detail }))
          ),
        { concurrency: "unbounded" }
      )

    type Views = Effect.Success<ReturnType<typeof views>>

    const describe = (seen: Views, leaderOf: (view: Monitor.JetStreamView) => string | undefined): string =>
      seen.length === 0
        ? "no node is running"
        : seen.map(({ error, node, view }) =>
          `${node.info.name} ${
            view === undefined ? `does not answer (${error})` : `says ${leaderOf(view) ?? "none"}`
          }`
        ).join(", ")

    /**
     * The running node that says it leads (its own view names itself), once
     * exactly one does; polled within the leader timeout.
     */
    const leader = (
      of: string,
      details: boolean,
      leaderOf: (view: Monitor.JetStreamView) => string | undefined
    ): Effect.Effect<number, Errors.NatsServerError> =>
      Effect.gen(function*() {
        let last = "not asked yet"
        const attempt = Effect.map(views(details), (seen) => {
          last = describe(seen, leaderOf)
          const claims = seen.filter(({ node, view }) => view !== undefined && leaderOf(view) === node.info.name)
          return claims.length === 1 ? claims[0]!.node.info.index : undefined
        })
        const found = yield* attempt.pipe(
          Effect.repeat({ until: (index) => index !== undefined, schedule: Schedule.spaced(pollInterval) }),
          Effect.timeoutOption(leaderTimeoutMillis)
        )
        if (found._tag === "Some" && found.value !== undefined) return found.value
        return yield* Effect.fail(Errors.make(new Errors.NoLeader({ of, millis: leaderTimeoutMillis, detail: last })))
      })

    const metaLeader = leader("the JetStream meta group", false, (view) => view.metaLeader)

    /**
     * Every running node healthy (`/healthz`), and all of them agreeing on a
     * meta leader that runs, within `millis`.
     */
    const awaitHealthy = (millis: number): Effect.Effect<void, Errors.NatsServerError> =>
      Effect.gen(function*() {
        let last = "not asked yet"
        const check = Effect.gen(function*() {
          const up = runningNodes()
          if (up.length < quorum) {
            last = `${up.length} of ${size} nodes run, fewer than a quorum of ${quorum}`
            return false
          }
          const problems = yield* Effect.forEach(up, (node) =>
            healthProbe(node).pipe(
              Effect.as(undefined),
              Effect.catch((e) => Effect.succeed(`${node.info.name}: ${e.detail}`))
            ), { concurrency: "unbounded" })
          const unhealthy = problems.filter((p) => p !== undefined)
          if (unhealthy.length > 0) {
            last = unhealthy.join("; ")
            return false
          }
          const seen = yield* views(false)
          const leaders = new Set(seen.map(({ view }) => view?.metaLeader))
          const agreed = leaders.size === 1 ? [...leaders][0] : undefined
          if (agreed === undefined || !up.some((node) => node.info.name === agreed)) {
            last = `meta leader: ${describe(seen, (view) => view.metaLeader)}`
            return false
          }
          // Every node knows every other: the meta group counts them all.
          const partial = seen.filter(({ view }) => view === undefined || view.clusterSize !== size)
          if (partial.length > 0) {
            last = `meta group size: ${seen.map(({ node, view }) => `${node.info.name} counts ${view?.clusterSize ?? "?"}`).join(", ")} of ${size}`
            return false
          }
          return true
        })
        const ok = yield* check.pipe(
          Effect.repeat({ until: (done) => done, schedule: Schedule.spaced(pollInterval) }),
          Effect.timeoutOption(millis)
        )
        if (ok._tag === "None") {
          return yield* Effect.fail(
            Errors.make(new Errors.StartTimeout({ millis, log: [`(the cluster is not healthy: ${last})`] }))
          )
        }
      })

    yield* firstStart(0)
    yield* awaitHealthy(startTimeoutMillis)

    const start = (index: number) =>
      Effect.flatMap(nodeOf(index), (node) =>
        node.lock.withPermit(Effect.suspend(() => {
          if (running(node) !== undefined) return Effect.void
          const dead = node.proc
          if (dead !== undefined) forget(node, dead)
          // With a quorum the node is started once it is current (its
          // replicas caught up); without one it cannot be, and a start only
          // waits for it to accept clients.
          const healthy = runningNodes().length + 1 >= quorum
          return launch(node, healthy).pipe(
            Effect.retry({ schedule: Schedule.spaced("100 millis"), times: samePortAttempts, while: isPortInUse })
          )
        })))

    const stop = (index: number, how: "terminate" | "kill") =>
      Effect.flatMap(nodeOf(index), (node) => node.lock.withPermit(stopProc(node, how)))

    const service: NatsCluster["Service"] = {
      name: clusterName,
      nodes: nodes.map((node) => node.info),
      urls: nodes.map((node) => node.info.url),
      version,
      dir,
      binary,
      kill: (node) => stop(node, "kill"),
      stop: (node) => stop(node, "terminate"),
      start,
      restart: (node) => Effect.andThen(stop(node, "terminate"), start(node)),
      running: Effect.sync(() => runningNodes().map((node) => node.info.index)),
      pid: (index) => Effect.map(nodeOf(index), (node) => running(node)?.pid),
      logs: (index) => Effect.map(nodeOf(index), (node) => node.proc?.log.lines() ?? node.log),
      metaLeader,
      leaderOf: (stream) =>
        leader(`stream ${stream}`, true, (view) => view.streams.get(stream)?.leader),
      consumerLeaderOf: (stream, consumer) =>
        leader(`consumer ${stream}/${consumer}`, true, (view) => view.streams.get(stream)?.consumers.get(consumer)),
      awaitHealthy: (bound) => awaitHealthy(Millis.orElse(bound, startTimeoutMillis, { min: 1 }))
    }
    return service
  })
