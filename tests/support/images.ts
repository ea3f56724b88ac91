// The images this repository builds: one entry each, with the compose service that builds it and its size
// budget. Tests, the benchmark and the static contract check read them from here; the compose file names
// the same images, and tests/static/contracts.test.ts fails when the two disagree.
import { createHash } from "node:crypto";
import { realpathSync } from "node:fs";
import { REPO_ROOT } from "./paths.ts";

export interface ImageSpec {
  /** The folder under docker/, and the image's short name. */
  readonly name: string;
  /** A compose service that builds it (others may share the image). */
  readonly service: string;
  /** A file of the build context that no dependency layer depends on (the benchmark edits it). */
  readonly nonDependencyFile: string;
  /** Uncompressed size budget, MB = 10^6 bytes. */
  readonly budgetMB: number;
  /** The compose file, on top of docker-compose.yml, that defines `service` (relative to compose/). */
  readonly composeFile?: string;
}

/** The official images, for comparison: postgres:17 ~453 MB, apache/airflow slim ~500 MB, dpage/pgadmin4 ~380 MB. */
export const IMAGES = [
  { name: "postgres", service: "postgres", nonDependencyFile: "docker/postgres/entrypoint.sh", budgetMB: 300 },
  { name: "airflow", service: "airflow-apiserver", nonDependencyFile: "docker/airflow/entrypoint.sh", budgetMB: 550 },
  { name: "pgadmin", service: "pgadmin", nonDependencyFile: "docker/pgadmin/entrypoint.sh", budgetMB: 350 },
  { name: "valkey", service: "broker", nonDependencyFile: "docker/valkey/healthcheck", budgetMB: 100, composeFile: "celery.yml" },
  // Prometheus and three exporters (the `metrics` profile): Go binaries, Prometheus the largest.
  { name: "prometheus", service: "prometheus", nonDependencyFile: "docker/prometheus/healthcheck", budgetMB: 400 },
] as const satisfies readonly ImageSpec[];

export type ImageName = (typeof IMAGES)[number]["name"];

/**
 * The tag the harness builds and tests: STACK_IMAGE_TAG when set, else one derived from this checkout's path,
 * so that two checkouts on one machine (a fork beside its template) never replace each other's images.
 * Plain `docker compose` without the variable uses `dev`.
 */
export function stackImageTag(): string {
  const configured = process.env.STACK_IMAGE_TAG;
  if (configured) return configured;
  const checkout = createHash("sha256").update(realpathSync(REPO_ROOT)).digest("hex").slice(0, 10);
  return `dev-${checkout}`;
}

/** The full reference of one of the stack's images, as the harness builds it. */
export function imageRef(name: ImageName, tag = stackImageTag()): string {
  return `data-stack/${name}:${tag}`;
}
