import type { Db } from 'mongodb';
import { collections, type Collections } from '../../db/collections';
import type { ObjectStore } from '../../store';

/**
 * What every module of the MongoDB connector works with: the database (resolved lazily, so a
 * Lambda container connects on first use), its typed collections, and the object store that
 * holds the weight bytes the documents refer to.
 */
export class ConnectorContext {
  readonly database: () => Promise<Db>;
  readonly store: () => ObjectStore;

  constructor(database: Db | (() => Promise<Db>), store: ObjectStore | (() => ObjectStore)) {
    this.database = typeof database === 'function' ? database : async () => database;
    this.store = typeof store === 'function' ? store : () => store;
  }

  async collections(): Promise<Collections> {
    return collections(await this.database());
  }
}
