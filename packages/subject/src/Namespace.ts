/**
 * Herald's subject naming convention: `{env}.{app}.{kind}.{aggregate}.{action}`.
 *
 * A `Namespace` fixes the environment and application tokens (for example
 * `prod.billing`) and builds the subjects of one application from a message
 * kind (`event`, `command`, `query` or `reply`), an aggregate
 * (`invoice`) and an action (`created`): `prod.billing.event.invoice.created`.
 * It also builds subscription patterns over the same layout (missing parts
 * become `*`) and parses subjects back into their parts, so every service in a
 * system names things the same way without string concatenation.
 *
 * Every part must be a single valid token: a non-empty string without `.`,
 * whitespace, C0 control characters, `*` or `>`. A bad part is an
 * `InvalidToken` reason naming it.
 *
 * @since 0.1.0
 */
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as core from "./internal/core.ts"
import type * as Subject from "./Subject.ts"
import * as SubjectError from "./SubjectError.ts"
import type * as SubjectPattern from "./SubjectPattern.ts"

/**
 * The convention, as template text.
 *
 * @since 0.1.0
 * @category constants
 */
export const convention = "{env}.{app}.{kind}.{aggregate}.{action}" as const

/**
 * The kinds of message a subject can carry.
 *
 * @since 0.1.0
 * @category models
 */
export type Kind = "event" | "command" | "query" | "reply"

/**
 * Every {@link Kind}, in a fixed order.
 *
 * @since 0.1.0
 * @category constants
 */
export const kinds: ReadonlyArray<Kind> = ["event", "command", "query", "reply"]

/**
 * Schema of a {@link Kind}.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Kind = Schema.Literals(["event", "command", "query", "reply"])

/**
 * Returns `true` when the string is a {@link Kind}.
 *
 * @since 0.1.0
 * @category guards
 */
export const isKind = (s: string): s is Kind => s === "event" || s === "command" || s === "query" || s === "reply"

/**
 * The parts of a subject that follows the convention.
 *
 * @since 0.1.0
 * @category models
 */
export interface Parts {
  readonly env: string
  readonly app: string
  readonly kind: Kind
  readonly aggregate: string
  readonly action: string
}

/**
 * Which parts a pattern fixes; a missing part becomes `*`.
 *
 * @since 0.1.0
 * @category models
 */
export interface PatternParts {
  readonly kind?: Kind | undefined
  readonly aggregate?: string | undefined
  readonly action?: string | undefined
}

/**
 * The subjects of one application in one environment.
 *
 * @since 0.1.0
 * @category models
 */
export interface Namespace {
  /**
   * The environment token, e.g. `prod`.
   */
  readonly env: string
  /**
   * The application token, e.g. `billing`.
   */
  readonly app: string
  /**
   * `env.app`, the prefix of every subject of this namespace.
   */
  readonly prefix: Subject.Subject
  /**
   * `env.app.>`: every subject of this namespace.
   */
  readonly all: SubjectPattern.SubjectPattern
  /**
   * `env.app.kind.aggregate.action`, validated: a part that is not a single
   * valid token is an `InvalidToken` reason naming it.
   */
  subject(kind: Kind, aggregate: string, action: string): Result.Result<Subject.Subject, SubjectError.SubjectError>
  /**
   * Like `subject`, but throws the `SubjectError`; meant for literals.
   */
  subjectUnsafe(kind: Kind, aggregate: string, action: string): Subject.Subject
  /**
   * `env.app.kind.aggregate.action` with each missing part replaced by `*`
   * (a part may also be `"*"`), validated like `subject`.
   */
  pattern(parts?: PatternParts): Result.Result<SubjectPattern.SubjectPattern, SubjectError.SubjectError>
  /**
   * Like `pattern`, but throws the `SubjectError`; meant for literals.
   */
  patternUnsafe(parts?: PatternParts): SubjectPattern.SubjectPattern
  /**
   * The parts of a subject of this namespace (same env and app, five tokens,
   * a known kind); `None` otherwise.
   */
  parse(subject: Subject.Subject | string): Option.Option<Parts>
  /**
   * `subject("event", aggregate, action)`.
   */
  event(aggregate: string, action: string): Result.Result<Subject.Subject, SubjectError.SubjectError>
  /**
   * `subject("command", aggregate, action)`.
   */
  command(aggregate: string, action: string): Result.Result<Subject.Subject, SubjectError.SubjectError>
  /**
   * `subject("query", aggregate, action)`.
   */
  query(aggregate: string, action: string): Result.Result<Subject.Subject, SubjectError.SubjectError>
  /**
   * `subject("reply", aggregate, action)`.
   */
  reply(aggregate: string, action: string): Result.Result<Subject.Subject, SubjectError.SubjectError>
}

const wrongType = (expected: string, actual: unknown): SubjectError.SubjectError =>
  SubjectError.fromReason(new SubjectError.WrongType({ expected, actual: core.typeName(actual) }))

// The parts are valid tokens: what is left to check is the length of the whole.
const withinLength = <A extends string>(s: string): Result.Result<A, SubjectError.SubjectError> =>
  s.length <= SubjectError.MAX_LENGTH
    ? Result.succeed(s as A)
    : Result.fail(
      SubjectError.fromReason(new SubjectError.TooLong({ input: s, length: s.length, max: SubjectError.MAX_LENGTH }))
    )

