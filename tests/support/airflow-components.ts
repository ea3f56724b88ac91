// The Airflow components the stack runs, each with its compose service, the command the image's entrypoint
// takes, and the `job` row type it heartbeats as (the api-server has none). The image's health check
// (docker/airflow/healthcheck) maps the same commands to the same job types; tests/static/contracts.test.ts
// fails when the two disagree.
export interface AirflowComponent {
  readonly service: string;
  readonly command: string;
  readonly jobType: string | undefined;
}

export const AIRFLOW_COMPONENTS = [
  { service: "airflow-apiserver", command: "api-server", jobType: undefined },
  { service: "airflow-scheduler", command: "scheduler", jobType: "SchedulerJob" },
  { service: "airflow-dag-processor", command: "dag-processor", jobType: "DagProcessorJob" },
  { service: "airflow-triggerer", command: "triggerer", jobType: "TriggererJob" },
] as const satisfies readonly AirflowComponent[];

/** The components that heartbeat in the `job` table. */
export const JOB_COMPONENTS = AIRFLOW_COMPONENTS.filter(
  (component): component is Extract<(typeof AIRFLOW_COMPONENTS)[number], { jobType: string }> => component.jobType !== undefined,
);
