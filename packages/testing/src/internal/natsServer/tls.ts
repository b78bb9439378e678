/**
 * A throwaway self-signed certificate for `tls: "generate"`.
 *
 * @since 0.1.0
 */
import * as Path from "node:path"
import * as Effect from "effect/Effect"
import type { TlsFiles } from "../../NatsServer.ts"
import type * as Errors from "./error.ts"
import * as System from "./system.ts"

/**
 * Creates, with `openssl`, a self-signed RSA certificate for `localhost` and
 * `127.0.0.1`, valid one day, in `dir`.
 *
 * @since 0.1.0
 */
export const generate = (dir: string): Effect.Effect<TlsFiles, Errors.NatsServerError> =>
  Effect.gen(function*() {
    const candidates = [...(yield* System.onPath("openssl")), "/usr/bin/openssl", "/usr/local/bin/openssl"]
    const openssl = yield* System.findExecutable("openssl", candidates)
    yield* System.makeDir(dir)
    const certFile = Path.join(dir, "cert.pem")
    const keyFile = Path.join(dir, "key.pem")
    yield* System.exec(openssl, [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "-keyout",
      keyFile,
      "-out",
      certFile
    ], 60_000)
    return { caFile: certFile, certFile, keyFile }
  })
