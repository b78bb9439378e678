/**
 * One nats-server process: spawned with its output captured in a bounded log,
 * its exit observed, stopped with signals.
 *
 * @since 0.1.0
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Errors from "./error.ts"
import { LogBuffer } from "./logBuffer.ts"

/**
 * How a process ended.
 *
 * @since 0.1.0
 */
export interface ExitInfo {
  readonly code: number | null
  readonly signal: string | null
  /** Set when the process could not be spawned at all. */
  readonly spawnError: Error | undefined
}

/**
 * A spawned process.
 *
 * @since 0.1.0
 */
export interface Proc {
  readonly command: string
  readonly child: ChildProcess.ChildProcess
  readonly pid: number | undefined
  readonly log: LogBuffer
  /** Completed once the process has exited and its output is drained. */
  readonly exited: Deferred.Deferred<ExitInfo>
}

/**
 * The children still running. When the Node process exits without closing
 * their scopes (a crashed or killed test worker that still runs its exit
 * handlers), they are killed rather than left behind.
 */
const live = new Set<ChildProcess.ChildProcess>()
let exitHookInstalled = false

const installExitHook = (): void => {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once("exit", () => {
    for (const child of live) child.kill("SIGKILL")
  })
}

/**
 * Spawns a process with stdin closed and stdout/stderr captured into a log of
 * `logLines` lines; `onLine` also sees every line (for `debug`).
 *
 * @since 0.1.0
 */
export const spawn = (
  file: string,
  args: ReadonlyArray<string>,
  options: { readonly logLines: number; readonly onLine?: ((line: string) => void) | undefined }
): Effect.Effect<Proc, Errors.NatsServerError> => {
  const command = [file, ...args].join(" ")
  return Effect.try({
    try: (): Proc => {
      const log = new LogBuffer(options.logLines, options.onLine)
      const exited = Deferred.makeUnsafe<ExitInfo>()
      const child = ChildProcess.spawn(file, args, { stdio: ["ignore", "pipe", "pipe"], windowsHide: true })
      installExitHook()
      live.add(child)
      child.stdout?.setEncoding("utf8")
      child.stderr?.setEncoding("utf8")
      child.stdout?.on("data", (chunk: string) => log.write("stdout", chunk))
      child.stderr?.on("data", (chunk: string) => log.write("stderr", chunk))
      child.on("error", (error) => {
        // Spawning failed (ENOENT, EACCES...): no exit will follow. Errors of
        // a running process (a failed kill) are not terminal.
        if (child.pid === undefined) {
          live.delete(child)
          Deferred.doneUnsafe(exited, Effect.succeed({ code: null, signal: null, spawnError: error }))
        }
      })
      // "close" comes after "exit" once stdout and stderr are drained, so the
      // log is complete when `exited` completes.
      child.on("close", (code, signal) => {
        live.delete(child)
        log.flush()
        Deferred.doneUnsafe(exited, Effect.succeed({ code, signal, spawnError: undefined }))
      })
      return { command, child, pid: child.pid, log, exited }
    },
    catch: (cause) => Errors.make(new Errors.SpawnFailed({ command, cause }))
  })
}

/**
 * How the process ended, or `undefined` while it runs.
 *
 * @since 0.1.0
 */
export const exitInfo = (proc: Proc): Effect.Effect<ExitInfo | undefined> =>
  Deferred.poll(proc.exited).pipe(
    Effect.flatMap(Option.match({ onNone: () => Effect.succeed(undefined), onSome: (done) => done }))
  )

/**
 * Waits for the process to exit.
 *
 * @since 0.1.0
 */
export const awaitExit = (proc: Proc): Effect.Effect<ExitInfo> => Deferred.await(proc.exited)

/**
 * Sends a signal unless the process has already exited.
 *
 * @since 0.1.0
 */
export const signal = (proc: Proc, signal: NodeJS.Signals): Effect.Effect<void> =>
  Effect.sync(() => {
    if (!Deferred.isDoneUnsafe(proc.exited) && proc.child.exitCode === null && proc.child.signalCode === null) {
      proc.child.kill(signal)
    }
  })

const killWaitMillis = 5_000

/**
 * Whether every thread of a process is stopped (state `T` or `t` in
 * `/proc/<pid>/task/<tid>/stat`). `undefined` where `/proc` cannot tell (not
 * Linux, or the process is gone).
 */
const allThreadsStopped = (pid: number): boolean | undefined => {
  let tasks: Array<string>
  try {
    tasks = Fs.readdirSync(`/proc/${pid}/task`)
  } catch {
    return undefined
  }
  for (const tid of tasks) {
    let stat: string
    try {
      stat = Fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8")
    } catch {
      // A thread that ended while being listed.
      continue
    }
    // "tid (comm) S ...": the command may hold spaces and parentheses.
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3)
    if (state !== "T" && state !== "t") return false
  }
  return true
}

const pauseWaitMillis = 5_000

/**
 * SIGSTOP, then waits until every thread of the process is stopped, so that
 * nothing sent after this returns is handled before {@link resume} (the
 * signal alone only asks: a thread running on another core can still answer
 * a request that arrives right after `kill(2)` returned). Where `/proc` cannot
 * tell, it returns after sending the signal.
 *
 * @since 0.1.0
 */
export const pause = (proc: Proc): Effect.Effect<void, Errors.NatsServerError> =>
  Effect.suspend(() => {
    if (proc.pid === undefined || Deferred.isDoneUnsafe(proc.exited)) {
      return Effect.fail(Errors.io("nats-server is not running: nothing to pause"))
    }
    const pid = proc.pid
    return signal(proc, "SIGSTOP").pipe(
      Effect.andThen(Effect.gen(function*() {
        const deadline = Date.now() + pauseWaitMillis
        while (true) {
          const stopped = allThreadsStopped(pid)
          if (stopped !== false) return
          if (Date.now() >= deadline) {
            return yield* Effect.fail(
              Errors.io(`nats-server (pid ${pid}) was not stopped within ${pauseWaitMillis} ms of SIGSTOP`)
            )
          }
          yield* Effect.sleep(1)
        }
      }))
    )
  })

/**
 * SIGCONT: a paused process runs again.
 *
 * @since 0.1.0
 */
export const resume = (proc: Proc): Effect.Effect<void> => signal(proc, "SIGCONT")

/**
 * SIGKILL, then waits for the exit.
 *
 * @since 0.1.0
 */
export const kill = (proc: Proc): Effect.Effect<ExitInfo, Errors.NatsServerError> =>
  signal(proc, "SIGKILL").pipe(
    Effect.andThen(awaitExit(proc)),
    Effect.timeoutOrElse({
      duration: killWaitMillis,
      orElse: () =>
        Effect.fail(Errors.io(`nats-server (pid ${proc.pid}) did not exit within ${killWaitMillis} ms of SIGKILL`))
    })
  )

/**
 * SIGTERM (a graceful shutdown), waits up to `graceMillis` for the exit, then
 * SIGKILL.
 *
 * @since 0.1.0
 */
export const terminate = (proc: Proc, graceMillis: number): Effect.Effect<ExitInfo, Errors.NatsServerError> =>
  signal(proc, "SIGTERM").pipe(
    // A paused process handles SIGTERM only once it runs again.
    Effect.andThen(signal(proc, "SIGCONT")),
    Effect.andThen(awaitExit(proc)),
    Effect.timeoutOrElse({ duration: graceMillis, orElse: () => kill(proc) })
  )
