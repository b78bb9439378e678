/**
 * `herald tail` and `herald replay`, the built binary against a nats-server
 * started here: the messages tail prints (Herald and foreign, as text and
 * as NDJSON, from a stream and live until a signal), the copies replay
 * appends (the original Herald-Message-Id, a fresh Nats-Msg-Id, handled
 * once by an inbox-guarded consumer; foreign messages copied as stored),
 * and one line on stderr for each bad input.
 */
import { IdGenerator, MessageIdentity } from "@herald/identity"
import { Inbox, InboxMemory } from "@herald/inbox"
import { NatsServer, Wait } from "@herald/testing"
import { Bus, Envelope, EventLog, Topology } from "@herald/transport"
import { NatsAdmin, NatsTransport } from "@herald/transport-nats"
import { assert, layer } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { beforeAll } from "vitest"
import { assertBuilt, herald, json, type Run, spawn } from "./herald.ts"

beforeAll(() => assertBuilt())

const Live = Layer.unwrap(
  NatsServer.NatsServer.useSync((server) => NatsTransport.layer({ servers: server.url, name: "cli-tail-test" }))
).pipe(Layer.provideMerge(NatsServer.layer()), Layer.merge(InboxMemory.layer))

const encoder = new TextEncoder()

const envelope = (n: number): Envelope.Envelope =>
  Envelope.make({
    identity: MessageIdentity.root(IdGenerator.testId(n)),
    type: "cli.Charged",
    kind: "event",
    occurredAt: 1_700_000_000_000 + n,
    body: encoder.encode(JSON.stringify({ n }))
  })

const run = (...args: ReadonlyArray<string>) =>
  Effect.flatMap(NatsServer.NatsServer, (server) => herald(args, { NATS_URL: server.url }))

const start = (...args: ReadonlyArray<string>) =>
  Effect.flatMap(NatsServer.NatsServer, (server) => spawn(args, { NATS_URL: server.url }))

const assertFailed = (result: Run, line: string | RegExp, code = 1) => {
  assert.strictEqual(result.code, code, result.stderr)
  const lines = result.stderr.split("\n")
  assert.strictEqual(lines.length, 2, `one line on stderr, got: ${result.stderr}`)
  assert.strictEqual(lines[1], "")
  if (typeof line === "string") assert.strictEqual(lines[0], line)
  else assert.match(lines[0]!, line)
  if (code === 1) assert.strictEqual(result.stdout, "")
}

/** Tests that start the binary ten times or more: longer than the project's bound. */
const timeout = 240_000

/** A successful run's stdout as NDJSON. */
const ndjson = (result: Run): ReadonlyArray<Record<string, unknown>> => {
  assert.deepStrictEqual([result.code, result.stderr], [0, ""], result.stdout)
  return result.stdout.trimEnd().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)
}

const iso = (millis: number) => new Date(millis).toISOString()
const shown = (millis: number) => iso(millis).slice(0, 23).replace("T", " ")
const id = (n: number) => IdGenerator.testId(n) as string

const storedAt = (stream: string, sequence: number) =>
  Effect.flatMap(EventLog.EventLog, (log) =>
    Effect.map(log.getRaw(stream, sequence), (m) => Option.getOrThrow(m).timestamp))

const foreignProblem = "cannot decode header Herald-Message-Id: header Herald-Message-Id is missing"

