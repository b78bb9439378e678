import { describe, expect, it } from "@effect/vitest"
import { Fixtures } from "@herald/testing"
import { Wire } from "@herald/transport"
import { type Msg, MsgHdrsImpl } from "@nats-io/nats-core"
import * as Result from "effect/Result"
import { decode, headersOf } from "../src/internal/bus/wire.ts"
import { rawOf } from "../src/internal/eventlog/message.ts"

const encoder = new TextEncoder()

// A received message whose header block is `block`, as nats.js parses it off the wire.
const received = (block: string, body = encoder.encode("{}")): Msg =>
  ({ subject: "orders.placed", data: body, headers: MsgHdrsImpl.decode(encoder.encode(block)) }) as unknown as Msg

const herald = (): string => {
  const raw = Fixtures.raw(Fixtures.envelope())
  return Object.entries(raw.headers).map(([name, value]) => `${name}: ${value}\r\n`).join("")
}

describe("received messages with a status line", () => {
  it("a stored message whose header block has a status is a DecodeError, with or without Herald headers", () => {
    for (const block of [`NATS/1.0 400 Bad Request\r\n\r\n`, `NATS/1.0 503\r\n${herald()}\r\n`]) {
      const msg = received(block)
      const raw = rawOf(msg)
      expect(raw.status).toBe(block.startsWith("NATS/1.0 400") ? "400 Bad Request" : "503")
      for (const result of [Wire.decodeRaw(raw), decode(msg)]) {
        expect(Result.isFailure(result)).toBe(true)
        if (Result.isFailure(result)) {
          expect(result.failure.reason._tag).toBe("DecodeError")
          expect(result.failure.message).toContain("status line")
        }
      }
    }
  })

  it("the same headers without a status decode", () => {
    const msg = received(`NATS/1.0\r\n${herald()}\r\n`)
    expect(rawOf(msg).status).toBeUndefined()
    expect(Result.isSuccess(Wire.decodeRaw(rawOf(msg)))).toBe(true)
    expect(Result.isSuccess(decode(msg))).toBe(true)
  })

  it("a header line with an empty name is a DecodeError", () => {
    const msg = received(`NATS/1.0\r\n${herald()}: no name\r\n\r\n`)
    for (const result of [Wire.decodeRaw(rawOf(msg)), decode(msg)]) {
      expect(Result.isFailure(result) && result.failure.message).toBe(`cannot decode: header name "" is not a token`)
    }
  })
})

describe("headers read from a received message's bytes", () => {
  /** As nats.js 3.4 hands a message to a subscription: the bytes in `_rdata`, the block's length in `_msg.hdr`; `headers` parses on access (and throws where nats.js does). */
  const withBytes = (block: string, body = encoder.encode("{}")): Msg => {
    const bytes = encoder.encode(block)
    const data = new Uint8Array(bytes.length + body.length)
    data.set(bytes)
    data.set(body, bytes.length)
    const msg = { _rdata: data, _msg: { hdr: bytes.length }, subject: "orders.placed", data: body }
    Object.defineProperty(msg, "headers", { get: () => MsgHdrsImpl.decode(bytes), configurable: true })
    return msg as unknown as Msg
  }
  const outcome = (read: () => Result.Result<unknown, { readonly message: string }>) => {
    const r = Result.try(read)
    if (Result.isFailure(r)) return { threw: String(r.failure) }
    const result = r.success
    return Result.isSuccess(result) ? { ok: result.success } : { failed: result.failure.message }
  }
  // Each block read from the bytes and through nats.js's parser gives the same outcome.
  const blocks = [
    `NATS/1.0\r\n${herald()}\r\n`,
    `NATS/1.0\r\n${herald()}X-Extra:  padded value  \r\nX-Extra: second\r\nx-extra: lower\r\n\r\n`,
    `NATS/1.0\r\n${herald().toLowerCase().replace(/herald-type: [^\r]*/, "herald-type: OrderPlaced")}\r\n`,
    `NATS/1.0\r\n${herald()}a line without a colon\r\n\r\n`,
    `NATS/1.0\r\n${herald()}: empty name\r\n\r\n`,
    `NATS/1.0\r\n${herald()}Bad Name: v\r\n\r\n`,
    `NATS/1.0\r\n${herald()}Caf\u00e9: v\r\n\r\n`,
    `NATS/1.0\r\n${herald()}X-Bare-Lf: a\nb\r\n\r\n`,
    `NATS/1.0 503\r\n${herald()}\r\n`,
    `NATS/1.0 400 Bad Request\r\n\r\n`,
    `NATS/1.0\r\n\r\n`,
    `NATS/1.0\r\nHerald-Message-Id: not-an-id\r\n\r\n`
  ]
  it("decode gives what it gives from nats.js's parsed headers, for valid and invalid blocks", () => {
    for (const block of blocks) {
      expect(outcome(() => decode(withBytes(block))), JSON.stringify(block)).toEqual(outcome(() => decode(received(block))))
    }
  })
  it("a Herald block read from the bytes never touches nats.js's parser", () => {
    const msg = withBytes(`NATS/1.0\r\n${herald()}\r\n`)
    Object.defineProperty(msg, "headers", { get: () => expect.unreachable("msg.headers was read") })
    expect(Result.isSuccess(decode(msg))).toBe(true)
    expect(headersOf(msg).get("herald-kind")).toBe("event")
  })
})
