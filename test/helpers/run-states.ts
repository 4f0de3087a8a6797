/** The Task states a run that aggregates in one task goes through, in order (state-machines/aggregation.json). */
export const AGGREGATED_RUN_STATES = [
  'AcquireLease',
  'PullModel',
  'PullLatestAggregate',
  'CheckRequirement',
  'ClaimUpdates',
  'PlanAggregation',
  'AggregateUpdates',
  'CompleteRun',
  'ReleaseLease',
] as const;
