// The metrics contract: the ONE list of the series the `metrics` profile exposes and the stack's alert rules
// (compose/prometheus/alerts.yml) rely on, with what each means, which scrape job serves it, and how it must
// move after one DAG run that succeeds and one that fails (tests/resilience/metrics.test.ts checks every
// entry against a running stack, and its failure names the series). An Airflow upgrade that drops or renames
// a figure fails there by name; a series a rule needs is added here first.
//
// Names are as Prometheus really exposes them: statsd-exporter maps Airflow's StatsD names
// (compose/prometheus/statsd-mapping.yml), postgres_exporter and node_exporter keep their own, and
// docker/postgres/stack-backup writes the stack_backup_* textfile. Figures Airflow 3.3 does not send are
// listed too, marked `absent` with the upstream reason, so that they are known rather than silently missing;
// the test fails when one of them appears (then move it to the present ones).

/** The scrape jobs of compose/prometheus/prometheus.yml. */
export type MetricsJob = "postgres" | "airflow" | "node" | "prometheus";

/**
 * How a series must look after the test's DAG runs:
 *   exists     at least one sample
 *   positive   at least one sample above 0 (a gauge that says "up", a slot count, a free byte count)
 *   increases  the sum over its samples grew between the start of the test and the end of the runs (a
 *              counter; a series that did not exist at the start counts as 0)
 *   absent     no sample at all: a figure Airflow no longer sends (see `absent`)
 */
export type Movement = "exists" | "positive" | "increases" | "absent";

export interface ContractSeries {
  /** The series' name, as Prometheus exposes it. */
  readonly name: string;
  /** Label matchers, e.g. `{state="failed"}`; the query is name + selector. */
  readonly selector?: string;
  readonly job: MetricsJob;
  /** What it means, for docs/metrics.md and whoever reads an alert. */
  readonly meaning: string;
  readonly movement: Movement;
  /** For `absent`: why it is missing, with the upstream code or issue that says so. */
  readonly absent?: string;
}

