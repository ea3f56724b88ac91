// The stack's secrets, as compose/secrets/secrets-init.sh declares them in its SECRETS table: that table is
// the one home of the list (file name, variable, kind, what a change does). The harness reads it to
// generate a fresh value for each one, and tests/static/contracts.test.ts checks the compose file's
// `*_FILE` paths and compose/.env.example against it.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { COMPOSE_DIR } from "./paths.ts";

const SECRETS_INIT_SCRIPT = path.join(COMPOSE_DIR, "secrets", "secrets-init.sh");

export interface SecretSpec {
  /** The file in the stack-secrets volume. */
  readonly file: string;
  /** The variable that sets it. */
  readonly variable: string;
  /** How a value is generated: password | fernet | token. */
  readonly kind: string;
  /** keep: a different value is refused once data depends on it; replace: consumers re-read it. */
  readonly onChange: string;
}

/** The rows of `readonly SECRETS=( "file VARIABLE kind on-change" … )` in secrets-init.sh. */
function readSecretTable(script = readFileSync(SECRETS_INIT_SCRIPT, "utf8")): SecretSpec[] {
  const table = /^readonly SECRETS=\(\n([\s\S]*?)\n\)/m.exec(script)?.[1];
  if (!table) throw new Error(`${SECRETS_INIT_SCRIPT}: no 'readonly SECRETS=( … )' table`);
  return [...table.matchAll(/^\s*"(\S+)\s+(\S+)\s+(\S+)\s+([^\s"]+)\s*"/gm)].map(
    ([, file = "", variable = "", kind = "", onChange = ""]) => ({
      file,
      variable,
      kind,
      onChange,
    }),
  );
}

export const SECRETS: readonly SecretSpec[] = readSecretTable();

/** Letters and digits plus the characters that most often break URLs, pgpass files and shell quoting. */
export function password(): string {
  return `${randomBytes(18).toString("base64url")}:@/%'"\\ $`;
}

export function fernetKey(): string {
  return randomBytes(32).toString("base64url") + "=";
}

/** A fresh value of a secret's kind, as hostile to quoting as the kind allows. */
export function generateSecret(kind: string): string {
  switch (kind) {
    case "password":
      return password();
    case "fernet":
      return fernetKey();
    case "token":
      return randomBytes(32).toString("base64url");
    default:
      throw new Error(`${SECRETS_INIT_SCRIPT}: unknown secret kind '${kind}'; add a generator for it in tests/support/secrets.ts`);
  }
}
