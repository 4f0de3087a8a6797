export * from './stored-weights';
export * from './weights';
