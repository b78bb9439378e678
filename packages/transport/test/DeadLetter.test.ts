import { describe, expect, it } from "@effect/vitest"
import { Codec, DeadLetter, Wire } from "@herald/transport"
import * as Result from "effect/Result"

const original: Wire.RawMessage = {
  headers: { "Nats-Msg-Id": "m-1", "Herald-Type": "OrderPlaced", traceparent: "t" },
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

  it("the JSON codec round-trips and reports failures without throwing", () => {
    const bytes = Codec.json.encode({ a: [1, "b"] })
    expect(bytes._tag).toBe("Success")
    if (bytes._tag === "Success") expect(Codec.json.decode(bytes.success)).toEqual(Result.succeed({ a: [1, "b"] }))
    expect(Codec.json.encode(undefined)._tag).toBe("Failure")
    expect(Codec.json.encode(10n)._tag).toBe("Failure")
    expect(Codec.json.decode(new TextEncoder().encode("{"))._tag).toBe("Failure")
  })
})
