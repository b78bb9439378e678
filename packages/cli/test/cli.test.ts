/**
 * The built `herald` binary against a nats-server started here: its JSON
 * output parsed and compared whole, its tables, its exit codes, one line on
 * stderr for every bad input, and dead letters sent again and then handled
 * exactly once by an inbox-guarded consumer.
 */
import { IdGenerator, MessageIdentity } from "@herald/identity"
import { Inbox, InboxMemory } from "@herald/inbox"
import { NatsServer, Wait } from "@herald/testing"
import { DeadLetter, Envelope, EventLog, Topology, TransportError, Wire } from "@herald/transport"
import { NatsTransport } from "@herald/transport-nats"
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import { beforeAll } from "vitest"
import { assertBuilt, herald, json, type Run } from "./herald.ts"

beforeAll(() => assertBuilt())

const Live = Layer.unwrap(
  NatsServer.NatsServer.useSync((server) => NatsTransport.layer({ servers: server.url, name: "cli-test" }))
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

const wire = (n: number): Wire.RawMessage => Result.getOrThrow(Wire.encode(envelope(n)))

/** `herald ...args` against the suite's server. */
const run = (...args: ReadonlyArray<string>) =>
  Effect.flatMap(NatsServer.NatsServer, (server) => herald(args, { NATS_URL: server.url }))

/** A run that failed: nothing on stdout, exactly `line` on stderr, exit code `code`. */
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

const failing = (detail: string) =>
  Effect.fail(TransportError.make(new TransportError.HandlerFailed({ detail, retryable: false })))

layer(Live, { excludeTestServices: true, timeout: "120 seconds" })("herald (the built binary)", (it) => {
  it.effect("streams: every stream with its state, as JSON and as a table", () =>
    Effect.gen(function*() {
      yield* Topology.ensure({
        streams: [
          { name: "CLI_ORDERS", subjects: ["cli.orders.>"] },
          { name: "CLI_AUDIT", subjects: ["cli.audit.>"], storage: "memory" }
        ],
        consumers: [{ stream: "CLI_ORDERS", name: "billing" }, { stream: "CLI_ORDERS", name: "shipping", filterSubject: "cli.orders.paid", maxDeliver: 5, ackWait: "10 seconds" }]
      })
      const log = yield* EventLog.EventLog
      for (const n of [1, 2, 3]) yield* log.append("cli.orders.placed", envelope(n))
      yield* log.append("cli.audit.logged", envelope(4))
      const orders = yield* log.info("CLI_ORDERS")
      const audit = yield* log.info("CLI_AUDIT")

      assert.deepStrictEqual(json(yield* run("streams", "--json")), [
        { name: "CLI_AUDIT", subjects: ["cli.audit.>"], messages: 1, bytes: audit.bytes, firstSequence: 1, lastSequence: 1, consumers: 0 },
        { name: "CLI_ORDERS", subjects: ["cli.orders.>"], messages: 3, bytes: orders.bytes, firstSequence: 1, lastSequence: 3, consumers: 2 }
      ])

      const table = yield* run("streams")
      assert.strictEqual(table.code, 0)
      assert.strictEqual(table.stderr, "")
      const lines = table.stdout.trimEnd().split("\n")
      assert.strictEqual(lines.length, 4)
      assert.match(lines[0]!, /^Stream\s+Subjects\s+Messages\s+Bytes\s+First\s+Last\s+Consumers$/)
      assert.match(lines[2]!, /^CLI_AUDIT\s+cli\.audit\.>\s+1\s+\d+ B\s+1\s+1\s+0$/)
      assert.match(lines[3]!, /^CLI_ORDERS\s+cli\.orders\.>\s+3\s+[\d.]+ (B|KiB)\s+1\s+3\s+2$/)
    }))

  it.effect("consumers STREAM: pending, ack pending, redelivered, ack floor, last active", () =>
    Effect.gen(function*() {
      const log = yield* EventLog.EventLog
      const [first] = yield* log.pull("CLI_ORDERS", "billing", { batch: 1, expires: "2 seconds" })
      yield* first!.ack
      yield* log.pull("CLI_ORDERS", "billing", { batch: 1, expires: "2 seconds" }) // delivered, not acked

      const reports = json(yield* run("consumers", "CLI_ORDERS", "--json")) as ReadonlyArray<Record<string, unknown>>
      const lastActive = reports[0]!["lastActive"]
      assert.isString(lastActive)
      assert.isBelow(Math.abs(Date.parse(lastActive as string) - Date.now()), 60_000)
      assert.deepStrictEqual(reports, [
        {
          name: "billing",
          filterSubject: null,
          ackWait: 30_000,
          maxDeliver: 0,
          pending: 1,
          ackPending: 1,
          redelivered: 0,
          delivered: 2,
          ackFloor: 1,
          waiting: 0,
          lastActive,
          deadLetterSubject: "herald.dlq.CLI_ORDERS.billing"
        },
        {
          name: "shipping",
          filterSubject: "cli.orders.paid",
          ackWait: 10_000,
          maxDeliver: 5,
          pending: 0,
          ackPending: 0,
          redelivered: 0,
          delivered: 0,
          ackFloor: 0,
          waiting: 0,
          lastActive: null,
          deadLetterSubject: "herald.dlq.CLI_ORDERS.shipping"
        }
      ])

      const table = yield* run("consumers", "CLI_ORDERS")
      assert.strictEqual(table.code, 0)
      const lines = table.stdout.trimEnd().split("\n")
      assert.strictEqual(lines.length, 6)
      assert.strictEqual(lines[0], "Consumers of CLI_ORDERS")
      assert.match(lines[2]!, /^Consumer\s+Filter\s+Ack Wait\s+Max Deliver\s+Pending\s+Ack Pending\s+Redelivered\s+Ack Floor\s+Last Active$/)
      assert.match(lines[4]!, /^billing\s+>\s+30s\s+unlimited\s+1\s+1\s+0\s+1\s+\d+[smhd] ago$/)
      assert.match(lines[5]!, /^shipping\s+cli\.orders\.paid\s+10s\s+5\s+0\s+0\s+0\s+0\s+never$/)

      assertFailed(yield* run("consumers", "CLI_NOPE"), "herald: stream CLI_NOPE not found")
      assertFailed(yield* run("consumers", "bad.name"), /^herald: .*stream name "bad\.name" has "\." at 3/)
    }), timeout)

  it.effect("dlq: dead letters listed, shown, sent again and handled exactly once by an inbox-guarded consumer", () =>
    Effect.gen(function*() {
      yield* Topology.ensure({
        streams: [{ name: "CLI_PAY", subjects: ["cli.pay.>"] }, Topology.deadLetterStream()],
        consumers: [{ stream: "CLI_PAY", name: "billing", maxDeliver: 3 }, { stream: "CLI_PAY", name: "audit" }]
      })
      const log = yield* EventLog.EventLog
      const applied: Array<string> = []
      let declining = true
      const billingScope = yield* Scope.make()
      const auditScope = yield* Scope.make()
      yield* log.consume(
        "CLI_PAY",
        "billing",
        Inbox.middleware()((d) =>
          declining ? failing("card declined") : Effect.sync(() => void applied.push(d.envelope.identity.messageId))
        )
      ).pipe(Scope.provide(billingScope))
      yield* log.consume("CLI_PAY", "audit", () => failing("audit store full")).pipe(Scope.provide(auditScope))
      yield* log.append("cli.pay.charged", envelope(1))
      yield* log.append("cli.pay.charged", envelope(2))
      yield* Wait.until(log.info("HERALD_DLQ"), (i) => i.messages === 4, "four dead letters")
      yield* Scope.close(auditScope, Exit.void)
      declining = false

      // list: every dead letter, with its reason, deliveries, original subject and time
      const listed = json(yield* run("dlq", "list", "--json")) as ReadonlyArray<Record<string, unknown>>
      for (const e of listed) assert.isBelow(Math.abs(Date.parse(e["failedAt"] as string) - Date.now()), 60_000)
      assert.deepStrictEqual(listed.map((e) => e["sequence"]), [1, 2, 3, 4])
      const key = (e: Record<string, unknown>) => `${e["originalConsumer"]}:${e["originalSequence"]}`
      const sorted = [...listed].sort((a, b) => key(a) < key(b) ? -1 : 1)
      const entry = (consumer: string, n: number, reason: string) => ({
        reason,
        deliveryCount: 1,
        originalSubject: "cli.pay.charged",
        originalStream: "CLI_PAY",
        originalConsumer: consumer,
        originalSequence: n,
        messageId: IdGenerator.testId(n),
        type: "cli.Charged"
      })
      assert.deepStrictEqual(sorted.map(({ sequence: _, failedAt: __, ...rest }) => rest), [
        entry("audit", 1, "non-retryable failure: TransportError: handler failed: audit store full"),
        entry("audit", 2, "non-retryable failure: TransportError: handler failed: audit store full"),
        entry("billing", 1, "non-retryable failure: TransportError: handler failed: card declined"),
        entry("billing", 2, "non-retryable failure: TransportError: handler failed: card declined")
      ])
      const seqOf = (consumer: string, n: number) =>
        listed.find((e) => e["originalConsumer"] === consumer && e["originalSequence"] === n)!["sequence"] as number

      assert.deepStrictEqual(
        (json(yield* run("dlq", "list", "--reason", "CARD", "--json")) as ReadonlyArray<Record<string, unknown>>)
          .map((e) => e["sequence"]),
        [seqOf("billing", 1), seqOf("billing", 2)].sort()
      )
      assert.deepStrictEqual(json(yield* run("dlq", "list", "--limit", "1", "--json")), [listed[0]])
      assert.deepStrictEqual(json(yield* run("dlq", "list", "--since", "1h", "--json")), listed)
      assert.deepStrictEqual(json(yield* run("dlq", "list", "--since", "2999-01-01", "--json")), [])
      const table = yield* run("dlq", "list")
      const lines = table.stdout.trimEnd().split("\n")
      assert.strictEqual(lines.length, 6)
      assert.match(lines[0]!, /^Seq\s+Failed At\s+Subject\s+Consumer\s+Deliveries\s+Type\s+Reason$/)
      assert.match(
        lines.find((l) => l.trimStart().startsWith(`${seqOf("billing", 2)} `))!,
        /^\s*\d+\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+cli\.pay\.charged\s+CLI_PAY\/billing\s+1\s+cli\.Charged\s+non-retryable failure: TransportError: handler failed: card declined$/
      )

      // show: the original headers and body
      const shown = json(yield* run("dlq", "show", String(seqOf("billing", 1)), "--json")) as Record<string, unknown>
      const { "Nats-Msg-Id": _, ...sent } = wire(1).headers
      assert.deepStrictEqual(
        { ...shown, headers: [...(shown["headers"] as Array<[string, string]>)].sort() },
        {
          ...listed.find((e) => e["sequence"] === seqOf("billing", 1)),
          headers: Object.entries(sent).sort(),
          bodyBytes: 7,
          body: "{\"n\":1}",
          bodyBase64: null
        }
      )
      const text = yield* run("dlq", "show", String(seqOf("billing", 1)))
      assert.strictEqual(text.code, 0)
      assert.include(text.stdout, `Dead letter: HERALD_DLQ #${seqOf("billing", 1)}`)
      assert.include(text.stdout, "Reason:      non-retryable failure: TransportError: handler failed: card declined")
      assert.include(text.stdout, `  Herald-Message-Id: ${IdGenerator.testId(1)}`)
      assert.isTrue(text.stdout.trimEnd().endsWith("Body (7 B):\n{\"n\":1}"))

      // retry one: appended to its subject with the same Herald-Message-Id and a fresh Nats-Msg-Id, then removed
      const first = seqOf("billing", 1)
      assert.deepStrictEqual(json(yield* run("dlq", "retry", String(first), "--json")), {
        retried: [{ sequence: first, subject: "cli.pay.charged", messageId: IdGenerator.testId(1), stream: "CLI_PAY", appendedSequence: 3 }],
        skipped: []
      })
      const copy = Option.getOrThrow(yield* log.getRaw("CLI_PAY", 3))
      assert.strictEqual(copy.raw.headers["Herald-Message-Id"], IdGenerator.testId(1))
      assert.match(copy.raw.headers["Nats-Msg-Id"]!, new RegExp(`^retry:HERALD_DLQ:${first}:\\d+$`))
      assert.isTrue(Option.isNone(yield* log.getRaw("HERALD_DLQ", first)))
      yield* Wait.until(log.lag("CLI_PAY", "billing"), (l) => l.ackFloor === 3, "billing acked the copy")
      assert.deepStrictEqual(applied, [IdGenerator.testId(1)])
      assertFailed(yield* run("dlq", "show", String(first)), `herald: no message at sequence ${first} of HERALD_DLQ`)

      // retry the rest: the copies of message 1 (audit's dead letter) and of message 2 (twice) reach billing,
      // whose inbox runs each message once
      const rest = json(yield* run("dlq", "retry", "--all", "--json")) as {
        readonly retried: ReadonlyArray<Record<string, unknown>>
        readonly skipped: ReadonlyArray<unknown>
      }
      assert.deepStrictEqual(rest.skipped, [])
      assert.deepStrictEqual(rest.retried.map((r) => r["sequence"]), [1, 2, 3, 4].filter((s) => s !== first))
      assert.deepStrictEqual(rest.retried.map((r) => r["appendedSequence"]), [4, 5, 6])
      yield* Wait.until(log.lag("CLI_PAY", "billing"), (l) => l.ackFloor === 6 && l.pending === 0, "billing acked every copy")
      assert.deepStrictEqual(applied, [IdGenerator.testId(1), IdGenerator.testId(2)])
      assert.isTrue(yield* Inbox.processed("billing", IdGenerator.testId(2)))
      assert.deepStrictEqual(json(yield* run("dlq", "list", "--json")), [])
      assert.strictEqual((yield* log.info("HERALD_DLQ")).messages, 0)
      yield* Scope.close(billingScope, Exit.void)
    }), timeout)

  it.effect("dlq purge and retry on another dead-letter stream (--stream); what cannot be sent again is kept", () =>
    Effect.gen(function*() {
      yield* Topology.ensure({ streams: [{ name: "CLI_DEAD", subjects: ["cli.dead.>"] }] })
      const log = yield* EventLog.EventLog
      const info = (n: number): DeadLetter.Info => ({
        reason: `reason ${n}`,
        stream: "CLI_GONE",
        consumer: "c",
        sequence: n,
        subject: "cli.gone.x",
        deliveryCount: 2,
        failedAt: Date.UTC(2026, 0, n)
      })
      for (const n of [1, 2, 3]) {
        yield* log.appendRaw("cli.dead.CLI_GONE.c", DeadLetter.make(wire(n), info(n)))
      }
      yield* log.appendRaw("cli.dead.CLI_GONE.c", DeadLetter.make({ headers: [], status: "400 Bad Request", body: new Uint8Array() }, info(4)))
      yield* log.appendRaw("cli.dead.other", { headers: {}, body: encoder.encode("not a dead letter") })

      assert.deepStrictEqual(
        (json(yield* run("dlq", "list", "--stream", "CLI_DEAD", "--since", "2026-01-02", "--json")) as ReadonlyArray<Record<string, unknown>>)
          .map((e) => [e["sequence"], e["failedAt"]]),
        [[2, "2026-01-02T00:00:00.000Z"], [3, "2026-01-03T00:00:00.000Z"], [4, "2026-01-04T00:00:00.000Z"]]
      )
      assertFailed(yield* run("dlq", "show", "5", "--stream", "CLI_DEAD"), "herald: the message at sequence 5 of CLI_DEAD is not a dead letter")

      // a subject no stream captures any more, and an original that was a status line: both kept
      const kept = yield* run("dlq", "retry", "3", "4", "--stream", "CLI_DEAD", "--json")
      assert.strictEqual(kept.code, 1)
      assert.deepStrictEqual(JSON.parse(kept.stdout), {
        retried: [],
        skipped: [
          { sequence: 3, error: "no stream captures subject cli.gone.x" },
          {
            sequence: 4,
            error: "cannot encode: dead letter 4 of CLI_DEAD cannot be sent again: the original's header block was a status line (400 Bad Request)"
          }
        ]
      })
      assert.strictEqual(kept.stderr, "herald: 2 of 2 dead letters were kept: no stream captures subject cli.gone.x\n")
      assert.strictEqual((yield* log.info("CLI_DEAD")).messages, 5)

      assert.deepStrictEqual(json(yield* run("dlq", "purge", "1", "3", "--stream", "CLI_DEAD", "--json")), { purged: 2 })
      assertFailed(yield* run("dlq", "purge", "1", "--stream", "CLI_DEAD"), "herald: no message at sequence 1 of CLI_DEAD")
      const purged = yield* run("dlq", "purge", "--all", "--stream", "CLI_DEAD")
      assert.deepStrictEqual([purged.code, purged.stdout, purged.stderr], [0, "purged 3 dead letters\n", ""])
      assert.strictEqual((yield* log.info("CLI_DEAD")).messages, 0)
    }), timeout)

  it.effect("bad input: one line on stderr and a non-zero exit code", () =>
    Effect.gen(function*() {
      assertFailed(yield* run("dlq", "show", "abc"), "herald: malformed sequence \"abc\": expected a positive integer")
      assertFailed(yield* run("dlq", "show", "0"), "herald: malformed sequence \"0\": expected a positive integer")
      assertFailed(yield* run("dlq", "retry", "1", "2x"), "herald: malformed sequence \"2x\": expected a positive integer")
      assertFailed(yield* run("dlq", "purge", "-1"), "herald: malformed sequence \"-1\": expected a positive integer")
      assertFailed(yield* run("dlq", "retry"), "herald: give the sequences of dead letters, or --all")
      assertFailed(yield* run("dlq", "purge", "1", "--all"), "herald: give either sequences or --all, not both")
      assertFailed(yield* run("dlq", "retry", "1", "--reason", "x"), "herald: --reason and --since go with --all")
      assertFailed(
        yield* run("dlq", "list", "--since", "yesterday"),
        "herald: malformed time \"yesterday\": expected an ISO-8601 time or an age such as 90s, 15m, 2h, 7d"
      )
      assertFailed(yield* run("dlq", "list", "--limit", "0"), "herald: malformed limit 0: expected a positive integer")
      assertFailed(yield* run("dlq", "list", "--limit", "x"), /^herald: Invalid value for flag --limit: "x"/, 2)
      assertFailed(yield* run("dlq", "list", "--stream", "CLI_NOPE"), "herald: stream CLI_NOPE not found")
      assertFailed(yield* run("dlq", "show", "999"), "herald: no message at sequence 999 of HERALD_DLQ")
      assertFailed(yield* run("bogus"), "herald: Unknown subcommand \"bogus\" for \"herald\"", 2)
      assertFailed(yield* herald(["streams"], { NATS_URL: "nats://127.0.0.1:1" }), /^herald: .*connection refused$/)
      assertFailed(yield* herald(["streams"], { NATS_URL: "not a url" }), /^herald: /)
    }), timeout)
})

layer(NatsServer.layer({ auth: { _tag: "Token", token: "s3cret-token" } }), { excludeTestServices: true, timeout: "60 seconds" })(
  "herald with credentials",
  (it) => {
    it.effect("NATS_TOKEN: the right one connects, a wrong one is one line on stderr", () =>
      Effect.gen(function*() {
        const server = yield* NatsServer.NatsServer
        assert.deepStrictEqual(json(yield* herald(["streams", "--json"], { NATS_URL: server.url, NATS_TOKEN: "s3cret-token" })), [])
        const wrong = yield* herald(["streams"], { NATS_URL: server.url, NATS_TOKEN: "wrong-token" })
        assertFailed(wrong, /^herald: .*[Aa]uthorization/)
        assert.notInclude(wrong.stderr, "wrong-token")
        assertFailed(yield* herald(["streams"], { NATS_URL: server.url }), /^herald: .*[Aa]uthorization/)
        assertFailed(
          yield* herald(["streams"], { NATS_URL: server.url, NATS_TOKEN: "a", NATS_USER: "u", NATS_PASSWORD: "p" }),
          "herald: invalid configuration: NATS configuration: set one of NATS_TOKEN, NATS_USER/NATS_PASSWORD, NATS_NKEY_SEED, NATS_CREDS, not 2"
        )
      }))
  }
)
