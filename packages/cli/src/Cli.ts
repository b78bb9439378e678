/**
 * The `herald` command: its command tree (`effect/cli`) and `main`, the
 * program the binary runs.
 *
 * Every command connects with `NatsTransport.layerConfig`: `NATS_URL`
 * (default `nats://127.0.0.1:4222`) and the same credential variables
 * (`NATS_TOKEN`, `NATS_USER` / `NATS_PASSWORD`, `NATS_NKEY_SEED`,
 * `NATS_CREDS`, `NATS_TLS_CA` / `NATS_TLS_CERT` / `NATS_TLS_KEY`). Every
 * command prints a table, or JSON with `--json`. `tree`, `saga` and
 * `outbox` read Herald's SQL tables in the database named by `DATABASE_URL`
 * (see `Database`). A failure prints one line
 * on stderr (`herald: <what went wrong>`) and exits with code 1; a command
 * line that does not parse exits with code 2.
 *
 * @since 0.1.0
 */
import { TransportError } from "@herald/transport"
import { NatsTransport } from "@herald/transport-nats"
import * as Cause from "effect/Cause"
import * as Argument from "effect/cli/Argument"
import * as CliError from "effect/cli/CliError"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as CommandError from "./CommandError.ts"
import * as DeadLetters from "./DeadLetters.ts"
import * as Input from "./Input.ts"
import * as ReplayCommand from "./ReplayCommand.ts"
import * as Reports from "./Reports.ts"
import * as SqlCommands from "./SqlCommands.ts"
import * as Tail from "./Tail.ts"

/**
 * The server used when `NATS_URL` is not set.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultUrl = "nats://127.0.0.1:4222"

/**
 * The connection every command uses: `NatsTransport.layerConfig` with
 * `NATS_URL` defaulting to {@link defaultUrl}.
 *
 * @since 0.1.0
 * @category layers
 */
export const connection = NatsTransport.layerConfig({ name: "herald-cli" }).pipe(
  Layer.provide(ConfigProvider.layerAdd(ConfigProvider.fromUnknown({ NATS_URL: defaultUrl })))
)

const json = Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription("Print JSON for scripts instead of a table"))

const print = <A>(asJson: boolean, value: A, text: (value: A) => string) =>
  Console.log(asJson ? JSON.stringify(value, null, 2) : text(value))

const streams = Command.make("streams", { json }, (flags) =>
  Effect.flatMap(Reports.streams, (reports) => print(flags.json, reports, Reports.streamsTable)).pipe(
    Effect.provide(connection)
  )).pipe(Command.withDescription("Every stream: subjects, messages, bytes, first and last sequence, consumers"))

const consumers = Command.make("consumers", {
  json,
  stream: Argument.String("stream").pipe(Argument.withDescription("The stream whose consumers to report"))
}, (config) =>
  Effect.gen(function*() {
    const reports = yield* Reports.consumers(config.stream)
    const now = Date.now()
    yield* print(config.json, reports, (r) => Reports.consumersTable(config.stream, r, now))
  }).pipe(Effect.provide(connection))).pipe(
    Command.withDescription("The consumers of a stream: pending, ack pending, redelivered, ack floor, last active")
  )

const dlqStream = Flag.String("stream").pipe(
  Flag.withDefault(DeadLetters.defaultStream),
  Flag.withDescription(`The dead-letter stream (default ${DeadLetters.defaultStream})`)
)
const reason = Flag.String("reason").pipe(
  Flag.optional,
  Flag.withDescription("Only dead letters whose reason contains this text (ignoring case)")
)
const since = Flag.String("since").pipe(
  Flag.optional,
  Flag.withDescription("Only dead letters that failed at or after this time: ISO-8601, or an age such as 15m, 2h, 7d")
)
const all = Flag.Boolean("all").pipe(Flag.withDefault(false), Flag.withDescription("Every dead letter (narrowed by --reason and --since)"))
const sequences = Argument.String("sequence").pipe(
  Argument.variadic(),
  Argument.withDescription("Sequences of dead letters in the dead-letter stream")
)

const sinceOf = (value: Option.Option<string>) =>
  Option.isNone(value) ? Effect.succeed(undefined) : Input.since(value.value, Date.now())

const selectionOf = (config: {
  readonly all: boolean
  readonly sequence: ReadonlyArray<string>
  readonly reason?: Option.Option<string>
  readonly since?: Option.Option<string>
}) =>
  Effect.gen(function*() {
    const filtered = (config.reason !== undefined && Option.isSome(config.reason)) ||
      (config.since !== undefined && Option.isSome(config.since))
    if (config.all && config.sequence.length > 0) {
      return yield* Effect.fail(CommandError.invalid("give either sequences or --all, not both"))
    }
    if (config.all) {
      const at = config.since === undefined ? undefined : yield* sinceOf(config.since)
      return {
        _tag: "All",
        reason: config.reason === undefined ? undefined : Option.getOrUndefined(config.reason),
        since: at
      } satisfies DeadLetters.Selection
    }
    if (config.sequence.length === 0) return yield* Effect.fail(CommandError.invalid("give the sequences of dead letters, or --all"))
    if (filtered) return yield* Effect.fail(CommandError.invalid("--reason and --since go with --all"))
    const parsed = yield* Effect.forEach(config.sequence, Input.sequence)
    return { _tag: "Sequences", sequences: [...new Set(parsed)] } satisfies DeadLetters.Selection
  })

