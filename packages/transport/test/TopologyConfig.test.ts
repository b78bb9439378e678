import { describe, expect, it } from "@effect/vitest"
import { Topology, TopologyConfig } from "@herald/transport"
import * as Duration from "effect/Duration"
import * as Result from "effect/Result"

const stream: Topology.StreamConfig = { name: "ORDERS", subjects: ["orders.b", "orders.a"] }
const consumer: Topology.ConsumerConfig = { stream: "ORDERS", name: "billing" }

const failure = <A, E extends { readonly message: string }>(r: Result.Result<A, E>) =>
  Result.isFailure(r) ? r.failure.message : "ok"

describe("TopologyConfig", () => {
  describe("normalizeStream", () => {
    it("fills in JetStream's defaults, sorts subjects, 0 for unlimited", () => {
      expect(TopologyConfig.normalizeStream(stream)).toEqual({
        subjects: ["orders.a", "orders.b"],
        description: "",
        retention: "limits",
        storage: "file",
        maxMessages: 0,
        maxBytes: 0,
        maxAgeMillis: 0,
        maxMessageSize: 0,
        maxMessagesPerSubject: 0,
        discard: "old",
        duplicateWindowMillis: 120_000,
        replicas: 1
      })
    })

    it("bounds the default duplicate window by a shorter maxAge, never a declared one", () => {
      expect(TopologyConfig.normalizeStream({ ...stream, maxAge: "1 minute" }).duplicateWindowMillis).toBe(60_000)
      expect(TopologyConfig.normalizeStream({ ...stream, maxAge: "1 hour" }).duplicateWindowMillis).toBe(120_000)
      expect(TopologyConfig.normalizeStream({ ...stream, maxAge: "1 minute", duplicateWindow: "2 minutes" }).duplicateWindowMillis)
        .toBe(120_000)
    })

    it("holds durations in whole milliseconds, rounded up", () => {
      const norm = TopologyConfig.normalizeStream({ ...stream, maxAge: "1500 micros", duplicateWindow: Duration.nanos(1n) })
      expect([norm.maxAgeMillis, norm.duplicateWindowMillis]).toEqual([2, 1])
    })

    it("declarations a server holds alike have equal normal forms", () => {
      const a = TopologyConfig.normalizeStream({ ...stream, duplicateWindow: "2 minutes", replicas: 1, discard: "old" })
      const b = TopologyConfig.normalizeStream({ ...stream, subjects: ["orders.a", "orders.b"], duplicateWindow: 120_000 })
      expect(TopologyConfig.diff(a, b)).toEqual([])
    })
  })

  describe("toStreamConfig", () => {
    it("answers every field but unlimited limits and an empty description, subjects as held", () => {
      const norm = TopologyConfig.normalizeStream({ ...stream, maxMessages: 5, maxAge: "1 minute" })
      const config = TopologyConfig.toStreamConfig("ORDERS", norm, stream.subjects)
      expect({ ...config, maxAge: Duration.toMillis(config.maxAge!), duplicateWindow: Duration.toMillis(config.duplicateWindow!) })
        .toEqual({
          name: "ORDERS",
          subjects: ["orders.b", "orders.a"],
          retention: "limits",
          storage: "file",
          discard: "old",
          duplicateWindow: 60_000,
          replicas: 1,
          maxMessages: 5,
          maxAge: 60_000
        })
    })

    it("round-trips: the normal form of what it answers is the normal form it was given", () => {
      const norm = TopologyConfig.normalizeStream({
        ...stream,
        description: "d",
        retention: "workqueue",
        storage: "memory",
        maxBytes: 1_000,
        maxMessageSize: 100,
        maxMessagesPerSubject: 3,
        discard: "new",
        replicas: 3
      })
      expect(TopologyConfig.normalizeStream(TopologyConfig.toStreamConfig("ORDERS", norm))).toEqual(norm)
    })
  })

  describe("normalizeConsumer", () => {
    it("fills in JetStream's defaults", () => {
      expect(TopologyConfig.normalizeConsumer(consumer)).toEqual({
        description: "",
        filterSubject: "",
        deliverPolicy: "All",
        ackWaitMillis: 30_000,
        maxDeliver: 0,
        backoffMillis: [],
        maxAckPending: 1_000,
        deadLetterSubject: ""
      })
    })

    it("with backoff, the ack wait is its first step, as JetStream stores it", () => {
      const norm = TopologyConfig.normalizeConsumer({ ...consumer, ackWait: "1 minute", maxDeliver: 3, backoff: ["1 second", "5 seconds"] })
      expect([norm.ackWaitMillis, norm.backoffMillis]).toEqual([1_000, [1_000, 5_000]])
    })

    it("keys deliver policies as comparable strings", () => {
      const key = (deliverPolicy: Topology.DeliverPolicy) => TopologyConfig.normalizeConsumer({ ...consumer, deliverPolicy }).deliverPolicy
      expect(key(Topology.DeliverPolicy.all)).toBe("All")
      expect(key(Topology.DeliverPolicy.lastPerSubject)).toBe("LastPerSubject")
      expect(key(Topology.DeliverPolicy.byStartSequence(7))).toBe("ByStartSequence(7)")
      expect(key(Topology.DeliverPolicy.byStartTime(0))).toBe("ByStartTime(1970-01-01T00:00:00.000Z)")
    })

    it("round-trips through toConsumerConfig", () => {
      for (
        const config of [
          consumer,
          {
            ...consumer,
            description: "d",
            filterSubject: "orders.a",
            deliverPolicy: Topology.DeliverPolicy.byStartTime(1_700_000_000_000),
            maxDeliver: 5,
            backoff: ["1 second", "2 seconds"],
            maxAckPending: 10,
            deadLetterSubject: "dead.billing"
          },
          { ...consumer, deliverPolicy: Topology.DeliverPolicy.byStartSequence(3), ackWait: "1500 micros" }
        ] satisfies ReadonlyArray<Topology.ConsumerConfig>
      ) {
        const norm = TopologyConfig.normalizeConsumer(config)
        const back = TopologyConfig.toConsumerConfig(config.stream, config.name, norm)
        expect(TopologyConfig.normalizeConsumer(back)).toEqual(norm)
        expect([back.stream, back.name]).toEqual([config.stream, config.name])
      }
    })
  })

  describe("diff", () => {
    it("names the fields that differ, arrays by their elements", () => {
      const a = TopologyConfig.normalizeConsumer({ ...consumer, maxDeliver: 3, backoff: ["1 second"] })
      const b = TopologyConfig.normalizeConsumer({ ...consumer, maxDeliver: 4, backoff: ["1 second"] })
      const c = TopologyConfig.normalizeConsumer({ ...consumer, maxDeliver: 4, backoff: ["2 seconds"] })
      expect(TopologyConfig.diff(a, a)).toEqual([])
      expect(TopologyConfig.diff(a, b)).toEqual(["maxDeliver"])
      expect(TopologyConfig.diff(b, c)).toEqual(["ackWaitMillis", "backoffMillis"])
    })
  })

  describe("checks", () => {
    it("checkStream refuses a duplicate window longer than maxAge", () => {
      const norm = TopologyConfig.normalizeStream({ ...stream, maxAge: "1 minute", duplicateWindow: "2 minutes" })
      expect(failure(TopologyConfig.checkStream("ORDERS", norm))).toContain(
        "stream ORDERS: duplicateWindow (120000 ms) exceeds maxAge (60000 ms)"
      )
      expect(failure(TopologyConfig.checkStream("ORDERS", TopologyConfig.normalizeStream({ ...stream, maxAge: "1 minute" }))))
        .toBe("ok")
    })

    it("checkStreamChange refuses a change of storage or retention, allows a limit", () => {
      const base = TopologyConfig.normalizeStream(stream)
      const memory = TopologyConfig.normalizeStream({ ...stream, storage: "memory" })
      const limited = TopologyConfig.normalizeStream({ ...stream, maxMessages: 3 })
      expect(failure(TopologyConfig.checkStreamChange("ORDERS", base, memory))).toContain(
        "stream ORDERS: storage cannot be changed from file to memory"
      )
      expect(failure(TopologyConfig.checkStreamChange("ORDERS", base, limited))).toBe("ok")
    })

    it("checkConsumerChange refuses a change of deliver policy or filter, allows a limit", () => {
      const base = TopologyConfig.normalizeConsumer(consumer)
      const filtered = TopologyConfig.normalizeConsumer({ ...consumer, filterSubject: "orders.a" })
      const fromNew = TopologyConfig.normalizeConsumer({ ...consumer, deliverPolicy: Topology.DeliverPolicy.new })
      expect(failure(TopologyConfig.checkConsumerChange("ORDERS", "billing", base, filtered))).toContain(
        "consumer ORDERS/billing: filterSubject cannot be changed from (none) to orders.a"
      )
      expect(failure(TopologyConfig.checkConsumerChange("ORDERS", "billing", base, fromNew))).toContain(
        "consumer ORDERS/billing: deliverPolicy cannot be changed from All to New"
      )
      expect(
        failure(TopologyConfig.checkConsumerChange("ORDERS", "billing", base, TopologyConfig.normalizeConsumer({ ...consumer, maxDeliver: 2 })))
      ).toBe("ok")
    })
  })
})
