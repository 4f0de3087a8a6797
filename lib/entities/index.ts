export * from './client';
export * from './client-aggregate-score';
export * from './federated-model';
export * from './ids';
export * from './model-aggregate';
export * from './model-artifact';
export * from './model-update';
export * from './update-status';
