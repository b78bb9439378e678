/**
 * Typed subject templates such as `orders.{orderId}.created`.
 *
 * A template is subject text in which some tokens are placeholders
 * `{name}`. Its parameter type is computed from the text with template-literal
 * types (`Params<"orders.{orderId}.created">` is
 * `{ readonly orderId: string }`), so formatting with a missing parameter is a
 * compile error. Formatting validates every value as a single token, parsing
 * recovers the parameters from a concrete subject, and `pattern` is the
 * subscription pattern with each placeholder replaced by `*`.
 *
 * Rules for the template text: a placeholder is a whole token whose name
 * starts with a letter or `_` followed by letters, digits or `_`; names are
 * unique; every other token is a valid concrete-subject token without braces.
 *
 * @since 0.1.0
 */
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as core from "./internal/core.ts"
import type * as Subject from "./Subject.ts"
import * as SubjectError from "./SubjectError.ts"
import type * as SubjectPattern from "./SubjectPattern.ts"

/**
 * The placeholder names of a template text, as a union of string literals.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Placeholders<T extends string> = T extends `${string}{${infer P}}${infer Rest}` ? P | Placeholders<Rest>
  : never

/**
 * The parameters of a template text: one readonly string per placeholder.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Params<T extends string> = { readonly [K in Placeholders<T>]: string }

/**
 * A compiled subject template with parameters `P`, built from text `T`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SubjectTemplate<P extends { readonly [K in keyof P]: string }, T extends string = string> {
  /**
   * The template text.
   */
  readonly template: T
  /**
   * The placeholder names, in order of appearance.
   */
  readonly placeholders: ReadonlyArray<string>
  /**
   * The pattern matching every subject this template can format: each
   * placeholder replaced by `*`.
   */
  readonly pattern: SubjectPattern.SubjectPattern
  /**
   * Substitutes the parameters. A value that is empty or contains `.`,
   * whitespace, `*` or `>` fails with an `InvalidToken` reason naming the
   * parameter.
   */
  format(params: P): Result.Result<Subject.Subject, SubjectError.SubjectError>
  /**
   * Like `format`, but throws the `SubjectError`.
   */
  formatUnsafe(params: P): Subject.Subject
  /**
   * Recovers the parameters from a subject this template could have
   * formatted; `None` for any other string.
   */
  parse(subject: Subject.Subject | string): Option.Option<P>
}

/**
 * The parameters of a compiled template.
 *
 * @since 0.1.0
 * @category type-level
 */
export type ParamsOf<Tpl> = Tpl extends SubjectTemplate<infer P, any> ? P : never

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

const OPEN = 123
const CLOSE = 125

interface Compiled {
  /** literal token text, or undefined for a placeholder */
  readonly literals: ReadonlyArray<string | undefined>
  /** placeholder name per token, or undefined for a literal */
  readonly names: ReadonlyArray<string | undefined>
  readonly placeholders: ReadonlyArray<string>
}

const compile = (template: string): Result.Result<Compiled, SubjectError.SubjectError> => {
  if (typeof template !== "string") return Result.fail(core.notAString(template))
  if (template.length === 0) return Result.fail(SubjectError.fromReason(new SubjectError.Empty({ input: template })))
  // structure first: whitespace, empty tokens, wildcards, length
  const structural = core.validate(template, false)
  if (structural !== undefined) return Result.fail(SubjectError.fromReason(structural))
  const parts = template.split(".")
  const literals: Array<string | undefined> = []
  const names: Array<string | undefined> = []
  const placeholders: Array<string> = []
  let position = 0
  for (let token = 0; token < parts.length; token++) {
    const part = parts[token]!
    const fail = (problem: string) =>
      Result.fail(
        SubjectError.fromReason(new SubjectError.InvalidTemplate({ input: template, token, position, problem }))
      )
    const open = part.indexOf("{")
    const close = part.indexOf("}")
    if (open < 0 && close < 0) {
      literals.push(part)
      names.push(undefined)
    } else {
      if (part.charCodeAt(0) !== OPEN || part.charCodeAt(part.length - 1) !== CLOSE) {
        if (open >= 0 && close < 0) return fail(`unclosed placeholder ${core.quote(part)}`)
        if (open < 0) return fail(`unexpected "}" in ${core.quote(part)}`)
        return fail(`placeholder must be a whole token, got ${core.quote(part)}`)
      }
      const name = part.slice(1, -1)
      if (name.length === 0) return fail("empty placeholder name")
      if (!NAME.test(name)) {
        return fail(
          `invalid placeholder name ${core.quote(name)} (use letters, digits and "_", not starting with a digit)`
        )
      }
      if (placeholders.includes(name)) return fail(`duplicate placeholder ${core.quote(name)}`)
      placeholders.push(name)
      literals.push(undefined)
      names.push(name)
    }
    position += part.length + 1
  }
  return Result.succeed({ literals, names, placeholders })
}

