/**
 * Node file-system, process and network helpers of the NatsServer harness,
 * wrapped in Effect.
 *
 * @since 0.1.0
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as FsPromises from "node:fs/promises"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as Errors from "./error.ts"

/**
 * Whether a path is an executable regular file.
 *
 * @since 0.1.0
 */
export const isExecutable = (path: string): Effect.Effect<boolean> =>
  Effect.tryPromise(() => FsPromises.access(path, Fs.constants.X_OK)).pipe(
    Effect.flatMap(() => Effect.tryPromise(() => FsPromises.stat(path))),
    Effect.map((stat) => stat.isFile()),
    Effect.orElseSucceed(() => false)
  )

/**
 * The paths `name` would be found at on `PATH`, in order.
 *
 * @since 0.1.0
 */
export const onPath = (name: string): Effect.Effect<Array<string>> =>
  Effect.sync(() =>
    (process.env["PATH"] ?? "")
      .split(Path.delimiter)
      .filter((dir) => dir.length > 0)
      .map((dir) => Path.join(dir, name))
  )

/**
 * The first executable of the candidates, or a `BinaryNotFound` naming all of
 * them.
 *
 * @since 0.1.0
 */
export const findExecutable = (
  binary: string,
  candidates: ReadonlyArray<string>
): Effect.Effect<string, Errors.NatsServerError> =>
  Effect.gen(function*() {
    const searched = [...new Set(candidates)]
    for (const candidate of searched) {
      if (yield* isExecutable(candidate)) return candidate
    }
    return yield* Effect.fail(Errors.make(new Errors.BinaryNotFound({ binary, searched })))
  })

/**
 * The output of a finished program.
 *
 * @since 0.1.0
 */
export interface Output {
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs a program to completion; fails with `SpawnFailed` when it cannot be
 * run, exits non-zero or outlives `timeoutMillis`.
 *
 * @since 0.1.0
 */
export const exec = (
  file: string,
  args: ReadonlyArray<string>,
  timeoutMillis: number
): Effect.Effect<Output, Errors.NatsServerError> =>
  Effect.callback<Output, Errors.NatsServerError>((resume) => {
    const command = [file, ...args].join(" ")
    const child = ChildProcess.execFile(
      file,
      args,
      { timeout: timeoutMillis, killSignal: "SIGKILL", encoding: "utf8", maxBuffer: 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error === null) {
          resume(Effect.succeed({ stdout, stderr }))
        } else {
          const output = `${stderr}${stdout}`.trim()
          const cause = output.length > 0 ? new Error(`${error.message.trim()}\n${output}`) : error
          resume(Effect.fail(Errors.make(new Errors.SpawnFailed({ command, cause }))))
        }
      }
    )
    return Effect.sync(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    })
  })

/**
 * A fresh temporary directory under the OS temporary directory.
 *
 * @since 0.1.0
 */
export const makeTempDir = (prefix: string): Effect.Effect<string, Errors.NatsServerError> =>
  Effect.tryPromise({
    try: () => FsPromises.mkdtemp(Path.join(Os.tmpdir(), prefix)),
    catch: (cause) => Errors.io(`cannot create a temporary directory under ${Os.tmpdir()}`, cause)
  })

/**
 * Creates a directory (and its parents).
 *
 * @since 0.1.0
 */
export const makeDir = (path: string): Effect.Effect<void, Errors.NatsServerError> =>
  Effect.tryPromise({
    try: () => FsPromises.mkdir(path, { recursive: true }),
    catch: (cause) => Errors.io(`cannot create ${path}`, cause)
  }).pipe(Effect.asVoid)

/**
 * Writes a text file, readable by its owner only.
 *
 * @since 0.1.0
 */
export const writeFile = (path: string, text: string): Effect.Effect<void, Errors.NatsServerError> =>
  Effect.tryPromise({
    try: () => FsPromises.writeFile(path, text, { encoding: "utf8", mode: 0o600 }),
    catch: (cause) => Errors.io(`cannot write ${path}`, cause)
  })

