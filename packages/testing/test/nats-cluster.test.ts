/**
 * The NatsCluster harness against the real nats-server (2.9 on this
 * machine), driven with a raw NATS client and the servers' monitoring
 * endpoints, so that it is tested independently of any NATS client library.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Effect from "effect/Effect"
import { NatsCluster, NatsServer } from "@herald/testing"
import { isAlive, jsRequest, pingPong } from "./rawNats.ts"

/** `GET` of a monitoring endpoint of a node, as JSON. */
const monitor = (node: NatsCluster.ClusterNode, path: string) =>
  Effect.tryPromise(async () => {
    const response = await fetch(`http://${node.host}:${node.monitorPort}${path}`)
    return await response.json() as Record<string, unknown>
  })

const createStream = (port: number, name: string, replicas: number) =>
  jsRequest(port, `$JS.API.STREAM.CREATE.${name}`, {
    name,
    subjects: [`${name.toLowerCase()}.>`],
    num_replicas: replicas,
    storage: "file"
  })

const createConsumer = (port: number, stream: string, durable: string) =>
  jsRequest(port, `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.${durable}`, {
    stream_name: stream,
    config: { durable_name: durable, ack_policy: "explicit" }
  })

/** Publishes `count` messages through the node on `port`, each acknowledged by the stream. */
const publish = (port: number, subject: string, count: number) =>
  Effect.forEach(Array.from({ length: count }, (_, i) => i), (i) =>
    Effect.map(jsRequest(port, subject, `m${i}`), (ack) => {
      assert.isUndefined(ack["error"], `publish ${i}: ${JSON.stringify(ack)}`)
      return ack
    }), { discard: true })

const streamState = (port: number, stream: string) =>
  Effect.map(jsRequest(port, `$JS.API.STREAM.INFO.${stream}`), (info) => {
    const state = info["state"] as { readonly messages: number; readonly last_seq: number }
    const cluster = info["cluster"] as { readonly leader?: string; readonly replicas?: ReadonlyArray<unknown> }
    return { messages: state.messages, lastSeq: state.last_seq, leader: cluster.leader, replicas: (cluster.replicas ?? []).length }
  })

const reasonOf = (error: NatsServer.NatsServerError) => error.reason

