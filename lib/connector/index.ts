export * from './factory';
export * from './metadata-connector';
export * from './mongo-metadata-connector';
export * from './shared';
