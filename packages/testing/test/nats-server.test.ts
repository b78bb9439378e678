import { assert, describe, expect, it } from "@effect/vitest"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import { NatsServer } from "@herald/testing"
import { accepts, connect, converse, firstMessage, isAlive, jsRequest, occupy, pingPong, processesMatching } from "./rawNats.ts"

/** The state letter of every thread of a process, from `/proc`. */
const threadStates = (pid: number): Array<string> =>
  Fs.readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = Fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8")
    return stat.charAt(stat.lastIndexOf(")") + 2)
  })

const reasonOf = (error: NatsServer.NatsServerError) => error.reason

// A stand-in executable, to make a start fail on purpose.
const fakeServer = (script: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "herald-fake-nats-"))
      const file = Path.join(dir, "nats-server")
      Fs.writeFileSync(
        file,
        `#!/bin/sh\nif [ "$1" = "--version" ]; then echo "nats-server: v2.9.99"; exit 0; fi\n${script}\n`,
        { mode: 0o755 }
      )
      return { dir, file }
    }),
    ({ dir }) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )

// nkeys without a library: an ed25519 key, its public key in nkey encoding
// (prefix byte, key, CRC-16/XMODEM little-endian, base32 without padding).
const crc16 = (bytes: Uint8Array): number => {
  let crc = 0
  for (const byte of bytes) {
    crc ^= byte << 8
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  }
  return crc
}

const base32 = (bytes: Uint8Array): string => {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
  let bits = 0
  let value = 0
  let out = ""
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31]
  return out
}

const userNKey = () => {
  const { privateKey, publicKey } = Crypto.generateKeyPairSync("ed25519")
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x ?? "", "base64url")
  const body = Buffer.concat([Buffer.from([20 << 3]), raw])
  const crc = Buffer.alloc(2)
  crc.writeUInt16LE(crc16(body))
  return {
    publicKey: base32(Buffer.concat([body, crc])),
    sign: (nonce: string) => Crypto.sign(null, Buffer.from(nonce), privateKey).toString("base64url")
  }
}

