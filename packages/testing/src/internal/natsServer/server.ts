/**
 * The life cycle of a nats-server for tests: find the binary, prepare a
 * temporary directory and a configuration file, spawn, wait until ready,
 * stop, kill, start again, clean up.
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
import type { NatsServer, Options, TlsFiles } from "../../NatsServer.ts"
import * as Config from "./config.ts"
import * as Errors from "./error.ts"
import * as Proc from "./process.ts"
import * as System from "./system.ts"
import * as Tls from "./tls.ts"

const host = "127.0.0.1"
const defaultStartTimeoutMillis = 10_000
/** How long a graceful stop (SIGTERM) may take before SIGKILL. */
const gracefulStopMillis = 5_000
/** How often the start poll tries to connect. */
const pollInterval = "50 millis"
/** A deadline for one connection attempt of the start poll. */
const probeTimeout = "1 second"
const maxMemoryStore = 256 * 1024 * 1024
const maxFileStore = 1024 * 1024 * 1024
const defaultLogLines = 500
/** Fresh ports tried at the first start when the chosen port was taken meanwhile. */
const firstStartAttempts = 5
/** Attempts to start again on the same port when it is still in use. */
const samePortAttempts = 20

/**
 * Where `nats-server` is looked for, in order.
 *
 * @since 0.1.0
 */
export const candidates = (options: Options): Effect.Effect<Array<string>> =>
  Effect.gen(function*() {
    const out: Array<string> = []
    const binary = options.binary
    if (binary !== undefined) {
      // A bare name is looked up on PATH, like a shell would.
      if (binary.includes(Path.sep)) out.push(Path.resolve(binary))
      else out.push(...(yield* System.onPath(binary)))
    }
    if (options.searchFallbacks === false) return out
    const env = yield* Effect.sync(() => process.env["NATS_SERVER_BIN"])
    if (env !== undefined && env.length > 0) out.push(Path.resolve(env))
    out.push(...(yield* System.onPath("nats-server")))
    out.push("/usr/sbin/nats-server")
    return out
  })

/**
 * The version in the output of `nats-server --version` ("nats-server: v2.9.10"
 * is "2.9.10").
 *
 * @since 0.1.0
 */
export const parseVersion = (output: string): string | undefined => {
  const match = /v?(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?)/.exec(output)
  return match?.[1]
}

const isPortInUse = (error: Errors.NatsServerError): boolean =>
  error.reason._tag === "Exited" && error.reason.log.some((line) => /address already in use/i.test(line))

