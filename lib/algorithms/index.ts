export * from './aggregators';
export * from './requirements';