describe("NatsCluster", () => {
  it.live("three routed nodes on 127.0.0.1, JetStream on each, healthy, with a meta leader", () =>
    Effect.gen(function*() {
      const cluster = yield* NatsCluster.make()
      assert.strictEqual(cluster.nodes.length, 3)
      assert.match(cluster.version, /^2\.\d+\.\d+/)
      assert.deepStrictEqual(cluster.urls, cluster.nodes.map((n) => `nats://127.0.0.1:${n.port}`))
      assert.deepStrictEqual(cluster.nodes.map((n) => n.name), ["n0", "n1", "n2"])
      const ports = cluster.nodes.flatMap((n) => [n.port, n.clusterPort, n.monitorPort])
      assert.strictEqual(new Set(ports).size, 9, "nine distinct ports")
      assert.notInclude(ports, 4222)
      assert.deepStrictEqual(yield* cluster.running, [0, 1, 2])
      const stores = cluster.nodes.map((n) => n.storeDir)
      assert.strictEqual(new Set(stores).size, 3, "a store of its own per node")
      for (const node of cluster.nodes) {
        assert.isTrue(node.storeDir.startsWith(cluster.dir))
        assert.isTrue(Fs.existsSync(node.storeDir))
        const pid = yield* cluster.pid(node.index)
        assert.isTrue(pid !== undefined && isAlive(pid))
        const { info, received } = yield* pingPong(node.port)
        assert.include(received, "PONG\r\n")
        assert.strictEqual(info["server_name"], node.name)
        assert.strictEqual(info["jetstream"], true)
        const routez = yield* monitor(node, "/routez")
        assert.strictEqual(routez["num_routes"], 2, `${node.name} is routed to the two others`)
        const jsz = yield* monitor(node, "/jsz")
        const meta = jsz["meta_cluster"] as { readonly cluster_size: number; readonly leader: string }
        assert.strictEqual(meta.cluster_size, 3)
        const healthz = yield* monitor(node, "/healthz")
        assert.strictEqual(healthz["status"], "ok")
      }
      const leader = yield* cluster.metaLeader
      assert.include([0, 1, 2], leader)
      const jsz = yield* monitor(cluster.nodes[0]!, "/jsz")
      assert.strictEqual((jsz["meta_cluster"] as { readonly leader: string }).leader, `n${leader}`)
    }))

  it.live(
    "leaderOf an R3 stream: a new leader after the leader is SIGKILLed; the node comes back on its ports and catches up",
    () =>
      Effect.gen(function*() {
        const cluster = yield* NatsCluster.make()
        const [p0, p1, p2] = cluster.nodes.map((n) => n.port)
        const created = yield* createStream(p0!, "ORDERS", 3)
        assert.isUndefined(created["error"], JSON.stringify(created))
        assert.isUndefined((yield* createConsumer(p1!, "ORDERS", "billing"))["error"])
        yield* publish(p2!, "orders.placed", 10)

        const leader = yield* cluster.leaderOf("ORDERS")
        const before = yield* streamState(p0!, "ORDERS")
        assert.strictEqual(before.leader, `n${leader}`, "the stream info names the same leader")
        assert.strictEqual(before.replicas, 2, "two followers")
        assert.include([0, 1, 2], yield* cluster.consumerLeaderOf("ORDERS", "billing"))

        const pidBefore = yield* cluster.pid(leader)
        yield* cluster.kill(leader)
        assert.isUndefined(yield* cluster.pid(leader))
        assert.isFalse(isAlive(pidBefore!))
        assert.deepStrictEqual(yield* cluster.running, [0, 1, 2].filter((i) => i !== leader))

        const next = yield* cluster.leaderOf("ORDERS")
        assert.notStrictEqual(next, leader, "a surviving node leads")
        const survivor = cluster.nodes[next]!.port
        yield* publish(survivor, "orders.placed", 10)

        yield* cluster.start(leader)
        assert.deepStrictEqual(yield* cluster.running, [0, 1, 2])
        const pidAfter = yield* cluster.pid(leader)
        assert.isTrue(pidAfter !== undefined && pidAfter !== pidBefore)
        // The node is back on its port, with its store, and caught up with what was written without it.
        const back = cluster.nodes[leader]!
        assert.strictEqual((yield* pingPong(back.port)).info["server_name"], back.name)
        const after = yield* streamState(back.port, "ORDERS")
        assert.deepStrictEqual([after.messages, after.lastSeq], [20, 20])
        yield* cluster.awaitHealthy()
      }),
    90_000
  )

  it.live("metaLeader: another node leads the meta group after its leader is SIGKILLed; restart keeps the ports", () =>
    Effect.gen(function*() {
      const cluster = yield* NatsCluster.make()
      const first = yield* cluster.metaLeader
      yield* cluster.kill(first)
      const second = yield* cluster.metaLeader
      assert.notStrictEqual(second, first)
      yield* cluster.start(first)
      yield* cluster.awaitHealthy()

      const node = cluster.nodes[second]!
      const pid = yield* cluster.pid(second)
      yield* cluster.restart(second)
      assert.notStrictEqual(yield* cluster.pid(second), pid)
      const { info } = yield* pingPong(node.port)
      assert.strictEqual(info["server_name"], node.name)
      assert.strictEqual(info["cluster"], cluster.name)
      yield* cluster.awaitHealthy()
      assert.include([0, 1, 2], yield* cluster.metaLeader)
    }), 90_000)

  it.live("stop is graceful; a start without a quorum returns once the node accepts clients", () =>
    Effect.gen(function*() {
      const cluster = yield* NatsCluster.make()
      yield* cluster.stop(1)
      yield* cluster.stop(2)
      assert.deepStrictEqual(yield* cluster.running, [0])
      assert.isTrue((yield* cluster.logs(2)).some((line) => /shutting down|Server Exiting/i.test(line)))
      const unhealthy = yield* Effect.flip(cluster.awaitHealthy("500 millis"))
      assert.strictEqual(unhealthy.reason._tag, "StartTimeout")
      assert.include(unhealthy.message, "fewer than a quorum of 2")
      // Node 1 alone with node 0 makes a quorum: it is awaited healthy.
      yield* cluster.start(1)
      yield* cluster.start(2)
      yield* cluster.awaitHealthy()
      assert.deepStrictEqual(yield* cluster.running, [0, 1, 2])
    }), 90_000)

  it.live("closing the scope stops every node and removes the directory", () =>
    Effect.gen(function*() {
      const seen = yield* Effect.scoped(Effect.gen(function*() {
        const cluster = yield* NatsCluster.make()
        const pids = yield* Effect.forEach(cluster.nodes, (n) => cluster.pid(n.index))
        return { dir: cluster.dir, pids }
      }))
      assert.strictEqual(seen.pids.length, 3)
      for (const pid of seen.pids) assert.isFalse(isAlive(pid!), `pid ${pid} is gone`)
      assert.isFalse(Fs.existsSync(seen.dir))
    }))

  it.live("typed errors: an unknown node, a size out of range, a stream without a leader", () =>
    Effect.gen(function*() {
      const tooSmall = yield* Effect.flip(NatsCluster.make({ size: 0 }))
      assert.strictEqual(tooSmall.reason._tag, "InvalidOption")
      assert.include(tooSmall.message, "size: 0")
      assert.strictEqual((yield* Effect.flip(NatsCluster.make({ size: 1 }))).reason._tag, "InvalidOption")
      const badName = yield* Effect.flip(NatsCluster.make({ name: "a b" }))
      assert.strictEqual(badName.reason._tag, "InvalidOption")

      const cluster = yield* NatsCluster.make({ leaderTimeout: "500 millis" })
      const unknown = yield* Effect.flip(cluster.kill(3))
      assert.deepStrictEqual(reasonOf(unknown)._tag, "UnknownNode")
      assert.strictEqual(unknown.message, "no node 3 in a cluster of 3 (nodes are numbered 0 to 2)")
      assert.strictEqual((yield* Effect.flip(cluster.start(-1))).reason._tag, "UnknownNode")
      assert.strictEqual((yield* Effect.flip(cluster.pid(1.5))).reason._tag, "UnknownNode")
      const none = yield* Effect.flip(cluster.leaderOf("MISSING"))
      assert.strictEqual(none.reason._tag, "NoLeader")
      assert.include(none.message, "no leader of stream MISSING within 500 ms: n0 says none")
    }))
})
