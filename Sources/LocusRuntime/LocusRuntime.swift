// LocusRuntime
