/**
 * A raw NATS client over node:net (and node:tls), so that the harness is
 * tested independently of any NATS client library; and process helpers.
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Tls from "node:tls"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"

export type Info = Record<string, unknown>

export const parseJson = Schema.decodeUnknownOption(Schema.fromJsonString(Schema.Unknown))

export const asInfo = (line: string): Info => {
  const json = Option.getOrUndefined(parseJson(line.replace(/^INFO /, "")))
  return typeof json === "object" && json !== null ? json as Info : {}
}

export interface Conversation {
  readonly info: Info
  /** Everything received after the INFO line. */
  readonly received: string
}

/**
 * Connects, reads INFO, optionally upgrades to TLS trusting `ca`, sends what
 * `send(info)` returns, and reads until `until(received)`.
 */
export const converse = (
  port: number,
  options: {
    readonly send: (info: Info) => string
    readonly until: (received: string) => boolean
    readonly ca?: string | undefined
  }
): Effect.Effect<Conversation, Error> =>
  Effect.callback<Conversation, Error>((resume) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    let secure: Tls.TLSSocket | undefined
    let buffer = ""
    let info: Info | undefined
    const finish = (effect: Effect.Effect<Conversation, Error>) => {
      secure?.destroy()
      socket.destroy()
      resume(effect)
    }
    const onPayload = (chunk: Buffer) => {
      buffer += chunk.toString("utf8")
      if (info !== undefined && options.until(buffer)) finish(Effect.succeed({ info, received: buffer }))
    }
    const onPlain = (chunk: Buffer) => {
      if (info !== undefined) return onPayload(chunk)
      buffer += chunk.toString("utf8")
      const end = buffer.indexOf("\r\n")
      if (end < 0) return
      const got = asInfo(buffer.slice(0, end))
      info = got
      buffer = buffer.slice(end + 2)
      if (options.ca === undefined) {
        socket.write(options.send(got))
        return
      }
      socket.removeListener("data", onPlain)
      const upgraded = Tls.connect({ socket, ca: [Fs.readFileSync(options.ca)], servername: "localhost" }, () => {
        upgraded.write(options.send(got))
      })
      secure = upgraded
      upgraded.on("data", onPayload)
      upgraded.on("error", (error) => finish(Effect.fail(error)))
    }
    socket.on("data", onPlain)
    socket.on("error", (error) => finish(Effect.fail(error)))
    socket.on("close", () =>
      finish(Effect.fail(new Error(`connection closed; received so far: ${JSON.stringify(buffer)}`))))
    return Effect.sync(() => {
      secure?.destroy()
      socket.destroy()
    })
  }).pipe(Effect.timeout("5 seconds"))

export const connect = (fields: Info = {}) =>
  `CONNECT ${JSON.stringify({ verbose: false, pedantic: false, protocol: 1, ...fields })}\r\n`

export const pingPong = (port: number, fields: Info = {}, ca?: string) =>
  converse(port, {
    send: () => `${connect(fields)}PING\r\n`,
    until: (received) => received.includes("PONG\r\n") || received.includes("-ERR"),
    ca
  })

/** Whether a TCP connection to the port is accepted. */
export const accepts = (port: number): Effect.Effect<boolean> =>
  Effect.callback<boolean>((resume) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => {
      socket.destroy()
      resume(Effect.succeed(false))
    })
    return Effect.sync(() => socket.destroy())
  })

/** Listens on the port until `release` runs (to hold the port of a stopped server). */
export const occupy = (port: number) =>
  Effect.callback<Net.Server, Error>((resume) => {
    const server = Net.createServer()
    server.once("error", (error) => resume(Effect.fail(error)))
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => resume(Effect.succeed(server)))
  }).pipe(Effect.map((server) => ({
    release: Effect.callback<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
  })))

/** The payload of the first `MSG` in `received`, once it is complete. */
export const firstMessage = (received: string): string | undefined => {
  // `MSG <subject> <sid> [reply] <size>`; nats-server 2.9 may put two spaces
  // where the reply is missing.
  const match = /MSG ([^\r\n]*)\r\n/.exec(received)
  if (match === null) return undefined
  const start = match.index + match[0].length
  const size = Number((match[1] ?? "").trim().split(/\s+/).pop())
  return Buffer.byteLength(received.slice(start)) >= size + 2
    ? Buffer.from(received.slice(start)).subarray(0, size).toString("utf8")
    : undefined
}

/** A JetStream API request over one raw connection; the reply as JSON. */
export const jsRequest = (port: number, subject: string, body: unknown = "") =>
  Effect.gen(function*() {
    const payload = typeof body === "string" ? body : JSON.stringify(body)
    const conversation = yield* converse(port, {
      send: () =>
        `${connect()}SUB _INBOX.herald 1\r\nPUB ${subject} _INBOX.herald ${Buffer.byteLength(payload)}\r\n${payload}\r\n`,
      until: (received) => firstMessage(received) !== undefined || received.includes("-ERR")
    })
    const reply = firstMessage(conversation.received)
    assert.isDefined(reply, `no reply to ${subject}: ${conversation.received}`)
    return asInfo(reply ?? "")
  })

/** The processes whose command line contains `pattern`. */
export const processesMatching = (pattern: string): Effect.Effect<Array<string>> =>
  Effect.callback<Array<string>>((resume) => {
    ChildProcess.execFile("pgrep", ["-f", pattern], (_error, stdout) => {
      resume(Effect.succeed(stdout.split("\n").filter((line) => line.trim().length > 0)))
    })
  })

export const isAlive = (pid: number): boolean => {
  const result = Effect.runSyncExit(Effect.try(() => process.kill(pid, 0)))
  return result._tag === "Success"
}