const checkPart = (
  input: string,
  name: string,
  value: unknown,
  wildcard: boolean
): SubjectError.SubjectError | undefined => {
  if (typeof value !== "string") {
    return core.invalidParameter("namespace", input, name, core.typeName(value), "is not a string")
  }
  if (wildcard && value === "*") return undefined
  if (name === "kind" && !isKind(value)) {
    return core.invalidParameter("namespace", input, name, value, `is not one of ${kinds.join(", ")}`)
  }
  const problem = core.tokenProblem(value)
  return problem === undefined ? undefined : core.invalidParameter("namespace", input, name, value, problem)
}

class NamespaceImpl implements Namespace {
  readonly prefix: Subject.Subject
  readonly all: SubjectPattern.SubjectPattern
  private readonly input: string
  readonly env: string
  readonly app: string

  constructor(env: string, app: string) {
    this.env = env
    this.app = app
    this.prefix = `${env}.${app}` as Subject.Subject
    this.all = `${env}.${app}.>` as SubjectPattern.SubjectPattern
    this.input = `${env}.${app}.{kind}.{aggregate}.{action}`
  }

  subject(kind: Kind, aggregate: string, action: string): Result.Result<Subject.Subject, SubjectError.SubjectError> {
    const error = checkPart(this.input, "kind", kind, false) ??
      checkPart(this.input, "aggregate", aggregate, false) ??
      checkPart(this.input, "action", action, false)
    return error === undefined ? withinLength(`${this.prefix}.${kind}.${aggregate}.${action}`) : Result.fail(error)
  }

  subjectUnsafe(kind: Kind, aggregate: string, action: string): Subject.Subject {
    const result = this.subject(kind, aggregate, action)
    if (Result.isFailure(result)) throw result.failure
    return result.success
  }

  pattern(
    parts: PatternParts = {}
  ): Result.Result<SubjectPattern.SubjectPattern, SubjectError.SubjectError> {
    if (typeof parts !== "object" || parts === null) return Result.fail(wrongType("an object of parts", parts))
    const kind = parts.kind ?? "*"
    const aggregate = parts.aggregate ?? "*"
    const action = parts.action ?? "*"
    const error = checkPart(this.input, "kind", kind, true) ??
      checkPart(this.input, "aggregate", aggregate, true) ??
      checkPart(this.input, "action", action, true)
    return error === undefined ? withinLength(`${this.prefix}.${kind}.${aggregate}.${action}`) : Result.fail(error)
  }

  patternUnsafe(parts: PatternParts = {}): SubjectPattern.SubjectPattern {
    const result = this.pattern(parts)
    if (Result.isFailure(result)) throw result.failure
    return result.success
  }

  parse(subject: Subject.Subject | string): Option.Option<Parts> {
    const parts = parse(subject)
    return Option.isSome(parts) && parts.value.env === this.env && parts.value.app === this.app ? parts : Option.none()
  }

  event(aggregate: string, action: string): Result.Result<Subject.Subject, SubjectError.SubjectError> {
    return this.subject("event", aggregate, action)
  }

  command(aggregate: string, action: string): Result.Result<Subject.Subject, SubjectError.SubjectError> {
    return this.subject("command", aggregate, action)
  }

  query(aggregate: string, action: string): Result.Result<Subject.Subject, SubjectError.SubjectError> {
    return this.subject("query", aggregate, action)
  }

  reply(aggregate: string, action: string): Result.Result<Subject.Subject, SubjectError.SubjectError> {
    return this.subject("reply", aggregate, action)
  }
}

/**
 * Creates a namespace, validating `env` and `app` as single tokens.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: {
  readonly env: string
  readonly app: string
}): Result.Result<Namespace, SubjectError.SubjectError> => {
  if (typeof options !== "object" || options === null) return Result.fail(wrongType("an object", options))
  const error = checkPart(convention, "env", options.env, false) ??
    checkPart(convention, "app", options.app, false)
  if (error !== undefined) return Result.fail(error)
  // The shortest subject of the namespace: `env.app.` + `event.a.b`.
  const shortest = withinLength(`${options.env}.${options.app}.event.a.b`)
  return Result.isFailure(shortest) ? Result.fail(shortest.failure) : Result.succeed(new NamespaceImpl(options.env, options.app))
}

/**
 * Like {@link make}, but throws the `SubjectError`; meant for literals.
 *
 * @since 0.1.0
 * @category unsafe
 */
export const makeUnsafe = (options: { readonly env: string; readonly app: string }): Namespace => {
  const result = make(options)
  if (Result.isFailure(result)) throw result.failure
  return result.success
}

/**
 * Parses any subject that follows the convention (five tokens, a known kind
 * in third position), whatever its env and app; `None` otherwise.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (subject: Subject.Subject | string): Option.Option<Parts> => {
  const tokens = core.tokenizeSubject(subject)
  if (tokens === undefined || tokens.length !== 5) return Option.none()
  const kind = tokens[2]!
  if (!isKind(kind)) return Option.none()
  return Option.some({ env: tokens[0]!, app: tokens[1]!, kind, aggregate: tokens[3]!, action: tokens[4]! })
}
