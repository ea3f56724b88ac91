// The backup commands as users run them (scripts/backup.sh over `docker compose`), against a test project,
// and what tests read from the pgBackRest repository.
import path from "node:path";
import { compose, type ComposeProject } from "./internal/compose.ts";
import { REPO_ROOT } from "./paths.ts";
import { CommandError, run } from "./internal/process.ts";

const BACKUP_SCRIPT = path.join(REPO_ROOT, "scripts", "backup.sh");

export interface CommandResult {
  readonly output: string;
  readonly seconds: number;
}

/** `scripts/backup.sh -p <project> ...args` with the project's variables; fails with the script's output. */
export async function backupCommand(project: ComposeProject, args: readonly string[], timeoutMs = 600_000): Promise<CommandResult> {
  const started = Date.now();
  const { stdout, stderr } = await run("bash", [BACKUP_SCRIPT, "-p", project.name, ...args], { env: project.env, timeoutMs });
  return { output: stdout + stderr, seconds: (Date.now() - started) / 1000 };
}

/** The same command, expected to be refused: its output, or a failure when it succeeded. */
export async function refusedBackupCommand(project: ComposeProject, args: readonly string[]): Promise<string> {
  try {
    await backupCommand(project, args);
  } catch (error) {
    if (!(error instanceof CommandError)) throw error;
    return error.stdout + error.stderr;
  }
  throw new Error(`scripts/backup.sh ${args.join(" ")} succeeded, but it should have been refused`);
}

export interface BackupSet {
  readonly label: string;
  readonly type: "full" | "diff" | "incr";
  readonly timestamp: { readonly start: number; readonly stop: number };
  readonly error?: boolean;
  /** pgBackRest's annotations: `reason` on the backups airflow-init asks for before a migration. */
  readonly annotation?: Readonly<Record<string, string>>;
  readonly info: { readonly size: number; readonly repository: { readonly size: number; readonly delta: number } };
}

/** The backups in the project's repository, oldest first (pgbackrest info, read in the backup service's image). */
export async function backupSets(project: ComposeProject): Promise<BackupSet[]> {
  const { stdout } = await compose(project, [
    "run",
    "--rm",
    "--no-deps",
    "-T",
    "backup-scheduler",
    "pgbackrest",
    "--stanza=main",
    "--output=json",
    "info",
  ]);
  const [stanza] = JSON.parse(stdout) as Array<{ backup: BackupSet[] }>;
  return stanza?.backup ?? [];
}

/** Bytes the repository volume holds. */
export async function repositoryBytes(project: ComposeProject): Promise<number> {
  const { stdout } = await compose(project, ["run", "--rm", "--no-deps", "-T", "backup-scheduler", "du", "-sb", "/var/lib/pgbackrest"]);
  return Number(stdout.split("\t")[0]);
}

/** A time as the restore command takes it: whole seconds, UTC, with the offset. */
export function restoreTarget(epochSeconds: number): string {
  return new Date(epochSeconds * 1000)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "+00");
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
