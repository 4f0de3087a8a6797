export * from './stored-weights';
export * from './weights';
export * from './check-weights-stream';
export * from './errors';
export * from './encodings';
