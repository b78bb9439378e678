/**
 * How the NATS EventLog reads what arrives on a pull inbox: a delivery is
 * told by its `$JS.ACK` reply subject, whatever its header block says, and a
 * stored header block is read completely, names nats.js refuses included.
 */
import { MsgHdrsImpl } from "@nats-io/nats-core"
import { describe, expect, it } from "@effect/vitest"
import type { Msg } from "@nats-io/nats-core"
import * as Delivery from "../src/internal/eventlog/delivery.ts"
import { isDelivery, parseHeaderBlock, statusOf, storedOfMsg } from "../src/internal/eventlog/message.ts"

const encoder = new TextEncoder()
const ackSubject = "$JS.ACK.ORDERS.c.1.42.7.1733450000000000000.0"

/** A message as nats.js 3.4 hands it to a subscription: raw bytes, the header block's length. */
const msgOf = (options: { readonly subject?: string; readonly reply?: string; readonly block?: string; readonly body?: string }): Msg => {
  const block = options.block === undefined ? new Uint8Array(0) : encoder.encode(options.block)
  const body = encoder.encode(options.body ?? "")
  const data = new Uint8Array(block.length + body.length)
  data.set(block)
  data.set(body, block.length)
  const hdr = options.block === undefined ? -1 : block.length
  const msg = { _rdata: data, _msg: { hdr }, subject: options.subject ?? "orders.x", reply: options.reply ?? "", data: body }
  // (A getter, as in nats.js: it throws for names nats.js refuses.)
  Object.defineProperty(msg, "headers", { get: () => (hdr < 0 ? undefined : MsgHdrsImpl.decode(block)) })
  return msg as unknown as Msg
}

describe("NATS pull inbox messages", () => {
  it("a stored message whose header block is a status line is a delivery, not a status", () => {
    for (const code of [100, 400, 404, 408, 409, 503]) {
      const msg = msgOf({ reply: ackSubject, block: `NATS/1.0 ${code} Something\r\n\r\n` })
      expect(isDelivery(msg)).toBe(true)
      expect(statusOf(msg)).toBeUndefined()
      const received = Delivery.receive(msg)!
      expect(received.stored.original.status).toBe(`${code} Something`)
      const decoded = Delivery.decode(received)
      expect(decoded._tag).toBe("Failure")
      if (decoded._tag === "Failure") {
        expect(decoded.failure.message).toContain(`status line (NATS/1.0 ${code} Something)`)
        expect(decoded.failure.isRetryable).toBe(false)
      }
    }
  })

  it("a status message of a pull request (no reply subject) is a status", () => {
    const msg = msgOf({ subject: "_INBOX.x.1", block: "NATS/1.0 408 Request Timeout\r\n\r\n" })
    expect(isDelivery(msg)).toBe(false)
    expect(statusOf(msg)).toEqual({ code: 408, description: "Request Timeout" })
  })

  it("reads every header line, names nats.js refuses included, in order", () => {
    const block = "NATS/1.0\r\nA: 1\r\n: empty name\r\nBad Name: 2\r\nÜ: 3\r\nA: 4\r\nno colon\r\nV:  padded  \r\n\r\n"
    expect(() => MsgHdrsImpl.decode(encoder.encode(block))).toThrow()
    expect(parseHeaderBlock(encoder.encode(block))).toEqual({
      headers: [["A", "1"], ["", "empty name"], ["Bad Name", "2"], ["Ü", "3"], ["A", "4"], ["no colon", ""], ["V", "padded"]]
    })
    const stored = storedOfMsg(msgOf({ reply: ackSubject, block, body: "{}" }))
    expect(stored.unreadable).toBeUndefined()
    expect(stored.original.headers).toHaveLength(7)
    const received = Delivery.receive(msgOf({ reply: ackSubject, block, body: "{}" }))!
    // A handler sees the first value of each name.
    expect(received.raw.headers.A).toBe("1")
    const decoded = Delivery.decode(received)
    expect(decoded._tag === "Failure" && decoded.failure.message).toContain(`header name "" is not a token`)
  })
})
