/**
 * Runs the built `herald` binary (`dist/bin.js`) as a child process. The
 * binary and the packages it loads are used as built: a `dist` missing or
 * older than its sources fails the suite with the command to run.
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Url from "node:url"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

const root = Path.resolve(Path.dirname(Url.fileURLToPath(import.meta.url)), "..")
export const bin = Path.join(root, "dist", "bin.js")

/** The packages the binary loads from their `dist`. */
const builtPackages = ["cli", "transport", "transport-nats", "identity", "subject", "outbox", "replay", "saga", "sql-sqlite"].map((name) =>
  Path.resolve(root, "..", name)
)

const newest = (dir: string): number =>
  Math.max(
    ...Fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).map((file) => Fs.statSync(Path.join(dir, file)).mtimeMs)
  )

/** Throws unless every package the binary loads was built after its sources last changed. */
export const assertBuilt = (): void => {
  for (const dir of builtPackages) {
    const entry = Path.join(dir, "dist", "index.js")
    if (!Fs.existsSync(entry) || Fs.statSync(entry).mtimeMs < newest(Path.join(dir, "src"))) {
      throw new Error(`${Path.basename(dir)}: dist/ is missing or older than src/; run pnpm build first`)
    }
  }
}

export interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** The environment of a run: this process's, without any NATS_* variable or DATABASE_URL, plus `env`. */
const environment = (env: Record<string, string>): NodeJS.ProcessEnv => {
  const out: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith("NATS_") && name !== "DATABASE_URL") out[name] = value
  return { ...out, NO_COLOR: "1", ...env }
}

/** `node dist/bin.js ...args` with `env`, to its exit. */
export const herald = (args: ReadonlyArray<string>, env: Record<string, string>): Effect.Effect<Run> =>
  Effect.callback<Run>((resume) => {
    const child = ChildProcess.execFile(
      process.execPath,
      [bin, ...args],
      { env: environment(env), timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : null
        resume(Effect.succeed({ code, stdout, stderr }))
      }
    )
    return Effect.sync(() => child.kill())
  })

/** The output of a run that must succeed, parsed as JSON. */
export const json = (run: Run): unknown => {
  if (run.code !== 0 || run.stderr !== "") {
    throw new Error(`herald exited with ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`)
  }
  return JSON.parse(run.stdout)
}

/** A `herald` process still running: its output so far, a signal to send, its exit. */
export interface Running {
  readonly stdout: Effect.Effect<string>
  readonly stderr: Effect.Effect<string>
  readonly signal: (signal: NodeJS.Signals) => Effect.Effect<void>
  /** Waits for the exit: the code (`null` when killed by a signal) and the whole output. */
  readonly exit: Effect.Effect<Run>
}

/** `node dist/bin.js ...args` with `env`, started in the scope (killed when it closes if still running). */
export const spawn = (args: ReadonlyArray<string>, env: Record<string, string>): Effect.Effect<Running, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => {
        const child = ChildProcess.spawn(process.execPath, [bin, ...args], { env: environment(env), stdio: ["ignore", "pipe", "pipe"] })
        let stdout = ""
        let stderr = ""
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => void (stdout += chunk))
        child.stderr.setEncoding("utf8").on("data", (chunk: string) => void (stderr += chunk))
        const exited = new Promise<Run>((resolve) =>
          child.on("close", (code) => resolve({ code, stdout, stderr }))
        )
        return { child, out: () => stdout, err: () => stderr, exited }
      }),
      ({ child }) => Effect.sync(() => void (child.exitCode === null && child.signalCode === null && child.kill("SIGKILL")))
    ),
    ({ child, err, exited, out }): Running => ({
      stdout: Effect.sync(out),
      stderr: Effect.sync(err),
      signal: (signal) => Effect.sync(() => void child.kill(signal)),
      exit: Effect.promise(() => exited)
    })
  )