const list = Command.make("list", {
  json,
  stream: dlqStream,
  reason,
  since,
  limit: Flag.Int("limit").pipe(Flag.optional, Flag.withDescription("At most this many (oldest first)"))
}, (config) =>
  Effect.gen(function*() {
    const at = yield* sinceOf(config.since)
    const limit = Option.isNone(config.limit) ? undefined : yield* Input.limit(config.limit.value)
    const entries = yield* DeadLetters.list(config.stream, {
      reason: Option.getOrUndefined(config.reason),
      since: at,
      limit
    })
    yield* print(config.json, entries, DeadLetters.listTable)
  }).pipe(Effect.provide(connection))).pipe(
    Command.withDescription("Dead letters with their reason, delivery count, original subject and time")
  )

const show = Command.make("show", {
  json,
  stream: dlqStream,
  sequence: Argument.String("sequence").pipe(Argument.withDescription("The dead letter's sequence"))
}, (config) =>
  Effect.gen(function*() {
    const sequence = yield* Input.sequence(config.sequence)
    const detail = yield* DeadLetters.show(config.stream, sequence)
    yield* print(config.json, detail, (d) => DeadLetters.detailText(config.stream, d))
  }).pipe(Effect.provide(connection))).pipe(
    Command.withDescription("One dead letter: why it failed, its original headers and body")
  )

const retry = Command.make("retry", { json, stream: dlqStream, all, reason, since, sequence: sequences }, (config) =>
  Effect.gen(function*() {
    const selection = yield* selectionOf(config)
    const report = yield* DeadLetters.retry(config.stream, selection)
    yield* print(config.json, report, DeadLetters.retryTable)
    if (report.skipped.length > 0) {
      const total = report.skipped.length + report.retried.length
      return yield* Effect.fail(
        CommandError.make(
          new CommandError.Incomplete({
            detail: `${report.skipped.length} of ${total} dead letters were kept: ${report.skipped[0]!.error}`
          })
        )
      )
    }
  }).pipe(Effect.provide(connection))).pipe(
    Command.withDescription(
      "Send dead letters again to their original subject (same Herald-Message-Id, fresh Nats-Msg-Id), then remove them"
    )
  )

const purge = Command.make("purge", { json, stream: dlqStream, all, sequence: sequences }, (config) =>
  Effect.gen(function*() {
    const selection = yield* selectionOf(config)
    const result = yield* DeadLetters.purge(config.stream, selection)
    yield* print(config.json, result, (r) => `purged ${r.purged} dead letter${r.purged === 1 ? "" : "s"}`)
  }).pipe(Effect.provide(connection))).pipe(Command.withDescription("Remove dead letters without sending them"))

const dlq = Command.make("dlq").pipe(
  Command.withDescription("Dead letters: list, show, retry, purge"),
  Command.withSubcommands([list, show, retry, purge])
)

/**
 * The `herald` command tree.
 *
 * @since 0.1.0
 * @category commands
 */
export const herald = Command.make("herald").pipe(
  Command.withDescription(
    "Inspect and repair Herald's streams, consumers and dead letters on NATS JetStream, tail and replay messages, and read its flows, sagas and outbox in SQL"
  ),
  Command.withSubcommands([
    streams,
    consumers,
    dlq,
    Tail.command(connection),
    ReplayCommand.command(connection),
    SqlCommands.tree(connection),
    SqlCommands.saga,
    SqlCommands.outbox
  ])
)

const oneLine = (text: string): string => text.replace(/\s*[\r\n]+\s*/g, " ").trim()

/**
 * The exit code and the line for stderr of a failed run: `2` with
 * `herald: <problem>` for a command line that does not parse (effect/cli
 * prints the command's help on stdout), `0` when only help was asked for,
 * and `1` with `herald: <message>` for every other failure.
 *
 * @since 0.1.0
 * @category running
 */
export const failureOf = (cause: Cause.Cause<unknown>): { readonly code: number; readonly line: string | undefined } => {
  if (Cause.hasInterruptsOnly(cause)) return { code: 130, line: undefined }
  const error = Cause.squash(cause)
  if (CliError.isCliError(error)) {
    const problems = error._tag === "ShowHelp" ? error.errors.map((e) => e.message) : [error.message]
    return problems.length === 0 ? { code: 0, line: undefined } : { code: 2, line: `herald: ${oneLine(problems.join("; "))}` }
  }
  if (CommandError.isCommandError(error) || TransportError.isTransportError(error)) {
    return { code: 1, line: `herald: ${oneLine(error.message)}` }
  }
  const message = error instanceof Error ? error.message : String(error)
  return { code: 1, line: `herald: unexpected failure: ${oneLine(message)}` }
}

/**
 * Runs `herald` with these arguments (without the program name). Never
 * fails: a failure is printed as one line on stderr and sets
 * `process.exitCode`.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (
  args: ReadonlyArray<string>,
  version: string
): Effect.Effect<void, never, Command.Environment> =>
  Command.runWith(herald, { version, renderErrors: false })(args).pipe(
    Effect.catchCause((cause) =>
      Effect.gen(function*() {
        const failure = failureOf(cause)
        if (failure.line !== undefined) yield* Console.error(failure.line)
        yield* Effect.sync(() => {
          process.exitCode = failure.code
        })
      })
    )
  )