layer(Live, { excludeTestServices: true, timeout: "120 seconds" })("herald tail and replay (the built binary)", (it) => {
  it.effect("tail --stream: exactly the messages asked for, Herald and foreign, as text and as NDJSON", () =>
    Effect.gen(function*() {
      yield* Topology.ensure({ streams: [{ name: "CLI_TAIL", subjects: ["cli.tail.>"] }] })
      const log = yield* EventLog.EventLog
      yield* log.append("cli.tail.placed", envelope(1))
      yield* log.append(
        "cli.tail.charge",
        Envelope.make({
          identity: MessageIdentity.derive(MessageIdentity.root(IdGenerator.testId(1)), IdGenerator.testId(2)),
          type: "cli.Charge",
          kind: "command",
          occurredAt: 1_700_000_000_002,
          contentType: "text/plain",
          headers: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
          body: encoder.encode("charge o-1")
        })
      )
      // #3 is stored at a later millisecond than #2, so that a tail from #3's time starts at #3
      const stored2 = yield* storedAt("CLI_TAIL", 2)
      yield* Wait.until(Clock.currentTimeMillis, (now) => now > stored2 + 1, "the clock past #2")
      yield* log.appendRaw("cli.tail.legacy", { headers: { "X-Source": "legacy" }, body: encoder.encode("{\"legacy\":true}") })
      yield* log.append("cli.tail.placed", envelope(4))
      const [t1, t2, t3] = yield* Effect.forEach([1, 2, 3], (s) => storedAt("CLI_TAIL", s))

      const lines = ndjson(yield* run("tail", "cli.tail.>", "--stream", "CLI_TAIL", "--from-seq", "1", "--count", "3", "--json"))
      assert.deepStrictEqual(lines, [
        {
          time: iso(t1!),
          subject: "cli.tail.placed",
          stream: "CLI_TAIL",
          sequence: 1,
          herald: true,
          type: "cli.Charged",
          kind: "event",
          messageId: id(1),
          correlationId: id(1),
          causationId: id(1),
          occurredAt: iso(1_700_000_000_001),
          contentType: "application/json",
          headers: {},
          bodyBytes: 7,
          bodyEncoding: "json",
          body: { n: 1 }
        },
        {
          time: iso(t2!),
          subject: "cli.tail.charge",
          stream: "CLI_TAIL",
          sequence: 2,
          herald: true,
          type: "cli.Charge",
          kind: "command",
          messageId: id(2),
          correlationId: id(1),
          causationId: id(1),
          occurredAt: iso(1_700_000_000_002),
          contentType: "text/plain",
          headers: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
          bodyBytes: 10,
          bodyEncoding: "text",
          body: "charge o-1"
        },
        {
          time: iso(t3!),
          subject: "cli.tail.legacy",
          stream: "CLI_TAIL",
          sequence: 3,
          herald: false,
          status: null,
          problem: foreignProblem,
          headers: { "X-Source": "legacy" },
          bodyBytes: 15,
          bodyEncoding: "json",
          body: { legacy: true }
        }
      ])

      const table = yield* run("tail", "cli.tail.>", "--stream", "CLI_TAIL", "--from-seq", "1", "--count", "3")
      assert.deepStrictEqual([table.code, table.stderr], [0, ""])
      assert.strictEqual(
        table.stdout,
        [
          `${shown(t1!)}  cli.tail.placed  cli.Charged (event)  (CLI_TAIL #1)`,
          `  id ${id(1)}  correlation ${id(1)}  causation ${id(1)}`,
          `  {"n":1}`,
          `${shown(t2!)}  cli.tail.charge  cli.Charge (command)  (CLI_TAIL #2)`,
          `  id ${id(2)}  correlation ${id(1)}  causation ${id(1)}`,
          `  traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01`,
          `  charge o-1`,
          `${shown(t3!)}  cli.tail.legacy  foreign  (CLI_TAIL #3)`,
          `  not a Herald message: ${foreignProblem}`,
          `  X-Source: legacy`,
          `  {"legacy":true}`,
          ``
        ].join("\n")
      )

      // from a sequence, from a time (the stream found from the subject), and a filter narrower than the stream
      assert.deepStrictEqual(
        ndjson(yield* run("tail", "cli.tail.>", "--stream", "CLI_TAIL", "--from-seq", "4", "--count", "1", "--json"))
          .map((e) => [e["sequence"], e["messageId"]]),
        [[4, id(4)]]
      )
      assert.deepStrictEqual(
        ndjson(yield* run("tail", "cli.tail.>", "--since", iso(t3!), "--count", "2", "--json")).map((e) => e["sequence"]),
        [3, 4]
      )
      assert.deepStrictEqual(
        ndjson(yield* run("tail", "cli.tail.placed", "--from-seq", "1", "--count", "2", "--json")).map((e) => e["sequence"]),
        [1, 4]
      )
    }), timeout)

  it.effect("tail on the core subscription: live messages until SIGINT or SIGTERM, then exit code 0", () =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      // Publishes a probe until the tail shows one: then its subscription is live.
      const subscribed = (tail: { readonly stdout: Effect.Effect<string> }) =>
        Wait.until(
          Effect.andThen(bus.publish("cli.live.probe", envelope(50)), tail.stdout),
          (out) => out.includes("cli.live.probe"),
          "tail subscribed",
          "30 seconds"
        )
      const traffic = Effect.gen(function*() {
        yield* bus.publish("cli.live.orders", envelope(60))
        yield* bus.publishRaw("cli.live.orders", { headers: { "X-Source": "legacy" }, body: encoder.encode("plain text") })
      })

      const tail = yield* start("tail", "cli.live.>", "--json")
      yield* subscribed(tail)
      const before = yield* Clock.currentTimeMillis
      yield* traffic
      yield* Wait.until(tail.stdout, (out) => out.includes("plain text"), "both messages shown", "30 seconds")
      yield* tail.signal("SIGINT")
      const done = yield* tail.exit
      assert.deepStrictEqual([done.code, done.stderr], [0, ""])
      const entries = ndjson(done).filter((e) => e["subject"] !== "cli.live.probe")
      for (const e of entries) assert.isAtLeast(Date.parse(e["time"] as string), before)
      assert.deepStrictEqual(entries.map(({ time: _, ...rest }) => rest), [
        {
          subject: "cli.live.orders",
          stream: null,
          sequence: null,
          herald: true,
          type: "cli.Charged",
          kind: "event",
          messageId: id(60),
          correlationId: id(60),
          causationId: id(60),
          occurredAt: iso(1_700_000_000_060),
          contentType: "application/json",
          headers: {},
          bodyBytes: 8,
          bodyEncoding: "json",
          body: { n: 60 }
        },
        {
          subject: "cli.live.orders",
          stream: null,
          sequence: null,
          herald: false,
          status: null,
          problem: foreignProblem,
          headers: { "X-Source": "legacy" },
          bodyBytes: 10,
          bodyEncoding: "text",
          body: "plain text"
        }
      ])

      const text = yield* start("tail", "cli.live.orders")
      yield* Wait.until(
        Effect.andThen(bus.publish("cli.live.orders", envelope(70)), text.stdout),
        (out) => out.includes(id(70)),
        "text tail subscribed",
        "30 seconds"
      )
      yield* text.signal("SIGTERM")
      const stopped = yield* text.exit
      assert.deepStrictEqual([stopped.code, stopped.stderr], [0, ""])
      const block = stopped.stdout.split("\n").slice(0, 3)
      assert.match(block[0]!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}  cli\.live\.orders  cli\.Charged \(event\)$/)
      assert.deepStrictEqual(block.slice(1), [`  id ${id(70)}  correlation ${id(70)}  causation ${id(70)}`, `  {"n":70}`])
    }), timeout)

  it.effect("tail: bad input is one line on stderr", () =>
    Effect.gen(function*() {
      assertFailed(yield* run("tail", "cli..x"), "herald: invalid subject \"cli..x\": empty token 1 at position 4")
      assertFailed(yield* run("tail", "cli.>.x"), /^herald: invalid subject "cli\.>\.x": /)
      assertFailed(yield* run("tail", "cli.tail.>", "--stream", "CLI_NOPE"), "herald: stream CLI_NOPE not found")
      assertFailed(yield* run("tail", "cli.nowhere.>", "--since", "5m"), "herald: no stream captures cli.nowhere.>: give the stream with --stream")
      assertFailed(yield* run("tail", "cli.tail.>", "--from-seq", "x"), "herald: malformed sequence \"x\": expected a positive integer")
      assertFailed(yield* run("tail", "cli.tail.>", "--from-seq", "1", "--since", "5m"), "herald: give --from-seq or --since, not both")
      assertFailed(
        yield* run("tail", "cli.tail.>", "--since", "later"),
        "herald: malformed time \"later\": expected an ISO-8601 time or an age such as 90s, 15m, 2h, 7d"
      )
      assertFailed(yield* run("tail", "cli.tail.>", "--count", "0"), "herald: malformed count 0: expected a positive integer")
      assertFailed(yield* run("tail"), /^herald: /, 2)
    }), timeout)

  it.effect("replay: a range appended again with the original Herald-Message-Id, handled once by an inbox-guarded consumer", () =>
    Effect.gen(function*() {
      yield* Topology.ensure({
        streams: [{ name: "CLI_SRC", subjects: ["cli.src.>"] }, { name: "CLI_AGAIN", subjects: ["cli.again.>"] }],
        consumers: [{ stream: "CLI_AGAIN", name: "projector" }]
      })
      const log = yield* EventLog.EventLog
      for (const n of [1, 2, 3]) yield* log.append(n === 2 ? "cli.src.paid" : "cli.src.placed", envelope(n))
      const t3 = yield* storedAt("CLI_SRC", 3)
      // #4 and #5 are stored at a later millisecond than #3, so that a replay from #4's time starts at #4
      yield* Wait.until(Clock.currentTimeMillis, (now) => now > t3 + 1, "the clock past #3")
      for (const n of [4, 5]) yield* log.append(n === 4 ? "cli.src.paid" : "cli.src.placed", envelope(n))
      const [t1, t2, t4] = yield* Effect.forEach([1, 2, 4], (s) => storedAt("CLI_SRC", s))

      const applied: Array<string> = []
      yield* log.consume(
        "CLI_AGAIN",
        "projector",
        Inbox.middleware()((d) => Effect.sync(() => void applied.push(d.envelope.identity.messageId)))
      )

      // --dry-run: what would be replayed, nothing appended
      assert.deepStrictEqual(json(yield* run("replay", "CLI_SRC", "--from", "1", "--to", "2", "--to-subject", "cli.again.orders", "--dry-run", "--json")), {
        dryRun: true,
        stream: "CLI_SRC",
        from: 1,
        to: 2,
        toSubject: "cli.again.orders",
        filter: null,
        sequences: 2,
        gaps: 0,
        messages: [
          { sequence: 1, storedAt: iso(t1!), subject: "cli.src.placed", type: "cli.Charged", messageId: id(1) },
          { sequence: 2, storedAt: iso(t2!), subject: "cli.src.paid", type: "cli.Charged", messageId: id(2) }
        ]
      })
      const dry = yield* run("replay", "CLI_SRC", "--to-subject", "cli.again.orders", "--filter", "cli.src.paid", "--dry-run")
      assert.deepStrictEqual([dry.code, dry.stderr], [0, ""])
      const dryLines = dry.stdout.trimEnd().split("\n")
      assert.strictEqual(dryLines.length, 6)
      assert.match(dryLines[0]!, /^Seq\s+Stored At\s+Subject\s+Type\s+Message Id$/)
      assert.match(dryLines[2]!, new RegExp(`^  2  \\S+ \\S+  cli\\.src\\.paid  cli\\.Charged  ${id(2)}$`))
      assert.match(dryLines[3]!, new RegExp(`^  4  \\S+ \\S+  cli\\.src\\.paid  cli\\.Charged  ${id(4)}$`))
      assert.strictEqual(dryLines[5], "dry run: would replay 2 messages of CLI_SRC #1-#5 to cli.again.orders")
      assert.strictEqual((yield* log.info("CLI_AGAIN")).messages, 0)

      // by sequence: #2 to #4, exactly three copies
      const first = json(yield* run("replay", "CLI_SRC", "--from", "2", "--to", "4", "--to-subject", "cli.again.orders", "--json")) as Record<
        string,
        unknown
      >
      assert.isNumber(first["elapsedMillis"])
      assert.deepStrictEqual(first, {
        stream: "CLI_SRC",
        from: 2,
        to: 4,
        toSubject: "cli.again.orders",
        filter: null,
        sequences: 3,
        replayed: 3,
        duplicates: 0,
        gaps: 0,
        appended: { stream: "CLI_AGAIN", first: 1, last: 3 },
        elapsedMillis: first["elapsedMillis"]
      })
      const copies = yield* Stream.runCollect(log.readRaw("CLI_AGAIN"))
      assert.strictEqual(copies.length, 3)
      for (const [i, copy] of copies.entries()) {
        const original = Option.getOrThrow(yield* log.getRaw("CLI_SRC", i + 2))
        const { ["Nats-Msg-Id"]: natsId, ...headers } = copy.raw.headers
        const { ["Nats-Msg-Id"]: _, ...originalHeaders } = original.raw.headers
        assert.strictEqual(copy.subject, "cli.again.orders")
        assert.deepStrictEqual(headers, originalHeaders)
        assert.strictEqual(headers["Herald-Message-Id"], id(i + 2))
        assert.match(natsId!, new RegExp(`^retry:CLI_SRC:${i + 2}:\\d+$`))
        assert.deepStrictEqual(copy.raw.body, original.raw.body)
      }
      yield* Wait.until(log.lag("CLI_AGAIN", "projector"), (l) => l.ackFloor === 3, "the projector acked the copies")
      assert.deepStrictEqual(applied, [id(2), id(3), id(4)])

      // the same range again: three fresh copies (not swallowed as duplicates), which the inbox skips
      const again = json(yield* run("replay", "CLI_SRC", "--from", "2", "--to", "4", "--to-subject", "cli.again.orders", "--json")) as Record<
        string,
        unknown
      >
      assert.deepStrictEqual([again["replayed"], again["duplicates"], again["appended"]], [3, 0, { stream: "CLI_AGAIN", first: 4, last: 6 }])
      yield* Wait.until(log.lag("CLI_AGAIN", "projector"), (l) => l.ackFloor === 6, "the projector acked the second copies")
      assert.deepStrictEqual(applied, [id(2), id(3), id(4)])

      // by time, as text: #4's time to the end is #4 and #5; progress lines (if any) before the summary
      const byTime = yield* run("replay", "CLI_SRC", "--since", iso(t4!), "--to-subject", "cli.again.orders")
      assert.deepStrictEqual([byTime.code, byTime.stderr], [0, ""])
      const lines = byTime.stdout.trimEnd().split("\n")
      for (const line of lines.slice(0, -1)) assert.match(line, /^replayed \d\/2 sequences \(\d+%\), /)
      assert.match(lines.at(-1)!, /^replayed 2 messages of CLI_SRC #4-#5 to cli\.again\.orders \(CLI_AGAIN #7-#8\) in \d+(ms|s)$/)
      yield* Wait.until(log.lag("CLI_AGAIN", "projector"), (l) => l.ackFloor === 8, "the projector acked #4 and #5 again")
      assert.deepStrictEqual(applied, [id(2), id(3), id(4), id(5)])
      assert.isTrue(yield* Inbox.processed("projector", IdGenerator.testId(5)))

      // a gap in the range (a deleted message) is counted, not hidden
      assert.isTrue(yield* NatsAdmin.deleteMessage("CLI_SRC", 3))
      const gap = json(yield* run("replay", "CLI_SRC", "--from", "2", "--to", "4", "--to-subject", "cli.again.orders", "--dry-run", "--json")) as Record<
        string,
        unknown
      >
      assert.deepStrictEqual([gap["sequences"], gap["gaps"], (gap["messages"] as ReadonlyArray<Record<string, unknown>>).map((m) => m["sequence"])], [
        3,
        1,
        [2, 4]
      ])
    }), timeout)

  it.effect("replay: bad input is one line on stderr, and nothing is appended", () =>
    Effect.gen(function*() {
      const log = yield* EventLog.EventLog
      const to = ["--to-subject", "cli.again.orders"]
      assertFailed(yield* run("replay", "CLI_NOPE", ...to), "herald: stream CLI_NOPE not found")
      assertFailed(yield* run("replay", "CLI_SRC", "--from", "4", "--to", "2", ...to), "herald: --from 4 is after --to 2")
      assertFailed(
        yield* run("replay", "CLI_SRC", "--from", "2026-02-01", "--to", "2026-01-01", ...to),
        "herald: --from 2026-02-01T00:00:00.000Z is after --to 2026-01-01T00:00:00.000Z"
      )
      assertFailed(
        yield* run("replay", "CLI_SRC", "--from", "yesterday", ...to),
        "herald: malformed position \"yesterday\": expected a sequence, an ISO-8601 time or an age such as 90s, 15m, 2h, 7d"
      )
      assertFailed(
        yield* run("replay", "CLI_SRC", "--since", "2026-13-45T99:00:00Z", ...to),
        "herald: malformed time \"2026-13-45T99:00:00Z\": expected an ISO-8601 time or an age such as 90s, 15m, 2h, 7d"
      )
      assertFailed(yield* run("replay", "CLI_SRC", "--from", "1", "--to", "2026-01-01", ...to), "herald: give --from and --to both as sequences or both as times")
      assertFailed(yield* run("replay", "CLI_SRC", "--from", "1", "--since", "1h", ...to), "herald: give --from or --since, not both")
      assertFailed(yield* run("replay", "CLI_SRC", "--from", "99", ...to), "herald: nothing to replay: sequence 99 is past the last sequence of CLI_SRC (5)")
      assertFailed(
        yield* run("replay", "CLI_SRC", "--from", "2020-01-01", "--to", "2020-01-02", ...to),
        "herald: nothing to replay: CLI_SRC holds no message stored from 2020-01-01T00:00:00.000Z to 2020-01-02T00:00:00.000Z"
      )
      assertFailed(
        yield* run("replay", "CLI_SRC", "--to-subject", "cli.again.*"),
        "herald: --to-subject: invalid subject \"cli.again.*\": wildcard \"*\" in token 2 at position 10 is not allowed in a concrete subject"
      )
      assertFailed(yield* run("replay", "CLI_SRC", "--rate", "0", ...to), "herald: malformed rate 0: expected a positive integer")
      assertFailed(yield* run("replay", "CLI_SRC"), /^herald: /, 2)
      const before = (yield* log.info("CLI_AGAIN")).messages
      assertFailed(
        yield* run("replay", "CLI_SRC", "--from", "2", "--to-subject", "cli.nowhere"),
        "herald: replay stopped at CLI_SRC #2 after 0 messages sent to cli.nowhere: no stream captures subject cli.nowhere"
      )
      // the start of the range purged
      assert.isTrue(yield* NatsAdmin.deleteMessage("CLI_SRC", 1))
      assertFailed(
        yield* run("replay", "CLI_SRC", "--from", "1", "--to", "2", ...to),
        "herald: CLI_SRC no longer holds sequence 1 (purged; its first stored sequence is 2)"
      )
      assert.strictEqual((yield* log.info("CLI_AGAIN")).messages, before)
    }), timeout)

  it.effect("replay: a range holding foreign messages is copied completely, the foreign ones as stored", () =>
    Effect.gen(function*() {
      yield* Topology.ensure({
        streams: [{ name: "CLI_MIXED", subjects: ["cli.mixed.>"] }, { name: "CLI_COPIED", subjects: ["cli.copied.>"] }]
      })
      const log = yield* EventLog.EventLog
      // #2: foreign, text; #4: foreign with a Herald-Message-Id of its own and a body that is not UTF-8
      const legacy = { headers: { "X-Source": "legacy", "Content-Type": "text/plain" }, body: encoder.encode("legacy 2") }
      const partial = { headers: { "Herald-Message-Id": id(14), "X-Source": "bridge" }, body: new Uint8Array([0xff, 0x00, 0x7f]) }
      yield* log.append("cli.mixed.placed", envelope(11))
      yield* log.appendRaw("cli.mixed.legacy", legacy)
      yield* log.append("cli.mixed.placed", envelope(13))
      yield* log.appendRaw("cli.mixed.bridge", partial)
      yield* log.append("cli.mixed.placed", envelope(15))
      const originals = yield* Effect.forEach([1, 2, 3, 4, 5], (s) => Effect.map(log.getRaw("CLI_MIXED", s), Option.getOrThrow))

      const dry = json(yield* run("replay", "CLI_MIXED", "--to-subject", "cli.copied.all", "--dry-run", "--json")) as Record<
        string,
        unknown
      >
      assert.deepStrictEqual(
        (dry["messages"] as ReadonlyArray<Record<string, unknown>>).map((m) => [m["sequence"], m["subject"], m["type"], m["messageId"]]),
        [
          [1, "cli.mixed.placed", "cli.Charged", id(11)],
          [2, "cli.mixed.legacy", null, null],
          [3, "cli.mixed.placed", "cli.Charged", id(13)],
          [4, "cli.mixed.bridge", null, id(14)],
          [5, "cli.mixed.placed", "cli.Charged", id(15)]
        ]
      )
      const dryText = yield* run("replay", "CLI_MIXED", "--from", "2", "--to", "2", "--to-subject", "cli.copied.all", "--dry-run")
      assert.deepStrictEqual([dryText.code, dryText.stderr], [0, ""])
      assert.match(dryText.stdout.split("\n")[2]!, /^  2  \S+ \S+  cli\.mixed\.legacy  foreign  -$/)
      assert.strictEqual((yield* log.info("CLI_COPIED")).messages, 0)

      // every message of the range, the foreign ones included: five copies
      const summary = json(yield* run("replay", "CLI_MIXED", "--to-subject", "cli.copied.all", "--json")) as Record<string, unknown>
      assert.deepStrictEqual(
        [summary["from"], summary["to"], summary["sequences"], summary["replayed"], summary["duplicates"], summary["gaps"], summary["appended"]],
        [1, 5, 5, 5, 0, 0, { stream: "CLI_COPIED", first: 1, last: 5 }]
      )
      const copies = Array.from(yield* Stream.runCollect(log.readRaw("CLI_COPIED")))
      assert.strictEqual(copies.length, 5)
      for (const [i, copy] of copies.entries()) {
        const original = originals[i]!
        const { ["Nats-Msg-Id"]: natsId, ...headers } = copy.raw.headers
        const { ["Nats-Msg-Id"]: _, ...originalHeaders } = original.raw.headers
        assert.strictEqual(copy.subject, "cli.copied.all")
        assert.deepStrictEqual(headers, originalHeaders)
        assert.match(natsId!, new RegExp(`^retry:CLI_MIXED:${i + 1}:\\d+$`))
        assert.deepStrictEqual(copy.raw.body, original.raw.body)
      }
      // the foreign ones exactly as they were appended (they had no Nats-Msg-Id)
      const withoutNatsId = (headers: Readonly<Record<string, string>>) =>
        Object.fromEntries(Object.entries(headers).filter(([name]) => name !== "Nats-Msg-Id"))
      assert.deepStrictEqual(withoutNatsId(copies[1]!.raw.headers), legacy.headers)
      assert.deepStrictEqual(Array.from(copies[1]!.raw.body), Array.from(legacy.body))
      assert.deepStrictEqual(withoutNatsId(copies[3]!.raw.headers), partial.headers)
      assert.deepStrictEqual(Array.from(copies[3]!.raw.body), [0xff, 0x00, 0x7f])

      // a gap in a range with foreign messages: counted, the rest copied
      assert.isTrue(yield* NatsAdmin.deleteMessage("CLI_MIXED", 3))
      const gapped = yield* run("replay", "CLI_MIXED", "--from", "2", "--to", "4", "--to-subject", "cli.copied.all")
      assert.deepStrictEqual([gapped.code, gapped.stderr], [0, ""])
      assert.match(
        gapped.stdout.trimEnd().split("\n").at(-1)!,
        /^replayed 2 messages of CLI_MIXED #2-#4 to cli\.copied\.all \(CLI_COPIED #6-#7\) in \d+(ms|s); 1 sequence no longer stored$/
      )
      const last = Array.from(yield* Stream.runCollect(log.readRaw("CLI_COPIED", { from: { sequence: 6 } })))
      assert.deepStrictEqual(last.map((c) => c.raw.headers["X-Source"]), ["legacy", "bridge"])
    }), timeout)
})
