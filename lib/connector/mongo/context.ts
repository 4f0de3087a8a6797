import type { Db } from 'mongodb';
import { collections, type Collections } from '../../db/collections';

/**
 * What every module of the MongoDB connector works with: the database (resolved lazily, so a
 * Lambda container connects on first use) and its typed collections.
 */
export class ConnectorContext {
  readonly database: () => Promise<Db>;

  constructor(database: Db | (() => Promise<Db>)) {
    this.database = typeof database === 'function' ? database : async () => database;
  }

  async collections(): Promise<Collections> {
    return collections(await this.database());
  }
}