describe("NatsServer", () => {
  it.live("starts on a free port of 127.0.0.1 and answers PING with PONG", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.NatsServer
      assert.strictEqual(server.host, "127.0.0.1")
      assert.notStrictEqual(server.port, 4222)
      assert.strictEqual(server.url, `nats://127.0.0.1:${server.port}`)
      const { info, received } = yield* pingPong(server.port)
      assert.include(received, "PONG\r\n")
      assert.strictEqual(info["port"], server.port)
      const pid = yield* server.pid
      assert.isDefined(pid)
      assert.isTrue(isAlive(pid ?? -1))
      assert.isTrue(Fs.existsSync(server.config.file))
      assert.isTrue(Fs.existsSync(server.storeDir))
      assert.isTrue((yield* server.logs).some((line) => line.includes("Server is ready")))
    }).pipe(Effect.provide(NatsServer.layer())))

  it.live("reports the version of the binary", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.make()
      assert.match(server.version, /^2\.\d+\.\d+/)
      const { info } = yield* pingPong(server.port)
      assert.strictEqual(info["version"], server.version)
    }))

  it.live("enables JetStream: $JS.API.INFO answers with an account info", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.make()
      const { info, received } = yield* converse(server.port, {
        send: () => `${connect()}SUB _INBOX.x 1\r\nPUB $JS.API.INFO _INBOX.x 0\r\n\r\n`,
        until: (received) => firstMessage(received) !== undefined || received.includes("-ERR")
      })
      assert.strictEqual(info["jetstream"], true)
      assert.include(firstMessage(received), "\"type\":\"io.nats.jetstream.api.v1.account_info_response\"")
      assert.isTrue(server.config.jetstream)
    }))

  it.live("jetstream: false starts a core-only server", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.make({ jetstream: false })
      const { info, received } = yield* pingPong(server.port)
      assert.include(received, "PONG")
      assert.notStrictEqual(info["jetstream"], true)
      assert.notInclude(Fs.readFileSync(server.config.file, "utf8"), "jetstream")
    }))

  it.live("maxPayload is the server's max_payload", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.make({ maxPayload: 4096 })
      const { info } = yield* pingPong(server.port)
      assert.strictEqual(info["max_payload"], 4096)
      assert.strictEqual(server.config.maxPayload, 4096)
    }))

  it.live("two servers run side by side on different ports and stores", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Effect.all([NatsServer.make(), NatsServer.make()], { concurrency: 2 })
      assert.notStrictEqual(a.port, b.port)
      assert.notStrictEqual(a.storeDir, b.storeDir)
      assert.include((yield* pingPong(a.port)).received, "PONG")
      assert.include((yield* pingPong(b.port)).received, "PONG")
    }))

  it.live("closing the scope stops the process and removes the store and the configuration", () =>
    Effect.gen(function*() {
      const seen = yield* Effect.scoped(Effect.gen(function*() {
        const server = yield* NatsServer.make()
        yield* jsRequest(server.port, "$JS.API.STREAM.CREATE.ORDERS", { name: "ORDERS", subjects: ["orders.>"] })
        assert.isTrue(yield* accepts(server.port))
        assert.lengthOf(yield* processesMatching(server.config.file), 1)
        return { port: server.port, storeDir: server.storeDir, config: server.config, pid: yield* server.pid }
      }))
      assert.isFalse(yield* accepts(seen.port))
      assert.isFalse(Fs.existsSync(seen.storeDir))
      assert.isFalse(Fs.existsSync(seen.config.file))
      assert.isFalse(Fs.existsSync(seen.config.dir))
      assert.isFalse(isAlive(seen.pid ?? -1))
      assert.deepStrictEqual(yield* processesMatching(seen.config.file), [])
    }))

  it.live("pause stops every thread until resume; a paused server still stops with its scope", () =>
    Effect.gen(function*() {
      const seen = yield* Effect.scoped(Effect.gen(function*() {
        const server = yield* NatsServer.make()
        const pid = (yield* server.pid) ?? -1
        yield* server.pause
        const states = threadStates(pid)
        assert.isAbove(states.length, 1)
        assert.deepStrictEqual(states.filter((state) => state !== "T" && state !== "t"), [])
        // A PING sent while paused is answered once the server resumes.
        const ping = yield* Effect.forkChild(pingPong(server.port))
        yield* server.resume
        assert.include((yield* Fiber.join(ping)).received, "PONG\r\n")
        assert.deepStrictEqual(threadStates(pid).filter((state) => state === "T" || state === "t"), [])
        yield* server.pause
        return { pid, file: server.config.file }
      }))
      assert.isFalse(isAlive(seen.pid))
      assert.deepStrictEqual(yield* processesMatching(seen.file), [])
    }))

  it.live("pause fails with a NatsServerError when the server is not running", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.make()
      yield* server.kill
      const error = yield* Effect.flip(server.pause)
      assert.include(error.message, "not running")
      yield* server.resume
    }))

  it.live("kill (SIGKILL) then start: the same port serves again and the store survives", () =>
    Effect.gen(function*() {
      const seen = yield* Effect.scoped(Effect.gen(function*() {
        const server = yield* NatsServer.make()
        const created = yield* jsRequest(server.port, "$JS.API.STREAM.CREATE.ORDERS", {
          name: "ORDERS",
          subjects: ["orders.>"],
          storage: "file"
        })
        assert.isUndefined(created["error"], JSON.stringify(created))
        const marker = Path.join(server.storeDir, "marker.txt")
        Fs.writeFileSync(marker, "kept")
        const before = yield* server.pid

        yield* server.kill
        assert.isUndefined(yield* server.pid)
        assert.isFalse(isAlive(before ?? -1))
        assert.isFalse(yield* accepts(server.port))
        assert.deepStrictEqual(yield* processesMatching(server.config.file), [])
        assert.strictEqual(Fs.readFileSync(marker, "utf8"), "kept")

        yield* server.start
        const after = yield* server.pid
        assert.isDefined(after)
        assert.notStrictEqual(after, before)
        assert.include((yield* pingPong(server.port)).received, "PONG")
        const stream = yield* jsRequest(server.port, "$JS.API.STREAM.INFO.ORDERS")
        assert.isUndefined(stream["error"], JSON.stringify(stream))
        assert.strictEqual(Fs.readFileSync(marker, "utf8"), "kept")
        // start while running is a no-op
        yield* server.start
        assert.strictEqual(yield* server.pid, after)
        return { file: server.config.file }
      }))
      assert.deepStrictEqual(yield* processesMatching(seen.file), [])
    }))

  it.live("restart is a graceful stop and a start on the same port, keeping JetStream data", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.make()
      yield* jsRequest(server.port, "$JS.API.STREAM.CREATE.ORDERS", {
        name: "ORDERS",
        subjects: ["orders.>"],
        storage: "file"
      })
      const ack = yield* jsRequest(server.port, "orders.created", "hello")
      assert.strictEqual(ack["seq"], 1, JSON.stringify(ack))
      const before = yield* server.pid

      yield* server.restart
      const after = yield* server.pid
      assert.notStrictEqual(after, before)
      assert.isFalse(isAlive(before ?? -1))
      const stream = yield* jsRequest(server.port, "$JS.API.STREAM.INFO.ORDERS")
      const state = stream["state"] as { messages?: number } | undefined
      assert.strictEqual(state?.messages, 1, JSON.stringify(stream))
    }))

  it.live("start waits while the port is still taken, then binds it", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.make()
      yield* server.kill
      const blocker = yield* occupy(server.port)
      const starting = yield* Effect.forkChild(server.start)
      yield* Effect.sleep("400 millis")
      assert.isUndefined(starting.pollUnsafe())
      yield* blocker.release
      yield* Fiber.join(starting)
      assert.include((yield* pingPong(server.port)).received, "PONG")
    }))

  it.live("stop then start", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.make()
      yield* server.stop
      assert.isUndefined(yield* server.pid)
      assert.isFalse(yield* accepts(server.port))
      // stopping a stopped server is a no-op
      yield* server.stop
      yield* server.start
      assert.include((yield* pingPong(server.port)).received, "PONG")
    }))

  it.live("token auth: the right token gets PONG, a wrong one an Authorization Violation", () =>
    Effect.gen(function*() {
      // `$`, quotes and backslashes must survive the configuration syntax.
      const token = "s3cret$HOME\"quoted\\back"
      const server = yield* NatsServer.make({ auth: { _tag: "Token", token: Redacted.make(token) } })
      const right = yield* pingPong(server.port, { auth_token: token })
      assert.strictEqual(right.info["auth_required"], true)
      assert.include(right.received, "PONG")
      const wrong = yield* pingPong(server.port, { auth_token: "nope" })
      assert.include(wrong.received, "-ERR 'Authorization Violation'")
      const none = yield* pingPong(server.port)
      assert.include(none.received, "-ERR 'Authorization Violation'")
    }))

  it.live("user and password auth", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.make({ auth: { _tag: "UserPassword", user: "alice", password: "pa ss" } })
      assert.include((yield* pingPong(server.port, { user: "alice", pass: "pa ss" })).received, "PONG")
      assert.include(
        (yield* pingPong(server.port, { user: "alice", pass: "wrong" })).received,
        "-ERR 'Authorization Violation'"
      )
      assert.include(
        (yield* pingPong(server.port, { user: "bob", pass: "pa ss" })).received,
        "-ERR 'Authorization Violation'"
      )
    }))

  it.live("nkey auth: a client signing the nonce with the seed of the public key is let in", () =>
    Effect.gen(function*() {
      const user = userNKey()
      const other = userNKey()
      assert.match(user.publicKey, /^U[A-Z2-7]{55}$/)
      const server = yield* NatsServer.make({ auth: { _tag: "NKey", publicKey: user.publicKey } })
      const signed = (key: ReturnType<typeof userNKey>) =>
        converse(server.port, {
          send: (info) =>
            `${connect({ nkey: key.publicKey, sig: key.sign(String(info["nonce"])) })}PING\r\n`,
          until: (received) => received.includes("PONG\r\n") || received.includes("-ERR")
        })
      const right = yield* signed(user)
      assert.isString(right.info["nonce"])
      assert.include(right.received, "PONG")
      assert.include((yield* signed(other)).received, "-ERR 'Authorization Violation'")
    }))

  it.live("tls: \"generate\" serves TLS with a self-signed certificate a client can trust", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.make({ tls: "generate" })
      const tls = server.tls
      assert.isDefined(tls)
      if (tls === undefined) return
      assert.isTrue(Fs.existsSync(tls.caFile) && Fs.existsSync(tls.certFile) && Fs.existsSync(tls.keyFile))
      assert.isTrue(tls.certFile.startsWith(server.config.dir))
      const { info, received } = yield* pingPong(server.port, {}, tls.caFile)
      assert.strictEqual(info["tls_required"], true)
      assert.include(received, "PONG")
      // Without the upgrade, the server drops the connection.
      const plain = yield* Effect.flip(pingPong(server.port))
      assert.include(plain.message, "connection closed")

      // The same files given explicitly serve TLS as well.
      const again = yield* NatsServer.make({ tls: { certFile: tls.certFile, keyFile: tls.keyFile } })
      assert.deepStrictEqual(again.tls, tls)
      assert.include((yield* pingPong(again.port, {}, tls.caFile)).received, "PONG")
    }))

  it.live("a missing binary fails with BinaryNotFound saying how to install one", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(NatsServer.make({ binary: "/nonexistent/nats-server", searchFallbacks: false }))
      assert.isTrue(NatsServer.isNatsServerError(error))
      const reason = reasonOf(error)
      assert.strictEqual(reason._tag, "BinaryNotFound")
      if (reason._tag !== "BinaryNotFound") return
      assert.deepStrictEqual(reason.searched, ["/nonexistent/nats-server"])
      expect(error.message).toContain("apt-get install nats-server")
      expect(error.message).toContain("NATS_SERVER_BIN")
      expect(error.message).toContain("/nonexistent/nats-server")
    }))

  it.live("a server that exits while starting fails with Exited and its output", () =>
    Effect.gen(function*() {
      const fake = yield* fakeServer("echo \"boom: cannot start\" >&2\nexit 3")
      const error = yield* Effect.flip(NatsServer.make({ binary: fake.file, searchFallbacks: false }))
      const reason = reasonOf(error)
      assert.strictEqual(reason._tag, "Exited")
      if (reason._tag !== "Exited") return
      assert.strictEqual(reason.code, 3)
      assert.include(reason.log, "boom: cannot start")
      expect(error.message).toContain("boom: cannot start")
    }))

  it.live("a server that never becomes ready fails with StartTimeout, and is killed", () =>
    Effect.gen(function*() {
      const fake = yield* fakeServer(`echo $$ > "$(dirname "$0")/pid"\necho "starting slowly"\nexec sleep 30`)
      const error = yield* Effect.flip(
        NatsServer.make({ binary: fake.file, searchFallbacks: false, startTimeout: "300 millis" })
      )
      const reason = reasonOf(error)
      assert.strictEqual(reason._tag, "StartTimeout")
      if (reason._tag !== "StartTimeout") return
      assert.strictEqual(reason.millis, 300)
      assert.include(reason.log, "starting slowly")
      expect(error.message).toContain("within 300 ms")
      const pid = Number(Fs.readFileSync(Path.join(fake.dir, "pid"), "utf8").trim())
      assert.isTrue(pid > 0)
      assert.isFalse(isAlive(pid))
    }))

  it.live("leaves no nats-server behind whose configuration is gone", () =>
    Effect.gen(function*() {
      const orphans = (yield* processesMatching("herald-nats-.*nats-server.conf")).filter((pid) => {
        const cmdline = Effect.runSyncExit(Effect.try(() => Fs.readFileSync(`/proc/${pid}/cmdline`, "utf8")))
        if (cmdline._tag !== "Success") return false
        const config = cmdline.value.split("\0").find((arg) => arg.endsWith("nats-server.conf"))
        return config !== undefined && !Fs.existsSync(config)
      })
      assert.deepStrictEqual(orphans, [])
    }))
})
