import { describe, expect, it } from "@effect/vitest"
import { IdGenerator, MessageIdentity } from "@herald/identity"
import { Codec, DeadLetter, Envelope, Wire } from "@herald/transport"
import * as Result from "effect/Result"

const original: Wire.RawMessage = {
  headers: { "Nats-Msg-Id": "m-1", "Herald-Message-Id": "m-1", "Herald-Type": "OrderPlaced", traceparent: "t" },
  body: new Uint8Array([1, 2, 3])
}

const info: DeadLetter.Info = {
  reason: "non-retryable failure: bad\r\nbody",
  stream: "ORDERS",
  consumer: "billing",
  sequence: 42,
  subject: "orders.placed",
  deliveryCount: 3,
  failedAt: Date.UTC(2024, 0, 2, 3, 4, 5, 6)
}

describe("DeadLetter", () => {
  it("keeps the original headers and body and adds the dead-letter headers", () => {
    const letter = DeadLetter.make(original, info)
    expect(letter.body).toBe(original.body)
    expect(letter.headers).toEqual({
      "Nats-Msg-Id": "dlq:ORDERS:billing:42",
      "Herald-Message-Id": "m-1",
      "Herald-Type": "OrderPlaced",
      traceparent: "t",
      "Herald-Dlq-Reason": "non-retryable failure: bad body",
      "Herald-Dlq-Stream": "ORDERS",
      "Herald-Dlq-Consumer": "billing",
      "Herald-Dlq-Sequence": "42",
      "Herald-Dlq-Subject": "orders.placed",
      "Herald-Dlq-Delivery-Count": "3",
      "Herald-Dlq-Failed-At": "2024-01-02T03:04:05.006Z"
    })
  })

  it("its headers are valid header values", () => {
    const letter = DeadLetter.make(original, { ...info, reason: "x\n".repeat(5000) })
    for (const [name, value] of Object.entries(letter.headers)) {
      expect(Wire.validateHeader(name, value)._tag).toBe("Success")
    }
    expect(letter.headers[DeadLetter.HeaderNames.reason]!.length).toBeLessThanOrEqual(4096)
  })

  it("parse reads the info back", () => {
    expect(DeadLetter.parse(DeadLetter.make(original, info))).toEqual({ ...info, reason: "non-retryable failure: bad body" })
  })

  it("parse gives undefined without the headers", () => {
    expect(DeadLetter.parse(original)).toBeUndefined()
    const letter = DeadLetter.make(original, info)
    expect(DeadLetter.parse({ ...letter, headers: { ...letter.headers, "Herald-Dlq-Sequence": "x" } })).toBeUndefined()
  })

  it("headers that cannot be sent again are carried escaped, in order; the body is kept", () => {
    const body = new Uint8Array([0, 255, 10])
    const stored: DeadLetter.Original = {
      headers: [
        ["Herald-Message-Id", "m-1"],
        ["", "empty name"],
        ["Bad Name", "space in the name"],
        ["Ctl\u0001", "control character in the name"],
        ["Ünïcode", "non-ASCII name"],
        ["X-Value", "carriage\rreturn"],
        ["X-Padded", " padded "],
        ["X-Ok", "first"],
        ["X-Ok", "second"],
        ["Nats-Msg-Id", "other-id"],
        ["Nats-Expected-Last-Sequence", "7"],
        ["Nats-Rollup", "all"],
        ["Herald-Dlq-Reason", "an older reason"],
        ["X-Ctl-Value", "a\u0000b\u001fc"]
      ],
      body
    }
    const letter = DeadLetter.make(stored, info)
    expect(letter.body).toBe(body)
    for (const [name, value] of Object.entries(letter.headers)) {
      expect(Wire.validateHeader(name, value)._tag).toBe("Success")
      expect(value).toBe(value.trim())
    }
    expect(letter.headers["X-Ok"]).toBe("first")
    expect(letter.headers["X-Ctl-Value"]).toBe("a\u0000b\u001fc")
    expect(JSON.parse(letter.headers[DeadLetter.HeaderNames.escapedHeaders]!)).toEqual([
      ["", "empty name"],
      ["Bad Name", "space in the name"],
      ["Ctl\u0001", "control character in the name"],
      ["Ünïcode", "non-ASCII name"],
      ["X-Value", "carriage\rreturn"],
      ["X-Padded", " padded "],
      ["X-Ok", "second"],
      ["Nats-Msg-Id", "other-id"],
      ["Nats-Expected-Last-Sequence", "7"],
      ["Nats-Rollup", "all"],
      ["Herald-Dlq-Reason", "an older reason"]
    ])
    expect(DeadLetter.parse(letter)?.reason).toBe("non-retryable failure: bad body")
    // Every original header can be read back.
    expect([...DeadLetter.originalHeaders(letter)].sort()).toEqual(stored.headers.map(([n, v]) => [n, v]).sort())
  })

  it("the original Nats-Msg-Id is left out when it is the message id", () => {
    const letter = DeadLetter.make({ headers: [["Nats-Msg-Id", "m-1"], ["Herald-Message-Id", "m-1"]], body: new Uint8Array() }, info)
    expect(letter.headers[DeadLetter.HeaderNames.escapedHeaders]).toBeUndefined()
    expect(letter.headers["Nats-Msg-Id"]).toBe("dlq:ORDERS:billing:42")
  })

  it("a status line of the header block is kept", () => {
    const letter = DeadLetter.make({ headers: [], status: "400 Bad Request", body: new Uint8Array() }, info)
    expect(letter.headers[DeadLetter.HeaderNames.status]).toBe("400 Bad Request")
  })

  it("within maxPayload: leaves out the escaped headers, then every header, then the body, and says so", () => {
    const size = (m: Wire.RawMessage) => Wire.payloadSize(m)
    const body = new Uint8Array(1000)
    const stored: DeadLetter.Original = {
      headers: [["X-Big", "v".repeat(2000)], ["bad name", "w".repeat(3000)], ["X-Small", "s"]],
      body
    }
    const full = DeadLetter.make(stored, info)
    expect(DeadLetter.make(stored, info, { maxPayload: size(full) })).toEqual(full)

    const noEscaped = DeadLetter.make(stored, info, { maxPayload: size(full) - 1 })
    expect(size(noEscaped)).toBeLessThan(size(full))
    expect(noEscaped.headers[DeadLetter.HeaderNames.escapedHeaders]).toBeUndefined()
    expect(noEscaped.headers[DeadLetter.HeaderNames.droppedHeaders]).toBe("1")
    expect(noEscaped.headers["X-Big"]).toBe("v".repeat(2000))
    expect(noEscaped.body).toBe(body)

    const noHeaders = DeadLetter.make(stored, info, { maxPayload: size(full) - 3100 })
    expect(noHeaders.headers["X-Big"]).toBeUndefined()
    expect(noHeaders.headers["X-Small"]).toBeUndefined()
    expect(noHeaders.headers[DeadLetter.HeaderNames.droppedHeaders]).toBe("3")
    expect(noHeaders.headers[DeadLetter.HeaderNames.droppedBody]).toBeUndefined()
    expect(noHeaders.body).toBe(body)
    expect(size(noHeaders)).toBeLessThanOrEqual(size(full) - 3100)

    const max = size(noHeaders) - 1
    const noBody = DeadLetter.make(stored, info, { maxPayload: max })
    expect(noBody.headers[DeadLetter.HeaderNames.droppedBody]).toBe("1000")
    expect(noBody.body.length).toBe(0)
    expect(size(noBody)).toBeLessThanOrEqual(max)
    expect(DeadLetter.parse(noBody)).toEqual({ ...info, reason: "non-retryable failure: bad body" })
  })

  it("the JSON codec round-trips and reports failures without throwing", () => {
    const bytes = Codec.json.encode({ a: [1, "b"] })
    expect(bytes._tag).toBe("Success")
    if (bytes._tag === "Success") expect(Codec.json.decode(bytes.success)).toEqual(Result.succeed({ a: [1, "b"] }))
    expect(Codec.json.encode(undefined)._tag).toBe("Failure")
    expect(Codec.json.encode(10n)._tag).toBe("Failure")
    expect(Codec.json.decode(new TextEncoder().encode("{"))._tag).toBe("Failure")
  })

  describe("retry", () => {
    const envelope = Envelope.make({
      identity: MessageIdentity.root(IdGenerator.testId(1)),
      type: "OrderPlaced",
      kind: "event",
      occurredAt: Date.UTC(2024, 0, 1),
      body: new Uint8Array([123, 125])
    })
    const encoded = Result.getOrThrow(Wire.encode(envelope))

    it("gives the original subject, headers and body with a fresh Nats-Msg-Id that Wire.decode accepts", () => {
      const letter = DeadLetter.make(
        { headers: { ...encoded.headers, traceparent: "t", "Nats-Expected-Last-Sequence": "3" }, body: encoded.body },
        info
      )
      const retry = Result.getOrThrow(DeadLetter.retry("HERALD_DLQ", 7, letter))
      expect(retry.subject).toBe("orders.placed")
      expect(retry.info).toEqual(DeadLetter.parse(letter))
      expect(retry.message.body).toBe(encoded.body)
      const { "Nats-Msg-Id": natsId, ...rest } = retry.message.headers
      expect(natsId).toBe(`retry:HERALD_DLQ:7:${info.failedAt}`)
      const { "Nats-Msg-Id": _, ...originalRest } = encoded.headers
      expect(rest).toEqual({ ...originalRest, traceparent: "t" })
      const decoded = Result.getOrThrow(Wire.decodeRaw(retry.message))
      expect(decoded.identity).toEqual(envelope.identity)
      expect(decoded.headers).toEqual({ traceparent: "t" })
    })

    it("Wire.decode still refuses a Nats-Msg-Id that is neither the message id, a dead-letter id nor a retry id", () => {
      const other = { headers: { ...encoded.headers, "Nats-Msg-Id": "retry:HERALD_DLQ:x:1" }, body: encoded.body }
      expect(Wire.decodeRaw(other)._tag).toBe("Failure")
    })

    it("refuses what cannot be sent as the original was", () => {
      const message = (r: Result.Result<DeadLetter.Retry, unknown>) =>
        Result.isFailure(r) ? (r.failure as { readonly message: string }).message : "sent"
      expect(message(DeadLetter.retry("HERALD_DLQ", 1, encoded))).toBe(
        "cannot encode: dead letter 1 of HERALD_DLQ cannot be sent again: it is not a dead letter (no Herald-Dlq-* headers)"
      )
      const dropped = DeadLetter.make(encoded, info, { maxPayload: Wire.payloadSize(encoded) })
      expect(message(DeadLetter.retry("HERALD_DLQ", 2, dropped))).toContain("left out parts of the original")
      const status = DeadLetter.make({ headers: [], status: "400 Bad Request", body: new Uint8Array() }, info)
      expect(message(DeadLetter.retry("HERALD_DLQ", 3, status))).toContain("status line (400 Bad Request)")
      const badHeader = DeadLetter.make({ headers: [["", "x"]], body: new Uint8Array() }, info)
      expect(message(DeadLetter.retry("HERALD_DLQ", 4, badHeader))).toContain("dead letter 4 of HERALD_DLQ cannot be sent again")
    })
  })
})
