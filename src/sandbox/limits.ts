/** Defaults with the given limits on top; a limit left undefined keeps its default. */
export const withDefaults = <T extends object>(defaults: T, given: Partial<T> | undefined): T => ({
  ...defaults,
  ...Object.fromEntries(Object.entries(given ?? {}).filter(([, v]) => v !== undefined)),
});
