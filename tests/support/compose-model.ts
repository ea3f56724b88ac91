// The compose model, as `docker compose config --format json` prints it, and what the harness derives from
// it: which services a stack runs, which variable publishes which port. The compose file is the one home of
// these facts; a service a fork adds gets its ports, its wait (its health check), its logs and its teardown
// in the harness without any edit here.
import { compose, type ComposeProject } from "./internal/compose.ts";

/**
 * Compose files that extend the stack (`docker compose -f docker-compose.yml -f <overlay>`), relative to
 * compose/. The contract check reads the stack with them, so that what they add is held to the same rules.
 */
export const STACK_OVERLAYS = ["celery.yml"] as const;

/**
 * Compose profiles of the stack's own file: services that start only when asked for (`--profile metrics`, or
 * COMPOSE_PROFILES=metrics). The contract checks read the stack with them, so that what they add is held to the
 * same rules; the default stack's checks (the 4 GiB) read it without.
 */
export const STACK_PROFILES = ["metrics"] as const;

/** Options before `config` that switch `profiles` on. */
const profileOptions = (profiles: readonly string[]) => profiles.flatMap((profile) => ["--profile", profile]);

/** Whether a service with these `profiles:` starts when `active` are switched on (one without any always starts). */
const startsWith = (serviceProfiles: readonly string[] | undefined, active: readonly string[]) =>
  !serviceProfiles?.length || serviceProfiles.some((profile) => active.includes(profile));

export interface ComposeModel {
  name: string;
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  networks?: Record<string, unknown>;
}

export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string; args?: Record<string, string>; additional_contexts?: Record<string, string> };
  user?: string;
  restart?: string;
  read_only?: boolean;
  cap_drop?: string[];
  cap_add?: string[];
  security_opt?: string[];
  network_mode?: string;
  group_add?: string[];
  healthcheck?: { test?: string[]; disable?: boolean; interval?: string; start_period?: string; start_interval?: string };
  deploy?: { resources?: { limits?: { cpus?: number | string; memory?: string; pids?: number } } };
  ports?: Array<{ host_ip?: string; published?: string; target: number }>;
  volumes?: Array<{ type: string; source?: string; target: string; read_only?: boolean }>;
  tmpfs?: string[];
  environment?: Record<string, string | null>;
  depends_on?: Record<string, { condition: string; required?: boolean; restart?: boolean }>;
  entrypoint?: string[] | null;
  command?: string[] | null;
  profiles?: string[];
}

/**
 * The model of the compose files with only `env` set: neither the caller's shell variables nor a
 * compose/.env file take part, so it is the model a fresh clone produces.
 */
export async function composeConfig(
  env: Readonly<Record<string, string>> = {},
  overrides: readonly string[] = [],
  profiles: readonly string[] = [],
): Promise<ComposeModel> {
  const project: ComposeProject = { name: "data-stack", env, overrides };
  const { stdout } = await compose(project, [...profileOptions(profiles), "config", "--format", "json"], { inheritEnv: false });
  return JSON.parse(stdout) as ComposeModel;
}

/**
 * The services that keep running once the stack is up; one-shot jobs (`restart: "no"`) start as their dependencies.
 * Services of a compose profile (`profiles: [metrics]`) only when that profile is among `profiles`.
 */
export function longRunningServices(model: ComposeModel, profiles: readonly string[] = []): string[] {
  return Object.entries(model.services)
    .filter(([, service]) => service.restart !== "no" && startsWith(service.profiles, profiles))
    .map(([name]) => name)
    .sort();
}

/** A published port: the variable that sets its host port, and the container port behind it. */
export interface PortVariable {
  readonly service: string;
  readonly variable: string;
  readonly target: number;
  readonly defaultPort: number;
}

const PUBLISHED = /^\$\{[A-Z0-9_]+(?::-[^}]*)?\}:\$\{([A-Z0-9_]+)(?::-(\d+))?\}:(\d+)(?:\/tcp)?$/;

/**
 * Every published port, with the variable that moves it; those of `profiles` too (freshSettings asks for every
 * profile's, so that a test stack has a free port for each, whether it switches a profile on or not). The stack's
 * convention, checked by
 * tests/static/contracts.test.ts: `"${STACK_BIND_ADDRESS:-127.0.0.1}:${<NAME>_PORT:-<default>}:<container port>"`.
 */
export async function portVariables(overrides: readonly string[] = [], profiles: readonly string[] = []): Promise<PortVariable[]> {
  const project: ComposeProject = { name: "data-stack", env: {}, overrides };
  const { stdout } = await compose(project, ["config", "--no-interpolate", "--format", "json"], { inheritEnv: false });
  const raw = JSON.parse(stdout) as { services: Record<string, { ports?: string[]; profiles?: string[] }> };
  const found: PortVariable[] = [];
  for (const [service, definition] of Object.entries(raw.services)) {
    // Without interpolation compose lists every profile's services: those of other profiles are left out here.
    if (!startsWith(definition.profiles, profiles)) continue;
    for (const port of definition.ports ?? []) {
      const match = PUBLISHED.exec(String(port));
      if (!match) {
        throw new Error(
          `compose: ${service} publishes '${port}'; write it as "\${STACK_BIND_ADDRESS:-127.0.0.1}:\${<NAME>_PORT:-<default>}:<container port>" so tests can move it`,
        );
      }
      found.push({ service, variable: match[1] ?? "", defaultPort: Number(match[2] ?? 0), target: Number(match[3]) });
    }
  }
  return found;
}