/** The PromQL that selects a contract series in its job. */
export function seriesQuery(series: ContractSeries): string {
  const selector = series.selector ? series.selector.replace(/^\{/, `{job="${series.job}",`) : `{job="${series.job}"}`;
  return `${series.name}${selector}`;
}

export const METRICS_CONTRACT: readonly ContractSeries[] = [
  // ---------------------------------------------------------------- Airflow (statsd-exporter, job airflow)
  {
    name: "airflow_scheduler_heartbeat",
    job: "airflow",
    meaning: "Scheduler loop iterations (counter): stops growing when the scheduler hangs or dies.",
    movement: "increases",
  },
  {
    name: "airflow_ti_successes",
    job: "airflow",
    meaning: "Task instances that succeeded (counter).",
    movement: "increases",
  },
  {
    name: "airflow_ti_failures",
    job: "airflow",
    meaning: "Task instances that failed (counter).",
    movement: "increases",
  },
  {
    name: "airflow_ti_finish",
    selector: '{state="success"}',
    job: "airflow",
    meaning: "Task instances that ended, by dag_id, task_id and state (counter); here the successes.",
    movement: "increases",
  },
  {
    name: "airflow_ti_finish",
    selector: '{state="failed"}',
    job: "airflow",
    meaning: "Task instances that ended, by dag_id, task_id and state (counter); here the failures.",
    movement: "increases",
  },
  {
    name: "airflow_dagrun_duration_seconds_count",
    selector: '{state="success"}',
    job: "airflow",
    meaning: "DAG runs that succeeded, by dag_id (histogram of their duration: _bucket, _sum, _count).",
    movement: "increases",
  },
  {
    name: "airflow_dagrun_duration_seconds_count",
    selector: '{state="failed"}',
    job: "airflow",
    meaning: "DAG runs that failed, by dag_id (histogram of their duration: _bucket, _sum, _count).",
    movement: "increases",
  },
  {
    name: "airflow_pool_open_slots",
    selector: '{pool="default_pool"}',
    job: "airflow",
    meaning: "Free slots of each pool (gauge, label pool).",
    movement: "positive",
  },
  {
    name: "airflow_pool_running_slots",
    job: "airflow",
    meaning: "Slots of each pool taken by running tasks (gauge, label pool).",
    movement: "exists",
  },
  {
    name: "airflow_pool_queued_slots",
    job: "airflow",
    meaning: "Slots of each pool taken by queued tasks (gauge, label pool).",
    movement: "exists",
  },
  {
    name: "airflow_executor_open_slots",
    job: "airflow",
    meaning: "Free task slots of the executor (gauge, label executor, e.g. LocalExecutor).",
    movement: "positive",
  },
  {
    name: "airflow_executor_queued_tasks",
    job: "airflow",
    meaning: "Tasks the executor holds queued, not yet running (gauge, label executor).",
    movement: "exists",
  },
  {
    name: "airflow_executor_running_tasks",
    job: "airflow",
    meaning: "Tasks the executor runs (gauge, label executor).",
    movement: "exists",
  },
  {
    name: "airflow_task_queued_duration_seconds_count",
    job: "airflow",
    meaning: "How long a task waited between queued and running, by dag_id and task_id (histogram).",
    movement: "absent",
    absent:
      "apache/airflow#63503 and #66067: Airflow 3 sends it from TaskInstance.emit_state_change_metric(RUNNING), which nothing " +
      "calls since tasks are set running by the Execution API's ti_run; the fix (apache/airflow#67592) is not in 3.3.2",
  },
  // ---------------------------------------------------------------- PostgreSQL (postgres-exporter, job postgres)
  {
    name: "pg_up",
    job: "postgres",
    meaning: "1 when postgres-exporter reached PostgreSQL at its last scrape.",
    movement: "positive",
  },
  {
    name: "pg_stat_database_xact_commit",
    selector: '{datname="airflow"}',
    job: "postgres",
    meaning: "Committed transactions per database (counter, label datname); here Airflow's metadata DB.",
    movement: "increases",
  },
  {
    name: "pg_stat_archiver_archived_count",
    job: "postgres",
    meaning: "WAL segments archived into the pgBackRest repository (counter).",
    movement: "positive",
  },
  {
    name: "pg_stat_archiver_failed_count",
    job: "postgres",
    meaning: "Failed attempts to archive a WAL segment (counter): any growth means archiving is broken.",
    movement: "exists",
  },
  {
    name: "pg_stat_archiver_last_archive_age",
    job: "postgres",
    meaning: "Seconds since the last WAL segment was archived (postgres_exporter 0.17 has no last-failure time).",
    movement: "exists",
  },
  // ---------------------------------------------------------------- backups and volumes (node-exporter, job node)
  {
    name: "stack_backup_last_success_timestamp_seconds",
    selector: '{type="full"}',
    job: "node",
    meaning: "Unix time the newest backup of each type (label type: full, diff, incr) without errors finished.",
    movement: "positive",
  },
  {
    name: "stack_backup_last_attempt_success",
    job: "node",
    meaning: "1 when the last backup attempt (or the scheduler's check at start) succeeded, else 0.",
    movement: "positive",
  },
  {
    name: "stack_backup_interval_seconds",
    job: "node",
    meaning: "The shortest configured interval between backups: how old the newest backup may be.",
    movement: "positive",
  },
  ...["postgres-data", "postgres-backups", "airflow-logs", "pgadmin-data"].flatMap((volume): ContractSeries[] => [
    {
      name: "node_filesystem_avail_bytes",
      selector: `{mountpoint="/volumes/${volume}"}`,
      job: "node",
      meaning: `Free bytes of the filesystem that holds the ${volume} volume.`,
      movement: "positive",
    },
    {
      name: "node_filesystem_size_bytes",
      selector: `{mountpoint="/volumes/${volume}"}`,
      job: "node",
      meaning: `Size of the filesystem that holds the ${volume} volume.`,
      movement: "positive",
    },
  ]),
  // ---------------------------------------------------------------- Prometheus itself (job prometheus)
  {
    name: "up",
    job: "prometheus",
    meaning: "1 when Prometheus could scrape itself through its own login (every job has an `up`).",
    movement: "positive",
  },
];