/**
 * Removes a file or directory recursively; a missing path is fine.
 *
 * @since 0.1.0
 */
export const removeRecursive = (path: string): Effect.Effect<void, Errors.NatsServerError> =>
  Effect.tryPromise({
    try: () => FsPromises.rm(path, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 }),
    catch: (cause) => Errors.io(`cannot remove ${path}`, cause)
  })

/**
 * A TCP port that was free on `host` a moment ago: binds port 0, reads the
 * port the kernel chose, closes.
 *
 * @since 0.1.0
 */
export const freePort = (host: string): Effect.Effect<number, Errors.NatsServerError> =>
  Effect.callback<number, Errors.NatsServerError>((resume) => {
    const server = Net.createServer()
    server.unref()
    server.once("error", (cause) => resume(Effect.fail(Errors.io(`cannot find a free port on ${host}`, cause))))
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() =>
        resume(
          port > 0
            ? Effect.succeed(port)
            : Effect.fail(Errors.io(`cannot find a free port on ${host}: unexpected address ${String(address)}`))
        )
      )
    })
    return Effect.sync(() => {
      server.close()
    })
  })

/**
 * The part of the server's `INFO` the harness reads.
 *
 * @since 0.1.0
 */
export interface ServerInfo {
  readonly version: string | undefined
  readonly jetstream: boolean
  readonly tlsRequired: boolean
  readonly authRequired: boolean
}

const decodeJson = Schema.decodeUnknownEffect(Schema.fromJsonString(Schema.Unknown))

/**
 * Why a probe did not get an `INFO`.
 *
 * @since 0.1.0
 */
export class ProbeFailed extends Schema.TaggedError<ProbeFailed>("@herald/testing/NatsServer/ProbeFailed")(
  "ProbeFailed",
  { detail: Schema.String }
) {}

const toInfo = (json: unknown): ServerInfo => ({
  version: Predicate.hasProperty(json, "version") && typeof json.version === "string" ? json.version : undefined,
  jetstream: Predicate.hasProperty(json, "jetstream") && json.jetstream === true,
  tlsRequired: Predicate.hasProperty(json, "tls_required") && json.tls_required === true,
  authRequired: Predicate.hasProperty(json, "auth_required") && json.auth_required === true
})

/**
 * Connects over TCP, reads the server's `INFO` line (sent in plain text before
 * any TLS upgrade or authentication), and disconnects.
 *
 * @since 0.1.0
 */
export const readInfo = (host: string, port: number): Effect.Effect<ServerInfo, ProbeFailed> =>
  Effect.callback<string, ProbeFailed>((resume) => {
    const socket = Net.connect({ host, port })
    socket.setEncoding("utf8")
    socket.setNoDelay(true)
    let buffer = ""
    const finish = (effect: Effect.Effect<string, ProbeFailed>) => {
      socket.destroy()
      resume(effect)
    }
    socket.on("data", (chunk: string) => {
      buffer += chunk
      const end = buffer.indexOf("\r\n")
      if (end >= 0) finish(Effect.succeed(buffer.slice(0, end)))
      else if (buffer.length > 1024 * 1024) finish(Effect.fail(new ProbeFailed({ detail: "INFO line too long" })))
    })
    socket.on("error", (cause) => finish(Effect.fail(new ProbeFailed({ detail: cause.message }))))
    socket.on("close", () => finish(Effect.fail(new ProbeFailed({ detail: "connection closed before INFO" }))))
    return Effect.sync(() => {
      socket.destroy()
    })
  }).pipe(
    Effect.flatMap((line) =>
      line.startsWith("INFO ")
        ? decodeJson(line.slice(5)).pipe(
          Effect.map(toInfo),
          Effect.mapError(() => new ProbeFailed({ detail: `malformed INFO: ${line.slice(0, 200)}` }))
        )
        : Effect.fail(new ProbeFailed({ detail: `expected INFO, got: ${line.slice(0, 200)}` }))
    )
  )