class Template<P extends { readonly [K in keyof P]: string }, T extends string> implements SubjectTemplate<P, T> {
  readonly placeholders: ReadonlyArray<string>
  readonly pattern: SubjectPattern.SubjectPattern
  private readonly literals: ReadonlyArray<string | undefined>
  private readonly names: ReadonlyArray<string | undefined>
  readonly template: T

  constructor(template: T, compiled: Compiled) {
    this.template = template
    this.placeholders = compiled.placeholders
    this.literals = compiled.literals
    this.names = compiled.names
    this.pattern = compiled.literals.map((l) => l === undefined ? "*" : l).join(".") as SubjectPattern.SubjectPattern
  }

  format(params: P): Result.Result<Subject.Subject, SubjectError.SubjectError> {
    if (this.placeholders.length > 0 && (typeof params !== "object" || params === null)) {
      return Result.fail(
        SubjectError.fromReason(new SubjectError.WrongType({ expected: "an object of parameters", actual: core.typeName(params) }))
      )
    }
    const literals = this.literals
    const names = this.names
    let out = ""
    for (let i = 0; i < literals.length; i++) {
      const literal = literals[i]
      let token: string
      if (literal === undefined) {
        const name = names[i]!
        const value: unknown = Object.hasOwn(params, name) ? (params as Record<string, unknown>)[name] : undefined
        if (typeof value !== "string") {
          return Result.fail(
            core.invalidParameter(
              "template",
              this.template,
              name,
              core.typeName(value),
              value === undefined ? "is missing (expected a string)" : "is not a string"
            )
          )
        }
        const problem = core.tokenProblem(value)
        if (problem !== undefined) {
          return Result.fail(core.invalidParameter("template", this.template, name, value, problem))
        }
        token = value
      } else {
        token = literal
      }
      out = i === 0 ? token : `${out}.${token}`
    }
    if (out.length > SubjectError.MAX_LENGTH) {
      return Result.fail(
        SubjectError.fromReason(
          new SubjectError.TooLong({ input: out, length: out.length, max: SubjectError.MAX_LENGTH })
        )
      )
    }
    return Result.succeed(out as Subject.Subject)
  }

  formatUnsafe(params: P): Subject.Subject {
    const result = this.format(params)
    if (Result.isFailure(result)) throw result.failure
    return result.success
  }

  parse(subject: Subject.Subject | string): Option.Option<P> {
    const tokens = core.tokenizeSubject(subject)
    const literals = this.literals
    if (tokens === undefined || tokens.length !== literals.length) return Option.none()
    const params: Record<string, string> = {}
    for (let i = 0; i < literals.length; i++) {
      const literal = literals[i]
      // (defineProperty: a placeholder may be named `__proto__`)
      if (literal === undefined) {
        Object.defineProperty(params, this.names[i]!, {
          value: tokens[i]!,
          enumerable: true,
          writable: true,
          configurable: true
        })
      }
      else if (literal !== tokens[i]) return Option.none()
    }
    return Option.some(params as unknown as P)
  }
}

/**
 * Compiles a template, failing with a `SubjectError` when its text is
 * malformed (`InvalidTemplate` for placeholder syntax, the subject reasons
 * for whitespace, empty tokens, wildcards or length).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const T extends string>(
  template: T
): Result.Result<SubjectTemplate<Params<T>, T>, SubjectError.SubjectError> =>
  Result.map(compile(template), (compiled) => new Template<Params<T>, T>(template, compiled))

/**
 * Compiles a template, throwing the `SubjectError` when its text is
 * malformed; meant for literals.
 *
 * @since 0.1.0
 * @category unsafe
 */
export const makeUnsafe = <const T extends string>(template: T): SubjectTemplate<Params<T>, T> => {
  const result = make(template)
  if (Result.isFailure(result)) throw result.failure
  return result.success
}
