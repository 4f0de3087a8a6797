import { AggregationError } from '../algorithms';
import { parseStrategy } from '../algorithms/strategies';
import type { MetadataConnector } from '../connector';
import type { AggregateStrategy, ModelAggregate } from '../entities';
import { NotFoundError } from '../errors';
import { decodeMean } from '../secure-aggregation/fixed-point';
import { addWordStream, reconstructSecrets, removeMasks, UnmaskingError } from '../secure-aggregation/unmask';
import { getObjectStore } from '../store';
import type { AggregationStep } from './aggregate-model-updates';
import { withLeaseRenewal } from './aggregate-model-updates';
import { baseWeights, stepServerOptimizer, strategyRecordOf } from './combine-with-strategy';

/** How many masked inputs are read at once (their words are added as they arrive). */
const PARALLEL_READS = 4;

export type SecureSumResult =
  | { readonly summed: false }
  | { readonly summed: true; readonly aggregate: ModelAggregate; readonly maskers: number; readonly dropped: number; readonly bytesRead: number };

/**
 * The aggregation of a secure round (issue #28), a task of the aggregation state machine: the
 * model's round that is ready to sum is taken by this run; its masked inputs are streamed into one
 * uint32 sum, the masks are removed with the secrets reconstructed from the revealed shares, and
 * the mean (decoded from fixed point) becomes the next aggregate, through the model's server
 * optimizer if it has one. Memory: the sum (4 bytes a value) and the mean (8), whatever the number
 * of clients. Shares that cannot unmask the sum fail the round with why, and nothing is published.
 */
export async function sumSecureRound(connector: MetadataConnector, { model, run, parentAgg, leaseSeconds }: AggregationStep): Promise<SecureSumResult> {
  const found = await connector.pullFederatedModelWId(model);
  if (found === null) throw new NotFoundError(`Federated model ${model} does not exist`);
  const claim = await connector.startSecureRoundSum(model, run);
  if (claim === null) return { summed: false };
  const { round, previousRun } = claim;
  // A run that died after writing its aggregate: that aggregate is the round's, never a second.
  const written = previousRun === null ? null : await connector.pullAggregateOfRun(model, previousRun);
  if (written !== null) {
    await connector.endSecureRound(round.id, { aggregate: written.id });
    return { summed: true, aggregate: written, maskers: round.maskers.length, dropped: round.sharers.length - round.maskers.length, bytesRead: 0 };
  }
  return withLeaseRenewal(connector, model, run, leaseSeconds, async () => {
    let secrets;
    try {
      secrets = reconstructSecrets(round, await connector.pullSecureRoundReveals(round.id));
    } catch (error) {
      if (!(error instanceof UnmaskingError)) throw error;
      await connector.endSecureRound(round.id, { failureReason: error.message });
      throw new AggregationError(`secure round ${round.number} failed: ${error.message}`);
    }
    const inputs = (await connector.pullMaskedInputs(round.id)).filter((input) => round.maskers.includes(input.client));
    if (inputs.length !== round.maskers.length) {
      const reason = `${round.maskers.length - inputs.length} of the round's masked inputs are missing`;
      await connector.endSecureRound(round.id, { failureReason: reason });
      throw new AggregationError(`secure round ${round.number} failed: ${reason}`);
    }
    const sum = new Uint32Array(round.shape.length + 1);
    const store = getObjectStore();
    const queue = [...inputs];
    await Promise.all(
      Array.from({ length: Math.min(PARALLEL_READS, queue.length) }, async () => {
        for (let input = queue.shift(); input !== undefined; input = queue.shift()) {
          const words = await addWordStream(sum, await store.getStream(input.key));
          if (words !== sum.length) throw new AggregationError(`masked input of client ${input.client} holds ${words} words, not ${sum.length}`);
        }
      }),
    );
    removeMasks(sum, round, secrets);
    let values: Float64Array;
    try {
      values = decodeMean(sum, round.options);
    } catch (error) {
      const reason = `the unmasked sum is not a sum of encoded updates (${(error as Error).message})`;
      await connector.endSecureRound(round.id, { failureReason: reason });
      throw new AggregationError(`secure round ${round.number} failed: ${reason}`);
    }
    const strategy = parseStrategy(found.aggregator, found.aggregatorParams);
    let record: AggregateStrategy | undefined;
    if (strategy.family === 'optimizer') {
      const parent = parentAgg === null ? null : await connector.pullModelAggregate(parentAgg);
      const parentValues = await baseWeights(connector, found, parent);
      if (parentValues !== null && parentValues.length === values.length) {
        const delta = values.map((mean, j) => mean - parentValues[j]!);
        const { next, optimizerState } = await stepServerOptimizer(found, strategy, parent, parentValues, delta);
        values = next;
        record = { ...strategyRecordOf(strategy, inputs.length), optimizerState };
      }
    }
    await connector.renewAggregationLease(model, run, leaseSeconds);
    const aggregate = await connector.postNewModelAggregateWeights(
      model,
      parentAgg,
      { layout: round.shape.layout, shapes: round.shape.shapes, values },
      { run, ...(record === undefined ? {} : { strategy: record }) },
    );
    await connector.endSecureRound(round.id, { aggregate: aggregate.id });
    const bytesRead = inputs.reduce((total, input) => total + input.byteSize, 0);
    return { summed: true, aggregate, maskers: inputs.length, dropped: round.sharers.length - round.maskers.length, bytesRead };
  });
}
