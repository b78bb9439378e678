import { defineConfig } from "tsup"
import shared from "../../tsup.shared.ts"

// The CommonJS bundle is the library entry only; the `herald` binary is the
// ESM module `dist/bin.js` that tsc writes (its shebang kept).
export default defineConfig({ ...shared })
