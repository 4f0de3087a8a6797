export * from './strategy-params';
export * from './coordinate-wise';
export * from './krum';
export * from './server-optimizers';
export * from './clipping';
export * from './gaussian';
export * from './staleness';
