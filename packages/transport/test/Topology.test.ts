import { describe, expect, it } from "@effect/vitest"
import { Topology, TransportError } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"

const stream: Topology.StreamConfig = { name: "ORDERS", subjects: ["orders.>"] }
const consumer: Topology.ConsumerConfig = { stream: "ORDERS", name: "billing" }

const reasonOf = (result: Result.Result<void, TransportError.TransportError>) => {
  if (Result.isSuccess(result)) throw new Error("expected a failure")
  return result.failure.reason
}

const expectInvalid = (
  result: Result.Result<void, TransportError.TransportError>,
  tag: "InvalidConfig" | "InvalidSubject",
  text: string
) => {
  const reason = reasonOf(result)
  expect(reason._tag).toBe(tag)
  expect(reason.message).toContain(text)
  expect(reason.isRetryable).toBe(false)
}

describe("Topology", () => {
  describe("validateStream", () => {
    it("accepts a valid stream", () => {
      expect(Result.isSuccess(Topology.validateStream(stream))).toBe(true)
      expect(
        Result.isSuccess(Topology.validateStream({
          ...stream,
          subjects: ["orders.*.placed", "orders.*.cancelled"],
          maxMessages: 1000,
          maxAge: "7 days",
          duplicateWindow: "2 minutes",
          replicas: 3
        }))
      ).toBe(true)
      expect(Result.isSuccess(Topology.validateStream(Topology.deadLetterStream()))).toBe(true)
    })

    it("rejects bad names", () => {
      expectInvalid(Topology.validateStream({ ...stream, name: "" }), "InvalidConfig", "empty")
      expectInvalid(Topology.validateStream({ ...stream, name: "OR DERS" }), "InvalidConfig", "\" \" at 2")
      expectInvalid(Topology.validateStream({ ...stream, name: "orders.v1" }), "InvalidConfig", "\".\" at 6")
      expectInvalid(Topology.validateStream({ ...stream, name: "a/b" }), "InvalidConfig", "'/'")
      expectInvalid(Topology.validateStream({ ...stream, name: "x".repeat(256) }), "InvalidConfig", "255")
    })

    it("rejects missing and malformed subjects", () => {
      expectInvalid(Topology.validateStream({ ...stream, subjects: [] }), "InvalidConfig", "no subjects")
      for (const subject of ["orders..placed", "orders.>.x", "orders placed", ""]) {
        const reason = reasonOf(Topology.validateStream({ ...stream, subjects: [subject] }))
        expect(reason._tag).toBe("InvalidSubject")
        if (reason._tag === "InvalidSubject") expect(reason.subject).toBe(subject)
      }
    })

    it("rejects subjects that overlap each other", () => {
      expectInvalid(
        Topology.validateStream({ ...stream, subjects: ["orders.>", "orders.placed"] }),
        "InvalidConfig",
        "overlap"
      )
    })

    it("rejects limits that are not positive integers or durations", () => {
      expectInvalid(Topology.validateStream({ ...stream, maxMessages: 0 }), "InvalidConfig", "maxMessages")
      expectInvalid(Topology.validateStream({ ...stream, maxBytes: -1 }), "InvalidConfig", "maxBytes")
      expectInvalid(Topology.validateStream({ ...stream, replicas: 1.5 }), "InvalidConfig", "replicas")
      expectInvalid(Topology.validateStream({ ...stream, maxAge: "0 seconds" }), "InvalidConfig", "maxAge")
      expectInvalid(Topology.validateStream({ ...stream, duplicateWindow: "forever" as never }), "InvalidConfig", "duplicateWindow")
    })
  })

  describe("validateConsumer", () => {
    it("accepts a valid consumer", () => {
      expect(Result.isSuccess(Topology.validateConsumer(consumer))).toBe(true)
      expect(
        Result.isSuccess(Topology.validateConsumer({
          ...consumer,
          filterSubject: "orders.*.placed",
          ackWait: "30 seconds",
          maxDeliver: 4,
          backoff: ["1 second", "5 seconds", "30 seconds"],
          deliverPolicy: Topology.DeliverPolicy.byStartSequence(10),
          deadLetterSubject: "dlq.orders.billing"
        }))
      ).toBe(true)
    })

    it("rejects bad stream and consumer names", () => {
      expectInvalid(Topology.validateConsumer({ ...consumer, stream: "A.B" }), "InvalidConfig", "stream name")
      expectInvalid(Topology.validateConsumer({ ...consumer, name: "bill ing" }), "InvalidConfig", "consumer name")
    })

    it("rejects a malformed filter subject", () => {
      const reason = reasonOf(Topology.validateConsumer({ ...consumer, filterSubject: "orders..x" }))
      expect(reason._tag).toBe("InvalidSubject")
    })

    it("rejects backoff without maxDeliver", () => {
      expectInvalid(
        Topology.validateConsumer({ ...consumer, backoff: ["1 second"] }),
        "InvalidConfig",
        "backoff needs maxDeliver"
      )
    })

    it("rejects maxDeliver not above the number of backoff steps", () => {
      expectInvalid(
        Topology.validateConsumer({ ...consumer, maxDeliver: 2, backoff: ["1 second", "2 seconds"] }),
        "InvalidConfig",
        "maxDeliver (2) must exceed the number of backoff steps (2)"
      )
      expect(
        Result.isSuccess(Topology.validateConsumer({ ...consumer, maxDeliver: 3, backoff: ["1 second", "2 seconds"] }))
      ).toBe(true)
    })

    it("rejects bad limits, backoff steps and start sequences", () => {
      expectInvalid(Topology.validateConsumer({ ...consumer, maxDeliver: 0 }), "InvalidConfig", "maxDeliver")
      expectInvalid(Topology.validateConsumer({ ...consumer, maxAckPending: -5 }), "InvalidConfig", "maxAckPending")
      expectInvalid(Topology.validateConsumer({ ...consumer, ackWait: 0 }), "InvalidConfig", "ackWait")
      expectInvalid(Topology.validateConsumer({ ...consumer, backoff: ["1 second", 0] }), "InvalidConfig", "backoff[1]")
      expectInvalid(
        Topology.validateConsumer({ ...consumer, deliverPolicy: Topology.DeliverPolicy.byStartSequence(0) }),
        "InvalidConfig",
        "start sequence"
      )
    })

    it("rejects a dead-letter subject with wildcards or bad tokens", () => {
      expectInvalid(Topology.validateConsumer({ ...consumer, deadLetterSubject: "dlq.*" }), "InvalidConfig", "wildcards")
      expect(reasonOf(Topology.validateConsumer({ ...consumer, deadLetterSubject: "dlq..x" }))._tag).toBe("InvalidSubject")
    })
  })

  describe("validatePurge", () => {
    it("accepts no options, each option alone, and subject with upToSequence or keep", () => {
      for (
        const options of [
          undefined,
          {},
          { subject: "orders.>" },
          { subject: "orders.*.created" },
          { subject: ">" },
          { upToSequence: 1 },
          { keep: 0 },
          { keep: 3 },
          { subject: "orders.a", upToSequence: 10 },
          { subject: "orders.a", keep: 1 },
          { subject: undefined, upToSequence: undefined, keep: 2 }
        ] satisfies ReadonlyArray<Topology.PurgeOptions | undefined>
      ) {
        expect(Result.isSuccess(Topology.validatePurge("ORDERS", options))).toBe(true)
      }
    })

    it("refuses upToSequence with keep, bad numbers, bad subjects and bad names with InvalidConfig naming them", () => {
      expectInvalid(Topology.validatePurge("ORDERS", { upToSequence: 2, keep: 1 }), "InvalidConfig", "upToSequence and keep")
      expectInvalid(Topology.validatePurge("ORDERS", { upToSequence: 0 }), "InvalidConfig", "upToSequence must be a positive integer, got 0")
      expectInvalid(Topology.validatePurge("ORDERS", { upToSequence: 2.5 }), "InvalidConfig", "got 2.5")
      expectInvalid(Topology.validatePurge("ORDERS", { upToSequence: 2 ** 53 }), "InvalidConfig", "upToSequence")
      expectInvalid(Topology.validatePurge("ORDERS", { keep: -1 }), "InvalidConfig", "keep must be a non-negative integer, got -1")
      expectInvalid(Topology.validatePurge("ORDERS", { keep: Number.POSITIVE_INFINITY }), "InvalidConfig", "keep")
      expectInvalid(Topology.validatePurge("ORDERS", { keep: "2" as unknown as number }), "InvalidConfig", "got 2")
      expectInvalid(Topology.validatePurge("ORDERS", { subject: "orders..a" }), "InvalidConfig", "subject")
      expectInvalid(Topology.validatePurge("ORDERS", { subject: "orders.>.a" }), "InvalidConfig", "subject")
      expectInvalid(Topology.validatePurge("ORDERS", { subject: 7 as unknown as string }), "InvalidConfig", "subject must be a string")
      expectInvalid(Topology.validatePurge("ORDERS", [] as unknown as Topology.PurgeOptions), "InvalidConfig", "options must be an object")
      expectInvalid(Topology.validatePurge("OR.DERS"), "InvalidConfig", "stream name")
    })
  })

  describe("dead letters", () => {
    it("deadLetterSubject defaults to herald.dlq.<stream>.<consumer>", () => {
      expect(Topology.deadLetterSubject(consumer)).toBe("herald.dlq.ORDERS.billing")
      expect(Topology.deadLetterSubject({ ...consumer, deadLetterSubject: "x.y" })).toBe("x.y")
    })

    it("deadLetterStream captures the default subjects", () => {
      const s = Topology.deadLetterStream({ storage: "memory" })
      expect(s.name).toBe("HERALD_DLQ")
      expect(s.subjects).toEqual(["herald.dlq.>"])
      expect(s.storage).toBe("memory")
    })
  })

  describe("ensure", () => {
    const fake = (existing: ReadonlyArray<Topology.StreamConfig>) => {
      const calls: Array<string> = []
      const layer = Layer.succeed(Topology.Topology)(Topology.Topology.of({
        ensureStream: (s) => Effect.sync(() => (calls.push(`stream ${s.name}`), { kind: "stream", name: s.name, action: "created" })),
        ensureConsumer: (c) =>
          Effect.sync(() => (calls.push(`consumer ${c.name}`), { kind: "consumer", name: c.name, action: "unchanged" })),
        deleteStream: () => Effect.void,
        deleteConsumer: () => Effect.void,
        listStreams: Effect.succeed(existing),
        consumerConfig: () => Effect.die("unused"),
        purge: () => Effect.die("unused")
      }))
      return { calls, layer }
    }

    it.effect("validates, then ensures streams before consumers", () =>
      Effect.gen(function*() {
        const { calls, layer } = fake([{ name: "OTHER", subjects: ["other.>"] }])
        const changes = yield* Topology.ensure({ streams: [stream], consumers: [consumer] }).pipe(Effect.provide(layer))
        expect(calls).toEqual(["stream ORDERS", "consumer billing"])
        expect(changes.map((c) => c.action)).toEqual(["created", "unchanged"])
      }))

    it.effect("fails with TopologyConflict naming overlapping streams, touching nothing", () =>
      Effect.gen(function*() {
        const { calls, layer } = fake([{ name: "LEGACY", subjects: ["orders.placed"] }])
        const error = yield* Topology.ensure({ streams: [stream], consumers: [] }).pipe(
          Effect.provide(layer),
          Effect.flip
        )
        expect(error.reason._tag).toBe("TopologyConflict")
        expect(error.message).toContain("ORDERS")
        expect(error.message).toContain("LEGACY")
        expect(calls).toEqual([])
      }))

    it.effect("fails with InvalidConfig before listing streams", () =>
      Effect.gen(function*() {
        const { calls, layer } = fake([])
        const error = yield* Topology.ensure({ streams: [stream], consumers: [{ ...consumer, maxDeliver: -1 }] }).pipe(
          Effect.provide(layer),
          Effect.flip
        )
        expect(error.reason._tag).toBe("InvalidConfig")
        expect(calls).toEqual([])
      }))

    it.effect("streams and consumers are each optional", () =>
      Effect.gen(function*() {
        const { calls, layer } = fake([])
        yield* Topology.ensure({ streams: [stream] }).pipe(Effect.provide(layer))
        yield* Topology.ensure({ consumers: [consumer] }).pipe(Effect.provide(layer))
        expect(calls).toEqual(["stream ORDERS", "consumer billing"])
      }))

    it.effect("a declaration that is not lists of configurations is InvalidConfig naming what is wrong, never a TypeError", () =>
      Effect.gen(function*() {
        const { calls, layer } = fake([])
        const cases: ReadonlyArray<readonly [unknown, string]> = [
          [undefined, "not an object"],
          [null, "not an object"],
          ["ORDERS", "not an object"],
          [{ streams: "ORDERS" }, "streams is not an array"],
          [{ consumers: {} }, "consumers is not an array"],
          [{ streams: [stream, null] }, "streams[1]"],
          [{ consumers: [42] }, "consumers[0]"]
        ]
        for (const [declaration, says] of cases) {
          const error = yield* Topology.ensure(declaration as Topology.Declaration).pipe(Effect.provide(layer), Effect.flip)
          expect(error.reason._tag).toBe("InvalidConfig")
          expect(error.message).toContain(says)
        }
        expect(calls).toEqual([])
      }))
  })
})
