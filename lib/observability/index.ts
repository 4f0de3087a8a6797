export * from './logger';
export * from './metrics';
export * from './tracing';
export { ORIGINAL_ERROR_KEY, observedInvocation } from './middleware';
