// LocusCodegen
