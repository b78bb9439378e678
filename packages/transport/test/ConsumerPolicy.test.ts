import { describe, expect, it } from "@effect/vitest"
import { ConsumerPolicy, TransportError } from "@herald/transport"
import * as Duration from "effect/Duration"

const retryable = TransportError.make(new TransportError.ConnectionError({ detail: "lost" }))
const fatal = TransportError.make(new TransportError.DecodeError({ detail: "bad body" }))

const millis = (d: Duration.Duration) => Duration.toMillis(d)

describe("ConsumerPolicy", () => {
  describe("defaultNakDelay", () => {
    it("without backoff: 1 s doubling, capped at 30 s", () => {
      const delays = [1, 2, 3, 4, 5, 6, 7, 20].map((n) => millis(ConsumerPolicy.defaultNakDelay({}, n)))
      expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000])
    })

    it("treats a delivery count below 1 as the first", () => {
      expect(millis(ConsumerPolicy.defaultNakDelay({}, 0))).toBe(1000)
    })

    it("with backoff: the step of the delivery, the last one repeating", () => {
      const config = { backoff: ["1 second", "10 seconds", "1 minute"] as const }
      const delays = [1, 2, 3, 4, 9].map((n) => millis(ConsumerPolicy.defaultNakDelay(config, n)))
      expect(delays).toEqual([1000, 10000, 60000, 60000, 60000])
    })

    it("an empty backoff falls back to doubling", () => {
      expect(millis(ConsumerPolicy.defaultNakDelay({ backoff: [] }, 3))).toBe(4000)
    })
  })

  describe("decide", () => {
    const nakDelay = (n: number): Duration.Input => Duration.seconds(n * 10)

    it("naks a retryable failure before the last delivery, with the delay for its count", () => {
      const decision = ConsumerPolicy.decide({ error: retryable, deliveryCount: 2, maxDeliver: 5, nakDelay })
      expect(decision._tag).toBe("Nak")
      if (decision._tag === "Nak") expect(millis(decision.delay)).toBe(20_000)
    })

    it("naks forever when maxDeliver is unset or not positive", () => {
      expect(ConsumerPolicy.decide({ error: retryable, deliveryCount: 99, maxDeliver: undefined, nakDelay })._tag).toBe(
        "Nak"
      )
      expect(ConsumerPolicy.decide({ error: retryable, deliveryCount: 99, maxDeliver: 0, nakDelay })._tag).toBe("Nak")
    })

    it("dead-letters a retryable failure on the last allowed delivery", () => {
      const decision = ConsumerPolicy.decide({ error: retryable, deliveryCount: 5, maxDeliver: 5, nakDelay })
      expect(decision).toEqual({
        _tag: "DeadLetter",
        reason: "failed on delivery 5 of 5: TransportError: connection: lost"
      })
      expect(ConsumerPolicy.decide({ error: retryable, deliveryCount: 4, maxDeliver: 5, nakDelay })._tag).toBe("Nak")
    })

    it("dead-letters a non-retryable failure at once", () => {
      const decision = ConsumerPolicy.decide({ error: fatal, deliveryCount: 1, maxDeliver: 5, nakDelay })
      expect(decision).toEqual({
        _tag: "DeadLetter",
        reason: "non-retryable failure: TransportError: cannot decode: bad body"
      })
    })

    it("classifies foreign failures: an Error is retryable, isRetryable: false is not", () => {
      expect(ConsumerPolicy.decide({ error: new Error("boom"), deliveryCount: 1, maxDeliver: 3, nakDelay })._tag).toBe(
        "Nak"
      )
      const decision = ConsumerPolicy.decide({
        error: { _tag: "SqlError", message: "constraint", isRetryable: false },
        deliveryCount: 1,
        maxDeliver: 3,
        nakDelay
      })
      expect(decision).toEqual({ _tag: "DeadLetter", reason: "non-retryable failure: SqlError: constraint" })
    })
  })

  it("maxDeliveriesReason names the limit", () => {
    expect(ConsumerPolicy.maxDeliveriesReason(7)).toBe("not acknowledged after 7 deliveries (ack wait exhausted)")
  })
})
