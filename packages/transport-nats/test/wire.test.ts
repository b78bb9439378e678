import { describe, expect, it } from "@effect/vitest"
import { Fixtures } from "@herald/testing"
import { Wire } from "@herald/transport"
import { type Msg, MsgHdrsImpl } from "@nats-io/nats-core"
import * as Result from "effect/Result"
import { decode } from "../src/internal/bus/wire.ts"
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
