/**
 * Renders a nats-server configuration file.
 *
 * @since 0.1.0
 */
import * as Redacted from "effect/Redacted"
import type { Auth, Secret, SubjectPermission, User } from "../../NatsServer.ts"

/**
 * What the configuration file says.
 *
 * @since 0.1.0
 */
export interface ConfigInput {
  readonly host: string
  readonly port: number
  readonly storeDir: string
  readonly jetstream: boolean
  readonly maxMemoryStore: number
  readonly maxFileStore: number
  readonly maxPayload: number | undefined
  readonly auth: Auth | undefined
  readonly tls: { readonly certFile: string; readonly keyFile: string } | undefined
  readonly debug: boolean
  /** The server's name (`server_name`), required in a JetStream cluster. */
  readonly serverName?: string | undefined
  /** The HTTP monitoring port (`/healthz`, `/jsz`, ...), on `host`. */
  readonly monitorPort?: number | undefined
  /** Membership of a cluster: its name, this node's route port and every node's route port. */
  readonly cluster?: ClusterInput | undefined
}

/**
 * The `cluster` block of a node.
 *
 * @since 0.1.0
 */
export interface ClusterInput {
  readonly name: string
  readonly port: number
  /** The route ports of every node (this one's included: the server skips a route to itself). */
  readonly routes: ReadonlyArray<number>
}

/**
 * The value of a secret.
 *
 * @since 0.1.0
 */
export const reveal = (secret: Secret): string => Redacted.isRedacted(secret) ? Redacted.value(secret) : secret

/**
 * A double-quoted string in the nats-server configuration syntax, which knows
 * the escapes `\"`, `\\`, `\t`, `\n`, `\r` and `\xHH` (and no `\u`).
 *
 * @since 0.1.0
 */
export const quote = (value: string): string => {
  let out = "\""
  for (const char of value) {
    const code = char.codePointAt(0) ?? 0
    if (char === "\"") out += "\\\""
    else if (char === "\\") out += "\\\\"
    else if (char === "\n") out += "\\n"
    else if (char === "\r") out += "\\r"
    else if (char === "\t") out += "\\t"
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`
    else out += char
  }
  return out + "\""
}

const renderAuth = (auth: Auth): string => {
  switch (auth._tag) {
    case "Token":
      return `authorization {\n  token: ${quote(reveal(auth.token))}\n}`
    case "UserPassword":
      return `authorization {\n  user: ${quote(auth.user)}\n  password: ${quote(reveal(auth.password))}\n}`
    case "NKey":
      return `authorization {\n  users = [\n    { nkey: ${quote(auth.publicKey)} }\n  ]\n}`
    case "Users":
      return `authorization {\n  users = [\n${auth.users.map((u) => `    ${renderUser(u)}`).join("\n")}\n  ]\n}`
  }
}

const renderList = (subjects: ReadonlyArray<string>): string => `[${subjects.map(quote).join(", ")}]`

const renderPermission = (p: SubjectPermission): string => {
  const parts: Array<string> = []
  if (p.allow !== undefined) parts.push(`allow: ${renderList(p.allow)}`)
  if (p.deny !== undefined) parts.push(`deny: ${renderList(p.deny)}`)
  return `{ ${parts.join(", ")} }`
}

const renderUser = (u: User): string => {
  const parts = [`user: ${quote(u.user)}`, `password: ${quote(reveal(u.password))}`]
  const permissions: Array<string> = []
  if (u.permissions?.publish !== undefined) permissions.push(`publish: ${renderPermission(u.permissions.publish)}`)
  if (u.permissions?.subscribe !== undefined) permissions.push(`subscribe: ${renderPermission(u.permissions.subscribe)}`)
  if (permissions.length > 0) parts.push(`permissions: { ${permissions.join(", ")} }`)
  return `{ ${parts.join(", ")} }`
}

/**
 * The text of the configuration file.
 *
 * @since 0.1.0
 */
export const render = (input: ConfigInput): string => {
  const blocks: Array<string> = [
    "# Written by @herald/testing NatsServer; removed when its scope closes.",
    `host: ${quote(input.host)}`,
    `port: ${input.port}`
  ]
  if (input.serverName !== undefined) blocks.push(`server_name: ${quote(input.serverName)}`)
  if (input.monitorPort !== undefined) blocks.push(`http: ${quote(`${input.host}:${input.monitorPort}`)}`)
  if (input.maxPayload !== undefined) blocks.push(`max_payload: ${input.maxPayload}`)
  if (input.debug) blocks.push("debug: true", "trace: true")
  if (input.jetstream) {
    blocks.push(
      [
        "jetstream {",
        `  store_dir: ${quote(input.storeDir)}`,
        `  max_memory_store: ${input.maxMemoryStore}`,
        `  max_file_store: ${input.maxFileStore}`,
        "}"
      ].join("\n")
    )
  }
  if (input.cluster !== undefined) {
    const cluster = input.cluster
    blocks.push(
      [
        "cluster {",
        `  name: ${quote(cluster.name)}`,
        `  listen: ${quote(`${input.host}:${cluster.port}`)}`,
        `  routes: [${cluster.routes.map((port) => quote(`nats-route://${input.host}:${port}`)).join(", ")}]`,
        "}"
      ].join("\n")
    )
  }
  if (input.auth !== undefined) blocks.push(renderAuth(input.auth))
  if (input.tls !== undefined) {
    blocks.push(
      [
        "tls {",
        `  cert_file: ${quote(input.tls.certFile)}`,
        `  key_file: ${quote(input.tls.keyFile)}`,
        // The default handshake timeout (0.5 s) is tight on a loaded CI machine.
        "  timeout: 5",
        "}"
      ].join("\n")
    )
  }
  return blocks.join("\n") + "\n"
}
