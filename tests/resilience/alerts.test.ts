// An alert of compose/prometheus/alerts.yml fires for real: on a stack of its own started with the `metrics`
// profile (Postgres, its backups, postgres-exporter and Prometheus), WAL archiving is broken the way a full or
// unreadable repository breaks it: the repository's archive directory is made unreadable, so pgBackRest's
// archive-push fails for every segment. Prometheus then fires WalArchivingFailing with its production `for:`
// and window (no shortened rule), and the alert clears once archiving works again. The rules' other cases are
// unit-tested with promtool (compose/prometheus/alerts.test.yml, tests/images/prometheus-rules.test.ts).
import { expect, it } from "vitest";
import {
  describeDocker,
  eventually,
  execIn,
  freshSettings,
  logins,
  prometheusApi,
  activeAlerts,
  recordFigure,
  type StackInfo,
  waitForAlert,
  withPostgres,
} from "../support/index.ts";

/** Postgres, the backups (which create the repository), and the metrics of WAL archiving. */
const SERVICES = ["postgres", "backup-scheduler", "postgres-exporter", "prometheus"];
/** The repository's WAL archive of the stanza `main` (compose/postgres/pgbackrest.conf: repo1-path). */
const ARCHIVE_DIR = "/var/lib/pgbackrest/archive/main";
/** Prometheus scrapes every 15 s: a few rounds. */
const SCRAPE_WAIT = { timeoutMs: 180_000, intervalMs: 3_000 };

/** A commit and a WAL switch: one more segment for the archiver, at once instead of after archive_timeout. */
async function newSegment(stack: StackInfo): Promise<void> {
  await withPostgres(stack, logins(stack).superuser, async (client) => {
    await client.query("CREATE TABLE IF NOT EXISTS alerts_probe (at timestamptz)");
    await client.query("INSERT INTO alerts_probe VALUES (now())");
    await client.query("SELECT pg_switch_wal()");
  });
}

describeDocker("alerts on a running stack", (sideStack) => {
  it("fires WalArchivingFailing when archiving breaks, and clears it once archiving works again", async () => {
    await using stack = await sideStack(await freshSettings())
      .withProfiles("metrics")
      .withServices(...SERVICES)
      .withStartupTimeout(600_000)
      .up();
    const prometheus = prometheusApi(stack.info);
    const archivedSome = async () =>
      (await prometheus.query('pg_stat_archiver_archived_count{job="postgres"} > 0')).length > 0 ? true : undefined;

    // Archiving works first: a segment archived after the first backup made the repository.
    await newSegment(stack.info);
    expect(await eventually("an archived segment in Prometheus", archivedSome, SCRAPE_WAIT)).toBe(true);
    const firingBefore = (await activeAlerts(prometheus)).filter(
      (alert) => alert.labels.alertname === "WalArchivingFailing" && alert.state === "firing",
    );
    expect(firingBefore, "WalArchivingFailing while archiving works").toEqual([]);

    // pgBackRest runs as the repository's owner (uid 999): no capability is needed to take its own access away.
    const mode = (await execIn(stack.info, "postgres", ["stat", "-c", "%a", ARCHIVE_DIR])).trim();
    await execIn(stack.info, "postgres", ["chmod", "000", ARCHIVE_DIR]);
    const brokenAt = Date.now();
    await newSegment(stack.info);
    const alert = await waitForAlert(prometheus, "WalArchivingFailing", "firing", { timeoutMs: 600_000 });
    const seconds = Math.round((Date.now() - brokenAt) / 1000);
    recordFigure("alerts: WalArchivingFailing firing after archiving broke", seconds, "s", { activeAt: alert.activeAt });
    expect(alert.labels).toMatchObject({ job: "postgres", severity: "critical" });
    expect(alert.annotations.description).toContain("docs/alerts.md#walarchivingfailing");

    // Repaired: the waiting segments are archived at the archiver's next attempt, and the alert is gone.
    await execIn(stack.info, "postgres", ["chmod", mode, ARCHIVE_DIR]);
    await newSegment(stack.info);
    const cleared = await eventually(
      "WalArchivingFailing to clear after the repair",
      async () => ((await activeAlerts(prometheus)).some((active) => active.labels.alertname === "WalArchivingFailing") ? undefined : true),
      { timeoutMs: 300_000, intervalMs: 5_000 },
    );
    expect(cleared).toBe(true);
  }, 1_500_000);
});
