// Every API layout we serve, by name.
export * from './apis-data.ts';
export * from './apis-group.ts';