/**
 * Starts a nats-server in the current scope; closing the scope stops it
 * (SIGTERM, then SIGKILL after 5 s) and removes its directory.
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<NatsServer["Service"], Errors.NatsServerError, Scope.Scope> =>
  Effect.gen(function*() {
    const startTimeoutMillis = Millis.orElse(options.startTimeout, defaultStartTimeoutMillis, { min: 1 })
    const jetstream = options.jetstream ?? true
    const debug = options.debug ?? false
    const logLines = Math.max(1, options.logLines ?? defaultLogLines)

    const binary = yield* System.findExecutable("nats-server", yield* candidates(options))
    const versionOutput = yield* System.exec(binary, ["--version"], 10_000)
    const reportedVersion = parseVersion(`${versionOutput.stdout}${versionOutput.stderr}`)

    // The directory holds the configuration, the JetStream store and the
    // generated certificate; it is removed last, after the process is gone.
    const dir = yield* Effect.acquireRelease(
      System.makeTempDir("herald-nats-"),
      (dir) => System.removeRecursive(dir).pipe(Effect.catch((error) => Effect.logWarning(error.message)))
    )
    const storeDir = Path.join(dir, "store")
    const configFile = Path.join(dir, "nats-server.conf")
    yield* System.makeDir(storeDir)

    const tls: TlsFiles | undefined = options.tls === undefined
      ? undefined
      : options.tls === "generate"
      ? yield* Tls.generate(Path.join(dir, "tls"))
      : {
        caFile: Path.resolve(options.tls.caFile ?? options.tls.certFile),
        certFile: Path.resolve(options.tls.certFile),
        keyFile: Path.resolve(options.tls.keyFile)
      }

    const state: { proc: Proc.Proc | undefined; closed: boolean; log: ReadonlyArray<string> } = {
      proc: undefined,
      closed: false,
      log: []
    }

    // Registered after the directory, so it runs before the directory is
    // removed. It does not take the lock: a stuck operation must not keep the
    // process alive; `closed` stops any later spawn.
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        state.closed = true
        const proc = state.proc
        if (proc === undefined) return Effect.void
        return Proc.terminate(proc, gracefulStopMillis).pipe(
          Effect.catch((error) => Effect.logWarning(error.message)),
          Effect.andThen(Effect.sync(() => forget(proc)))
        )
      })
    )

    const forget = (proc: Proc.Proc): void => {
      if (state.proc === proc) {
        state.log = proc.log.lines()
        state.proc = undefined
      }
    }

    const writeConfig = (port: number) =>
      System.writeFile(
        configFile,
        Config.render({
          host,
          port,
          storeDir,
          jetstream,
          maxMemoryStore,
          maxFileStore,
          maxPayload: options.maxPayload,
          auth: options.auth,
          tls: tls === undefined ? undefined : { certFile: tls.certFile, keyFile: tls.keyFile },
          debug
        })
      )

    const spawn = (port: number) =>
      Effect.uninterruptible(Effect.suspend(() => {
        if (state.closed) return Effect.fail(Errors.io("the NatsServer scope is closed"))
        const args = ["-c", configFile]
        return Proc.spawn(binary, args, {
          logLines,
          onLine: debug
            ? (line) => {
              process.stderr.write(`[nats-server :${port}] ${line}\n`)
            }
            : undefined
        }).pipe(Effect.tap((proc) => Effect.sync(() => {
          state.proc = proc
        })))
      }))

    // Ready: the server accepts a TCP connection and sends its INFO, which
    // says `"jetstream":true` once JetStream is enabled (a standalone server
    // enables JetStream before it starts accepting clients, so this is only a
    // guard). INFO is sent in plain text before TLS and authentication.
    const awaitReady = (proc: Proc.Proc, port: number) => {
      const probe = System.readInfo(host, port).pipe(
        Effect.timeoutOrElse({
          duration: probeTimeout,
          orElse: () => Effect.fail(new System.ProbeFailed({ detail: "no INFO in time" }))
        }),
        Effect.flatMap((info) =>
          jetstream && !info.jetstream
            ? Effect.fail(new System.ProbeFailed({ detail: "JetStream not enabled yet" }))
            : Effect.succeed(info)
        )
      )
      const poll = probe.pipe(
        Effect.retry(Schedule.spaced(pollInterval)),
        // The schedule never ends; this only satisfies the types.
        Effect.mapError(() => Errors.make(new Errors.StartTimeout({ millis: startTimeoutMillis, log: proc.log.lines() })))
      )
      const died = Proc.awaitExit(proc).pipe(
        Effect.flatMap((exit) =>
          Effect.fail(Errors.make(
            exit.spawnError !== undefined
              ? new Errors.SpawnFailed({ command: proc.command, cause: exit.spawnError })
              : new Errors.Exited({ code: exit.code, signal: exit.signal, log: proc.log.lines() })
          ))
        )
      )
      return Effect.raceFirst(poll, died).pipe(
        Effect.timeoutOrElse({
          duration: startTimeoutMillis,
          orElse: () =>
            Effect.fail(Errors.make(new Errors.StartTimeout({ millis: startTimeoutMillis, log: proc.log.lines() })))
        })
      )
    }

    // One launch on `port`; a launch that fails or is interrupted leaves no
    // process behind.
    const launch = (port: number) =>
      Effect.gen(function*() {
        const proc = yield* spawn(port)
        return yield* awaitReady(proc, port).pipe(
          Effect.onExit((exit) =>
            Exit.isSuccess(exit) ? Effect.void : Proc.kill(proc).pipe(
              Effect.ignore,
              Effect.andThen(Effect.sync(() => forget(proc)))
            )
          )
        )
      })

    // The first start picks a free port; if someone takes it between the
    // probe and the server's bind, it picks another.
    const firstStart = (attempt: number): Effect.Effect<{ port: number; version: string | undefined }, Errors.NatsServerError> =>
      Effect.gen(function*() {
        const port = yield* System.freePort(host)
        yield* writeConfig(port)
        const info = yield* launch(port)
        return { port, version: info.version }
      }).pipe(
        Effect.catch((error) =>
          isPortInUse(error) && attempt + 1 < firstStartAttempts ? firstStart(attempt + 1) : Effect.fail(error)
        )
      )

    const first = yield* firstStart(0)
    const port = first.port
    const version = reportedVersion ?? first.version ?? "unknown"

    // Later starts reuse the port (clients reconnect to the same URL) and the
    // store. The old listener is closed with the old process, and the server
    // sets SO_REUSEADDR, so a retry is rarely needed.
    const startAgain = launch(port).pipe(
      Effect.retry({ schedule: Schedule.spaced("100 millis"), times: samePortAttempts, while: isPortInUse }),
      Effect.asVoid
    )

    const running = (): Proc.Proc | undefined => {
      const proc = state.proc
      return proc !== undefined && !Deferred.isDoneUnsafe(proc.exited) ? proc : undefined
    }

    const lock = yield* Semaphore.make(1)

    const stopCurrent = (how: "terminate" | "kill") =>
      Effect.suspend(() => {
        const proc = state.proc
        if (proc === undefined) return Effect.void
        const ended = how === "terminate" ? Proc.terminate(proc, gracefulStopMillis) : Proc.kill(proc)
        return ended.pipe(Effect.andThen(Effect.sync(() => forget(proc))))
      })

    const start = lock.withPermit(Effect.suspend(() => {
      if (running() !== undefined) return Effect.void
      // A process that died on its own is forgotten before starting anew.
      const dead = state.proc
      if (dead !== undefined) forget(dead)
      return startAgain
    }))

    const service: NatsServer["Service"] = {
      url: `nats://${host}:${port}`,
      host,
      port,
      storeDir,
      version,
      config: {
        file: configFile,
        dir,
        binary,
        jetstream,
        maxPayload: options.maxPayload,
        auth: options.auth,
        debug
      },
      tls,
      start,
      stop: lock.withPermit(stopCurrent("terminate")),
      kill: lock.withPermit(stopCurrent("kill")),
      restart: lock.withPermit(stopCurrent("terminate").pipe(Effect.andThen(startAgain))),
      pause: lock.withPermit(Effect.suspend(() => {
        const proc = running()
        return proc === undefined ? Effect.fail(Errors.io("nats-server is not running: nothing to pause")) : Proc.pause(proc)
      })),
      resume: lock.withPermit(Effect.suspend(() => {
        const proc = running()
        return proc === undefined ? Effect.void : Proc.resume(proc)
      })),
      pid: Effect.sync(() => running()?.pid),
      logs: Effect.sync(() => state.proc?.log.lines() ?? state.log)
    }
    return service
  })
